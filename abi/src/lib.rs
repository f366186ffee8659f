//! The numbers of the user ABI, in one place for both of its sides: the
//! kernel (`kernel/src/proc`) and the user runtime (`user/rt`). The prose
//! (what each call does, the entry stack, the faults) is user/ABI.md.

#![no_std]

/// System call numbers (in `rax`).
pub mod nr {
    pub const EXIT: u64 = 0;
    pub const WRITE: u64 = 1;
    pub const READ_LINE: u64 = 2;
    pub const SLEEP: u64 = 3;
    pub const CLOCK: u64 = 4;
    pub const GETPID: u64 = 5;
    pub const SPAWN: u64 = 6;
    pub const WAIT: u64 = 7;
    pub const YIELD: u64 = 8;
    pub const BLOCK_READ: u64 = 9;
    pub const LIST: u64 = 10;
}

/// Error numbers (Linux's); a call fails with `-errno` in `rax`.
pub mod errno {
    pub const ENOENT: i64 = 2;
    pub const EIO: i64 = 5;
    pub const E2BIG: i64 = 7;
    pub const ENOEXEC: i64 = 8;
    pub const ECHILD: i64 = 10;
    pub const ENOMEM: i64 = 12;
    pub const EFAULT: i64 = 14;
    pub const EINVAL: i64 = 22;
    pub const ENOSYS: i64 = 38;
}

/// `wait`'s status of a process the kernel killed for CPU exception `v`:
/// `KILLED + v`.
pub const KILLED: i64 = 256;

/// User space: `[USER_BASE, USER_END)`; programs are linked at USER_BASE.
pub const USER_BASE: u64 = 0x0000_1000_0000_0000;
pub const USER_END: u64 = 0x0000_7fff_0000_0000;
/// Every process's stack: `STACK_SIZE` bytes ending at `STACK_TOP`.
pub const STACK_TOP: u64 = 0x0000_7ffe_ffff_0000;
pub const STACK_SIZE: u64 = 64 * 1024;

/// Bounds the calls enforce.
pub const MAX_WRITE: usize = 64 * 1024;
pub const MAX_BLOCK_READ: usize = 64 * 1024;
pub const MAX_NAME: usize = 64;
pub const MAX_ARGS: usize = 1024;
