//! How a boot ended, and what QEMU's exit status says about the kernel.
//!
//! The kernel reports its verdict by writing a value `v` to the
//! `isa-debug-exit` port (0xf4); QEMU then exits with `(v << 1) | 1`. Any
//! other status did not come from the kernel's shutdown path: with
//! `-no-reboot`, a triple fault makes QEMU exit with 0.

use std::fmt;
use std::time::Duration;

/// The verdict the kernel itself wrote to `isa-debug-exit`. Mirrors the
/// kernel's `platform::ExitStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelExit {
    /// v = 0x10: everything that ran succeeded.
    Success,
    /// v = 0x11: the kernel ran to completion but some test failed.
    Failure,
    /// v = 0x12: a panic or an unhandled CPU exception.
    Crash,
}

impl KernelExit {
    /// QEMU's exit status for this verdict: 33, 35, 37.
    pub const fn qemu_status(self) -> i32 {
        let port_value = match self {
            Self::Success => 0x10,
            Self::Failure => 0x11,
            Self::Crash => 0x12,
        };
        (port_value << 1) | 1
    }

    /// The verdict behind a QEMU exit status, if it is one of ours.
    pub fn from_qemu_status(status: i32) -> Option<Self> {
        [Self::Success, Self::Failure, Self::Crash]
            .into_iter()
            .find(|exit| exit.qemu_status() == status)
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Crash => "crash",
        }
    }
}

/// How the QEMU process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    /// QEMU exited by itself with this status.
    Exited(i32),
    /// Something else killed QEMU with this signal (the OOM killer, a user).
    Signaled(i32),
    /// The runner killed QEMU because the boot outlived its time budget.
    TimedOut(Duration),
}

impl Termination {
    /// The kernel's own verdict, when QEMU's status carries one.
    pub fn kernel_exit(self) -> Option<KernelExit> {
        match self {
            Self::Exited(status) => KernelExit::from_qemu_status(status),
            Self::Signaled(_) | Self::TimedOut(_) => None,
        }
    }
}

impl fmt::Display for Termination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited(status) => match KernelExit::from_qemu_status(*status) {
                Some(exit) => write!(f, "exit {status} ({})", exit.describe()),
                None => write!(f, "exit {status}"),
            },
            Self::Signaled(signal) => write!(f, "killed by signal {signal}"),
            Self::TimedOut(after) => write!(f, "timeout after {}", crate::table::budget(*after)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_debug_exit_encoding() {
        let exits = [KernelExit::Success, KernelExit::Failure, KernelExit::Crash];
        assert_eq!(exits.map(KernelExit::qemu_status), [33, 35, 37]);
    }

    #[test]
    fn only_our_statuses_are_kernel_verdicts() {
        let verdicts = [37, 0, 1].map(KernelExit::from_qemu_status);
        assert_eq!(verdicts, [Some(KernelExit::Crash), None, None]);
        let ends = [
            Termination::TimedOut(Duration::from_secs(1)),
            Termination::Exited(35),
        ];
        assert_eq!(
            ends.map(Termination::kernel_exit),
            [None, Some(KernelExit::Failure)]
        );
    }

    #[test]
    fn displays() {
        let ends = [Termination::Exited(33), Termination::Exited(0)];
        assert_eq!(
            ends.map(|end| end.to_string()),
            ["exit 33 (success)", "exit 0"]
        );
        let timeout = Termination::TimedOut(Duration::from_secs(120));
        assert_eq!(timeout.to_string(), "timeout after 120s");
    }
}
