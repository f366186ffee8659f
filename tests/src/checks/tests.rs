//! Each negative check against consoles that do and do not behave.

use super::*;
use crate::exit::Termination;
use crate::expect::{Leg, expected_tests};
use crate::transcript::Transcript;
use std::collections::BTreeSet;

fn boot(console: &str, termination: Termination, secs: f64) -> Boot {
    Boot {
        transcript: Transcript::from_console(console),
        termination,
        elapsed: Duration::from_secs_f64(secs),
        result_at: None,
    }
}

/// The listing of every expected native test, less the first `drop`.
fn listing(drop: usize) -> String {
    expected_tests(Leg::Native)
        .iter()
        .skip(drop)
        .map(|name| format!("# test: {name}\n"))
        .collect()
}

/// The functions a correct symbolizer names at `function`'s fault.
fn site(function: &str) -> Vec<Frame> {
    vec![
        Frame {
            function: "core::ptr::read_volatile".into(),
            location: None,
        },
        Frame {
            function: format!("virtus_kernel::tests::fault_tests::{function}"),
            location: Some("kernel/src/tests/fault_tests.rs:57".into()),
        },
    ]
}

impl Check {
    /// Judged with the fault named as it should be (crash checks).
    fn assess_boot(self, boot: &Boot) -> Assessment {
        let expected = match self {
            Check::Crash(crash) => crash.function().map(site),
            _ => None,
        };
        self.assess(boot, expected.as_deref())
    }
}

const SUCCESS: Termination = Termination::Exited(33);
const FAILURE: Termination = Termination::Exited(35);
const CRASH: Termination = Termination::Exited(37);
const PAGE_FAULT: Check = Check::Crash(Crash::PageFault);
const INJECT_HANG: Check = Check::Inject(Injection::Hang);

#[test]
fn every_mode_is_checked_once() {
    let all = Check::all();
    assert_eq!(all.len(), 1 + 7 + 4 + 3);
    let names: BTreeSet<String> = all.iter().map(|c| c.name()).collect();
    assert_eq!(names.len(), all.len());
    assert_eq!(
        Check::Inject(Injection::Panic).append(),
        "test=all loglevel=info inject=panic"
    );
}

#[test]
fn cmdline_maps_to_its_check() {
    assert_eq!(
        Check::for_cmdline("loglevel=debug test=list"),
        Some(Check::List)
    );
    assert_eq!(
        Check::for_cmdline("crash=gpf"),
        Some(Check::Crash(Crash::GeneralProtection))
    );
    assert_eq!(Check::for_cmdline("test=all inject=hang"), None);
    assert_eq!(Check::for_cmdline("crash=bogus"), None);
}

#[test]
fn list_behaves() {
    let a = Check::List.assess_boot(&boot(&listing(0), SUCCESS, 1.0));
    assert!(a.behaved(), "{a:?}");
    let n = expected_tests(Leg::Native).len();
    assert_eq!(a.observed, format!("{n} tests listed, exit 33 (success)"));
}

#[test]
fn short_or_repeated_list_misbehaves() {
    let short = Check::List.assess_boot(&boot(&listing(1), SUCCESS, 1.0));
    let first = expected_tests(Leg::Native)[0];
    assert_eq!(
        short.problems,
        [format!("1 expected tests not listed: {first}")]
    );
    let mut repeated = listing(0);
    repeated.push_str("# test: test_7\n# test: test_7\n");
    let repeated = Check::List.assess_boot(&boot(&repeated, FAILURE, 1.0));
    assert_eq!(
        repeated.problems,
        [
            "listed more than once: test_7",
            "exit 35 (failure), expected exit 33"
        ]
    );
}

#[test]
fn crash_behaves() {
    let console = "[ INFO] boot\n[ERROR] EXCEPTION: Page Fault at 0x0 (read)\n";
    let a = PAGE_FAULT.assess_boot(&boot(console, CRASH, 0.8));
    assert!(a.behaved(), "{a:?}");
    assert_eq!(
        a.observed,
        "exit 37 (crash) after 0.8s, RIP in read_address"
    );
}

#[test]
fn crash_must_name_its_function() {
    let console = "page fault\n";
    let wrong = PAGE_FAULT.assess(&boot(console, CRASH, 0.8), Some(&site("recurse")));
    assert_eq!(wrong.problems, ["RIP named recurse, not read_address"]);
    let unnamed = PAGE_FAULT.assess(&boot(console, CRASH, 0.8), None);
    assert_eq!(
        unnamed.problems,
        ["the fault's RIP was not named (expected read_address)"]
    );
    let panic = Check::Crash(Crash::Panic);
    let a = panic.assess(&boot("panicked\n", CRASH, 0.8), None);
    assert!(a.behaved(), "a panic has no RIP: {a:?}");
}

#[test]
fn crash_without_its_symptom_misbehaves() {
    let a = PAGE_FAULT.assess_boot(&boot("[ERROR] something broke\n", CRASH, 0.8));
    assert_eq!(a.problems, ["no console line mentions \"page fault\""]);
}

#[test]
fn slow_or_silent_crash_misbehaves() {
    let slow = PAGE_FAULT.assess_boot(&boot("page fault\n", CRASH, 12.0));
    assert_eq!(slow.problems, ["took 12.0s (limit 10s)"]);
    let hung = PAGE_FAULT.assess_boot(&boot(
        "page fault\n",
        Termination::TimedOut(Duration::from_secs(20)),
        20.0,
    ));
    assert_eq!(hung.problems, ["timeout after 20s, expected exit 37"]);
    let triple = PAGE_FAULT.assess_boot(&boot("", Termination::Exited(0), 0.3));
    assert_eq!(triple.problems.len(), 2);
}

const HANG_CAUGHT: &str = "\
KTAP version 1
1..3
# running: a
ok 1 a
# running: injected_hang
# watchdog: injected_hang made no progress for 5s
not ok 2 injected_hang # TIMEOUT
# running: c
ok 3 c
2 passed, 1 failed
# end of run
";

#[test]
fn caught_hang_behaves() {
    let a = INJECT_HANG.assess_boot(&boot(HANG_CAUGHT, FAILURE, 9.5));
    assert!(a.behaved(), "{a:?}");
    assert_eq!(
        a.observed,
        "not ok 2 injected_hang, exit 35 (failure) after 9.5s"
    );
}

#[test]
fn hang_that_stops_the_suite_misbehaves() {
    let console = "KTAP version 1\n1..3\nok 1 a\n# running: injected_hang\n";
    let a = INJECT_HANG.assess_boot(&boot(
        console,
        Termination::TimedOut(Duration::from_secs(120)),
        120.0,
    ));
    assert_eq!(
        a.problems,
        [
            "injected_hang has no result line",
            "no summary line: the run did not continue to the end",
            "timeout after 120s, expected exit 35",
            "timeout after 120s while running test injected_hang",
        ]
    );
}

#[test]
fn injected_test_reported_ok_misbehaves() {
    let console =
        "KTAP version 1\n1..2\nok 1 a\nok 2 injected_fail\n2 passed, 0 failed\n# end of run\n";
    let a = Check::Inject(Injection::Fail).assess_boot(&boot(console, SUCCESS, 3.0));
    assert_eq!(
        a.problems,
        [
            "injected_fail was reported ok",
            "exit 33 (success), expected exit 35",
            "the run's verdict is PASS"
        ]
    );
}

#[test]
fn injected_failure_with_inconsistent_report_misbehaves() {
    // The injected test fails, but the harness lost a result on the way.
    let console =
        "KTAP version 1\n1..3\nok 1 a\nnot ok 2 injected_fail\n1 passed, 1 failed\n# end of run\n";
    let a = Check::Inject(Injection::Fail).assess_boot(&boot(console, FAILURE, 3.0));
    assert_eq!(
        a.problems,
        ["plan announced 3 tests but 2 results were reported"]
    );
}

#[test]
fn a_locked_hang_must_say_the_lock_was_released() {
    let check = Check::Inject(Injection::HangLocked);
    let released = "\
KTAP version 1
1..2
ok 1 a
# running: injected_hang_locked
# test did not finish within 5 s (watchdog)
# released the console lock, which the aborted test held
not ok 2 injected_hang_locked
1 passed, 1 failed
# end of run
";
    let a = check.assess_boot(&boot(released, FAILURE, 7.0));
    assert!(a.behaved(), "{a:?}");
    let silent = released.replace(
        "# released the console lock, which the aborted test held\n",
        "",
    );
    let a = check.assess_boot(&boot(&silent, FAILURE, 7.0));
    assert_eq!(
        a.problems,
        ["injected_hang_locked's diagnostics do not say \"released the console lock\""]
    );
}
