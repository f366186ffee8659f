//! Virtus kernel core: everything that does not depend on whether the kernel
//! runs on hardware or on Xen. The machine is reached only through the
//! [`Platform`] trait.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod bench;
pub mod block;
pub mod boot;
pub mod fixed_fmt;
pub mod harness;
pub mod logger;
pub mod mem;
pub mod platform;
pub mod proc;
pub mod soak;

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
pub mod diag;
#[cfg(target_os = "none")]
pub mod interrupts;
#[cfg(target_os = "none")]
mod kmain;
#[cfg(target_os = "none")]
pub mod power;
#[cfg(target_os = "none")]
pub mod report;
#[cfg(target_os = "none")]
pub mod sched;
#[cfg(target_os = "none")]
pub mod self_event;
#[cfg(target_os = "none")]
pub mod shell;
#[cfg(target_os = "none")]
pub mod suspend;
#[cfg(target_os = "none")]
pub mod tests;
#[cfg(target_os = "none")]
pub mod ticker;
#[cfg(target_os = "none")]
pub mod time;

#[cfg(target_os = "none")]
pub use kmain::start;
pub use platform::{
    CpuInfo, EventHandler, EventSource, ExitStatus, HostRequest, MmioRegion, Platform,
    PlatformError, Resumed, ShellCommand,
};

static PLATFORM: spin::Once<&'static dyn Platform> = spin::Once::new();

/// Make `platform` the machine the core talks to. Called once by the
/// backend, as early as its console works.
pub fn set_platform(platform: &'static dyn Platform) {
    PLATFORM.call_once(|| platform);
}

/// The active platform.
///
/// # Panics
/// If called before [`set_platform`] (a bug in the backend's entry).
pub fn platform() -> &'static dyn Platform {
    *PLATFORM.get().expect("platform used before set_platform")
}

/// The active platform, if one is set (for crash paths).
pub fn try_platform() -> Option<&'static dyn Platform> {
    PLATFORM.get().copied()
}

#[cfg(test)]
mod seam_tests;
