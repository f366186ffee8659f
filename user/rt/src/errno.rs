//! The kernel's error numbers (Linux's, user/ABI.md). A call fails with
//! `-errno` in `rax`; the wrappers in [`crate::sys`] turn that into
//! `Err(Errno)`.

use core::fmt;
use virtus_abi::errno;

/// A positive error number from the kernel.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Errno(pub i64);

impl Errno {
    /// No such program or disk.
    pub const ENOENT: Errno = Errno(errno::ENOENT);
    /// The device failed.
    pub const EIO: Errno = Errno(errno::EIO);
    /// An argument too long.
    pub const E2BIG: Errno = Errno(errno::E2BIG);
    /// The ELF file was refused (the kernel prints why).
    pub const ENOEXEC: Errno = Errno(errno::ENOEXEC);
    /// Not a child of the caller.
    pub const ECHILD: Errno = Errno(errno::ECHILD);
    /// Out of memory.
    pub const ENOMEM: Errno = Errno(errno::ENOMEM);
    /// A pointer outside the caller's mapped user memory.
    pub const EFAULT: Errno = Errno(errno::EFAULT);
    /// An invalid argument.
    pub const EINVAL: Errno = Errno(errno::EINVAL);
    /// No such system call.
    pub const ENOSYS: Errno = Errno(errno::ENOSYS);

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
