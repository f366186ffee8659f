//! The PVH entry point: from 32-bit protected mode to Rust in long mode.
//!
//! Both Xen (for a PVH domU) and QEMU's `-kernel` loader find the entry in
//! the `XEN_ELFNOTE_PHYS32_ENTRY` note (type 18, owner "Xen") and jump there
//! in 32-bit flat protected mode, paging off, with the physical address of
//! `struct hvm_start_info` in EBX and no stack. The code below builds a
//! throw-away identity map of the first 4 GiB (2 MiB pages, enough to reach
//! the start info, the image and the local APIC), enters long mode and calls
//! the backend's `virtus_backend_entry(start_info_paddr)`. The kernel replaces
//! these tables with its own as soon as it knows the memory map.

use core::arch::global_asm;

/// Size of the stack the boot path runs on until the kernel switches to a
/// guarded stack of its own.
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

// XEN_ELFNOTE_PHYS32_ENTRY = 18 (xen/include/public/elfnote.h). The
// descriptor is 8 bytes in an ELF64 image: QEMU reads a native-width value.
global_asm!(
    r#"
    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 4
    .long 8
    .long 18
    .asciz "Xen"
    .balign 4
    .quad pvh_start32
    .balign 4
    .popsection

    .pushsection .bss.boot, "aw", @nobits
    .balign 4096
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4096 * 4
    .global boot_stack_guard
boot_stack_guard:
    .skip 4096                      /* left unmapped by the kernel's tables */
boot_stack_bottom:
    .skip {stack_size}
    .global boot_stack_top
boot_stack_top:
    .popsection

    .pushsection .rodata.boot, "a"
    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08: 64-bit code, ring 0 */
    .quad 0x00cf92000000ffff    /* 0x10: data, ring 0 */
boot_gdt_end:
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt
boot_null_idt:
    .word 0
    .quad 0
    .popsection

    .pushsection .text.boot, "ax"
    .code32
    .global pvh_start32
pvh_start32:
    cli
    cld
    mov %ebx, %edi                  /* keep the start info pointer */
    mov $boot_stack_top, %esp

    /* Long mode is not optional. Without it there is no console yet and
     * no backend to ask: triple-fault (below), which any machine reports
     * as a reset or a crash, never as a clean power-off. */
    mov $0x80000000, %eax
    cpuid
    cmp $0x80000001, %eax
    jb 9f
    mov $0x80000001, %eax
    cpuid
    bt $29, %edx
    jnc 9f
    mov %edx, %esi                  /* remember NX support (bit 20) */

    /* PML4[0] -> PDPT, PDPT[0..4] -> the four page directories. */
    mov $boot_pdpt, %eax
    or $0x3, %eax
    mov %eax, boot_pml4
    mov $boot_pd, %eax
    or $0x3, %eax
    xor %ecx, %ecx
1:  mov %eax, boot_pdpt(,%ecx,8)
    add $4096, %eax
    inc %ecx
    cmp $4, %ecx
    jne 1b

    /* 2048 entries of 2 MiB: present, writable, huge. */
    xor %ecx, %ecx
2:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    mov %eax, boot_pd(,%ecx,8)
    mov %ecx, %eax
    shr $11, %eax
    mov %eax, boot_pd+4(,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jne 2b

    mov %cr4, %eax
    or $0x20, %eax                  /* PAE */
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3

    mov $0xc0000080, %ecx           /* EFER */
    rdmsr
    or $0x100, %eax                 /* LME */
    bt $20, %esi
    jnc 3f
    or $0x800, %eax                 /* NXE, so the kernel's tables may use NX */
3:  wrmsr

    mov %cr0, %eax
    or $0x80010001, %eax            /* PG | WP | PE */
    mov %eax, %cr0

    lgdt boot_gdt_ptr
    ljmp $0x08, $long_mode_entry

9:  lidt boot_null_idt            /* no vectors: the int3 cannot be */
    int3                            /* delivered, nor the #GP, nor the #DF */
8:  hlt
    jmp 8b

    .code64
long_mode_entry:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    mov $boot_stack_top, %rsp
    mov %edi, %edi                  /* upper halves are undefined after the switch */
    xor %ebp, %ebp                  /* terminate backtraces here */
    call virtus_backend_entry
7:  hlt
    jmp 7b
    .popsection
    "#,
    stack_size = const BOOT_STACK_SIZE,
    options(att_syntax)
);

unsafe extern "C" {
    static boot_stack_guard: u8;
    static boot_stack_top: u8;
}

/// The boot stack: the address of its guard page (the page just below it)
/// and of its top.
pub fn boot_stack() -> (u64, u64) {
    // Only the symbols' addresses are taken; the bytes are never read.
    (
        &raw const boot_stack_guard as u64,
        &raw const boot_stack_top as u64,
    )
}
