//! Judging the KTAP suite a Virtus guest printed under Xen.
//!
//! Under Xen there is no `isa-debug-exit`: the kernel ends with
//! `SCHEDOP_shutdown`, `poweroff` when every test passed and `crash` when a
//! test failed or the kernel panicked or faulted, and `xl` reports that
//! reason. It stands in for QEMU's exit status of the native verdict
//! ([`crate::verdict`]); the report itself is checked the same way.
//!
//! The unmodified native kernel as an HVM guest cannot say how it ended:
//! Xen's device model has no `isa-debug-exit`, so after a failed test, a
//! panic or a CPU fault alike it powers off through ACPI. There the report
//! alone decides, and a poweroff without a summary line is a crash.

use std::time::Duration;

use super::guest::GuestKind;
use super::protocol::ShutdownReason;
use super::report::GuestEnd;
use crate::expect::Expectation;
use crate::transcript::Transcript;
use crate::verdict::{self, Failure, Position, Reason, Verdict};

/// How far back a crash report (`!!! ...`) is looked for, and how many of
/// its lines are shown.
const CRASH_SEARCH_LINES: usize = 48;
const CRASH_REPORT_LINES: usize = 24;

/// A transcript of the guest's console lines, as dom0 relayed them.
pub fn transcript_of(console: &[String], expectation: Option<Expectation>) -> Transcript {
    let mut transcript = Transcript::expecting(expectation);
    for line in console {
        transcript.feed(line);
    }
    transcript
}

/// Judges a guest's suite from its console and how Xen says it ended.
/// `timeout` is how long dom0 waited for it (for a [`GuestEnd::Timeout`]).
///
/// It passes only if the summary line is there, no result is `not ok`,
/// the report is consistent, and the guest powered off. A guest that
/// crashed after reporting failed tests fails by those tests; one that
/// ended before its summary fails naming the test it was running.
///
/// For an HVM guest (`kind`), see the module's introduction: a poweroff is
/// its only ending, so it is judged by the report alone.
pub fn judge_guest_ktap(
    transcript: &Transcript,
    end: &GuestEnd,
    timeout: Duration,
    kind: GuestKind,
) -> Verdict {
    verdict::judge_with(transcript, judge_end(transcript, end, timeout, kind), None)
}

/// What Xen's ending says, before looking at the results themselves.
fn judge_end(
    transcript: &Transcript,
    end: &GuestEnd,
    timeout: Duration,
    kind: GuestKind,
) -> Option<Failure> {
    let at = Position::of(transcript);
    let summarized = transcript.summary.is_some();
    let failed = transcript.counted().failed;
    let hvm = kind == GuestKind::Hvm;
    let reason = match end {
        // The native kernel's only way out under HVM: the results say it.
        GuestEnd::Shutdown(ShutdownReason::Poweroff) if hvm && summarized => return None,
        GuestEnd::Shutdown(ShutdownReason::Poweroff) if hvm => {
            Reason::HvmPoweroffWithoutSummary { at: at.clone() }
        }
        GuestEnd::Shutdown(ShutdownReason::Poweroff) if summarized && failed > 0 => {
            Reason::GuestPoweroffDespiteFailures { failed }
        }
        GuestEnd::Shutdown(ShutdownReason::Poweroff) if summarized => return None,
        // The expected end of a failing suite: the failed tests say why.
        GuestEnd::Shutdown(ShutdownReason::Crash) if summarized && failed > 0 => return None,
        GuestEnd::Shutdown(reason) => Reason::GuestShutdown {
            reason: reason.name().to_string(),
            at: at.clone(),
        },
        GuestEnd::Timeout => Reason::Timeout {
            after: timeout,
            at: at.clone(),
        },
        GuestEnd::Failed(why) => Reason::GuestDidNotRun {
            what: format!("the guest could not start: {why}"),
            at: Position::BeforeSuite,
        },
        GuestEnd::Unfinished => Reason::GuestDidNotRun {
            what: "the Xen run ended while the guest was still running,".to_string(),
            at: at.clone(),
        },
        GuestEnd::NeverStarted => Reason::GuestDidNotRun {
            what: "the guest was never started".to_string(),
            at: Position::BeforeSuite,
        },
    };
    let context = match at {
        Position::During(_) => transcript.running_output(),
        _ => crash_report(transcript).unwrap_or_else(|| verdict::context_at(transcript, &at)),
    };
    Some(Failure { reason, context })
}

/// The kernel's last crash report (from its first `!!!` line on) if one
/// is near the end of the console: its first lines name the fault, which
/// a plain tail of registers and backtrace would cut off.
fn crash_report(transcript: &Transcript) -> Option<Vec<String>> {
    let tail = transcript.tail(CRASH_SEARCH_LINES);
    let banner = |line: &String| line.trim_start().starts_with("!!!");
    let last = tail.iter().rposition(banner)?;
    let first = tail[..=last]
        .iter()
        .rposition(|line| !banner(line))
        .map_or(0, |before| before + 1);
    Some(
        tail[first..]
            .iter()
            .take(CRASH_REPORT_LINES)
            .cloned()
            .collect(),
    )
}

#[cfg(test)]
mod tests {
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
        assert!(
            verdict.has(|r| matches!(r, Reason::TestFailed { name, .. } if name == "xen_memory"))
        );
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
}
