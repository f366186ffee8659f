//! Interrupt and exception entry: 256 small stubs that push a uniform frame
//! and call [`trap_dispatch`], written in `global_asm!` because stable Rust
//! has no `x86-interrupt` calling convention.
//!
//! Every stub is 16 bytes long, so the IDT can point at `trap_stubs + 16 * n`.
//! Vectors for which the CPU pushes an error code skip the dummy push, which
//! makes the frame layout identical for all vectors.

use core::arch::global_asm;
use core::sync::atomic::{AtomicPtr, Ordering};

/// Registers and CPU state saved on entry to any interrupt or exception, in
/// the order the stubs leave them on the stack (lowest address first).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(missing_docs)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Vector number pushed by the stub.
    pub vector: u64,
    /// Error code pushed by the CPU, or 0.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 22 * 8);

/// Distance between two entry stubs.
pub const STUB_SIZE: u64 = 16;

global_asm!(
    r#"
    .pushsection .text.trap, "ax"
    .balign 16
    .global trap_stubs
trap_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if ((vec == 8) | (vec == 10) | (vec == 11) | (vec == 12) | (vec == 13) | (vec == 14) | (vec == 17) | (vec == 21) | (vec == 29) | (vec == 30))
    .else
    push $0
    .endif
    push $vec
    jmp trap_common
    .set vec, vec + 1
    .endr

trap_common:
    /* From user mode (the saved CS, above the vector and the error code,
     * has RPL 3): take the kernel's GS, see percpu.rs. */
    testb $3, 24(%rsp)
    jz 1f
    swapgs
1:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    cld
    /* The CPU aligned RSP to 16 before pushing its 5 words; with the two
     * stub words and 15 registers the call below sees an aligned stack. */
    call trap_dispatch
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp
    /* Back to user mode (the CS about to be loaded has RPL 3): give GS
     * back to it. */
    testb $3, 8(%rsp)
    jz 2f
    swapgs
2:
    iretq
    .popsection
    "#,
    options(att_syntax)
);

unsafe extern "C" {
    static trap_stubs: u8;
}

/// Address of the entry stub for `vector`.
pub fn stub_address(vector: u8) -> u64 {
    let base = &raw const trap_stubs as u64;
    base + STUB_SIZE * u64::from(vector)
}

/// Where traps go: the exception and device-interrupt handlers of the
/// layer above (`interrupts`), registered with [`set_dispatch`] so that this
/// layer never names it. Atomics, since a trap may come at any time.
static EXCEPTION_HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());
static DEVICE_HANDLER: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// A handler for traps of one kind.
pub type TrapHandler = fn(&mut TrapFrame);

/// Send exceptions (vectors 0-31) to `exception` and everything else to
/// `device`. Called once, before the IDT is loaded.
pub fn set_dispatch(exception: TrapHandler, device: TrapHandler) {
    EXCEPTION_HANDLER.store(exception as *mut (), Ordering::Release);
    DEVICE_HANDLER.store(device as *mut (), Ordering::Release);
}

/// Called by `trap_common` for every interrupt and exception.
#[unsafe(no_mangle)]
extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    let handler = if frame.vector < 32 {
        &EXCEPTION_HANDLER
    } else {
        super::idle::resume_past_halt(&mut frame.rip);
        &DEVICE_HANDLER
    };
    let raw = handler.load(Ordering::Acquire);
    if raw.is_null() {
        // A trap before the core could take it: nothing can report it,
        // and it must not look like a clean end.
        super::reset::triple_fault();
    }
    // SAFETY: only `set_dispatch` stores non-null values here, and it
    // stores `TrapHandler`s; a fn pointer survives the round trip through
    // `*mut ()` unchanged.
    let handler: TrapHandler = unsafe { core::mem::transmute::<*mut (), TrapHandler>(raw) };
    handler(frame);
}

/// CPU exception names, by vector, as in the Intel SDM.
pub const EXCEPTION_NAMES: [&str; 32] = [
    "divide error (#DE)",
    "debug (#DB)",
    "non-maskable interrupt (NMI)",
    "breakpoint (#BP)",
    "overflow (#OF)",
    "bound range exceeded (#BR)",
    "invalid opcode (#UD)",
    "device not available (#NM)",
    "double fault (#DF)",
    "coprocessor segment overrun",
    "invalid TSS (#TS)",
    "segment not present (#NP)",
    "stack-segment fault (#SS)",
    "general protection fault (#GP)",
    "page fault (#PF)",
    "reserved (15)",
    "x87 floating-point error (#MF)",
    "alignment check (#AC)",
    "machine check (#MC)",
    "SIMD floating-point error (#XM)",
    "virtualization exception (#VE)",
    "control protection (#CP)",
    "reserved (22)",
    "reserved (23)",
    "reserved (24)",
    "reserved (25)",
    "reserved (26)",
    "reserved (27)",
    "hypervisor injection (#HV)",
    "VMM communication (#VC)",
    "security exception (#SX)",
    "reserved (31)",
];
