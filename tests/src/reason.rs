//! The reasons a run can fail, each phrased as the one line a developer
//! reads first: what went wrong and in which test.

use std::fmt;
use std::time::Duration;

use crate::exit::KernelExit;
use crate::ktap::Summary;
use crate::table::budget;
use crate::transcript::Transcript;

/// Where in the suite the kernel was when the run ended abnormally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// No `KTAP version` header yet: still booting.
    BeforeSuite,
    /// The header was printed but no test announced itself.
    BeforeFirstTest,
    /// `# running: name` was printed, its result was not.
    During(String),
    /// Between tests: this one finished, the next had not started.
    After(String),
    /// The summary line was printed; only shutdown remained.
    AfterSummary,
}

impl Position {
    pub fn of(transcript: &Transcript) -> Self {
        if transcript.summary.is_some() {
            Self::AfterSummary
        } else if let Some(name) = transcript.running() {
            Self::During(name.to_string())
        } else if let Some(name) = transcript.last_finished() {
            Self::After(name)
        } else if transcript.headers > 0 {
            Self::BeforeFirstTest
        } else {
            Self::BeforeSuite
        }
    }
}

/// One reason a run failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The runner killed QEMU after the time budget.
    Timeout {
        after: Duration,
        at: Position,
    },
    /// Someone else killed QEMU.
    Killed {
        signal: i32,
        at: Position,
    },
    /// QEMU ended before the summary line.
    Crashed {
        at: Position,
        status: i32,
    },
    /// The kernel reported a crash after its summary (e.g. during shutdown).
    CrashedAfterSummary,
    /// QEMU failed before the kernel printed a thing (bad image, bad flag).
    EmulatorFailed {
        status: i32,
    },
    /// A `not ok` result.
    TestFailed {
        name: String,
        detail: String,
    },
    /// The kernel shut down with a success/failure status, without a tally.
    MissingSummary {
        status: i32,
    },
    MissingHeader,
    SuiteRestarted {
        headers: usize,
    },
    MissingPlan,
    PlanMismatch {
        planned: usize,
        reported: usize,
    },
    /// KTAP numbers count up from 1; a gap means a result was lost.
    Misnumbered {
        position: usize,
        number: usize,
        name: String,
    },
    SummaryMismatch {
        summary: Summary,
        counted: Summary,
    },
    /// Exit 35 (failure) although every result was `ok`.
    FailureWithoutFailedTest,
    /// Exit 33 (success) although some result was `not ok`.
    SuccessDespiteFailures {
        failed: usize,
    },
    /// A summary was printed but QEMU's status is not a kernel verdict.
    UnexpectedStatus {
        status: i32,
    },
    /// A Xen guest shut down (xl's reason: `crash`, `reboot`, ...) before
    /// its summary line, or after it by anything but a poweroff.
    GuestShutdown {
        reason: String,
        at: Position,
    },
    /// A Xen guest powered off although some test failed: the kernel must
    /// crash the domain then.
    GuestPoweroffDespiteFailures {
        failed: usize,
    },
    /// The native kernel as a Xen HVM guest powered off before its summary
    /// line: there it powers off through ACPI whatever went wrong (Xen's
    /// device model has no `isa-debug-exit`), so this is its crash.
    HvmPoweroffWithoutSummary {
        at: Position,
    },
    /// The kernel said the `test=` (or `bench=`) filter selected nothing.
    NoTestMatched {
        filter: String,
    },
    /// The suite reported nothing although its selection was not empty
    /// (the runner's own count, whatever the kernel said).
    EmptySuite {
        selection: String,
    },
    /// Tests the runner knows the kernel registers (tests/expected-tests.txt)
    /// did not report a result: the suite shrank.
    TestsMissing {
        missing: Vec<String>,
        expected: usize,
        reported: usize,
    },
    /// A summary but no end-of-run marker: the kernel crashed or hung
    /// after its report, before its clean power-off.
    NoEndMarker,
    /// The kernel stopped the run: an aborted test left a kernel lock held
    /// that cannot be released, so the next test would have deadlocked.
    UnsafeAfterAbort {
        lock: String,
        test: String,
    },
    /// A Xen guest that did not run to a shutdown: it could not be
    /// started, or the run ended while it was still running.
    GuestDidNotRun {
        what: String,
        at: Position,
    },
}

impl fmt::Display for Position {
    /// Phrased to follow "kernel crashed" / "timeout after Ns".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BeforeSuite => write!(f, "before the suite started"),
            Self::BeforeFirstTest => write!(f, "before the first test started"),
            Self::During(name) => write!(f, "during test {name}"),
            Self::After(name) => write!(f, "after test {name}, before the next test started"),
            Self::AfterSummary => write!(f, "after the summary line"),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout {
                after,
                at: Position::During(name),
            } => write!(
                f,
                "timeout after {} while running test {name}",
                budget(*after)
            ),
            Self::Timeout {
                after,
                at: Position::AfterSummary,
            } => write!(
                f,
                "timeout after {}: the summary line was printed but the kernel did not shut down",
                budget(*after)
            ),
            Self::Timeout { after, at } => write!(f, "timeout after {} {at}", budget(*after)),
            Self::Killed { signal, at } => write!(f, "QEMU was killed by signal {signal} {at}"),
            Self::Crashed { at, status } => {
                write!(f, "kernel crashed {at} (no summary line")?;
                match (KernelExit::from_qemu_status(*status), status) {
                    (Some(KernelExit::Crash), _) => write!(f, ")"),
                    (_, 0) => write!(f, "; exit status 0, as after a triple fault)"),
                    _ => write!(f, "; exit status {status})"),
                }
            }
            Self::CrashedAfterSummary => {
                write!(f, "kernel crashed after the summary line (exit status 37)")
            }
            Self::EmulatorFailed { status } => write!(
                f,
                "QEMU exited with status {status} before the kernel printed anything"
            ),
            Self::TestFailed { name, detail } if detail.is_empty() => {
                write!(f, "test {name} failed")
            }
            Self::TestFailed { name, detail } => write!(f, "test {name} failed: {detail}"),
            Self::MissingSummary { status } => {
                write!(f, "exit status {status} but no summary line")
            }
            Self::MissingHeader => write!(f, "no `KTAP version 1` header"),
            Self::SuiteRestarted { headers } => write!(
                f,
                "the suite started {headers} times (did the kernel reboot?)"
            ),
            Self::MissingPlan => write!(f, "no plan line (`1..N`)"),
            Self::PlanMismatch { planned, reported } => write!(
                f,
                "plan announced {planned} tests but {reported} results were reported"
            ),
            Self::Misnumbered {
                position,
                number,
                name,
            } => write!(
                f,
                "result {position} is numbered {number} ({name}): a result is missing or repeated"
            ),
            Self::SummaryMismatch { summary, counted } => write!(
                f,
                "summary line says {summary} but the results count {counted}"
            ),
            Self::FailureWithoutFailedTest => {
                write!(f, "exit status 35 but no failing test reported")
            }
            Self::SuccessDespiteFailures { failed } => write!(
                f,
                "exit status 33 (success) although {failed} test(s) failed"
            ),
            Self::UnexpectedStatus { status } => write!(
                f,
                "exit status {status} after the summary line (expected 33 or 35)"
            ),
            Self::GuestShutdown { reason, at } => {
                match reason.as_str() {
                    "crash" => write!(f, "guest crashed")?,
                    "reboot" => write!(f, "guest rebooted (a triple fault?)")?,
                    "poweroff" => write!(f, "guest powered off")?,
                    other => write!(f, "guest ended by {other}")?,
                }
                match at {
                    Position::AfterSummary => {
                        write!(f, " {at}, all tests passed (expected poweroff)")
                    }
                    _ => write!(f, " {at} (no summary line)"),
                }
            }
            Self::GuestPoweroffDespiteFailures { failed } => write!(
                f,
                "guest powered off although {failed} test(s) failed (expected crash)"
            ),
            Self::HvmPoweroffWithoutSummary { at } => write!(
                f,
                "kernel crashed {at} (no summary line; under HVM the native kernel \
                 powers off through ACPI after a crash too)"
            ),
            Self::NoTestMatched { filter } => write!(
                f,
                "the filter \"{filter}\" matches no test (the kernel says so)"
            ),
            Self::EmptySuite { selection } => {
                write!(f, "no test reported a result for {selection}")
            }
            Self::TestsMissing {
                missing,
                expected,
                reported,
            } => {
                let shown: Vec<&str> = missing.iter().take(5).map(String::as_str).collect();
                write!(
                    f,
                    "the suite shrank: {} of the {expected} expected tests did not report ({reported} results): {}{}",
                    missing.len(),
                    shown.join(", "),
                    if missing.len() > shown.len() {
                        ", ..."
                    } else {
                        ""
                    }
                )
            }
            Self::UnsafeAfterAbort { lock, test } => write!(
                f,
                "state unsafe after abort: the aborted test {test} left the {lock} held, \
                 so the kernel stopped the run (the next test would have deadlocked)"
            ),
            Self::NoEndMarker => write!(
                f,
                "no end-of-run marker after the summary line: the kernel crashed or \
                 stopped after its report"
            ),
            Self::GuestDidNotRun {
                what,
                at: Position::BeforeSuite,
            } => write!(f, "{what}"),
            Self::GuestDidNotRun { what, at } => write!(f, "{what} {at}"),
        }
    }
}
