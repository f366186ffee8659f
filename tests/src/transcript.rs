//! Everything one boot said, accumulated line by line as it arrives.
//!
//! The transcript is fed while QEMU is still running, so at any moment it
//! knows which test is running; when the run ends abnormally that is the
//! test to blame.

use std::collections::VecDeque;

use crate::ktap::{KtapLine, Outcome, ResultLine, Summary};

/// How many trailing console lines are kept. A crash diagnostic is printed
/// at the very end, and a runaway kernel printing in a loop must not make
/// the runner hold gigabytes until the timeout.
const TAIL_LINES: usize = 1000;

/// How many lines are kept per test. Enough for a panic message and a
/// backtrace; a test that logs more than this is noisy, not more guilty.
const LINES_PER_TEST: usize = 64;

/// A test result together with what the kernel said about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestReport {
    pub result: ResultLine,
    /// `# ...` lines printed since the previous result.
    pub diagnostics: Vec<String>,
    /// Non-KTAP lines (the kernel log) printed while this test was running.
    pub log: Vec<String>,
}

/// The kernel console of one boot, as understood so far.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    /// How many `KTAP version` headers were seen; more than one means the
    /// suite started again (a reboot that `-no-reboot` should prevent).
    pub headers: usize,
    pub plan: Option<usize>,
    pub reports: Vec<TestReport>,
    pub summary: Option<Summary>,
    /// Names printed by `test=list`.
    pub listed: Vec<String>,
    /// The filter the kernel said matched nothing.
    pub unmatched_filter: Option<String>,
    /// Whether the end-of-run marker came (after the summary, if any).
    pub ended_cleanly: bool,
    /// The kernel stopped the run because an aborted test left this lock
    /// held: `(lock, test)`.
    pub unsafe_after_abort: Option<(String, String)>,
    /// What this run had to report, if the caller said (see [`crate::expect`]).
    pub expectation: Option<crate::expect::Expectation>,
    /// The test announced by `# running:` whose result has not arrived.
    running: Option<String>,
    pending_diagnostics: Vec<String>,
    pending_log: Vec<String>,
    tail: VecDeque<String>,
    /// QEMU's own messages (its stderr): why it refused to start, warnings
    /// about CPU features TCG cannot provide.
    pub emulator_messages: Vec<String>,
}

impl Transcript {
    /// A transcript that will be judged against `expectation` as well.
    pub fn expecting(expectation: Option<crate::expect::Expectation>) -> Self {
        Self {
            expectation,
            ..Self::default()
        }
    }

    /// Builds a transcript from a whole console log at once.
    pub fn from_console(text: &str) -> Self {
        let mut transcript = Self::default();
        for line in text.lines() {
            transcript.feed(line);
        }
        transcript
    }

    /// Takes one console line (without its terminator).
    pub fn feed(&mut self, raw: &str) {
        let line = crate::ktap::clean(raw);
        match KtapLine::parse(&line) {
            KtapLine::Version(_) => self.headers += 1,
            KtapLine::Plan(count) => self.plan = Some(count),
            KtapLine::Running(name) => {
                self.running = Some(name);
                self.pending_log.clear();
            }
            KtapLine::Listed(name) => self.listed.push(name),
            KtapLine::NoMatch(filter) => {
                self.unmatched_filter.get_or_insert(filter);
            }
            KtapLine::EndOfRun => self.ended_cleanly = true,
            KtapLine::UnsafeAfterAbort { lock, test } => {
                self.unsafe_after_abort.get_or_insert((lock, test));
            }
            KtapLine::Summary(summary) => {
                // Only the first tally counts: a second one would come from
                // a restarted suite, which `headers` already reports.
                self.summary.get_or_insert(summary);
            }
            KtapLine::Diagnostic(text) => push_capped(&mut self.pending_diagnostics, text),
            KtapLine::Result(result) => {
                self.running = None;
                self.reports.push(TestReport {
                    result,
                    diagnostics: std::mem::take(&mut self.pending_diagnostics),
                    log: std::mem::take(&mut self.pending_log),
                });
            }
            KtapLine::Other => {
                if self.running.is_some() && !line.is_empty() {
                    push_capped(&mut self.pending_log, line.clone());
                }
            }
        }
        if !line.is_empty() {
            if self.tail.len() == TAIL_LINES {
                self.tail.pop_front();
            }
            self.tail.push_back(line);
        }
    }

    /// Takes one line QEMU wrote to its stderr.
    pub fn feed_emulator(&mut self, raw: &str) {
        let line = crate::ktap::clean(raw);
        if !line.is_empty() {
            push_capped(&mut self.emulator_messages, line);
        }
    }

    /// The test that started and has not reported a result.
    pub fn running(&self) -> Option<&str> {
        self.running.as_deref()
    }

    /// The most recent test that did report a result.
    pub fn last_finished(&self) -> Option<String> {
        self.reports.last().map(|r| r.result.display_name())
    }

    /// What the running test printed so far (diagnostics first, then log):
    /// after a crash this is where the panic message or fault report is.
    pub fn running_output(&self) -> Vec<String> {
        self.pending_diagnostics
            .iter()
            .chain(&self.pending_log)
            .cloned()
            .collect()
    }

    /// The last `count` non-empty console lines.
    pub fn tail(&self, count: usize) -> Vec<String> {
        self.tail
            .iter()
            .skip(self.tail.len().saturating_sub(count))
            .cloned()
            .collect()
    }

    /// Whether any recent console line contains `needle`, ignoring case.
    pub fn mentions(&self, needle: &str) -> bool {
        let needle = needle.to_lowercase();
        self.tail
            .iter()
            .any(|line| line.to_lowercase().contains(&needle))
    }

    /// Whether the kernel printed anything at all.
    pub fn is_silent(&self) -> bool {
        self.tail.is_empty()
    }

    /// The tally recomputed from the result lines.
    pub fn counted(&self) -> Summary {
        let mut counted = Summary::default();
        for report in &self.reports {
            match report.result.outcome() {
                Outcome::Pass => counted.passed += 1,
                Outcome::Fail => counted.failed += 1,
                Outcome::Skip => counted.skipped += 1,
            }
        }
        counted
    }

    /// The reports of tests that failed, in order.
    /// Whether test `name` ran and passed (not skipped).
    pub fn passed(&self, name: &str) -> bool {
        self.reports
            .iter()
            .any(|r| r.result.name == name && r.result.ok && r.result.skip.is_none())
    }

    pub fn failures(&self) -> impl Iterator<Item = &TestReport> {
        self.reports
            .iter()
            .filter(|r| r.result.outcome() == Outcome::Fail)
    }
}

fn push_capped(lines: &mut Vec<String>, line: String) {
    if lines.len() < LINES_PER_TEST {
        lines.push(line);
    }
}

#[cfg(test)]
#[path = "transcript_tests.rs"]
mod tests;
