//! Running benchmarks: warm-up, an iteration count that fits the time
//! budget, statistics, one result line each.

use super::{Bench, Samples, Stats, write_error, write_result};
use crate::time;
use alloc::string::String;
use alloc::vec::Vec;

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

struct Out;

impl core::fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        crate::kprint!("{s}");
        Ok(())
    }
}

/// Every benchmark: the core's, then the backend's.
pub fn all_benches() -> Vec<Bench> {
    let mut benches: Vec<Bench> = super::core_benches::BENCHES.to_vec();
    benches.extend_from_slice(crate::platform().benches());
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
fn median_of(result: Result<Samples, String>, tsc_hz: u64) -> Result<u64, String> {
    let mut samples = result?;
    Ok(Stats::from_samples(&mut samples, tsc_hz).map_or(0, |s| s.median_cycles))
}

/// Run `bench` `iters` times, then give the platform timer back to the
/// core's software timers (the harness watchdog among them): a benchmark
/// may have armed or cancelled it directly.
fn run_raw(bench: &Bench, iters: u32) -> Result<Samples, String> {
    let result = (bench.run)(iters);
    time::resync_platform_timer();
    result
}

/// Run `bench`: a warm-up whose samples are dropped, then `iters` timed
/// iterations, or as many as fit [`BUDGET_NS`] (at least a few, at most its
/// `max_iters`). The warm-up starts with one iteration, whose cost decides
/// how many more are worth running.
pub fn measure(bench: &Bench, iters: Option<u32>) -> Result<Stats, String> {
    let tsc_hz = crate::platform().cpu_info().tsc_hz;
    let mut cost = median_of(run_raw(bench, 1), tsc_hz)?;
    let iters = match iters {
        Some(n) => n,
        None => {
            let warm_up = (plan(bench, cost, tsc_hz) / 20).min(MAX_WARM_UP);
            if warm_up > 1 {
                cost = median_of(run_raw(bench, warm_up), tsc_hz)?;
            }
            plan(bench, cost, tsc_hz)
        }
    };
    let mut samples = run_raw(bench, iters)?;
    if samples.len() != iters as usize {
        return Err(alloc::format!(
            "asked for {iters} samples, got {}",
            samples.len()
        ));
    }
    Stats::from_samples(&mut samples, tsc_hz).ok_or_else(|| String::from("no samples"))
}

/// Run the benchmarks whose name contains `filter` (all for `None` or
/// `all`), printing one line each and the closing line. Returns whether
/// every selected benchmark ran.
pub fn run(filter: Option<&str>) -> bool {
    let selected: Vec<Bench> = all_benches()
        .into_iter()
        .filter(|b| match filter {
            None | Some("all") | Some("") => true,
            Some(f) => b.name.contains(f),
        })
        .collect();
    let mut all_ran = true;
    for bench in &selected {
        let _ = match measure(bench, None) {
            Ok(stats) => write_result(&mut Out, bench.name, &stats, bench.pair, bench.role),
            Err(e) => {
                all_ran = false;
                write_error(&mut Out, bench.name, &e)
            }
        };
    }
    crate::kprintln!("# bench done count={}", selected.len());
    all_ran
}

/// What [`check_all`] did.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Benchmarks that ran and gave sane figures.
    pub ran: usize,
    /// Benchmarks left out, with why (a diagnostic for the test log).
    pub skipped: Vec<String>,
}

/// Run every benchmark for `iters` timed iterations and check that its
/// figures are sane ([`super::check_sane`]). For the backends' tests: it
/// proves each benchmark runs and asserts nothing about speed.
///
/// One exception keeps the test inside the harness watchdog: a 4 KiB line
/// is left out when `console_byte` says it would take over
/// `console_allowance_ns` (a trapped UART under Xen HVM takes seconds).
pub fn check_all(iters: u32, console_allowance_ns: u64) -> Result<CheckReport, String> {
    let mut report = CheckReport::default();
    let mut byte_ns = None;
    for bench in &all_benches() {
        let line_ns = byte_ns.map(|ns: u64| ns * 4096 * u64::from(iters + 1));
        if bench.name == super::core_benches::CONSOLE_4K_LINE
            && line_ns.is_some_and(|ns| ns > console_allowance_ns)
        {
            report.skipped.push(alloc::format!(
                "{}: would take about {} ms at {} ns per console byte",
                bench.name,
                line_ns.unwrap_or(0) / time::NS_PER_MS,
                byte_ns.unwrap_or(0)
            ));
            continue;
        }
        let stats =
            measure(bench, Some(iters)).map_err(|e| alloc::format!("{}: {e}", bench.name))?;
        super::check_sane(&stats).map_err(|e| alloc::format!("{}: {e}", bench.name))?;
        if stats.iters != iters {
            return Err(alloc::format!(
                "{}: {} iterations, not {iters}",
                bench.name,
                stats.iters
            ));
        }
        if bench.name == super::core_benches::CONSOLE_BYTE {
            byte_ns = Some(stats.median_ns);
        }
        report.ran += 1;
    }
    Ok(report)
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
