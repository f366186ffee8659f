//! Running the tests: catch points, the watchdog, KTAP on the console.

use super::ktap::{self, Outcome, Totals};
use super::{NoMatch, Test, TestError, TestResult};
use crate::interrupts::{self, Caught};
use crate::time;
use alloc::string::String;
use alloc::vec::Vec;

/// How long one test may run before the watchdog abandons it. Generous:
/// under software emulation a second of guest time can be slow.
pub const WATCHDOG_NS: u64 = 5 * time::NS_PER_SEC;

struct Out;

impl core::fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        crate::kprint!("{s}");
        Ok(())
    }
}

fn on_watchdog() {
    interrupts::request_abort();
}

/// Run one test in a catch point under the watchdog.
fn run_one(test: &Test) -> Result<(), TestError> {
    let platform = crate::platform();
    let irqs_were_on = platform.interrupts_enabled();
    let watchdog = time::add_timer(time::now_ns() + WATCHDOG_NS, on_watchdog);
    let mut result: Option<TestResult> = None;
    let caught = interrupts::catch(true, || result = Some((test.run)()));
    if let Some(id) = watchdog {
        time::cancel_timer(id);
    }
    interrupts::clear_abort();
    // A test must not leave the CPU deaf to interrupts for the next one.
    if irqs_were_on && !platform.interrupts_enabled() {
        platform.interrupts_enable();
    }
    match caught {
        Ok(()) => result.unwrap_or(Ok(())),
        Err(Caught::Panic) => Err(TestError::Fail(String::from("test panicked"))),
        Err(Caught::Timeout) => Err(TestError::Fail(alloc::format!(
            "test did not finish within {} s (watchdog)",
            WATCHDOG_NS / time::NS_PER_SEC
        ))),
        Err(Caught::Fault(f)) => {
            let name = interrupts::EXCEPTION_NAMES
                .get(usize::from(f.vector))
                .copied()
                .unwrap_or("?");
            Err(TestError::Fail(alloc::format!(
                "unexpected CPU exception {}: {name} at rip {:#x}, address {:#x}, error code {:#x}",
                f.vector,
                f.rip,
                f.address,
                f.error_code
            )))
        }
    }
}

/// Every registered test: the core's, then the backend's, then any test
/// injected from the command line to prove the harness catches failures.
pub fn all_tests() -> Vec<Test> {
    let mut tests: Vec<Test> = crate::tests::CORE_TESTS
        .iter()
        .flat_map(|l| l.iter())
        .copied()
        .collect();
    tests.extend_from_slice(crate::platform().tests());
    if let Some(t) = crate::platform()
        .boot_info()
        .cmdline
        .get("inject")
        .and_then(crate::tests::injected)
    {
        tests.push(t);
    }
    tests
}

/// Run the tests whose name contains `filter` (all for `None` or `all`).
///
/// A filter that selects nothing is an error, not an empty pass: a typo in
/// `test=` must never power off as "0 passed, 0 failed". Nothing is printed
/// for it here; the caller reports the error in its own words.
pub fn run(filter: Option<&str>) -> Result<Totals, NoMatch> {
    let selected: Vec<Test> = all_tests()
        .into_iter()
        .filter(|t| super::selects(filter, t.name))
        .collect();
    if selected.is_empty() {
        return Err(NoMatch);
    }
    let mut totals = Totals::default();
    let _ = ktap::header(&mut Out, selected.len());
    for (i, test) in selected.iter().enumerate() {
        crate::kprintln!("# running: {}", test.name);
        let outcome = run_one(test);
        let out = match &outcome {
            Ok(()) => Outcome::Pass,
            Err(TestError::Skip(reason)) => Outcome::Skip(reason),
            Err(TestError::Fail(msg)) => {
                let _ = ktap::diagnostic(&mut Out, msg);
                Outcome::Fail
            }
        };
        totals.record(out);
        let _ = ktap::result(&mut Out, i + 1, test.name, out);
    }
    let _ = ktap::summary(&mut Out, totals);
    Ok(totals)
}

/// Print the names of all tests (`test=list`).
pub fn list() {
    for test in all_tests() {
        crate::kprintln!("# test: {}", test.name);
    }
}
