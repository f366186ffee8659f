//! The `syscall` instruction itself, one function per number of arguments
//! (user/ABI.md): the number in `rax`, arguments in `rdi`, `rsi`, `rdx`,
//! `r10`, `r8`, the result in `rax`; the CPU overwrites `rcx` (return
//! address) and `r11` (flags). Typed wrappers are in [`crate::sys`].

use core::arch::asm;

/// # Safety
/// The call must not make the kernel write memory the caller relies on
/// (calls that take no pointer are always sound).
pub unsafe fn syscall0(nr: u64) -> i64 {
    let ret: i64;
    // SAFETY: the kernel preserves every register but rax, rcx and r11,
    // which are declared; it does not touch the user stack (nostack), and
    // may read or write memory the caller's pointers name (no `nomem`).
    unsafe {
        asm!("syscall", inlateout("rax") nr as i64 => ret,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// # Safety
/// As [`syscall0`]; pointer arguments must name memory valid for the call.
pub unsafe fn syscall1(nr: u64, a0: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in syscall0; the caller vouches for the argument.
    unsafe {
        asm!("syscall", inlateout("rax") nr as i64 => ret, in("rdi") a0,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// # Safety
/// As [`syscall1`].
pub unsafe fn syscall2(nr: u64, a0: u64, a1: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in syscall0; the caller vouches for the arguments.
    unsafe {
        asm!("syscall", inlateout("rax") nr as i64 => ret, in("rdi") a0, in("rsi") a1,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// # Safety
/// As [`syscall1`].
pub unsafe fn syscall3(nr: u64, a0: u64, a1: u64, a2: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in syscall0; the caller vouches for the arguments.
    unsafe {
        asm!("syscall", inlateout("rax") nr as i64 => ret,
             in("rdi") a0, in("rsi") a1, in("rdx") a2,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

/// # Safety
/// As [`syscall1`].
pub unsafe fn syscall4(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in syscall0; the caller vouches for the arguments.
    unsafe {
        asm!("syscall", inlateout("rax") nr as i64 => ret,
             in("rdi") a0, in("rsi") a1, in("rdx") a2, in("r10") a3,
             lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}
