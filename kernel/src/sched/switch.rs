//! The context switch: save the callee-saved registers on the current
//! thread's stack, store its stack pointer, load the next thread's, pop its
//! registers. Everything else a thread needs (the rest of its registers, its
//! interrupt flag) is already on its stack, saved by the Rust code or the
//! trap entry that led to the switch.

use core::arch::global_asm;

global_asm!(
    r#"
    .pushsection .text.sched, "ax"
    /* switch_stacks(save: *mut u64, next: u64) */
    .global switch_stacks
switch_stacks:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, (%rdi)
    mov %rsi, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

    /* The first return of a new thread lands here, with the entry
     * function in R12 and its argument in R13 (popped by switch_stacks). */
    .global thread_start
thread_start:
    mov %r13, %rdi
    and $-16, %rsp
    call *%r12
    ud2
    .popsection
    "#,
    options(att_syntax)
);

unsafe extern "C" {
    fn switch_stacks(save: *mut u64, next: u64);
    static thread_start: u8;
}

/// Switch from the current thread, whose stack pointer is stored through
/// `save`, to the thread whose saved stack pointer is `next`.
///
/// # Safety
/// Interrupts must be off; `next` must be a stack pointer saved by this
/// function or prepared by [`prepare_stack`], on a stack that is mapped and
/// not in use; `save` must stay valid until the current thread runs again.
pub unsafe fn switch(save: *mut u64, next: u64) {
    // SAFETY: the caller's contract; `switch_stacks` keeps the C ABI's
    // callee-saved registers and returns on the next thread's stack.
    unsafe { switch_stacks(save, next) }
}

/// Lay out a new thread's stack below `top` so that the first switch to it
/// calls `entry(arg)` (which must never return). Returns the stack pointer
/// to switch to.
///
/// # Safety
/// `[top - 64, top)` must be mapped, writable and unused.
pub unsafe fn prepare_stack(top: u64, entry: extern "C" fn(u64) -> !, arg: u64) -> u64 {
    // Six registers and the return address; `thread_start` aligns the
    // stack itself before calling `entry`.
    let words: [u64; 8] = [
        0,                              // r15
        0,                              // r14
        arg,                            // r13
        entry as usize as u64,          // r12
        0,                              // rbx
        0,                              // rbp
        &raw const thread_start as u64, // return address
        0,                              // padding (alignment)
    ];
    let sp = top - 64;
    // SAFETY: the caller guarantees the 64 bytes below `top` are ours.
    unsafe { core::ptr::copy_nonoverlapping(words.as_ptr(), sp as *mut u64, words.len()) };
    sp
}
