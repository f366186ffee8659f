//! One safe function per system call of user/ABI.md. Slices carry their own
//! lengths, so a wrapper never hands the kernel a pointer the program does
//! not own; [`raw`] is there for programs that mean to pass bad ones.

use crate::errno::Errno;
use crate::syscall_instruction::{syscall0, syscall1, syscall2, syscall3, syscall4};

/// The call numbers (user/ABI.md), shared with the kernel.
pub use virtus_abi::nr;

/// Unchecked access to the numbered calls, for tests of the kernel's
/// pointer checks (a bad pointer must come back as EFAULT).
pub mod raw {
    pub use crate::syscall_instruction::{syscall0, syscall1, syscall2, syscall3, syscall4};
}

/// Ends the process; the low 8 bits of `code` are its status.
pub fn exit(code: i32) -> ! {
    // SAFETY: exit takes no pointer.
    unsafe { syscall1(nr::EXIT, code as u64) };
    // The kernel never returns from exit; if it did, stop here loudly
    // rather than run off the end of the program.
    // SAFETY: ud2 only raises #UD, which the kernel turns into a kill.
    unsafe { core::arch::asm!("ud2", options(nomem, nostack, noreturn)) }
}

/// Writes `bytes` to the console (at most 64 KiB per call).
pub fn write(bytes: &[u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel reads at most bytes.len() bytes of `bytes`.
    let raw = unsafe { syscall2(nr::WRITE, bytes.as_ptr() as u64, bytes.len() as u64) };
    Errno::result(raw).map(|n| n as usize)
}

/// Reads one line from the console into `buf`, without the newline (cut at
/// `buf.len()`); sleeps until Enter. Returns the number of bytes stored.
pub fn read_line(buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most buf.len() bytes into `buf`, which we
    // borrow mutably for the call.
    let raw = unsafe { syscall2(nr::READ_LINE, buf.as_mut_ptr() as u64, buf.len() as u64) };
    Errno::result(raw).map(|n| n as usize)
}

/// Sleeps for at least `ns` nanoseconds.
pub fn sleep(ns: u64) -> Result<(), Errno> {
    // SAFETY: sleep takes no pointer.
    Errno::result(unsafe { syscall1(nr::SLEEP, ns) }).map(|_| ())
}

/// Monotonic nanoseconds since boot.
pub fn clock() -> u64 {
    // SAFETY: clock takes no pointer.
    let raw = unsafe { syscall0(nr::CLOCK) };
    // The call cannot fail; a negative value would be a kernel bug, shown
    // as 0 rather than as a huge time.
    Errno::result(raw).unwrap_or(0)
}

/// The caller's process id.
pub fn getpid() -> u64 {
    // SAFETY: getpid takes no pointer.
    Errno::result(unsafe { syscall0(nr::GETPID) }).unwrap_or(0)
}

/// Starts program `path` (its name in the ramdisk) with `args`, split at
/// spaces by the kernel; returns the child's pid.
pub fn spawn(path: &str, args: &str) -> Result<u64, Errno> {
    // SAFETY: the kernel reads path.len() bytes of `path` and args.len()
    // bytes of `args`, both borrowed for the call.
    let raw = unsafe {
        syscall4(
            nr::SPAWN,
            path.as_ptr() as u64,
            path.len() as u64,
            args.as_ptr() as u64,
            args.len() as u64,
        )
    };
    Errno::result(raw)
}

/// How a child ended, from [`wait`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    /// It called exit with this code (its low 8 bits).
    Exited(u8),
    /// The kernel killed it for this CPU exception vector (14: page fault).
    Killed(u8),
}

impl Status {
    /// The ABI's encoding: 0..=255 an exit code, 256 + vector a kill.
    pub fn from_raw(raw: u64) -> Status {
        let killed = virtus_abi::KILLED as u64;
        if raw < killed {
            Status::Exited(raw as u8)
        } else {
            Status::Killed((raw - killed) as u8)
        }
    }
}

/// Sleeps until child `pid` ends and returns how it ended.
pub fn wait(pid: u64) -> Result<Status, Errno> {
    // SAFETY: wait takes no pointer.
    Errno::result(unsafe { syscall1(nr::WAIT, pid) }).map(Status::from_raw)
}

/// Lets the other runnable threads have their turn.
pub fn yield_now() {
    // SAFETY: yield takes no pointer. It cannot fail.
    unsafe { syscall0(nr::YIELD) };
}

/// Reads whole sectors from disk number `disk` at sector `lba` into `buf`
/// (a whole number of sectors, at most 64 KiB); returns the bytes read.
pub fn block_read(disk: u64, lba: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most buf.len() bytes into `buf`, which we
    // borrow mutably for the call.
    let raw = unsafe {
        syscall4(
            nr::BLOCK_READ,
            disk,
            lba,
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
        )
    };
    Errno::result(raw).map(|n| n as usize)
}

/// The name of program number `index` in the ramdisk, stored in `buf` (cut
/// at its length); returns the full length. ENOENT past the last one.
pub fn list(index: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most buf.len() bytes into `buf`, which we
    // borrow mutably for the call.
    let raw = unsafe { syscall3(nr::LIST, index, buf.as_mut_ptr() as u64, buf.len() as u64) };
    Errno::result(raw).map(|n| n as usize)
}
