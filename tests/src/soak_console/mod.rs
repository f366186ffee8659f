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

/// The HVM column's short form, in `make test`: 8 KiB each way. Its
/// emulated UART moves a few hundred bytes a second (every port access an
/// exit to the device model in dom0, under nested TCG), so 64 KiB take
/// about ten minutes there, and 10 MiB about a day.
pub const HVM_SHORT_BYTES: u64 = 8 << 10;

/// The time a column's soak may take by default: the boot and teardown,
/// and both directions at a floor rate well below the column's own (the
/// rates seen are in the README: tens of KB/s natively and under PVH, a
/// few hundred bytes/s out of an HVM guest's emulated UART).
pub fn budget(hvm: bool, bytes: u64) -> Duration {
    let floor_rate = if hvm { 128 } else { 4 << 10 };
    Duration::from_secs(240 + 2 * bytes / floor_rate)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_budget_grows_with_the_size_and_the_slow_column() {
        assert_eq!(super::budget(false, 64 << 10).as_secs(), 272);
        assert_eq!(super::budget(true, 64 << 10).as_secs(), 1264);
        assert_eq!(super::budget(false, 10 << 20).as_secs(), 5360);
    }
}
