//! Running the tests: catch points, the watchdog, KTAP on the console.

use super::ktap::{self, Outcome, Totals};
use super::{NoMatch, Test, TestError, TestResult};
use crate::interrupts::{self, Caught};
use crate::platform::ExitStatus;
use crate::time;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

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

/// How one test ended.
enum Ran {
    /// It returned, or it was abandoned and nothing it left behind
    /// endangers the next test.
    Finished(Result<(), TestError>),
    /// It (or a catch point inside it) was abandoned holding `lock`, which
    /// cannot be released: the run must stop. `caught` is why the test
    /// itself was abandoned, if it was.
    Unsafe {
        lock: &'static str,
        caught: Option<Caught>,
    },
}

/// Bytes of heap in use. Only called while the heap lock is known to be
/// free (see [`Ran::Unsafe`]).
fn heap_used() -> u64 {
    crate::mem::heap::HEAP.usage().0
}

/// Why an abandoned test failed, in one line.
fn describe(caught: Caught, out: &mut impl Write) -> core::fmt::Result {
    match caught {
        Caught::Panic => write!(out, "test panicked"),
        Caught::Timeout => write!(
            out,
            "test did not finish within {} s (watchdog)",
            WATCHDOG_NS / time::NS_PER_SEC
        ),
        Caught::Fault(f) => {
            let name = interrupts::EXCEPTION_NAMES
                .get(usize::from(f.vector))
                .copied()
                .unwrap_or("?");
            write!(
                out,
                "unexpected CPU exception {}: {name} at rip {:#x}, address {:#x}, error code {:#x}",
                f.vector, f.rip, f.address, f.error_code
            )
        }
    }
}

/// Run one test in a catch point under the watchdog.
fn run_one(test: &Test) -> Ran {
    let platform = crate::platform();
    let irqs_were_on = platform.interrupts_enabled();
    let heap_before = heap_used();
    let watchdog = time::add_timer(time::now_ns() + WATCHDOG_NS, on_watchdog);
    let mut result: Option<TestResult> = None;
    let caught = interrupts::catch(true, || result = Some((test.run)()));
    if let Some(lock) = interrupts::unsafe_after_abort() {
        // Interrupts are off and stay off. Nothing more that could take a
        // lock: not the watchdog's cancellation (the timer lock), not an
        // allocation (the heap lock).
        return Ran::Unsafe {
            lock,
            caught: caught.err(),
        };
    }
    if let Some(id) = watchdog {
        time::cancel_timer(id);
    }
    interrupts::clear_abort();
    // A test must not leave the CPU deaf to interrupts for the next one.
    if irqs_were_on && !platform.interrupts_enabled() {
        platform.interrupts_enable();
    }
    // Nor processes running into the next one (a failed or aborted
    // process test may leave some).
    let left = crate::proc::kill_all();
    if left > 0 {
        crate::kprintln!("# the test left {left} processes running; ended them");
    }
    let Err(caught) = caught else {
        return Ran::Finished(result.unwrap_or(Ok(())));
    };
    // Why, then what the abandoned test left behind, one line each.
    let mut why = String::new();
    let _ = describe(caught, &mut why);
    if super::abort::console_released() {
        why.push_str("\nreleased the console lock, which the aborted test held");
    }
    let leaked = heap_used().saturating_sub(heap_before);
    if leaked > 0 {
        let _ = write!(
            why,
            "\nthe aborted test left {leaked} bytes of heap allocated (leaked)"
        );
    }
    Ran::Finished(Err(TestError::Fail(why)))
}

/// Report test `number`, abandoned holding `lock`, and stop the machine
/// as crashed: no summary, no end-of-run marker. Allocates nothing.
fn stop_unsafe(number: usize, test: &Test, lock: &str, caught: Option<Caught>) -> ! {
    crate::kprint!("# ");
    let _ = match caught {
        Some(caught) => describe(caught, &mut Out),
        None => write!(Out, "a catch point inside the test abandoned its context"),
    };
    crate::kprintln!();
    let _ = ktap::result(&mut Out, number, test.name, Outcome::Fail);
    let _ = super::unsafe_after_abort_line(&mut Out, lock, test.name);
    crate::kprintln!("!!! stopping the run: the next test would deadlock on the {lock}");
    crate::platform().shutdown(ExitStatus::Crash)
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
        // Between two tests is a clean place to stop if the host asks.
        crate::power::serve();
        crate::kprintln!("# running: {}", test.name);
        let outcome = match run_one(test) {
            Ran::Finished(outcome) => outcome,
            Ran::Unsafe { lock, caught } => stop_unsafe(i + 1, test, lock, caught),
        };
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
