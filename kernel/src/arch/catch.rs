//! Recovering from a fault, a panic or a hang inside a test.
//!
//! [`catch`] runs a function after saving the callee-saved registers and the
//! stack pointer in a [`CatchPoint`]. An exception handler (or the panic
//! handler, or the watchdog) that decides the fault was expected calls
//! [`redirect`] on the trap frame, which makes `iretq` land in
//! `catch_landing` on the saved stack; `catch` then returns the fault. This is
//! setjmp/longjmp with the CPU's own frame as the jump: nothing on the
//! abandoned stack is dropped, so tests must not rely on destructors running
//! after a fault.

use super::trap::TrapFrame;
use core::arch::global_asm;

/// Saved state of a [`catch`] call.
#[repr(C)]
#[derive(Debug, Default)]
pub struct CatchPoint {
    /// Stack pointer after `catch_call` saved the callee-saved registers;
    /// 0 while the point is not armed (before `catch_call` stored it, and
    /// from the moment `f` returned), when nothing may jump to it.
    pub saved_rsp: u64,
}

global_asm!(
    r#"
    .pushsection .text.catch, "ax"
    /* u64 catch_call(point: *mut CatchPoint, f: extern "C" fn(*mut u8), arg: *mut u8) */
    .global catch_call
catch_call:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    /* Armed from here on: handlers may jump to the landing. */
    mov %rdi, %rbx
    mov %rsp, (%rdi)
    sub $8, %rsp
    mov %rsi, %rax
    mov %rdx, %rdi
    call *%rax
    add $8, %rsp
    /* Disarmed before this frame goes: a handler that came after the
       `ret` below would otherwise land on a stack that no longer exists. */
    movq $0, (%rbx)
    xor %eax, %eax
    jmp 1f
    /* Reached by iretq (or catch_resume) with RSP = saved_rsp. */
    .global catch_landing
catch_landing:
    mov $1, %eax
1:  pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

    /* catch_resume(saved_rsp): leave the current stack for a catch point. */
    .global catch_resume
catch_resume:
    mov %rdi, %rsp
    jmp catch_landing
    .popsection
    "#,
    options(att_syntax)
);

unsafe extern "C" {
    fn catch_call(point: *mut CatchPoint, f: extern "C" fn(*mut u8), arg: *mut u8) -> u64;
    fn catch_resume(saved_rsp: u64) -> !;
    static catch_landing: u8;
}

/// RFLAGS.IF: maskable interrupts enabled.
const RFLAGS_IF: u64 = 1 << 9;

impl CatchPoint {
    /// A catch point not yet armed by [`catch`].
    pub const fn new() -> Self {
        Self { saved_rsp: 0 }
    }
}

/// Make the interrupted context continue at the catch point whose saved
/// stack pointer is `saved_rsp`, as if [`catch`] had returned "caught".
///
/// The context lands with interrupts disabled, whatever it ran with: what it
/// abandoned (a lock, a half-done update) must be looked at before any
/// interrupt handler can run into it. The caller of [`catch`] restores the
/// interrupt state it wants.
pub fn redirect(frame: &mut TrapFrame, saved_rsp: u64) {
    frame.rip = &raw const catch_landing as u64;
    frame.rsp = saved_rsp;
    frame.cs = u64::from(super::gdt::KERNEL_CODE_SELECTOR);
    frame.ss = 0x10;
    frame.rflags &= !RFLAGS_IF;
}

/// Leave the current context (not an interrupt frame: a panic) for the
/// catch point whose saved stack pointer is `saved_rsp`, with interrupts
/// disabled (see [`redirect`]).
///
/// # Safety
/// `saved_rsp` must belong to a [`catch`] call that is still active on the
/// current CPU, below the current stack frame (or on another stack that is
/// abandoned by this jump).
pub unsafe fn resume(saved_rsp: u64) -> ! {
    x86_64::instructions::interrupts::disable();
    // SAFETY: the caller guarantees the saved stack pointer belongs to a
    // live `catch_call` frame, where `catch_landing` restores registers.
    unsafe { catch_resume(saved_rsp) }
}

/// Run `f` with a catch point. Returns `true` if `f` returned normally,
/// `false` if it was abandoned through the catch point (then with
/// interrupts disabled, see [`redirect`]).
///
/// The catch point is passed as a raw pointer and no reference to it is
/// held while `f` runs: exception and interrupt handlers read it (through
/// their own raw pointer) while this call is still active.
///
/// # Safety
/// `point` must be valid for writes for the whole call, and nothing may
/// write it while the call is active except `catch_call` itself.
pub unsafe fn catch<F: FnOnce()>(point: *mut CatchPoint, f: F) -> bool {
    extern "C" fn trampoline<F: FnOnce()>(arg: *mut u8) {
        // SAFETY: `arg` is the `Option<F>` on `catch`'s frame, alive for the
        // whole call; taking it leaves `None` behind.
        let f = unsafe { (*(arg as *mut Option<F>)).take() };
        if let Some(f) = f {
            f();
        }
    }
    let mut slot = Some(f);
    // SAFETY: `catch_call` saves and restores all callee-saved registers,
    // stores the stack pointer through `point` (valid: the caller's
    // contract), and calls `trampoline` with a pointer to `slot`, which
    // outlives it.
    let caught = unsafe { catch_call(point, trampoline::<F>, (&raw mut slot).cast::<u8>()) };
    caught == 0
}
