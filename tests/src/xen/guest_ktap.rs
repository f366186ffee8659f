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
#[path = "guest_ktap_tests.rs"]
mod tests;
