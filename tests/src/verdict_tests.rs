//! Verdicts on whole console logs: good runs, failures, crashes, hangs and
//! reports that do not add up.

use std::time::Duration;

use super::*;

const HEAD: &str = "[ INFO] virtus: booting\nKTAP version 1\n1..3\n";

/// A full suite: three tests, the last one skipped.
fn good_run() -> String {
    format!(
        "{HEAD}# running: frame_alloc_basic\nok 1 frame_alloc_basic\n\
         # running: heap_vec\nok 2 heap_vec\n\
         # running: mem_above_4g\nok 3 mem_above_4g # SKIP no memory above 4 GiB\n\
         2 passed, 0 failed, 1 skipped\n# end of run\n[ INFO] shutting down\n"
    )
}

fn verdict(console: &str, end: Termination) -> Verdict {
    judge(&Transcript::from_console(console), end)
}

fn reasons(v: &Verdict) -> Vec<Reason> {
    v.failures.iter().map(|f| f.reason.clone()).collect()
}

const SUCCESS: Termination = Termination::Exited(33);
const FAILURE: Termination = Termination::Exited(35);
const CRASH: Termination = Termination::Exited(37);

#[test]
fn good_run_passes() {
    let v = verdict(&good_run(), SUCCESS);
    assert!(v.passed(), "{:?}", v.failures);
    assert_eq!(v.headline(), "PASS");
}

#[test]
fn summary_without_skip_count_passes() {
    let console = format!("{HEAD}ok 1 a\nok 2 b\nok 3 c\n3 passed, 0 failed\n# end of run\n");
    assert!(verdict(&console, SUCCESS).passed());
}

#[test]
fn failed_test_is_named_with_its_diagnostics() {
    let console = format!(
        "{HEAD}# running: a\nok 1 a\n# running: heap_vec\n[ WARN] heap: grew\n\
         # check failed: v.len() == 3 (heap.rs:10)\nnot ok 2 heap_vec\n\
         # running: c\nok 3 c\n2 passed, 1 failed\n# end of run\n"
    );
    let v = verdict(&console, FAILURE);
    assert_eq!(
        v.headline(),
        "FAIL: test heap_vec failed: check failed: v.len() == 3 (heap.rs:10)"
    );
    assert_eq!(v.failures.len(), 1);
    assert_eq!(v.failures[0].context, ["[ WARN] heap: grew"]);
}

#[test]
fn failed_test_without_diagnostics_shows_its_log_or_nothing() {
    let console = format!(
        "{HEAD}# running: a\npanicked at a.rs:1: boom\nnot ok 1 a\nnot ok 2 b\nok 3 c\n1 passed, 2 failed\n# end of run\n"
    );
    let v = verdict(&console, FAILURE);
    assert_eq!(
        v.failures[0].reason.to_string(),
        "test a failed: panicked at a.rs:1: boom"
    );
    assert_eq!(v.failures[1].reason.to_string(), "test b failed");
}

#[test]
fn success_status_despite_a_failed_test() {
    let console = format!("{HEAD}ok 1 a\nnot ok 2 b\nok 3 c\n2 passed, 1 failed\n# end of run\n");
    let r = reasons(&verdict(&console, SUCCESS));
    assert_eq!(r[1..], [Reason::SuccessDespiteFailures { failed: 1 }]);
}

#[test]
fn crash_mid_test_names_the_test_and_keeps_its_output() {
    let console = format!(
        "{HEAD}# running: a\nok 1 a\n# running: heap_vec\n\
         [ERROR] page fault at 0xdead (write, not present)\n[ERROR] rip=0xffffffff80001234\n"
    );
    let v = verdict(&console, CRASH);
    assert_eq!(
        v.headline(),
        "FAIL: kernel crashed during test heap_vec (no summary line)"
    );
    assert_eq!(
        v.failures[0].context,
        [
            "[ERROR] page fault at 0xdead (write, not present)",
            "[ERROR] rip=0xffffffff80001234"
        ]
    );
    // The short result count is a consequence, not a second finding.
    assert_eq!(v.failures.len(), 1);
}

#[test]
fn earlier_failures_are_still_reported_after_a_crash() {
    let console = format!("{HEAD}not ok 1 a\n# running: b\n");
    let r = reasons(&verdict(&console, CRASH));
    assert_eq!(r.len(), 2);
    assert!(matches!(r[1], Reason::TestFailed { ref name, .. } if name == "a"));
    let v = verdict(&console, CRASH);
    assert_eq!(v.details(), ["also: test a failed"]);
}

#[test]
fn qemu_refusing_to_start_shows_its_error() {
    let mut t = Transcript::default();
    t.feed_emulator("qemu-system-x86_64: Error loading uncompressed kernel without PVH ELF Note");
    let v = judge(&t, Termination::Exited(1));
    assert_eq!(
        v.headline(),
        "FAIL: QEMU exited with status 1 before the kernel printed anything"
    );
    assert_eq!(v.failures[0].context.len(), 1);
}

#[test]
fn long_diagnostics_spill_into_context() {
    let console = format!(
        "{HEAD}# one\n# two\n# three\n# four\nnot ok 1 a\nok 2 b\nok 3 c\n2 passed, 1 failed\n# end of run\n"
    );
    let v = verdict(&console, FAILURE);
    assert_eq!(v.headline(), "FAIL: test a failed: one; two; three");
    assert_eq!(v.failures[0].context, ["four"]);
    assert_eq!(v.details(), ["| four"]);
}

#[test]
fn a_stop_for_unsafe_state_heads_the_verdict() {
    let console = format!(
        "{HEAD}# running: a\nok 1 a\n# running: b\n# panicked at x.rs:1: boom\n\
         # test panicked\nnot ok 2 b\n\
         # state unsafe after abort: timer lock held by aborted test b\n\
         !!! stopping the run: the next test would deadlock on the timer lock\n"
    );
    let v = verdict(&console, CRASH);
    assert_eq!(
        reasons(&v)[0],
        Reason::UnsafeAfterAbort {
            lock: "timer lock".into(),
            test: "b".into()
        }
    );
    assert!(
        v.headline().contains("left the timer lock held"),
        "{}",
        v.headline()
    );
    // The crash and the failed test are still reported under it.
    assert!(v.has(|r| matches!(r, Reason::Crashed { .. })));
    assert!(v.has(|r| matches!(r, Reason::TestFailed { name, .. } if name == "b")));
}

#[test]
fn each_ending_has_its_headline() {
    let hang = Termination::TimedOut(Duration::from_secs(120));
    let cases = [
        (
            good_run(),
            FAILURE,
            "exit status 35 but no failing test reported",
        ),
        (
            format!(
                "{HEAD}ok 1 a\n# running: injected_hang\n# watchdog: no progress for 5 s\n\
                 not ok 2 injected_hang # TIMEOUT\nok 3 c\n2 passed, 1 failed\n# end of run\n"
            ),
            FAILURE,
            "test injected_hang failed: TIMEOUT; watchdog: no progress for 5 s",
        ),
        (
            format!("{HEAD}# running: a\nok 1 a\n# running: idt_reload\n"),
            Termination::Exited(0),
            "kernel crashed during test idt_reload (no summary line; exit status 0, as after a triple fault)",
        ),
        (
            HEAD.into(),
            CRASH,
            "kernel crashed before the first test started (no summary line)",
        ),
        (
            "[ INFO] virtus: booting\npanicked at boot.rs:3\n".into(),
            CRASH,
            "kernel crashed before the suite started (no summary line)",
        ),
        (
            format!("{HEAD}# running: a\nok 1 a\n# running: timer_oneshot\n"),
            hang,
            "timeout after 120s while running test timer_oneshot",
        ),
        (
            good_run() + "[ INFO] shutting down\n",
            hang,
            "timeout after 120s: the summary line was printed but the kernel did not shut down",
        ),
        (
            HEAD.into(),
            Termination::Signaled(9),
            "QEMU was killed by signal 9 before the first test started",
        ),
        (
            format!("{HEAD}ok 1 a\nok 2 b\nok 3 c\n"),
            SUCCESS,
            "exit status 33 but no summary line",
        ),
        (
            format!("{HEAD}ok 1 a\nok 2 b\nok 3 c # SKIP n/a\n3 passed, 0 failed\n# end of run\n"),
            SUCCESS,
            "summary line says 3 passed, 0 failed, 0 skipped but the results count 2 passed, 0 failed, 1 skipped",
        ),
    ];
    for (console, end, headline) in cases {
        assert_eq!(
            verdict(&console, end).headline(),
            format!("FAIL: {headline}")
        );
    }
    let boot = verdict("[ INFO] virtus: booting\npanicked at boot.rs:3\n", CRASH);
    assert_eq!(
        boot.failures[0].context,
        ["[ INFO] virtus: booting", "panicked at boot.rs:3"]
    );
}

#[test]
fn each_inconsistency_is_its_one_reason() {
    let cases = [
        (good_run(), FAILURE, Reason::FailureWithoutFailedTest),
        (good_run(), CRASH, Reason::CrashedAfterSummary),
        (
            good_run(),
            Termination::Exited(0),
            Reason::UnexpectedStatus { status: 0 },
        ),
        (
            format!("{HEAD}# running: a\nok 1 a\n"),
            CRASH,
            Reason::Crashed {
                at: Position::After("a".into()),
                status: 37,
            },
        ),
        (
            format!("{HEAD}ok 1 a\nok 2 b\nok 3 c\n"),
            SUCCESS,
            Reason::MissingSummary { status: 33 },
        ),
        (
            format!("{HEAD}ok 1 a\nok 2 b\n2 passed, 0 failed\n# end of run\n"),
            SUCCESS,
            Reason::PlanMismatch {
                planned: 3,
                reported: 2,
            },
        ),
        (
            "KTAP version 1\nok 1 a\n1 passed, 0 failed\n# end of run\n".into(),
            SUCCESS,
            Reason::MissingPlan,
        ),
        (
            format!("{HEAD}ok 1 a\nok 3 c\nok 3 c\n3 passed, 0 failed\n# end of run\n"),
            SUCCESS,
            Reason::Misnumbered {
                position: 2,
                number: 3,
                name: "c".into(),
            },
        ),
        (
            "1..1\nok 1 a\n1 passed, 0 failed\n# end of run\n".into(),
            SUCCESS,
            Reason::MissingHeader,
        ),
        (
            format!(
                "{HEAD}# running: a\n{HEAD}ok 1 a\nok 2 b\nok 3 c\n3 passed, 0 failed\n# end of run\n"
            ),
            SUCCESS,
            Reason::SuiteRestarted { headers: 2 },
        ),
    ];
    for (console, end, reason) in cases {
        assert_eq!(reasons(&verdict(&console, end)), [reason]);
    }
}
