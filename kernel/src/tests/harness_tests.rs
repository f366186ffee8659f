//! The harness itself: catching panics and hangs, KTAP formatting.

use crate::harness::{Test, TestResult, ktap};
use crate::interrupts::{self, Caught};
use crate::time::{self, NS_PER_MS};
use crate::{check, check_eq};
use alloc::string::String;

pub const TESTS: &[Test] = &[
    Test {
        name: "harness_catches_panic",
        run: catches_panic,
    },
    Test {
        name: "harness_watchdog_abandons_hang",
        run: watchdog,
    },
    Test {
        name: "harness_ktap_format",
        run: ktap_format,
    },
    Test {
        name: "bench_all_run",
        run: bench_all_run,
    },
];

fn catches_panic() -> TestResult {
    let r = interrupts::catch(false, || panic!("expected panic (harness self-test)"));
    check_eq!(r, Err(Caught::Panic));
    Ok(())
}

fn abort_now() {
    interrupts::request_abort();
}

fn watchdog() -> TestResult {
    let start = time::now_ns();
    let id = time::add_timer(start + 30 * NS_PER_MS, abort_now);
    let r = interrupts::catch(true, || {
        loop {
            core::hint::spin_loop();
        }
    });
    if let Some(id) = id {
        time::cancel_timer(id);
    }
    check_eq!(r, Err(Caught::Timeout));
    check!(time::now_ns() - start >= 30 * NS_PER_MS);
    Ok(())
}

fn ktap_format() -> TestResult {
    let mut s = String::new();
    let mut totals = ktap::Totals::default();
    for (i, o) in [
        ktap::Outcome::Pass,
        ktap::Outcome::Fail,
        ktap::Outcome::Skip("why"),
    ]
    .into_iter()
    .enumerate()
    {
        totals.record(o);
        ktap::result(&mut s, i + 1, "t", o)
            .map_err(|_| crate::harness::TestError::Fail("fmt".into()))?;
    }
    ktap::summary(&mut s, totals).map_err(|_| crate::harness::TestError::Fail("fmt".into()))?;
    check_eq!(
        s.as_str(),
        "ok 1 t\nnot ok 2 t\nok 3 t # SKIP why\n1 passed, 1 failed, 1 skipped\n"
    );
    Ok(())
}

fn bench_all_run() -> TestResult {
    // Three iterations each, core and backend benchmarks alike: this proves
    // every benchmark runs and yields sane figures, not how fast anything is.
    let report =
        crate::bench::check_all(3, 1_000 * NS_PER_MS).map_err(crate::harness::TestError::Fail)?;
    for why in &report.skipped {
        crate::kprintln!("# not run: {why}");
    }
    let total = crate::bench::all_benches().len();
    check!(
        report.ran + report.skipped.len() >= total,
        "only {} of {total} benchmarks ran",
        report.ran
    );
    Ok(())
}
