//! Block devices, as the core sees them: a [`BlockDevice`] trait that
//! drivers in the backends implement (blkfront over a Xen ring, AHCI over
//! a controller's command slots), a [`Registry`] the backends fill during
//! start-up, and one request layer ([`Disk`]) that the tests, the shell
//! and the benchmarks share. The layer checks every request before a driver
//! sees it and every completion before a caller believes it; the core never
//! knows which driver is underneath.

mod buffer;
mod device;
mod disk;
mod error;
pub mod pattern;
mod registry;
mod request;
#[cfg(target_os = "none")]
pub mod shell;
#[cfg(target_os = "none")]
mod soak;
mod sync;

#[cfg(test)]
mod request_tests;
#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod test_double;

pub use buffer::{BlockBuffer, PAGE_SIZE};
pub use device::{
    BlockDevice, Completion, DeviceInfo, MAX_SECTOR_SIZE, Operation, Request, RequestId,
};
pub use disk::{Disk, Refused};
pub use error::BlockError;
pub use registry::{DISKS, MAX_DISKS, MAX_NAME, Registry};
pub use request::{Tracker, validate};
#[cfg(target_os = "none")]
pub use sync::MachineWaiter;
pub use sync::Waiter;
