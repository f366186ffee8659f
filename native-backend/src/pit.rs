//! The 8254 Programmable Interval Timer, channel 2: a counter of known
//! frequency (1.193182 MHz) used to wait and to calibrate the TSC.
//!
//! Channel 2 is the one free for this: channel 0 drives IRQ 0 and channel 1
//! is gone from modern chipsets. Its gate and its output are in port B (0x61)
//! rather than wired to the interrupt controller, so it can be polled with
//! interrupts off and without a handler. Each function programs the channel
//! afresh; they are for boot time, on one CPU at a time.
//!
//! The calibration loop itself (`calibrate`) is shared with the ACPI PM
//! timer and takes its counter and its clock as closures, so the arithmetic
//! (wraps, read latency, disturbed windows) is tested on the host.

use core::arch::x86_64::_rdtsc;

use crate::port::Port8;

/// Input clock of the 8254: the 14.31818 MHz NTSC colour-burst crystal / 12.
pub const PIT_HZ: u64 = 1_193_182;

const CHANNEL2_DATA: u16 = 0x42;
const MODE_COMMAND: u16 = 0x43;
/// Port B (NMI status and control): the channel 2 gate, the speaker enable
/// and the channel 2 output.
const PORT_B: u16 = 0x61;
const PORT_B_TIMER2_GATE: u8 = 1 << 0;
const PORT_B_SPEAKER_DATA: u8 = 1 << 1;
const PORT_B_TIMER2_OUT: u8 = 1 << 5;
/// Mode/command: channel 2 (bits 7-6), low then high byte (bits 5-4),
/// mode 0 "interrupt on terminal count" (bits 3-1), binary (bit 0).
const CHANNEL2_MODE0_LOHI: u8 = 0b1011_0000;
/// Mode/command: latch channel 2's count so both bytes read consistently.
const CHANNEL2_LATCH: u8 = 0b1000_0000;

/// No x86 TSC runs faster; a loop that has seen this many cycles per unit of
/// expected time has certainly waited long enough, so a device that never
/// answers (absent, or emulated badly) cannot hang it.
const MAX_TSC_HZ: u64 = 10_000_000_000;
/// Tries per calibration; the one with the tightest bracket wins.
pub(crate) const CALIBRATION_TRIES: u32 = 5;

/// Read the time-stamp counter.
pub(crate) fn read_tsc() -> u64 {
    // SAFETY: RDTSC is part of x86_64's baseline and has no preconditions;
    // the kernel does not set CR4.TSD, and it runs at CPL 0 anyway.
    unsafe { _rdtsc() }
}

struct Channel2 {
    data: Port8,
    command: Port8,
    port_b: Port8,
}

impl Channel2 {
    fn get() -> Self {
        // SAFETY: 0x42, 0x43 and 0x61 are the 8254's channel 2 data port, its
        // mode/command port and port B on every PC-compatible machine; channel
        // 2 is only driven from this module (the speaker is not used).
        unsafe {
            Self {
                data: Port8::new(CHANNEL2_DATA),
                command: Port8::new(MODE_COMMAND),
                port_b: Port8::new(PORT_B),
            }
        }
    }

    /// Count down from `count` (0 means 65536) in mode 0: OUT2 goes high at
    /// zero, and the count keeps going down from 0xFFFF after that, so the
    /// channel also free-runs with a 65536-tick period.
    fn start_mode0(&self, count: u16) {
        // Gate high so the count runs, speaker off so it stays silent.
        let b = self.port_b.read();
        self.port_b
            .write((b & !PORT_B_SPEAKER_DATA) | PORT_B_TIMER2_GATE);
        self.command.write(CHANNEL2_MODE0_LOHI);
        let [low, high] = count.to_le_bytes();
        self.data.write(low);
        self.data.write(high);
    }

    fn out2(&self) -> bool {
        self.port_b.read() & PORT_B_TIMER2_OUT != 0
    }

    fn count(&self) -> u16 {
        self.command.write(CHANNEL2_LATCH);
        let low = self.data.read();
        u16::from_le_bytes([low, self.data.read()])
    }
}

/// Spin for at least `us` microseconds, polling channel 2's output.
///
/// Waits longer than one countdown (65535 ticks, about 55 ms) are done as
/// several. If OUT2 never rises (a missing or broken PIT), the wait gives up
/// after `us` microseconds' worth of cycles at `MAX_TSC_HZ`: bounded (about
/// 3 x `us` with a 3 GHz TSC) but no longer accurate.
pub fn busy_wait_us(us: u32) {
    let channel = Channel2::get();
    let mut ticks = (u64::from(us) * PIT_HZ).div_ceil(1_000_000);
    let start = read_tsc();
    let give_up = u64::from(us) * (MAX_TSC_HZ / 1_000_000);
    while ticks > 0 {
        let chunk = ticks.min(u64::from(u16::MAX));
        channel.start_mode0(chunk as u16);
        while !channel.out2() {
            if read_tsc().wrapping_sub(start) > give_up {
                return;
            }
            core::hint::spin_loop();
        }
        ticks -= chunk;
    }
}

/// Measure the TSC frequency in Hz against channel 2 over windows of
/// `window_ms` milliseconds (any length: the channel free-runs and its wraps
/// are counted), best of `CALIBRATION_TRIES` (5). Returns 0 if the PIT does not
/// count (absent, as under Xen PVH) or every window was disturbed.
pub fn measure_tsc_hz(window_ms: u32) -> u64 {
    measure_hz(window_ms, read_tsc)
}

/// Measure the rate in Hz of `read_clock`, any count that only goes up (the
/// TSC, the local APIC timer's elapsed count), as [`measure_tsc_hz`] does
/// for the TSC: each PIT reading bracketed by two clock readings, so that
/// slow (trapped) reads widen the bracket instead of biasing the result.
/// The give-up bound for a PIT that does not count is in clock ticks at 10
/// GHz per window, so it is longer for a slower clock.
pub fn measure_hz(window_ms: u32, read_clock: impl FnMut() -> u64) -> u64 {
    let channel = Channel2::get();
    channel.start_mode0(0);
    // The count is loaded on the clock edge after the write: wait until it
    // moves so the first reading is not the previous count.
    let first = channel.count();
    let start = read_tsc();
    while channel.count() == first && read_tsc().wrapping_sub(start) < MAX_TSC_HZ / 1000 {
        core::hint::spin_loop();
    }
    let reference = Reference {
        hz: PIT_HZ,
        mask: 0xffff,
        counts_down: true,
    };
    calibrate(
        &reference,
        window_ms,
        CALIBRATION_TRIES,
        || u64::from(channel.count()),
        read_clock,
    )
}

/// A free-running counter of known frequency.
pub(crate) struct Reference {
    pub hz: u64,
    /// The counter's valid bits; it wraps at `mask + 1`.
    pub mask: u64,
    /// The PIT counts down, the PM timer up.
    pub counts_down: bool,
}

/// One window's estimate and its uncertainty in TSC cycles: how long the
/// counter reads at its two ends took.
struct Sample {
    tsc_hz: u64,
    uncertainty: u64,
}

enum Failure {
    /// The counter did not move at all: there is no device.
    Stuck,
    /// The window was disturbed (an SMI, a preempted vCPU) or too slow.
    Disturbed,
}

/// Measure the TSC against `reference` over `window_ms`, `tries` times, and
/// return the estimate with the tightest bracket, or 0 if none succeeded.
pub(crate) fn calibrate(
    reference: &Reference,
    window_ms: u32,
    tries: u32,
    mut read_counter: impl FnMut() -> u64,
    mut read_tsc: impl FnMut() -> u64,
) -> u64 {
    let window_ticks = (reference.hz * u64::from(window_ms) / 1000).max(1);
    let give_up = u64::from(window_ms.max(1)) * (MAX_TSC_HZ / 1000);
    let mut best: Option<Sample> = None;
    for _ in 0..tries {
        match measure_window(
            reference,
            window_ticks,
            give_up,
            &mut read_counter,
            &mut read_tsc,
        ) {
            Ok(sample)
                if best
                    .as_ref()
                    .is_none_or(|b| sample.uncertainty < b.uncertainty) =>
            {
                best = Some(sample)
            }
            Ok(_) | Err(Failure::Disturbed) => {}
            Err(Failure::Stuck) => return 0,
        }
    }
    best.map_or(0, |s| s.tsc_hz)
}

fn measure_window(
    reference: &Reference,
    window_ticks: u64,
    give_up: u64,
    read_counter: &mut impl FnMut() -> u64,
    read_tsc: &mut impl FnMut() -> u64,
) -> Result<Sample, Failure> {
    // Each counter reading is bracketed by two TSC readings: the counter was
    // sampled somewhere between them, best guessed as the midpoint.
    let mut timed_read = || {
        let before = read_tsc();
        let count = read_counter() & reference.mask;
        (before, count, read_tsc())
    };
    let (start_before, mut previous, start_after) = timed_read();
    let (mut elapsed, mut last, mut longest_gap) = (0u64, start_after, 0u64);
    loop {
        let (before, count, after) = timed_read();
        let step = if reference.counts_down {
            previous.wrapping_sub(count)
        } else {
            count.wrapping_sub(previous)
        };
        elapsed += step & reference.mask;
        previous = count;
        longest_gap = longest_gap.max(after.wrapping_sub(last));
        last = after;
        if elapsed >= window_ticks {
            let midpoint = |b: u64, a: u64| b.wrapping_add(a.wrapping_sub(b) / 2);
            let cycles = midpoint(before, after).wrapping_sub(midpoint(start_before, start_after));
            let tsc_hz =
                (u128::from(cycles) * u128::from(reference.hz) / u128::from(elapsed)) as u64;
            // Between two readings the counter must not have gone round: a
            // whole lost wrap would make the window look shorter than it was.
            // Allow half a period, measured with this window's own estimate.
            let gap_ticks =
                u128::from(longest_gap) * u128::from(reference.hz) / u128::from(tsc_hz.max(1));
            if gap_ticks >= u128::from(reference.mask / 2) {
                return Err(Failure::Disturbed);
            }
            let uncertainty = start_after.wrapping_sub(start_before) + after.wrapping_sub(before);
            return Ok(Sample {
                tsc_hz,
                uncertainty,
            });
        }
        if after.wrapping_sub(start_before) > give_up {
            return Err(if elapsed == 0 {
                Failure::Stuck
            } else {
                Failure::Disturbed
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const TSC_HZ: u64 = 2_999_876_543;

    /// A simulated machine: time in picoseconds advances as the TSC and the
    /// counter are read, each read taking its own (possibly varying) time.
    struct Sim {
        now_ps: Cell<u64>,
        reads: Cell<u64>,
    }

    impl Sim {
        fn new(start_ps: u64) -> Self {
            Self {
                now_ps: Cell::new(start_ps),
                reads: Cell::new(0),
            }
        }
        fn advance(&self, ps: u64) -> u64 {
            self.now_ps.set(self.now_ps.get() + ps);
            self.now_ps.get()
        }
        fn tsc(&self) -> u64 {
            (u128::from(self.advance(20_000)) * u128::from(TSC_HZ) / 1_000_000_000_000) as u64
        }
        /// A counter at `hz`, read through a port that takes `read_ps`
        /// plus `extra(n)` on the `n`th read (an SMI, a descheduled vCPU).
        fn counter(&self, hz: u64, down: bool, read_ps: u64, extra: impl Fn(u64) -> u64) -> u64 {
            self.reads.set(self.reads.get() + 1);
            let t = self.advance(read_ps / 2 + extra(self.reads.get()));
            let ticks = (u128::from(t) * u128::from(hz) / 1_000_000_000_000) as u64;
            self.advance(read_ps / 2);
            if down { ticks.wrapping_neg() } else { ticks }
        }
    }

    fn close(measured: u64, expected: u64, ppm: u64) -> bool {
        measured.abs_diff(expected) * 1_000_000 <= expected * ppm
    }

    #[test]
    fn pit_calibration_counts_wraps_of_the_16_bit_down_counter() {
        let sim = Sim::new(7_000_000_000);
        let reference = Reference {
            hz: PIT_HZ,
            mask: 0xffff,
            counts_down: true,
        };
        // 200 ms: the channel wraps three times during the window.
        let hz = calibrate(
            &reference,
            200,
            3,
            || sim.counter(PIT_HZ, true, 1_000_000, |_| 0),
            || sim.tsc(),
        );
        assert!(close(hz, TSC_HZ, 20), "{hz}");
    }

    #[test]
    fn pm_timer_calibration_crosses_the_24_bit_wrap() {
        // Start just before the 24-bit counter wraps (2^24 ticks at 3.58 MHz).
        let sim = Sim::new(4_686_000_000_000);
        let reference = Reference {
            hz: 3_579_545,
            mask: 0xff_ffff,
            counts_down: false,
        };
        let hz = calibrate(
            &reference,
            50,
            3,
            || sim.counter(3_579_545, false, 800_000, |_| 0),
            || sim.tsc(),
        );
        assert!(close(hz, TSC_HZ, 50), "{hz}");
    }

    #[test]
    fn a_counter_that_never_moves_gives_0_after_one_window() {
        let sim = Sim::new(0);
        let reference = Reference {
            hz: PIT_HZ,
            mask: 0xffff,
            counts_down: true,
        };
        let hz = calibrate(&reference, 10, 5, || 0xffff, || sim.tsc());
        assert_eq!(hz, 0);
        // Gave up once, after the bound for one window, not after five.
        let bound_ps = 10 * (MAX_TSC_HZ / 1000) * 1_000_000 / (TSC_HZ / 1_000_000);
        assert!(sim.now_ps.get() < 2 * bound_ps);
    }

    #[test]
    fn a_read_gap_long_enough_to_hide_a_wrap_discards_the_window() {
        let sim = Sim::new(0);
        let reference = Reference {
            hz: PIT_HZ,
            mask: 0xffff,
            counts_down: true,
        };
        // One read in the first window stalls for 60 ms, longer than the
        // PIT's 55 ms period: that window alone would be 60% off.
        let stall = |n| if n == 1000 { 60_000_000_000 } else { 0 };
        let hz = calibrate(
            &reference,
            100,
            1,
            || sim.counter(PIT_HZ, true, 1_000_000, stall),
            || sim.tsc(),
        );
        assert_eq!(hz, 0);
        let sim = Sim::new(0);
        let hz = calibrate(
            &reference,
            100,
            2,
            || sim.counter(PIT_HZ, true, 1_000_000, stall),
            || sim.tsc(),
        );
        assert!(close(hz, TSC_HZ, 20), "{hz}");
    }

    #[test]
    fn the_tightest_bracket_wins() {
        let sim = Sim::new(0);
        let reference = Reference {
            hz: PIT_HZ,
            mask: 0xffff,
            counts_down: true,
        };
        // Some reads are slow (5 us instead of 1 us): those windows have a
        // wider bracket; the estimate must still be close.
        let slow = |n| if n % 7 == 0 { 5_000_000 } else { 0 };
        let hz = calibrate(
            &reference,
            20,
            5,
            || sim.counter(PIT_HZ, true, 1_000_000, slow),
            || sim.tsc(),
        );
        assert!(close(hz, TSC_HZ, 200), "{hz}");
    }
}
