//! The console soak (`virtus-run soak-console`): a burst of N bytes from
//! the guest and N bytes to it through its console, in each column
//! (native: QEMU's serial port; Xen HVM: the device model's emulated
//! UART; Xen PVH: the PV console ring and xenconsoled), with the CRC-32
//! and count at both ends compared with the host's own regeneration of
//! both streams from the seed. The guest's side is the kernel's
//! `soak.console=BYTES[,SEED]` (kernel/src/soak/console.rs).

pub mod judge;
pub mod native;
pub mod stream;
pub mod xen;

#[cfg(test)]
mod judge_tests;

use std::time::Duration;

/// The short form, in `make test`: 64 KiB each way.
pub const SHORT_BYTES: u64 = 64 << 10;

/// The full form, in `make soak`: 10 MiB each way.
pub const FULL_BYTES: u64 = 10 << 20;

/// The time a column's soak may take by default: the boot and teardown,
/// and both directions at a floor rate well below the slowest column's
/// (the HVM column's emulated UART; see the README for the rates seen).
pub fn budget(bytes: u64) -> Duration {
    /// Bytes per second each way that even the slowest column exceeds.
    const FLOOR_RATE: u64 = 4 << 10;
    Duration::from_secs(240 + 2 * bytes / FLOOR_RATE)
}
