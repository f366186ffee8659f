//! In-kernel micro-benchmarks: what one operation of the machine costs, in
//! TSC cycles, on whichever platform the kernel runs.
//!
//! The core measures what it reaches through [`crate::Platform`] (the clock,
//! the one-shot timer, the console, self events); each backend adds the
//! operations only it can name through [`crate::Platform::benches`]. A
//! backend groups a paravirtual operation and its trapped-and-emulated twin
//! under one `pair`, so that the report can put them side by side: that gap
//! is what paravirtualization buys.
//!
//! Output (host-parsed, one line per benchmark, then a closing line):
//!
//! ```text
//! # bench <name> iters=<n> median_cycles=<m> p10_cycles=<a> p90_cycles=<b> min_cycles=<c> median_ns=<x> tsc_hz=<hz> pair=<pair|-> role=<pv|emulated|->[ ops=<n> bytes=<n> depth=<d> disk=<name> driver=<name>]
//! # bench <name> error=<text>
//! # bench done count=<N>
//! ```
//!
//! A benchmark that hangs is abandoned by a watchdog and reported as
//! `error=hung: no result after <ms> ms (watchdog)`; one that panics or
//! faults as `error=crashed: <what>`. Either ends the run: the benchmarks
//! after it are reported as `error=not run: <name> was abandoned before it`.
//!
//! The block benchmarks ([`block_benches`]) time a batch of requests per
//! iteration and add what one iteration moved (`ops=`, `bytes=`), how many
//! requests were in flight at most (`depth=`) and the disk, so that the host
//! can turn the cycles into IOPS and MB/s; other lines have no such fields.

#[cfg(any(test, target_os = "none"))]
mod block_load;
mod stats;

pub use stats::{Stats, Work, check_sane, write_error, write_result};

#[cfg(target_os = "none")]
pub mod block_benches;
#[cfg(target_os = "none")]
pub mod check;
#[cfg(target_os = "none")]
mod core_benches;
#[cfg(target_os = "none")]
mod proc_benches;
#[cfg(target_os = "none")]
mod runner;
#[cfg(target_os = "none")]
mod smp_benches;
#[cfg(target_os = "none")]
pub use runner::{BUDGET_NS, RunError, all_benches, list, measure, run};

use alloc::string::String;
use alloc::vec::Vec;

/// Which side of a pair a benchmark is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The paravirtual operation: a hypercall or shared memory.
    Pv,
    /// The device access a hypervisor must trap and emulate (natively, the
    /// device itself).
    Emulated,
    /// Neither, or a baseline (`role=-`).
    Neither,
}

impl Role {
    /// The `role=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pv => "pv",
            Role::Emulated => "emulated",
            Role::Neither => "-",
        }
    }
}

/// Cycle counts, one per timed iteration.
pub type Samples = Vec<u64>;

/// Why a benchmark could not run (the machine lacks the device, a
/// hypercall failed): printed as `error=<text>`.
pub type BenchError = String;

/// One benchmark.
#[derive(Clone, Copy)]
pub struct Bench {
    /// Unique single-word name, used by `bench=<substring>`.
    pub name: &'static str,
    /// One line on what is measured, for `bench list` and the reader.
    pub what: &'static str,
    /// The pair this benchmark belongs to, if any (`pair=`).
    pub pair: Option<&'static str>,
    /// Its side of the pair (`role=`).
    pub role: Role,
    /// Most timed iterations the runner asks for; it asks for fewer when
    /// the time budget ([`BUDGET_NS`] of guest time) would be exceeded.
    pub max_iters: u32,
    /// Run the operation `iters` times and return one cycle count per run.
    pub run: fn(iters: u32) -> Result<Samples, BenchError>,
}

/// The time-stamp counter, fenced so that the measured instructions can
/// neither start before the first read nor finish after the second.
/// Unprivileged and never trapped by Xen's default TSC mode, so it costs the
/// same in every column.
#[inline(always)]
pub fn cycles() -> u64 {
    // SAFETY: LFENCE and RDTSC have no memory effects; every x86_64 CPU has
    // both (SSE2 is part of the baseline).
    unsafe {
        core::arch::x86_64::_mm_lfence();
        let t = core::arch::x86_64::_rdtsc();
        core::arch::x86_64::_mm_lfence();
        t
    }
}

/// Time `timed` `iters` times, running `untimed` (clean-up: cancel what was
/// armed) after each timed run, outside the measurement.
pub fn sample(iters: u32, mut timed: impl FnMut(), mut untimed: impl FnMut()) -> Samples {
    let mut samples = Vec::with_capacity(iters as usize);
    for _ in 0..iters {
        let start = cycles();
        timed();
        let end = cycles();
        untimed();
        samples.push(end.saturating_sub(start));
    }
    samples
}
