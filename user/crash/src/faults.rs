//! The deliberate faults, each one instruction of inline assembly so the
//! compiler can neither remove it nor reason about it (a Rust null read or
//! division by zero is undefined behaviour or a checked panic, not a fault).
//! Each function returns only if the CPU let the instruction through.

use core::arch::asm;

/// A kernel heap address (user/ABI.md: the kernel half is supervisor-only).
pub const KERNEL_HEAP: u64 = 0xffff_9000_0000_0000;
/// 1 MiB, inside the kernel's identity map of RAM below user space.
pub const IDENTITY_MAP: u64 = 0x10_0000;

/// Loads 8 bytes from `addr`.
pub fn read(addr: u64) {
    // SAFETY: the load is meant to fault; the kernel kills the process. If
    // it does not fault, it only reads into a scratch register.
    unsafe {
        asm!("mov {tmp}, qword ptr [{addr}]", addr = in(reg) addr, tmp = out(reg) _, options(nostack))
    };
}

/// Stores 8 bytes of zero at `addr`.
pub fn write(addr: u64) {
    // SAFETY: the store is meant to fault; the kernel kills the process. If
    // it does not, user code wrote kernel memory: the program reports it.
    unsafe { asm!("mov qword ptr [{addr}], 0", addr = in(reg) addr, options(nostack)) };
}

/// Calls into `code`, a buffer in writable memory that holds `ret`.
pub fn execute(code: &[u8; 1]) {
    // SAFETY: the call is meant to fault (the page is not executable). If
    // it does not, the buffer's single `ret` comes straight back, with
    // every register the call may touch declared clobbered.
    unsafe { asm!("call {code}", code = in(reg) code.as_ptr(), clobber_abi("C")) };
}

/// `hlt`, a privileged instruction: #GP at CPL 3.
pub fn privileged() {
    // SAFETY: meant to raise #GP; at CPL 0 it would only halt until the
    // next interrupt.
    unsafe { asm!("hlt", options(nomem, nostack)) };
}

/// `ud2`: #UD.
pub fn invalid_opcode() {
    // SAFETY: meant to raise #UD; there is no way past it.
    unsafe { asm!("ud2", options(nomem, nostack)) };
}

/// Divides 1 by `divisor` with `div`: #DE when it is 0.
pub fn divide(divisor: u64) {
    // SAFETY: meant to raise #DE; otherwise it only computes in the
    // declared registers.
    unsafe {
        asm!("div {d}", d = in(reg) divisor, inout("rax") 1u64 => _, inout("rdx") 0u64 => _,
             options(nomem, nostack))
    };
}

/// The user data selector (user/ABI.md: 0x23), which the kernel's GDT has.
const USER_DATA: u16 = 0x23;

/// Loads GS with the user data selector: in 64-bit mode that zeroes the GS
/// base, which the kernel uses for its per-CPU data.
pub fn load_user_gs() {
    // SAFETY: loading a valid user data selector into GS touches no memory
    // and nothing in this program uses GS.
    unsafe { asm!("mov gs, {0:x}", in(reg) USER_DATA, options(nostack, preserves_flags)) };
}

/// GS's selector as it is now (the kernel's swaps must leave it alone).
pub fn gs_selector() -> u16 {
    let selector: u16;
    // SAFETY: reads a segment register into a general one.
    unsafe { asm!("mov {0:x}, gs", out(reg) selector, options(nomem, nostack, preserves_flags)) };
    selector
}
