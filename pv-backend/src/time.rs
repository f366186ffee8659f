//! Xen system time from the pvclock: Xen publishes, per vCPU, a TSC value,
//! the system time (ns since boot) at that TSC value, and a fixed-point
//! factor (`tsc_to_system_mul` / 2^32, after shifting by `tsc_shift`) that
//! turns TSC ticks into nanoseconds. Reading it costs an `rdtsc`, not a
//! trap. This is also the timebase of `VCPUOP_set_singleshot_timer`.

use crate::abi::{VcpuTimeInfo, XEN_PVCLOCK_TSC_STABLE_BIT};
use crate::shared_info::SharedInfo;
use core::sync::atomic::{AtomicU64, Ordering};

/// Nanoseconds for `delta` TSC ticks: `((delta << shift) * mul) >> 32`,
/// where a negative `shift` shifts right. The product is kept in 128 bits
/// so nothing overflows for any delta.
pub fn scale_delta(delta: u64, mul: u32, shift: i8) -> u64 {
    let shifted = if shift >= 0 {
        u128::from(delta) << shift.unsigned_abs().min(63)
    } else {
        u128::from(delta >> shift.unsigned_abs().min(63))
    };
    (shifted.saturating_mul(u128::from(mul)) >> 32).min(u128::from(u64::MAX)) as u64
}

/// Xen system time at TSC value `tsc` according to the record `t`. A TSC
/// value behind the record's timestamp (another vCPU's TSC slightly
/// behind) counts as no time elapsed rather than wrapping.
pub fn system_time_at(t: &VcpuTimeInfo, tsc: u64) -> u64 {
    let delta = tsc.saturating_sub(t.tsc_timestamp);
    t.system_time
        .wrapping_add(scale_delta(delta, t.tsc_to_system_mul, t.tsc_shift))
}

/// The TSC frequency in Hz implied by the record: one tick is
/// `mul * 2^shift / 2^32` ns, so Hz = `(10^9 << 32) / mul`, shifted by
/// `-shift`.
pub fn tsc_hz(t: &VcpuTimeInfo) -> u64 {
    if t.tsc_to_system_mul == 0 {
        return 0;
    }
    let hz = (1_000_000_000u128 << 32) / u128::from(t.tsc_to_system_mul);
    let hz = if t.tsc_shift >= 0 {
        hz >> t.tsc_shift.unsigned_abs().min(127)
    } else {
        hz << t.tsc_shift.unsigned_abs().min(63)
    };
    hz.min(u128::from(u64::MAX)) as u64
}

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects; Xen runs PVH guests with it
    // enabled at CPL 0.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The largest value returned so far, to keep the clock monotonic when the
/// TSC is not marked stable and Xen's per-update corrections go backwards.
static LAST: AtomicU64 = AtomicU64::new(0);

/// Current Xen system time in ns, from vCPU 0's pvclock.
pub fn system_time_ns(si: &SharedInfo) -> u64 {
    let t = si.vcpu0_time();
    let now = system_time_at(&t, rdtsc());
    if t.flags & XEN_PVCLOCK_TSC_STABLE_BIT != 0 {
        return now;
    }
    let last = LAST.fetch_max(now, Ordering::Relaxed);
    now.max(last)
}

/// Forget the largest reading: after a restore into a new domain, system
/// time is another run's (another host's, after a migration) and may be
/// lower; holding on to the old maximum would stop the clock.
pub fn forget_readings() {
    LAST.store(0, Ordering::Relaxed);
}

/// Wall-clock time in ns since the Unix epoch: the wall clock of system
/// time 0 plus the current system time.
pub fn wallclock_ns(si: &SharedInfo) -> u64 {
    let (sec, nsec) = si.wallclock();
    sec.saturating_mul(1_000_000_000)
        .saturating_add(u64::from(nsec))
        .saturating_add(system_time_ns(si))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parameters for a 2 GHz TSC: 0.5 ns per tick = mul 2^31, shift 0.
    fn two_ghz() -> VcpuTimeInfo {
        VcpuTimeInfo {
            tsc_timestamp: 1_000,
            system_time: 7_000,
            tsc_to_system_mul: 0x8000_0000,
            tsc_shift: 0,
            ..Default::default()
        }
    }

    #[test]
    fn scales_with_positive_and_negative_shift() {
        assert_eq!(scale_delta(2_000, 0x8000_0000, 0), 1_000);
        // A 500 MHz TSC: 2 ns per tick = (mul 2^31) << 2.
        assert_eq!(scale_delta(1_000, 0x8000_0000, 2), 2_000);
        // A 4 GHz TSC: 0.25 ns per tick = (mul 2^31) >> 1.
        assert_eq!(scale_delta(4_000, 0x8000_0000, -1), 1_000);
        // Real-looking 2.994 GHz parameters (Xen picks shift so mul >= 2^31).
        let mul = (((1_000_000_000u128 << 32) / 2_994_000_000) << 1) as u32;
        let ns = scale_delta(2_994_000_000, mul, -1);
        assert!(ns.abs_diff(1_000_000_000) <= 1, "{ns}");
    }

    #[test]
    fn large_deltas_do_not_overflow() {
        // Ten years of a 4 GHz TSC.
        let delta = 4_000_000_000u64 * 86_400 * 3_650;
        let ns = scale_delta(delta, 0x8000_0000, -1);
        assert_eq!(ns, delta / 4);
        assert_eq!(scale_delta(u64::MAX, u32::MAX, 7), u64::MAX);
    }

    #[test]
    fn system_time_adds_the_scaled_delta() {
        let t = two_ghz();
        assert_eq!(system_time_at(&t, 1_000), 7_000);
        assert_eq!(system_time_at(&t, 3_000), 8_000);
        // A TSC behind the timestamp does not go backwards.
        assert_eq!(system_time_at(&t, 10), 7_000);
    }

    #[test]
    fn tsc_frequency_from_mul_and_shift() {
        assert_eq!(tsc_hz(&two_ghz()), 2_000_000_000);
        let t = VcpuTimeInfo {
            tsc_to_system_mul: 0x8000_0000,
            tsc_shift: 2,
            ..two_ghz()
        };
        assert_eq!(tsc_hz(&t), 500_000_000);
        let t = VcpuTimeInfo {
            tsc_to_system_mul: 0x8000_0000,
            tsc_shift: -1,
            ..two_ghz()
        };
        assert_eq!(tsc_hz(&t), 4_000_000_000);
        assert_eq!(tsc_hz(&VcpuTimeInfo::default()), 0);
    }
}
