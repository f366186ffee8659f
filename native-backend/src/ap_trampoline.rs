//! The real-mode trampoline a started CPU runs first, and the low pages it
//! lives in.
//!
//! A STARTUP IPI starts a CPU in real mode at a page below 1 MiB. The
//! trampoline takes it through 32-bit protected mode into long mode with
//! page tables of its own, then jumps into the kernel image, where
//! [`virtus_ap_enter_kernel`] switches to the kernel's tables, stack and
//! entry point.
//!
//! Why temporary tables and not the kernel's straight away: the kernel's
//! identity map of RAM is no-execute, low memory included, so the moment
//! the trampoline loaded the kernel's CR3 its next fetch would fault. Its
//! own tables identity-map the first GiB with 2 MiB pages, executable: the
//! trampoline page and the kernel image (linked at 4 MiB) both lie in it.
//! The switch to the kernel's CR3 happens in the kernel image's `.text`,
//! which both sets of tables map executable at the same address, so the
//! fetch after `mov %rsi, %cr3` is sound under either. Making the low page
//! executable in the kernel's own tables instead would mean editing the
//! tables every CPU shares, for a page that must not stay executable.
//!
//! Layout (four pages from [`LowPages::base`], all below 1 MiB):
//! the code and its data block, then the PML4, the PDPT and the PD.

use core::arch::global_asm;
use core::sync::atomic::{Ordering, fence};

/// Pages the trampoline takes: code and data, PML4, PDPT, PD.
pub const PAGES: u64 = 4;
/// What the temporary tables map (identity, executable): the first GiB.
pub const TEMP_MAP_END: u64 = 1 << 30;

// Selectors of the trampoline's GDT (written by `install`).
const CODE32: u16 = 0x08;
const DATA32: u16 = 0x10;
const CODE64: u16 = 0x18;

/// Offsets in the data block after the code (`virtus_ap_trampoline_data`).
mod data {
    pub const GDT: usize = 0; // four descriptors
    pub const GDTR: usize = 32; // u16 limit, u32 base
    pub const PM32_JUMP: usize = 40; // u32 offset, u16 selector
    pub const LM64_JUMP: usize = 48; // u32 offset, u16 selector
    pub const TEMP_CR3: usize = 56; // u32
    pub const ENTER_KERNEL: usize = 64; // u64: virtus_ap_enter_kernel
    pub const ENTRY: usize = 72; // u64: CpuStart::entry
    pub const STACK_TOP: usize = 80; // u64
    pub const PAGE_TABLE: usize = 88; // u64
    pub const CPU: usize = 96; // u64
    pub const TAKEN: usize = 104; // u32: the CPU has read its start
    pub const LEN: usize = 112;
}

global_asm!(
    r#"
    .section .text.virtus_ap_trampoline, "ax"
    .global virtus_ap_trampoline_start, virtus_ap_trampoline_pm32
    .global virtus_ap_trampoline_lm64, virtus_ap_trampoline_data
    .global virtus_ap_trampoline_end

    /* Copied to a page P below 1 MiB; the CPU starts here with CS = P >> 4,
       IP = 0. Only the offsets within the copy matter: absolute addresses
       (GDT base, far-jump targets) were written into the data block for P. */
    .code16
virtus_ap_trampoline_start:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    movzwl %ax, %ebx
    shl $4, %ebx                  /* EBX = P, the base of every later access */
    lgdtl (virtus_ap_trampoline_data - virtus_ap_trampoline_start + {GDTR})
    mov %cr0, %eax
    or $1, %eax                   /* PE */
    mov %eax, %cr0
    ljmpl *(virtus_ap_trampoline_data - virtus_ap_trampoline_start + {PM32_JUMP})

    .code32
virtus_ap_trampoline_pm32:
    mov ${DATA32}, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %cr4, %eax
    or $0x20, %eax                /* PAE */
    mov %eax, %cr4
    mov (virtus_ap_trampoline_data - virtus_ap_trampoline_start + {TEMP_CR3})(%ebx), %eax
    mov %eax, %cr3                /* the temporary tables */
    mov $0xc0000080, %ecx         /* EFER */
    rdmsr
    or $0x900, %eax               /* LME | NXE: the kernel's tables use NX */
    wrmsr
    mov %cr0, %eax
    or $0x80010000, %eax          /* PG | WP, as the boot CPU runs */
    mov %eax, %cr0
    ljmpl *(virtus_ap_trampoline_data - virtus_ap_trampoline_start + {LM64_JUMP})(%ebx)

    .code64
virtus_ap_trampoline_lm64:
    mov %ebx, %ebx                /* RBX's upper half is undefined after the switch */
    mov (virtus_ap_trampoline_data - virtus_ap_trampoline_start + {ENTRY})(%rbx), %rdx
    mov (virtus_ap_trampoline_data - virtus_ap_trampoline_start + {STACK_TOP})(%rbx), %rcx
    mov (virtus_ap_trampoline_data - virtus_ap_trampoline_start + {PAGE_TABLE})(%rbx), %rsi
    mov (virtus_ap_trampoline_data - virtus_ap_trampoline_start + {CPU})(%rbx), %rdi
    mov (virtus_ap_trampoline_data - virtus_ap_trampoline_start + {ENTER_KERNEL})(%rbx), %rax
    /* Everything this CPU needs is in registers: the block may be reused. */
    movl $1, (virtus_ap_trampoline_data - virtus_ap_trampoline_start + {TAKEN})(%rbx)
    jmp *%rax

    .p2align 3
virtus_ap_trampoline_data:
    .space {LEN}
virtus_ap_trampoline_end:

    /* In the kernel image: mapped executable by both the temporary tables
       and the kernel's, so the fetch after the CR3 switch is sound. */
    .text
    .global virtus_ap_enter_kernel
virtus_ap_enter_kernel:
    mov %rsi, %cr3                /* the kernel's tables */
    mov %rcx, %rsp
    xor %ebp, %ebp
    push $0                       /* as if called: RSP = 8 (mod 16) at entry */
    jmp *%rdx                     /* entry(cpu in RDI), interrupts still off */
    "#,
    GDTR = const data::GDTR,
    PM32_JUMP = const data::PM32_JUMP,
    LM64_JUMP = const data::LM64_JUMP,
    TEMP_CR3 = const data::TEMP_CR3,
    ENTER_KERNEL = const data::ENTER_KERNEL,
    ENTRY = const data::ENTRY,
    STACK_TOP = const data::STACK_TOP,
    PAGE_TABLE = const data::PAGE_TABLE,
    CPU = const data::CPU,
    TAKEN = const data::TAKEN,
    DATA32 = const DATA32,
    LEN = const data::LEN,
    options(att_syntax)
);

unsafe extern "C" {
    static virtus_ap_trampoline_start: u8;
    static virtus_ap_trampoline_pm32: u8;
    static virtus_ap_trampoline_lm64: u8;
    static virtus_ap_trampoline_data: u8;
    static virtus_ap_trampoline_end: u8;
    static virtus_ap_enter_kernel: u8;
}

/// Where the trampoline's symbols are, relative to its start.
struct Image {
    start: *const u8,
    len: usize,
    pm32: usize,
    lm64: usize,
    data: usize,
    enter_kernel: u64,
}

fn image() -> Image {
    let start = &raw const virtus_ap_trampoline_start;
    let offset = |p: *const u8| p as usize - start as usize;
    Image {
        start,
        len: offset(&raw const virtus_ap_trampoline_end),
        pm32: offset(&raw const virtus_ap_trampoline_pm32),
        lm64: offset(&raw const virtus_ap_trampoline_lm64),
        data: offset(&raw const virtus_ap_trampoline_data),
        enter_kernel: &raw const virtus_ap_enter_kernel as u64,
    }
}

/// Four pages of usable RAM below 1 MiB that nothing else uses: the core's
/// memory set-up reserves the whole first MiB from the frame allocator
/// (`mem::init`), and the backend claims these once (`smp`), so the
/// trampoline is their only user.
pub struct LowPages {
    base: u64,
}

impl LowPages {
    /// # Safety
    /// `base..base + PAGES * 4096` is usable RAM below 1 MiB, identity-mapped
    /// writable in the kernel's tables, used by nothing else from now on.
    pub unsafe fn claim(base: u64) -> Self {
        Self { base }
    }

    /// The STARTUP vector: the page number of the code.
    pub fn startup_page(&self) -> u8 {
        (self.base >> 12) as u8
    }

    fn write<T>(&self, offset: usize, value: T) {
        // SAFETY: `claim`'s contract: these pages are ours and mapped
        // writable; every offset used is inside them (`install` checks the
        // image fits the first page). Volatile: another CPU reads them.
        unsafe { ((self.base as usize + offset) as *mut T).write_volatile(value) }
    }

    fn write_data<T>(&self, offset: usize, value: T) {
        self.write(image().data + offset, value);
    }

    /// Copy the code in and write what is the same for every CPU: the GDT,
    /// the far jumps, the temporary tables. `None` if the image does not fit
    /// its page or the kernel-side stub lies outside the temporary map.
    pub fn install(&self) -> Option<()> {
        let img = image();
        if img.len > 4096 || img.enter_kernel >= TEMP_MAP_END {
            return None;
        }
        for i in 0..img.len {
            // SAFETY: `i < len`, inside the trampoline's bytes in the image.
            self.write(i, unsafe { img.start.add(i).read() });
        }
        let base = self.base as u32;
        let gdt: [u64; 4] = [
            0,
            0x00cf_9a00_0000_ffff, // 32-bit code, flat
            0x00cf_9200_0000_ffff, // data, flat
            0x00af_9a00_0000_ffff, // 64-bit code
        ];
        for (i, d) in gdt.iter().enumerate() {
            self.write_data(data::GDT + 8 * i, *d);
        }
        self.write_data(data::GDTR, 31u16);
        self.write_data(data::GDTR + 2, base + (img.data + data::GDT) as u32);
        self.write_data(data::PM32_JUMP, base + img.pm32 as u32);
        self.write_data(data::PM32_JUMP + 4, CODE32);
        self.write_data(data::LM64_JUMP, base + img.lm64 as u32);
        self.write_data(data::LM64_JUMP + 4, CODE64);
        self.write_data(data::ENTER_KERNEL, img.enter_kernel);
        // PML4[0] -> PDPT, PDPT[0] -> PD, PD: 512 x 2 MiB, present, writable.
        let (pml4, pdpt, pd) = (self.base + 4096, self.base + 8192, self.base + 12288);
        for page in [pml4, pdpt] {
            for i in 0..512 {
                self.write((page - self.base) as usize + 8 * i, 0u64);
            }
        }
        self.write((pml4 - self.base) as usize, pdpt | 0x3);
        self.write((pdpt - self.base) as usize, pd | 0x3);
        for i in 0..512u64 {
            self.write((pd - self.base) as usize + 8 * i as usize, (i << 21) | 0x83);
        }
        self.write_data(data::TEMP_CR3, pml4 as u32);
        self.write_data(data::TAKEN, 1u32);
        Some(())
    }

    /// Whether the last CPU started has read its start from the block.
    pub fn taken(&self) -> bool {
        // SAFETY: as in `write`; the started CPU writes this word.
        unsafe {
            ((self.base as usize + image().data + data::TAKEN) as *const u32).read_volatile() != 0
        }
    }

    /// Write one CPU's start into the block, before its INIT.
    pub fn prepare(&self, cpu: usize, entry: u64, stack_top: u64, page_table: u64) {
        self.write_data(data::ENTRY, entry);
        self.write_data(data::STACK_TOP, stack_top);
        self.write_data(data::PAGE_TABLE, page_table);
        self.write_data(data::CPU, cpu as u64);
        self.write_data(data::TAKEN, 0u32);
        // The CPU reads these after the IPIs; an x2APIC ICR write (WRMSR)
        // does not order earlier stores, so order them here.
        fence(Ordering::SeqCst);
    }
}
