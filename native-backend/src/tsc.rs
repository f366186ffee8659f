//! The time-stamp counter as the monotonic clock: nanoseconds since boot by
//! a fixed-point scale computed from the calibrated frequency.

use crate::cpu::rdtsc;
use core::sync::atomic::{AtomicU64, Ordering};

/// TSC value taken as time zero.
static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);
/// Measured TSC frequency in Hz (0 before calibration).
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// ns = (delta * MULT) >> 32.
static MULT: AtomicU64 = AtomicU64::new(0);

/// Take time zero (called first thing at boot).
pub fn mark_boot() {
    TSC_AT_BOOT.store(rdtsc(), Ordering::Relaxed);
}

/// Install the calibrated frequency.
pub fn set_frequency(hz: u64) {
    let mult = ((1_000_000_000u128 << 32) / u128::from(hz.max(1))) as u64;
    MULT.store(mult, Ordering::Relaxed);
    TSC_HZ.store(hz, Ordering::Relaxed);
}

/// Calibrated frequency in Hz (0 if not yet calibrated).
pub fn frequency() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Nanoseconds since boot for TSC value `tsc`.
pub fn tsc_to_ns(tsc: u64) -> u64 {
    let delta = tsc.saturating_sub(TSC_AT_BOOT.load(Ordering::Relaxed));
    ((u128::from(delta) * u128::from(MULT.load(Ordering::Relaxed))) >> 32) as u64
}

/// TSC value at `ns` since boot.
pub fn ns_to_tsc(ns: u64) -> u64 {
    let ticks = u128::from(ns) * u128::from(frequency()) / 1_000_000_000;
    TSC_AT_BOOT
        .load(Ordering::Relaxed)
        .saturating_add(ticks as u64)
}

/// Nanoseconds since boot.
pub fn now_ns() -> u64 {
    tsc_to_ns(rdtsc())
}
