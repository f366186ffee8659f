//! Start of day: the PVH entry, the boot information it hands over, the
//! kernel command line and the ramdisk.

pub mod cmdline;
#[cfg(target_os = "none")]
pub mod entry;
pub mod modules;
pub mod pvh;
pub mod ramdisk;

pub use cmdline::CmdLine;
pub use pvh::{BootInfo, StartInfoError};
pub use ramdisk::ramdisk;
