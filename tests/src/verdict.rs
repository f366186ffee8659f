//! Whether a boot passed, and if not, exactly why.
//!
//! A run passes only if every piece of evidence agrees: the summary line is
//! there, the plan matches the results, no result is `not ok`, the kernel's
//! tally matches ours, and QEMU exited with the kernel's success status.
//! Each disagreement is its own [`Reason`], so a broken harness (say, one
//! that prints a summary but forgets a result) is caught as surely as a
//! failing test.

use crate::exit::{KernelExit, Termination};
use crate::ktap::Summary;
use crate::transcript::{TestReport, Transcript};

pub use crate::reason::{Position, Reason};

/// How many diagnostic lines go into a one-line reason; the rest are shown
/// as context under it.
const HEADLINE_DIAGNOSTICS: usize = 3;

/// How many console lines are shown under a crash or timeout that struck
/// outside any test.
const CONTEXT_LINES: usize = 8;

/// A reason, with the console lines that explain it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: Reason,
    pub context: Vec<String>,
}

/// The judgement of one run: it passed if nothing failed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Most important first: how the run ended, then failed tests, then
    /// inconsistencies in the report.
    pub failures: Vec<Failure>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// `PASS`, or the most important reason the run failed.
    pub fn headline(&self) -> String {
        match self.failures.first() {
            None => "PASS".to_string(),
            Some(first) => format!("FAIL: {}", first.reason),
        }
    }

    /// What to print under the headline: its context lines, then every
    /// further reason with its own context.
    pub fn details(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (i, failure) in self.failures.iter().enumerate() {
            if i > 0 {
                lines.push(format!("also: {}", failure.reason));
            }
            lines.extend(failure.context.iter().map(|line| format!("| {line}")));
        }
        lines
    }

    pub fn has(&self, predicate: impl Fn(&Reason) -> bool) -> bool {
        self.failures
            .iter()
            .any(|failure| predicate(&failure.reason))
    }
}

/// Judges a boot from its console transcript and how QEMU ended.
pub fn judge(transcript: &Transcript, end: Termination) -> Verdict {
    judge_with(transcript, judge_ending(transcript, end), end.kernel_exit())
}

/// The verdict on `transcript` given what its ending said (QEMU's or
/// Xen's) and the kernel's exit status, if it could report one (a Xen
/// guest cannot).
pub(crate) fn judge_with(
    transcript: &Transcript,
    ending: Option<Failure>,
    exit: Option<KernelExit>,
) -> Verdict {
    let mut failures = Vec::new();
    // The kernel's own word on why its run is void comes first: its filter
    // selected nothing, or it stopped because an aborted test left its
    // state unsafe. Either explains every other symptom (no header, no
    // summary, a crash-like ending).
    if let Some(filter) = transcript.unmatched_filter.clone() {
        failures.push(bare(Reason::NoTestMatched { filter }));
    }
    if let Some((lock, test)) = transcript.unsafe_after_abort.clone() {
        failures.push(bare(Reason::UnsafeAfterAbort { lock, test }));
    }
    failures.extend(ending);
    failures.extend(transcript.failures().map(failed_test));
    if transcript.headers > 1 {
        failures.push(bare(Reason::SuiteRestarted {
            headers: transcript.headers,
        }));
    }
    // Without a summary the run was cut short, and a short count of results
    // is a consequence already reported, not a second problem.
    if let Some(summary) = transcript.summary {
        failures.extend(
            judge_report(transcript, summary, exit)
                .into_iter()
                .map(bare),
        );
        // After the summary the clean path prints the end-of-run marker.
        if !transcript.ended_cleanly {
            failures.push(bare(Reason::NoEndMarker));
        }
    }
    // The runner's own list of expected tests.
    if let Some(expectation) = &transcript.expectation {
        failures.extend(expectation.reasons(transcript).into_iter().map(bare));
    }
    Verdict { failures }
}

/// The console lines that explain an ending at `at`: what the running test
/// printed, else the last lines.
pub(crate) fn context_at(transcript: &Transcript, at: &Position) -> Vec<String> {
    match at {
        Position::During(_) => transcript.running_output(),
        _ => transcript.tail(CONTEXT_LINES),
    }
}

/// What QEMU's ending says, before looking at the results themselves.
fn judge_ending(transcript: &Transcript, end: Termination) -> Option<Failure> {
    let at = Position::of(transcript);
    let reason = match end {
        Termination::TimedOut(after) => Reason::Timeout {
            after,
            at: at.clone(),
        },
        Termination::Signaled(signal) => Reason::Killed {
            signal,
            at: at.clone(),
        },
        Termination::Exited(status)
            if transcript.is_silent() && KernelExit::from_qemu_status(status).is_none() =>
        {
            let context = transcript.emulator_messages.clone();
            return Some(Failure {
                reason: Reason::EmulatorFailed { status },
                context,
            });
        }
        Termination::Exited(status) => {
            match (transcript.summary, KernelExit::from_qemu_status(status)) {
                (None, Some(KernelExit::Success | KernelExit::Failure)) => {
                    Reason::MissingSummary { status }
                }
                (None, _) => Reason::Crashed {
                    at: at.clone(),
                    status,
                },
                (Some(_), Some(KernelExit::Crash)) => Reason::CrashedAfterSummary,
                (Some(_), None) => Reason::UnexpectedStatus { status },
                (Some(_), Some(_)) => return None,
            }
        }
    };
    let context = context_at(transcript, &at);
    Some(Failure { reason, context })
}

/// Checks that the report is complete and consistent with itself and with
/// the kernel's exit status, if it reported one (a Xen guest does not).
fn judge_report(
    transcript: &Transcript,
    summary: Summary,
    exit: Option<KernelExit>,
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if transcript.headers == 0 {
        reasons.push(Reason::MissingHeader);
    }
    let reported = transcript.reports.len();
    match transcript.plan {
        None => reasons.push(Reason::MissingPlan),
        Some(planned) if planned != reported => {
            reasons.push(Reason::PlanMismatch { planned, reported })
        }
        Some(_) => {}
    }
    let misnumbered = transcript
        .reports
        .iter()
        .enumerate()
        .find(|(i, r)| r.result.number != i + 1);
    if let Some((i, report)) = misnumbered {
        reasons.push(Reason::Misnumbered {
            position: i + 1,
            number: report.result.number,
            name: report.result.display_name(),
        });
    }
    let counted = transcript.counted();
    if summary != counted {
        reasons.push(Reason::SummaryMismatch { summary, counted });
    }
    match exit {
        Some(KernelExit::Failure) if counted.failed == 0 => {
            reasons.push(Reason::FailureWithoutFailedTest)
        }
        Some(KernelExit::Success) if counted.failed > 0 => {
            reasons.push(Reason::SuccessDespiteFailures {
                failed: counted.failed,
            });
        }
        _ => {}
    }
    reasons
}

/// Turns a `not ok` result into a failure whose headline says why: the
/// directive (e.g. the watchdog's `TIMEOUT`) and the first diagnostics, or,
/// if the test printed no diagnostics, its last log line.
fn failed_test(report: &TestReport) -> Failure {
    let mut said: Vec<String> = report.result.directive.iter().cloned().collect();
    said.extend(report.diagnostics.iter().filter(|d| !d.is_empty()).cloned());
    let mut context: Vec<String> = said.split_off(said.len().min(HEADLINE_DIAGNOSTICS));
    if said.is_empty() {
        said.extend(report.log.last().cloned());
    } else {
        context.extend(report.log.iter().cloned());
    }
    let reason = Reason::TestFailed {
        name: report.result.display_name(),
        detail: said.join("; "),
    };
    Failure { reason, context }
}

pub(crate) fn bare(reason: Reason) -> Failure {
    Failure {
        reason,
        context: Vec::new(),
    }
}

#[cfg(test)]
#[path = "verdict_tests.rs"]
mod tests;
