//! Tests of `guest_ktap`.

use super::*;
use GuestKind::{Hvm, Pvh};
use ShutdownReason::{Crash, Poweroff, Reboot};

const TIMEOUT: Duration = Duration::from_secs(240);

fn judge(console: &str, end: GuestEnd, kind: GuestKind) -> Verdict {
    let lines: Vec<String> = console.lines().map(String::from).collect();
    judge_guest_ktap(&transcript_of(&lines, None), &end, TIMEOUT, kind)
}

fn ended(reason: ShutdownReason) -> GuestEnd {
    GuestEnd::Shutdown(reason)
}

const PASSING: &str = "\
[ INFO] virtus booting under Xen
KTAP version 1
1..3
# running: heap_vec
ok 1 heap_vec
# running: xen_memory
ok 2 xen_memory
# running: mem_above_4g
ok 3 mem_above_4g # SKIP no memory above 4 GiB
2 passed, 0 failed, 1 skipped
# end of run
";

const FAILING: &str = "\
KTAP version 1
1..2
# running: heap_vec
ok 1 heap_vec
# running: xen_memory
# expected 32 MiB, saw 16 MiB
not ok 2 xen_memory
1 passed, 1 failed, 0 skipped
# end of run
";

const CUT_SHORT: &str = "\
KTAP version 1
1..2
# running: heap_vec
ok 1 heap_vec
# running: xen_grant_table
[ERROR] page fault at 0xdead, rip 0xffff800000012345
";

const HVM_CRASH: &str = "\
[    0.068804] INFO  Virtus on native (cmdline \"test=all crash=pagefault\")
[    1.056222] WARN  crash=pagefault: crashing on purpose

!!! unhandled CPU exception 14: page fault (#PF)
error code 0x0 (not-present page on read in kernel mode)
faulting address (CR2) 0x00004000dead0000
RIP 0x0000000000414f19  CS 0x8  RFLAGS 0x246
RSP 0x0000000000450c00  SS 0x10
RAX 0x0000000000000000 RBX 0x0000000000000009 RCX 0x0000000000000000
RDX 0x00000000000003f8 RSI 0x0000000000422041 RDI 0x00004000dead0000
RBP 0x0000000000450c00 R8  0x000000000000000a R9  0x00000000000003f8
backtrace:
  0x000000000040c22e
  0x0000000000417c00
";

#[test]
fn each_ending_has_its_headline() {
    let failed_test = "FAIL: test xen_memory failed: expected 32 MiB, saw 16 MiB";
    let cases = [
        (PASSING, ended(Poweroff), Pvh, "PASS"),
        (PASSING, ended(Poweroff), Hvm, "PASS"),
        (FAILING, ended(Crash), Pvh, failed_test),
        // Under HVM a failing suite powers off and fails by its test.
        (FAILING, ended(Poweroff), Hvm, failed_test),
        (
            FAILING,
            ended(Poweroff),
            Pvh,
            "FAIL: guest powered off although 1 test(s) failed (expected crash)",
        ),
        (
            CUT_SHORT,
            ended(Crash),
            Pvh,
            "FAIL: guest crashed during test xen_grant_table (no summary line)",
        ),
        (
            CUT_SHORT,
            ended(Reboot),
            Pvh,
            "FAIL: guest rebooted (a triple fault?) during test xen_grant_table (no summary line)",
        ),
        // A crash Xen saw itself (a triple fault) is reported as under PVH.
        (
            CUT_SHORT,
            ended(Reboot),
            Hvm,
            "FAIL: guest rebooted (a triple fault?) during test xen_grant_table (no summary line)",
        ),
        (
            CUT_SHORT,
            GuestEnd::Timeout,
            Pvh,
            "FAIL: timeout after 240s while running test xen_grant_table",
        ),
        (
            CUT_SHORT,
            ended(Poweroff),
            Pvh,
            "FAIL: guest powered off during test xen_grant_table (no summary line)",
        ),
        (
            "",
            ended(Poweroff),
            Pvh,
            "FAIL: guest powered off before the suite started (no summary line)",
        ),
        (
            PASSING,
            ended(Crash),
            Pvh,
            "FAIL: guest crashed after the summary line, all tests passed (expected poweroff)",
        ),
        (
            "",
            GuestEnd::Failed("xl create exited with 1".into()),
            Pvh,
            "FAIL: the guest could not start: xl create exited with 1",
        ),
        (
            CUT_SHORT,
            GuestEnd::Unfinished,
            Pvh,
            "FAIL: the Xen run ended while the guest was still running, \
             during test xen_grant_table",
        ),
        (
            "",
            GuestEnd::NeverStarted,
            Pvh,
            "FAIL: the guest was never started",
        ),
        (
            CUT_SHORT,
            ended(Poweroff),
            Hvm,
            "FAIL: kernel crashed during test xen_grant_table (no summary line; \
             under HVM the native kernel powers off through ACPI after a crash too)",
        ),
    ];
    for (console, end, kind, headline) in cases {
        let verdict = judge(console, end.clone(), kind);
        assert_eq!(verdict.headline(), headline, "{end:?} {kind:?}");
        if headline == failed_test {
            assert_eq!(verdict.failures.len(), 1, "{verdict:?}");
        }
    }
}

#[test]
fn a_poweroff_despite_failures_still_names_the_test() {
    let verdict = judge(FAILING, ended(Poweroff), Pvh);
    assert!(verdict.has(|r| matches!(r, Reason::TestFailed { name, .. } if name == "xen_memory")));
}

#[test]
fn a_crash_without_summary_shows_the_running_output() {
    assert_eq!(
        judge(CUT_SHORT, ended(Crash), Pvh).details(),
        ["| [ERROR] page fault at 0xdead, rip 0xffff800000012345"]
    );
}

#[test]
fn an_inconsistent_report_fails_despite_the_poweroff() {
    let lost = PASSING.replace("ok 2 xen_memory\n", "");
    let verdict = judge(&lost, ended(Poweroff), Pvh);
    assert!(verdict.has(|r| matches!(r, Reason::PlanMismatch { .. })));
    assert!(verdict.has(|r| matches!(r, Reason::SummaryMismatch { .. })));
    assert!(verdict.has(|r| matches!(r, Reason::Misnumbered { .. })));
}

#[test]
fn relayed_carriage_returns_are_cleaned() {
    let lines: Vec<String> = PASSING.lines().map(|l| format!("{l}\r")).collect();
    let transcript = transcript_of(&lines, None);
    assert!(transcript.summary.is_some());
    let verdict = judge_guest_ktap(&transcript, &ended(Poweroff), TIMEOUT, Pvh);
    assert!(verdict.passed(), "{verdict:?}");
}

#[test]
fn under_hvm_a_poweroff_without_summary_is_a_crash_shown_from_its_report() {
    let verdict = judge(HVM_CRASH, ended(Poweroff), Hvm);
    assert_eq!(
        verdict.headline(),
        "FAIL: kernel crashed before the suite started (no summary line; \
         under HVM the native kernel powers off through ACPI after a crash too)"
    );
    let details = verdict.details();
    assert_eq!(
        details[0],
        "| !!! unhandled CPU exception 14: page fault (#PF)"
    );
    assert_eq!(details.len(), 11, "{details:?}");
}

#[test]
fn without_a_crash_report_the_tail_is_shown() {
    let verdict = judge("[ INFO] booting\nno banner here\n", ended(Crash), Pvh);
    assert_eq!(verdict.details(), ["| [ INFO] booting", "| no banner here"]);
    let panic = "x\n!!! boom\n!!! kernel panic, stopping\n";
    assert_eq!(
        judge(panic, ended(Crash), Pvh).details(),
        ["| !!! boom", "| !!! kernel panic, stopping"]
    );
}
