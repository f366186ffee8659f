use super::*;
use crate::xen::guest::Expectation;
use crate::xen::protocol::ConsoleParser;
use crate::xen::protocol::ShutdownReason;
use crate::xen::report::{GuestTimes, Stages};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Feeds the script's lines, each `<seconds> <line>`, and finishes with
/// QEMU's exit a second after the last.
pub(crate) fn run(specs: &[GuestSpec], dom0: &[&str], script: &str, end: Termination) -> XenReport {
    let dom0: Vec<String> = dom0.iter().map(ToString::to_string).collect();
    let mut recorder = Recorder::new(specs, &dom0);
    let mut parser = ConsoleParser::new();
    let mut last = 0;
    for entry in script.split_terminator('\n') {
        let (at, line) = entry.trim_start().split_once(' ').unwrap();
        last = at.parse().unwrap();
        for stamped in parser.feed(&format!("{line}\n"), secs(last)) {
            recorder.record(&stamped);
        }
    }
    recorder.finish(end, secs(last + 1))
}

fn guest(name: &str) -> GuestSpec {
    GuestSpec::pvh(name, "/k").unwrap()
}

const CLEAN: &str = "\
0 (XEN) Xen version 4.17
5 @@virtus dom0-start uptime=4.9
6 [    5.1] random kernel line
7 @@virtus dom0-ready uptime=6.0
8 @@virtus guest a created domid=1 uptime=7.0
9 @@guest a| hello from a
10 @@guest a| RESULT ok
10 @@virtus guest a ended reason=poweroff code=0 uptime=9.5
11 @@dom0| (XEN) Xen version 4.17
11 @@virtus dom0-cmd rc=0
12 @@virtus done uptime=11.0
";

#[test]
fn a_clean_run_passes_with_its_timings() {
    let mut spec = guest("a");
    spec.expect_lines = vec!["RESULT ok".into()];
    let report = run(&[spec], &["xl dmesg"], CLEAN, Termination::Exited(0));
    assert!(report.passed(), "{report:#?}");
    let a = &report.guests[0];
    assert_eq!(a.end, GuestEnd::Shutdown(ShutdownReason::Poweroff));
    assert_eq!((a.code, a.domid), (Some(0), Some(1)));
    assert_eq!(a.console, ["hello from a", "RESULT ok"]);
    assert_eq!(
        a.times,
        GuestTimes {
            created: Some(secs(8)),
            first_line: Some(secs(9)),
            result_line: None,
            ended: Some(secs(10)),
        }
    );
    assert_eq!(
        report.stages,
        Stages {
            xen_banner: Some(secs(0)),
            dom0_start: Some(secs(5)),
            dom0_ready: Some(secs(7)),
            done: Some(secs(12)),
            qemu_exit: Some(secs(13)),
        }
    );
    assert_eq!(
        report.dom0,
        [Dom0Output {
            command: "xl dmesg".into(),
            lines: vec!["(XEN) Xen version 4.17".into()],
            rc: Some(0),
        }]
    );
    assert_eq!(
        report.hidden_tail,
        ["(XEN) Xen version 4.17", "[    5.1] random kernel line"]
    );
}

#[test]
fn a_missing_line_or_wrong_end_fails_the_guest_only() {
    let mut spec = guest("a");
    spec.expect_lines = vec!["RESULT ok".into(), "never said".into()];
    let report = run(&[spec], &["xl dmesg"], CLEAN, Termination::Exited(0));
    assert!(!report.passed());
    assert!(report.run_problems().is_empty());
    assert_eq!(report.guests[0].problems, ["never printed `never said`"]);

    let mut crasher = guest("a");
    crasher.expect = Expectation::Crash;
    let report = run(&[crasher], &[], CLEAN, Termination::Exited(0));
    assert_eq!(
        report.guests[0].problems,
        ["ended by poweroff, expected crash"]
    );
}

#[test]
fn crash_hang_silence_failure_and_absence_are_each_named() {
    let specs = ["crashes", "hangs", "silent", "broken", "absent", "rebooted"].map(guest);
    let report = run(
        &specs,
        &[],
        "1 @@virtus guest crashes created domid=1 uptime=1\n\
         1 @@virtus guest hangs created domid=2 uptime=1\n\
         1 @@virtus guest silent created domid=3 uptime=1\n\
         1 @@virtus guest rebooted created domid=4 uptime=1\n\
         2 @@guest rebooted| about to fault\n\
         3 @@virtus guest rebooted ended reason=reboot code=1 uptime=3\n\
         2 @@guest crashes| PANIC at heap.rs:12\n\
         2 @@guest hangs| waiting forever\n\
         2 @@virtus guest broken failed xl create exited with 3\n\
         2 @@guest-xl broken| libxl: error: cannot load kernel\n\
         3 @@virtus guest broken ended reason=unknown code=-1 uptime=3\n\
         2 @@virtus guest broken failed not started\n\
         2 @@guest-xl broken| libxl: error: cannot load kernel\n\
         3 @@virtus guest crashes ended reason=crash code=3 uptime=3\n\
         4 @@virtus guest silent ended reason=poweroff code=0 uptime=4\n\
         63 @@virtus guest hangs timeout uptime=63\n\
         64 @@virtus done uptime=64\n",
        Termination::Exited(0),
    );
    let ends: Vec<_> = report.guests.iter().map(|g| g.end.word()).collect();
    assert_eq!(
        ends,
        [
            "crash",
            "timeout",
            "poweroff",
            "failed",
            "never-started",
            "reboot"
        ]
    );
    let problems: Vec<_> = report
        .guests
        .iter()
        .map(|g| g.problems.join("; "))
        .collect();
    assert_eq!(
        problems,
        [
            "ended by crash, expected poweroff",
            "still running after 60s (hung?)",
            "printed nothing on its console",
            "could not start: xl create exited with 3",
            "never started",
            "ended by reboot (a triple fault?), expected poweroff",
        ]
    );
    assert_eq!(
        report.guests[3].xl_output,
        ["libxl: error: cannot load kernel"]
    );
    assert_eq!(report.passed_guests(), 0);
    assert!(report.run_problems().is_empty());
}

#[test]
fn a_run_without_done_fails_even_if_guests_passed() {
    let cut = CLEAN.trim_end().rsplit_once('\n').unwrap().0;
    let report = run(
        &[guest("a")],
        &["xl dmesg"],
        cut,
        Termination::TimedOut(secs(180)),
    );
    assert!(report.guests[0].passed());
    assert!(!report.passed());
    assert_eq!(
        report.run_problems(),
        [
            "QEMU killed after 180s: the run hung",
            "dom0 never reported `done`"
        ]
    );
}

#[test]
fn watchdog_errors_and_unfinished_guests() {
    let report = run(
        &[guest("a")],
        &["xl list"],
        "1 @@virtus error xenconsoled did not start\n\
         2 @@virtus guest a created domid=1 uptime=2\n\
         2 @@guest a| hi\n\
         3 @@dom0| partial output\n\
         9 @@virtus watchdog uptime=9\n",
        Termination::Exited(0),
    );
    assert_eq!(report.guests[0].end, GuestEnd::Unfinished);
    assert_eq!(report.dom0[0].rc, None);
    assert_eq!(report.dom0[0].lines, ["partial output"]);
    assert_eq!(
        report.run_problems(),
        [
            "dom0's watchdog fired",
            "dom0 never reported `done`",
            "dom0: xenconsoled did not start"
        ]
    );
}

#[test]
fn a_stall_fails_the_run_and_keeps_what_dom0_was_doing() {
    let report = run(
        &[guest("a")],
        &[],
        "2 @@virtus guest a created domid=1 uptime=2\n\
         310 @@virtus stalled uptime=309.5 secs=300\n\
         310 @@virtus stall-info -- load 0.00 0.01 0.05 1/40 99\n\
         310 @@virtus stall-info -- pid 61 S wchan=do_wait sh /virtus-run/run.sh\n",
        Termination::Exited(0),
    );
    assert_eq!(report.stalled, Some(300));
    assert_eq!(
        report.stall_info,
        [
            "load 0.00 0.01 0.05 1/40 99",
            "pid 61 S wchan=do_wait sh /virtus-run/run.sh"
        ]
    );
    assert_eq!(
        report.run_problems(),
        [
            "dom0's script stalled: nothing from it or its relays for 300 s, longer than any of \
             its steps' own timeouts (dom0 or the bed failed, not a guest)",
            "dom0 never reported `done`",
        ]
    );
}

#[test]
fn unknown_guests_and_garbled_markers_are_noted() {
    let report = run(
        &[guest("a")],
        &[],
        "1 @@guest zz| stray\n\
         1 @@guest zz| stray again\n\
         2 @@virtus guest a ended reas\n",
        Termination::Exited(0),
    );
    assert_eq!(
        report.notes,
        [
            "event for unknown guest `zz`",
            "unreadable marker: @@virtus guest a ended reas"
        ]
    );
}

#[test]
fn the_hidden_tail_keeps_the_last_lines() {
    let lines: String = (0..50).map(|i| format!("1 (XEN) line {i}\n")).collect();
    let report = run(&[], &[], &lines, Termination::Exited(0));
    assert_eq!(report.hidden_tail.len(), HIDDEN_TAIL);
    assert_eq!(report.hidden_tail[0], "(XEN) line 20");
    assert_eq!(report.hidden_tail[29], "(XEN) line 49");
}

#[test]
fn a_ktap_summary_line_is_timed() {
    let lines = "8 @@virtus guest a created domid=1 uptime=7.0\n\
                 9 @@guest a| KTAP version 1\n\
                 30 @@guest a| 2 passed, 0 failed, 1 skipped\r\n\
                 31 @@guest a| 9 passed, 0 failed\n\
                 32 @@virtus guest a ended reason=poweroff code=0 uptime=30.0\n";
    let report = run(&[guest("a")], &[], lines, Termination::Exited(0));
    let times = &report.guests[0].times;
    assert_eq!(times.first_line, Some(secs(9)));
    assert_eq!(times.result_line, Some(secs(30)));
    assert_eq!(times.ended, Some(secs(32)));
}

#[test]
fn stamps_are_kept_by_name_and_bad_ones_dropped() {
    let lines = "8 @@virtus guest a created domid=1 uptime=7.0\n\
                 9 @@virtus guest a stamps xl_create=5.25 built=6.5 unpaused=7.0 first_byte=7.01\n\
                 10 @@virtus guest a ended reason=poweroff code=0 uptime=9.5\n\
                 11 @@virtus guest b stamps xl_create=-1\n";
    let report = run(
        &[guest("a"), guest("b")],
        &[],
        lines,
        Termination::Exited(0),
    );
    let a = &report.guests[0];
    assert_eq!(a.stamp("xl_create"), Some(5.25));
    assert_eq!(a.stamp("first_byte"), Some(7.01));
    assert_eq!(a.stamp("gone"), None);
    // A negative uptime is no time at all.
    assert_eq!(report.guests[1].stamp("xl_create"), None);
}
