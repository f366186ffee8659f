//! Running benchmarks: warm-up, an iteration count that fits the time
//! budget, statistics, one result line each; every run of a benchmark in a
//! catch point under a watchdog, so that a hang, a panic or a CPU exception
//! is reported against the benchmark's name.

use super::{Bench, Samples, Stats, write_error, write_result};
use crate::harness::{NoMatch, selects};
use crate::interrupts::{self, Caught};
use crate::time;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Guest time one benchmark's timed iterations may take, estimated from
/// its warm-up. Under nested software emulation an exit can cost tens of
/// microseconds, so expensive operations get fewer iterations, not more time.
pub const BUDGET_NS: u64 = 200 * time::NS_PER_MS;

/// Fewest timed iterations when the budget allows fewer, as long as they
/// fit [`FLOOR_BUDGET_NS`]; beyond that, one. Under Xen HVM a 4 KiB line to
/// the trapped UART takes seconds, and a run must still end in minutes.
const MIN_ITERS: u32 = 5;

/// Guest time the [`MIN_ITERS`] floor may stretch a benchmark to.
const FLOOR_BUDGET_NS: u64 = 10 * BUDGET_NS;

/// Most warm-up iterations, which also give the cost estimate.
const MAX_WARM_UP: u32 = 50;

/// Watchdog for a benchmark's first, single iteration (the probe), whose
/// cost nothing predicts yet. The slowest single operation measured is a
/// 4 KiB line to the trapped UART under Xen HVM, 14 to 28 s of guest time
/// on the nested bed (n = 5, under load): this is over three times that.
const PROBE_WATCHDOG_NS: u64 = 90 * time::NS_PER_SEC;

/// Watchdog for the later runs: this many times what the probe predicts
/// for them, and never less than [`MIN_WATCHDOG_NS`] (one probe can be
/// quick by luck).
const WATCHDOG_FACTOR: u64 = 4;

/// The least watchdog of a run after the probe.
const MIN_WATCHDOG_NS: u64 = 10 * time::NS_PER_SEC;

/// Why a benchmark gave no figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunError {
    /// It ran and said why it could not measure (no such device, a
    /// hypercall failed, a wrong number of samples).
    Failed(String),
    /// A watchdog abandoned it after this much guest time.
    Hung {
        /// Guest nanoseconds from the start of the abandoned run.
        after_ns: u64,
    },
    /// It panicked or took an unexpected CPU exception.
    Crashed(String),
    /// Abandoned holding `lock`, which cannot be released: the kernel's
    /// state is unsafe, interrupts stay off, and nothing that could take a
    /// lock (an allocation, the timer) may run; the run must stop.
    Unsafe {
        /// The lock the abandoned benchmark left held.
        lock: &'static str,
    },
}

impl RunError {
    /// Whether the benchmark was abandoned mid-way, so that whatever it
    /// held (a lock, the console, the timer) may still be held.
    pub fn abandoned(&self) -> bool {
        !matches!(self, RunError::Failed(_))
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Failed(why) => f.write_str(why),
            RunError::Hung { after_ns } => write!(
                f,
                "hung: no result after {} ms (watchdog)",
                after_ns / time::NS_PER_MS
            ),
            RunError::Crashed(what) => write!(f, "crashed: {what}"),
            RunError::Unsafe { lock } => {
                write!(f, "abandoned holding the {lock}: state unsafe after abort")
            }
        }
    }
}

struct Out;

impl core::fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        crate::kprint!("{s}");
        Ok(())
    }
}

/// Every benchmark: the core's, then the backend's, then the block ones.
pub fn all_benches() -> Vec<Bench> {
    let mut benches: Vec<Bench> = super::core_benches::BENCHES.to_vec();
    benches.extend_from_slice(crate::platform().benches());
    benches.extend_from_slice(super::block_benches::BENCHES);
    benches.extend_from_slice(super::proc_benches::BENCHES);
    if crate::sched::smp::online() > 1 {
        benches.extend_from_slice(super::smp_benches::BENCHES);
    }
    benches
}

/// How many iterations fit the budget at `cost` cycles each.
fn plan(bench: &Bench, cost_cycles: u64, tsc_hz: u64) -> u32 {
    let fitting = |ns: u64| {
        let cycles = u128::from(ns) * u128::from(tsc_hz) / u128::from(time::NS_PER_SEC);
        u32::try_from(cycles / u128::from(cost_cycles.max(1))).unwrap_or(u32::MAX)
    };
    let floor = MIN_ITERS.min(fitting(FLOOR_BUDGET_NS)).max(1);
    fitting(BUDGET_NS).clamp(floor.min(bench.max_iters), bench.max_iters.max(1))
}

/// The median of a warm-up run, as the cost estimate.
fn median_of(result: Result<Samples, RunError>, tsc_hz: u64) -> Result<u64, RunError> {
    let mut samples = result?;
    Ok(Stats::from_samples(&mut samples, tsc_hz).map_or(0, |s| s.median_cycles))
}

/// The watchdog for `iters` iterations at `cost_cycles` each.
fn watchdog_for(iters: u32, cost_cycles: u64, tsc_hz: u64) -> u64 {
    let expected_ns =
        super::stats::cycles_to_ns(cost_cycles, tsc_hz).saturating_mul(u64::from(iters));
    expected_ns
        .saturating_mul(WATCHDOG_FACTOR)
        .max(MIN_WATCHDOG_NS)
}

fn on_watchdog() {
    interrupts::request_abort();
}

/// Run `bench` `iters` times in a catch point, abandoned if it outlives
/// `watchdog_ns` of guest time; then give the platform timer back to the
/// core's software timers (a benchmark may have armed or cancelled it).
fn run_raw(bench: &Bench, iters: u32, watchdog_ns: u64) -> Result<Samples, RunError> {
    let platform = crate::platform();
    let irqs_were_on = platform.interrupts_enabled();
    let start = time::now_ns();
    let watchdog = time::add_timer(start.saturating_add(watchdog_ns), on_watchdog)
        .ok_or_else(|| RunError::Failed("no free timer slot for the watchdog".into()))?;
    let mut result = None;
    let caught = interrupts::catch(true, || result = Some((bench.run)(iters)));
    if let Some(lock) = interrupts::unsafe_after_abort() {
        // Interrupts are off and stay off, and nothing may take a lock: not
        // even the watchdog's cancellation (the timer lock). `result` is
        // empty (the run was abandoned), so dropping it frees nothing.
        return Err(RunError::Unsafe { lock });
    }
    let elapsed = time::now_ns().saturating_sub(start);
    // Cancelling re-arms the platform timer for the earliest software timer.
    time::cancel_timer(watchdog);
    interrupts::clear_abort();
    // A benchmark abandoned with interrupts off must not leave them off.
    if irqs_were_on && !platform.interrupts_enabled() {
        platform.interrupts_enable();
    }
    match caught {
        Ok(()) => result
            .unwrap_or_else(|| Err("returned nothing".into()))
            .map_err(RunError::Failed),
        Err(Caught::Timeout) => Err(RunError::Hung { after_ns: elapsed }),
        Err(Caught::Panic) => Err(RunError::Crashed("panicked".into())),
        Err(Caught::Fault(f)) => Err(RunError::Crashed(alloc::format!(
            "CPU exception {} ({}) at rip {:#x}, address {:#x}",
            f.vector,
            interrupts::EXCEPTION_NAMES
                .get(usize::from(f.vector))
                .copied()
                .unwrap_or("?"),
            f.rip,
            f.address
        ))),
    }
}

/// Run `bench`: a warm-up whose samples are dropped, then `iters` timed
/// iterations, or as many as fit [`BUDGET_NS`] (at least a few, at most its
/// `max_iters`). The warm-up starts with one iteration, whose cost decides
/// how many more are worth running.
///
/// Each of those runs has its own watchdog: [`PROBE_WATCHDOG_NS`] for the
/// first iteration, then [`WATCHDOG_FACTOR`] times what it predicts.
pub fn measure(bench: &Bench, iters: Option<u32>) -> Result<Stats, RunError> {
    measure_guarded(bench, iters, PROBE_WATCHDOG_NS)
}

/// [`measure`], with `probe_watchdog_ns` for the first iteration (the test
/// of the watchdog needs a short one).
pub(crate) fn measure_guarded(
    bench: &Bench,
    iters: Option<u32>,
    probe_watchdog_ns: u64,
) -> Result<Stats, RunError> {
    let tsc_hz = crate::platform().cpu_info().tsc_hz;
    let mut cost = median_of(run_raw(bench, 1, probe_watchdog_ns), tsc_hz)?;
    let iters = match iters {
        Some(n) => n,
        None => {
            let warm_up = (plan(bench, cost, tsc_hz) / 20).min(MAX_WARM_UP);
            if warm_up > 1 {
                let watchdog = watchdog_for(warm_up, cost, tsc_hz);
                cost = median_of(run_raw(bench, warm_up, watchdog), tsc_hz)?;
            }
            plan(bench, cost, tsc_hz)
        }
    };
    let mut samples = run_raw(bench, iters, watchdog_for(iters, cost, tsc_hz))?;
    if samples.len() != iters as usize {
        return Err(RunError::Failed(alloc::format!(
            "asked for {iters} samples, got {}",
            samples.len()
        )));
    }
    Stats::from_samples(&mut samples, tsc_hz).ok_or_else(|| RunError::Failed("no samples".into()))
}

/// Run the benchmarks whose name contains `filter` (all for `None` or
/// `all`), printing one line each and the closing line. Returns whether
/// every selected benchmark ran, or [`NoMatch`] (printing nothing) if the
/// filter selects none, as the test harness does.
///
/// A benchmark that hangs or crashes is reported as such and ends the run
/// cleanly: what it was abandoned in (a lock, the console, the timer) may
/// still be held, so the ones after it are reported as not run, with why,
/// rather than risked.
pub fn run(filter: Option<&str>) -> Result<bool, NoMatch> {
    let selected: Vec<Bench> = all_benches()
        .into_iter()
        .filter(|b| selects(filter, b.name))
        .collect();
    if selected.is_empty() {
        return Err(NoMatch);
    }
    let mut all_ran = true;
    let mut abandoned: Option<&str> = None;
    for bench in &selected {
        if let Some(culprit) = abandoned {
            let why = alloc::format!("not run: {culprit} was abandoned before it");
            let _ = write_error(&mut Out, bench.name, &why);
            continue;
        }
        let _ = match measure(bench, None) {
            Ok(stats) => {
                let work = super::block_benches::work_of(bench.name);
                write_result(
                    &mut Out,
                    bench.name,
                    &stats,
                    bench.pair,
                    bench.role,
                    work.as_ref(),
                )
            }
            Err(RunError::Unsafe { lock }) => stop_unsafe(bench.name, lock),
            Err(e) => {
                all_ran = false;
                if e.abandoned() {
                    abandoned = Some(bench.name);
                }
                write_error(&mut Out, bench.name, &alloc::format!("{e}"))
            }
        };
    }
    // How often the idle rule saved a wake-up (block_wake_timer sleeps
    // hundreds of times): evidence that it fires where the shadow is lost,
    // and never where it holds.
    crate::kprintln!(
        "# idle: {} interrupt(s) arrived just before the idle HLT and resumed past it",
        crate::arch::idle::resumed_past_halt()
    );
    crate::kprintln!("# bench done count={}", selected.len());
    Ok(all_ran)
}

/// Report `bench`, abandoned holding `lock`, and stop the machine as
/// crashed (no `# bench done` line), as the test harness does. Allocates
/// nothing: the heap lock may be the one held.
fn stop_unsafe(bench: &str, lock: &'static str) -> ! {
    // `write_error`'s line, formatted in place rather than into a String.
    crate::kprintln!("# bench {bench} error={}", RunError::Unsafe { lock });
    crate::kprintln!("# state unsafe after abort: {lock} held by aborted benchmark {bench}");
    crate::kprintln!("!!! stopping the run: the next benchmark would deadlock on the {lock}");
    crate::platform().shutdown(crate::platform::ExitStatus::Crash)
}

/// Print every benchmark with what it measures (`bench list`).
pub fn list() {
    for b in all_benches() {
        crate::kprintln!(
            "{:<24} pair={:<10} role={:<8} {}",
            b.name,
            b.pair.unwrap_or("-"),
            b.role.as_str(),
            b.what
        );
    }
}
