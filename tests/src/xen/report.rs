//! What a Xen run produced, folded from the console events, and whether
//! each guest did what its spec asked.

use std::collections::VecDeque;
use std::time::Duration;

use super::guest::GuestSpec;
use super::protocol::{Event, ShutdownReason, Stamped};
use crate::exit::Termination;
use crate::ktap::{self, KtapLine};

/// How many of Xen's and dom0's own lines are kept for a failure report.
pub const HIDDEN_TAIL: usize = 30;

/// How a guest's run ended, as far as the console tells.
#[derive(Clone, Debug, PartialEq, Eq)]
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

#[derive(Clone, Debug, PartialEq, Eq)]
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
    repeated_failure: bool,
}

impl GuestReport {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// dom0's clock (uptime, s) at step `name` of the guest's life, if it
    /// was stamped.
    pub fn stamp(&self, name: &str) -> Option<f64> {
        self.stamps
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_secs_f64())
    }

    fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            end: GuestEnd::NeverStarted,
            code: None,
            domid: None,
            console: Vec::new(),
            xl_output: Vec::new(),
            times: GuestTimes::default(),
            stamps: Vec::new(),
            problems: Vec::new(),
            repeated_failure: false,
        }
    }

    /// Judges the guest against its spec: how it ended, and the lines it
    /// had to print.
    fn judge(&mut self, spec: &GuestSpec) {
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XenReport {
    pub guests: Vec<GuestReport>,
    pub dom0: Vec<Dom0Output>,
    pub stages: Stages,
    /// dom0's `done` marker: the script ran to its end.
    pub done: bool,
    /// dom0's watchdog fired.
    pub watchdog: bool,
    /// `@@virtus error` reports: each fails the run.
    pub errors: Vec<String>,
    /// Oddities worth a line that do not fail the run by themselves.
    pub notes: Vec<String>,
    /// How QEMU ended; `None` if it never ran.
    pub termination: Option<Termination>,
    /// The last [`HIDDEN_TAIL`] lines of Xen's and dom0's own output.
    pub hidden_tail: Vec<String>,
    /// Why the run could not happen at all (no bed, no QEMU, a bad spec).
    pub setup_error: Option<String>,
}

impl XenReport {
    /// A run that never started.
    pub fn setup_failed(specs: &[GuestSpec], error: String) -> Self {
        let mut recorder = Recorder::new(specs, &[]);
        recorder
            .guests
            .iter_mut()
            .for_each(|g| g.problems = vec![error.clone()]);
        let mut report = recorder.report;
        report.guests = recorder.guests;
        report.setup_error = Some(error);
        report
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
        if !self.done {
            problems.push("dom0 never reported `done`".into());
        }
        problems.extend(self.errors.iter().map(|e| format!("dom0: {e}")));
        problems
    }
}

/// Folds stamped events into a [`XenReport`].
pub struct Recorder<'a> {
    specs: &'a [GuestSpec],
    guests: Vec<GuestReport>,
    /// Index into `report.dom0` of the command whose output is arriving.
    dom0_next: usize,
    hidden: VecDeque<String>,
    report: XenReport,
}

impl<'a> Recorder<'a> {
    /// `dom0_order` is the commands in the order the script runs them.
    pub fn new(specs: &'a [GuestSpec], dom0_order: &[String]) -> Self {
        Self {
            specs,
            guests: specs
                .iter()
                .map(|spec| GuestReport::new(&spec.name))
                .collect(),
            dom0_next: 0,
            hidden: VecDeque::new(),
            report: XenReport {
                guests: Vec::new(),
                dom0: dom0_order
                    .iter()
                    .map(|command| Dom0Output {
                        command: command.clone(),
                        lines: Vec::new(),
                        rc: None,
                    })
                    .collect(),
                stages: Stages::default(),
                done: false,
                watchdog: false,
                errors: Vec::new(),
                notes: Vec::new(),
                termination: None,
                hidden_tail: Vec::new(),
                setup_error: None,
            },
        }
    }

    pub fn record(&mut self, stamped: &Stamped) {
        let at = stamped.at;
        let stages = &mut self.report.stages;
        match &stamped.event {
            Event::Xen(line) => {
                stages.xen_banner.get_or_insert(at);
                self.hide(line);
            }
            Event::Other(line) => self.hide(line),
            Event::Dom0Start { .. } => {
                stages.dom0_start.get_or_insert(at);
            }
            Event::Dom0Ready { .. } => {
                stages.dom0_ready.get_or_insert(at);
            }
            Event::Done { .. } => {
                stages.done.get_or_insert(at);
                self.report.done = true;
            }
            Event::Watchdog { .. } => self.report.watchdog = true,
            Event::Error { what } => self.report.errors.push(what.clone()),
            Event::Garbled(line) => {
                self.report.notes.push(format!("unreadable marker: {line}"));
                self.hide(line);
            }
            Event::Dom0Output { text } => {
                if let Some(command) = self.report.dom0.get_mut(self.dom0_next) {
                    command.lines.push(text.clone());
                }
            }
            Event::Dom0CommandDone { rc } => {
                if let Some(command) = self.report.dom0.get_mut(self.dom0_next) {
                    command.rc = *rc;
                    self.dom0_next += 1;
                }
            }
            Event::GuestCreated { guest, domid, .. } => {
                if let Some(report) = self.guest(guest) {
                    report.times.created.get_or_insert(at);
                    report.domid = *domid;
                    report.end = GuestEnd::Unfinished;
                }
            }
            Event::GuestLine { guest, text } => {
                if let Some(report) = self.guest(guest) {
                    report.times.first_line.get_or_insert(at);
                    if let KtapLine::Summary(_) = KtapLine::parse(&ktap::clean(text)) {
                        report.times.result_line.get_or_insert(at);
                    }
                    report.console.push(text.clone());
                }
            }
            Event::GuestEnded {
                guest,
                reason,
                code,
                ..
            } => {
                // After a failed start, `guest_wait` may still report the
                // dead `xl` as an end with no reason (code -1): the start
                // failure is the news.
                if let Some(report) = self.guest(guest)
                    && !matches!(report.end, GuestEnd::Failed(_))
                {
                    report.times.ended.get_or_insert(at);
                    report.end = GuestEnd::Shutdown(*reason);
                    report.code = *code;
                }
            }
            Event::GuestStamps { guest, stamps } => {
                if let Some(report) = self.guest(guest) {
                    // Uptimes are never negative or huge: a bad one is dropped.
                    report.stamps = stamps
                        .iter()
                        .filter_map(|(k, v)| {
                            Some((k.clone(), Duration::try_from_secs_f64(*v).ok()?))
                        })
                        .collect();
                }
            }
            Event::GuestTimeout { guest, .. } => {
                if let Some(report) = self.guest(guest) {
                    report.times.ended.get_or_insert(at);
                    report.end = GuestEnd::Timeout;
                }
            }
            Event::GuestFailed { guest, reason } => {
                if let Some(report) = self.guest(guest) {
                    // `guest_wait` on a guest that failed to start fails
                    // again ("not started") and relays xl's log once more:
                    // the first failure is the one that explains.
                    if matches!(report.end, GuestEnd::Failed(_)) {
                        report.repeated_failure = true;
                    } else {
                        report.times.ended.get_or_insert(at);
                        report.end = GuestEnd::Failed(reason.clone());
                    }
                }
            }
            Event::GuestXl { guest, text } => {
                if let Some(report) = self.guest(guest)
                    && !report.repeated_failure
                {
                    report.xl_output.push(text.clone());
                }
            }
        }
    }

    /// The finished report, every guest judged.
    pub fn finish(mut self, termination: Termination, elapsed: Duration) -> XenReport {
        for (report, spec) in self.guests.iter_mut().zip(self.specs) {
            report.judge(spec);
        }
        self.report.guests = self.guests;
        self.report.termination = Some(termination);
        self.report.stages.qemu_exit = Some(elapsed);
        self.report.hidden_tail = self.hidden.into_iter().collect();
        self.report
    }

    /// Events for a guest nobody asked for (a typo in a hand-written
    /// script, a stale domain) are noted rather than dropped.
    fn guest(&mut self, name: &str) -> Option<&mut GuestReport> {
        let found = self.guests.iter().position(|g| g.name == name);
        if found.is_none() {
            let note = format!("event for unknown guest `{name}`");
            if !self.report.notes.contains(&note) {
                self.report.notes.push(note);
            }
        }
        found.map(|i| &mut self.guests[i])
    }

    fn hide(&mut self, line: &str) {
        if self.hidden.len() == HIDDEN_TAIL {
            self.hidden.pop_front();
        }
        self.hidden.push_back(line.to_string());
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
