//! Start of day: the PVH entry, the boot information it hands over, and the
//! kernel command line.

pub mod cmdline;
#[cfg(target_os = "none")]
pub mod entry;
pub mod pvh;

pub use cmdline::CmdLine;
pub use pvh::{BootInfo, StartInfoError};
