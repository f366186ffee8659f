//! The kernel's error numbers (Linux's, user/ABI.md). A call fails with
//! `-errno` in `rax`; the wrappers in [`crate::sys`] turn that into
//! `Err(Errno)`.

use core::fmt;

/// A positive error number from the kernel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Errno(pub i64);

impl Errno {
    /// No such program or disk.
    pub const ENOENT: Errno = Errno(2);
    /// The device failed.
    pub const EIO: Errno = Errno(5);
    /// An argument too long.
    pub const E2BIG: Errno = Errno(7);
    /// The ELF file was refused (the kernel prints why).
    pub const ENOEXEC: Errno = Errno(8);
    /// Not a child of the caller.
    pub const ECHILD: Errno = Errno(10);
    /// Out of memory.
    pub const ENOMEM: Errno = Errno(12);
    /// A pointer outside the caller's mapped user memory.
    pub const EFAULT: Errno = Errno(14);
    /// An invalid argument.
    pub const EINVAL: Errno = Errno(22);
    /// No such system call.
    pub const ENOSYS: Errno = Errno(38);

    /// The symbolic name, as in Linux's headers.
    pub fn name(self) -> &'static str {
        match self {
            Self::ENOENT => "ENOENT",
            Self::EIO => "EIO",
            Self::E2BIG => "E2BIG",
            Self::ENOEXEC => "ENOEXEC",
            Self::ECHILD => "ECHILD",
            Self::ENOMEM => "ENOMEM",
            Self::EFAULT => "EFAULT",
            Self::EINVAL => "EINVAL",
            Self::ENOSYS => "ENOSYS",
            _ => "E?",
        }
    }

    /// A raw result from `rax`: a value >= 0, or `-errno`.
    pub fn result(raw: i64) -> Result<u64, Errno> {
        if raw < 0 {
            Err(Errno(-raw))
        } else {
            Ok(raw as u64)
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}
