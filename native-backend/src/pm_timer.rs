//! The ACPI power management timer: a 3.579545 MHz counter at the FADT's
//! PM_TMR_BLK port, 24 bits wide (32 with the FADT's TMR_VAL_EXT flag).
//!
//! It is a second known-frequency reference for the TSC besides the PIT, and
//! the one that hvmloader's tables always describe (Xen emulates it for HVM
//! guests). It cannot be stopped or reprogrammed, so reading it is all there
//! is to do; the calibration loop is the PIT's ([`crate::pit`]).

use crate::pit::{CALIBRATION_TRIES, Reference, calibrate, read_tsc};
use crate::port::Port32;

/// The PM timer's input clock: the 14.31818 MHz crystal / 4.
pub const PM_TIMER_HZ: u64 = 3_579_545;

/// The counter's valid bits: on 24-bit timers the top byte is reserved and
/// need not read as zero.
fn mask(width32: bool) -> u64 {
    if width32 { 0xffff_ffff } else { 0x00ff_ffff }
}

/// Measure the TSC frequency in Hz against the PM timer over windows of
/// `window_ms` milliseconds (any length: wraps are counted), best of
/// `CALIBRATION_TRIES` (5). Returns 0 if the timer does not count or every
/// window was disturbed.
///
/// # Safety
/// `port` must be the PM timer's port (the FADT's PM_TMR_BLK, as
/// [`crate::acpi::AcpiInfo::pm_timer`] gives it) and `width32` its TMR_VAL_EXT
/// flag: the function reads that port repeatedly.
pub unsafe fn pm_timer_measure_tsc_hz(port: u16, width32: bool, window_ms: u32) -> u64 {
    // SAFETY: the caller's contract, passed on.
    unsafe { pm_timer_measure_hz(port, width32, window_ms, read_tsc) }
}

/// Measure the rate in Hz of `read_clock`, any count that only goes up (the
/// local APIC timer's elapsed count, say), as [`pm_timer_measure_tsc_hz`]
/// does for the TSC; see [`crate::pit::measure_hz`].
///
/// # Safety
/// As for [`pm_timer_measure_tsc_hz`].
pub unsafe fn pm_timer_measure_hz(
    port: u16,
    width32: bool,
    window_ms: u32,
    read_clock: impl FnMut() -> u64,
) -> u64 {
    // SAFETY: the caller vouches that `port` is the PM timer, a read-only
    // counter on which reads have no side effect.
    let timer = unsafe { Port32::new(port) };
    let reference = Reference {
        hz: PM_TIMER_HZ,
        mask: mask(width32),
        counts_down: false,
    };
    calibrate(
        &reference,
        window_ms,
        CALIBRATION_TRIES,
        || u64::from(timer.read()),
        read_clock,
    )
}
