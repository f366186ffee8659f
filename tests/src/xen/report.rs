//! What a Xen run produced (the model [`super::recorder`] fills in from
//! the console events), and whether each guest did what its spec asked.

use std::time::Duration;

use super::guest::GuestSpec;
use super::protocol::ShutdownReason;
use crate::exit::Termination;

/// How a guest's run ended, as far as the console tells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum GuestEnd {
    /// Xen shut the domain down for this reason.
    Shutdown(ShutdownReason),
    /// Still running when dom0 stopped waiting for it.
    Timeout,
    /// `xl create` failed.
    Failed(String),
    /// Created, but the run ended before dom0 said how the guest ended.
    Unfinished,
    /// Never created: dom0 did not get that far.
    #[default]
    NeverStarted,
}

impl GuestEnd {
    /// One word for tables: `poweroff`, `crash`, `timeout`, `failed`, ...
    pub fn word(&self) -> &str {
        match self {
            Self::Shutdown(reason) => reason.name(),
            Self::Timeout => "timeout",
            Self::Failed(_) => "failed",
            Self::Unfinished => "unfinished",
            Self::NeverStarted => "never-started",
        }
    }
}

/// Host times from QEMU's start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestTimes {
    pub created: Option<Duration>,
    pub first_line: Option<Duration>,
    /// A KTAP summary line (`N passed, N failed, ...`), for guests that
    /// run a test suite.
    pub result_line: Option<Duration>,
    pub ended: Option<Duration>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestReport {
    pub name: String,
    pub end: GuestEnd,
    /// xl's shutdown reason code.
    pub code: Option<i32>,
    pub domid: Option<u32>,
    pub console: Vec<String>,
    /// What `xl` said when the guest failed to start.
    pub xl_output: Vec<String>,
    pub times: GuestTimes,
    /// dom0's clock at the steps of the guest's life (see
    /// [`Event::GuestStamps`]).
    pub stamps: Vec<(String, Duration)>,
    /// Empty if the guest passed.
    pub problems: Vec<String>,
    /// A second failure report for the same guest, whose xl lines repeat.
    pub(super) repeated_failure: bool,
}

impl GuestReport {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// `PASS`, or `FAIL: ` and the first problem.
    pub fn verdict(&self) -> String {
        let first = self.problems.first();
        first.map_or("PASS".into(), |first| format!("FAIL: {first}"))
    }

    /// dom0's clock (uptime, s) at step `name` of the guest's life, if it
    /// was stamped.
    pub fn stamp(&self, name: &str) -> Option<f64> {
        self.stamps
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_secs_f64())
    }

    pub(super) fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            ..Self::default()
        }
    }

    /// Judges the guest against its spec: how it ended, and the lines it
    /// had to print.
    pub(super) fn judge(&mut self, spec: &GuestSpec) {
        let mut problems = Vec::new();
        match &self.end {
            GuestEnd::Shutdown(reason) if spec.expect.accepts(*reason) => {}
            GuestEnd::Shutdown(reason) => {
                // Guests are configured to be destroyed on reboot, and a
                // reboot nobody asked for is almost always a triple fault.
                let hint = match reason {
                    ShutdownReason::Reboot => " (a triple fault?)",
                    _ => "",
                };
                problems.push(format!("ended by {reason}{hint}, expected {}", spec.expect));
            }
            GuestEnd::Timeout => problems.push(format!(
                "still running after {}s (hung?)",
                spec.timeout.as_secs()
            )),
            GuestEnd::Failed(reason) => problems.push(format!("could not start: {reason}")),
            GuestEnd::Unfinished => problems.push("the run ended before the guest did".into()),
            GuestEnd::NeverStarted => problems.push("never started".into()),
        }
        if self.console.is_empty()
            && !matches!(self.end, GuestEnd::Failed(_) | GuestEnd::NeverStarted)
        {
            problems.push("printed nothing on its console".into());
        }
        for wanted in &spec.expect_lines {
            if !self
                .console
                .iter()
                .any(|line| line.contains(wanted.as_str()))
            {
                problems.push(format!("never printed `{wanted}`"));
            }
        }
        self.problems = problems;
    }
}

/// One `dom0_run` command and what it printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dom0Output {
    pub command: String,
    pub lines: Vec<String>,
    /// `None` if the run ended before the command did.
    pub rc: Option<i32>,
}

/// Host times from QEMU's start of the stages every run goes through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stages {
    /// Xen's first line.
    pub xen_banner: Option<Duration>,
    pub dom0_start: Option<Duration>,
    pub dom0_ready: Option<Duration>,
    pub done: Option<Duration>,
    pub qemu_exit: Option<Duration>,
}

/// Everything one run produced, judged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XenReport {
    pub guests: Vec<GuestReport>,
    pub dom0: Vec<Dom0Output>,
    pub stages: Stages,
    /// dom0's `done` marker: the script ran to its end.
    pub done: bool,
    /// dom0's watchdog fired.
    pub watchdog: bool,
    /// dom0's stall sentinel fired after this many seconds without a word
    /// from the script or a relay (`Some(0)` if it did not say).
    pub stalled: Option<u32>,
    /// The sentinel's report: what each process in dom0 was doing.
    pub stall_info: Vec<String>,
    /// `@@virtus error` reports: each fails the run.
    pub errors: Vec<String>,
    /// Oddities worth a line that do not fail the run by themselves.
    pub notes: Vec<String>,
    /// How QEMU ended; `None` if it never ran.
    pub termination: Option<Termination>,
    /// The last [`super::recorder::HIDDEN_TAIL`] lines of Xen's and dom0's own output.
    pub hidden_tail: Vec<String>,
    /// Why the run could not happen at all (no bed, no QEMU, a bad spec).
    pub setup_error: Option<String>,
}

impl XenReport {
    /// A run that never started.
    pub fn setup_failed(specs: &[GuestSpec], error: String) -> Self {
        let failed = |spec: &GuestSpec| GuestReport {
            problems: vec![error.clone()],
            ..GuestReport::new(&spec.name)
        };
        Self {
            guests: specs.iter().map(failed).collect(),
            setup_error: Some(error.clone()),
            ..Self::default()
        }
    }

    pub fn passed(&self) -> bool {
        self.run_problems().is_empty() && self.guests.iter().all(GuestReport::passed)
    }

    pub fn passed_guests(&self) -> usize {
        self.guests.iter().filter(|g| g.passed()).count()
    }

    /// Why the run as a whole failed, whatever its guests did.
    pub fn run_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(error) = &self.setup_error {
            problems.push(error.clone());
            return problems;
        }
        if let Some(Termination::TimedOut(after)) = self.termination {
            problems.push(format!(
                "QEMU killed after {}: the run hung",
                crate::table::budget(after)
            ));
        }
        if self.watchdog {
            problems.push("dom0's watchdog fired".into());
        }
        if let Some(secs) = self.stalled {
            problems.push(format!(
                "dom0's script stalled: nothing from it or its relays for {secs} s, longer \
                 than any of its steps' own timeouts (dom0 or the bed failed, not a guest)"
            ));
        }
        if !self.done {
            problems.push("dom0 never reported `done`".into());
        }
        problems.extend(self.errors.iter().map(|e| format!("dom0: {e}")));
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setup_failure_fails_every_guest() {
        let report =
            XenReport::setup_failed(&[GuestSpec::pvh("a", "/k").unwrap()], "no bed".into());
        assert!(!report.passed());
        assert_eq!(report.run_problems(), ["no bed"]);
        assert_eq!(report.guests[0].end, GuestEnd::NeverStarted);
        assert_eq!(report.guests[0].problems, ["no bed"]);
        assert_eq!(report.termination, None);
    }
}
