//! Folds a Xen run's stamped console events, as they arrive, into its
//! [`XenReport`].

use std::collections::VecDeque;
use std::time::Duration;

use super::guest::GuestSpec;
use super::protocol::{Event, Stamped};
use super::report::{Dom0Output, GuestEnd, GuestReport, XenReport};
use crate::exit::Termination;
use crate::ktap::{self, KtapLine};

/// How many of Xen's and dom0's own lines are kept for a failure report.
pub const HIDDEN_TAIL: usize = 30;

/// Folds stamped events into a [`XenReport`].
pub struct Recorder<'a> {
    specs: &'a [GuestSpec],
    /// Index into `report.dom0` of the command whose output is arriving.
    dom0_next: usize,
    hidden: VecDeque<String>,
    report: XenReport,
}

impl<'a> Recorder<'a> {
    /// `dom0_order` is the commands in the order the script runs them.
    pub fn new(specs: &'a [GuestSpec], dom0_order: &[String]) -> Self {
        let guests = specs.iter().map(|spec| GuestReport::new(&spec.name));
        let dom0 = dom0_order.iter().map(|command| Dom0Output {
            command: command.clone(),
            ..Dom0Output::default()
        });
        Self {
            specs,
            dom0_next: 0,
            hidden: VecDeque::new(),
            report: XenReport {
                guests: guests.collect(),
                dom0: dom0.collect(),
                ..XenReport::default()
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
            Event::Stalled { secs, .. } => self.report.stalled = Some(secs.unwrap_or(0)),
            Event::StallInfo { text } => self.report.stall_info.push(text.clone()),
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
        for (report, spec) in self.report.guests.iter_mut().zip(self.specs) {
            report.judge(spec);
        }
        self.report.termination = Some(termination);
        self.report.stages.qemu_exit = Some(elapsed);
        self.report.hidden_tail = self.hidden.into_iter().collect();
        self.report
    }

    /// Events for a guest nobody asked for (a typo in a hand-written
    /// script, a stale domain) are noted rather than dropped.
    fn guest(&mut self, name: &str) -> Option<&mut GuestReport> {
        let found = self.report.guests.iter().position(|g| g.name == name);
        if found.is_none() {
            let note = format!("event for unknown guest `{name}`");
            if !self.report.notes.contains(&note) {
                self.report.notes.push(note);
            }
        }
        found.map(|i| &mut self.report.guests[i])
    }

    fn hide(&mut self, line: &str) {
        if self.hidden.len() == HIDDEN_TAIL {
            self.hidden.pop_front();
        }
        self.hidden.push_back(line.to_string());
    }
}

#[cfg(test)]
#[path = "recorder_tests.rs"]
pub(crate) mod tests;
