//! What a run must report, known to the runner independently of the kernel.
//!
//! A kernel whose suite silently shrinks (a test list left out, a filter
//! typo) would otherwise power off as a clean pass with fewer results. The
//! runner carries its own list of every in-kernel test
//! (`tests/expected-tests.txt`) and fails a run in which a selected test did
//! not report, or in which nothing at all was selected.

use std::collections::BTreeSet;

use crate::reason::Reason;
use crate::transcript::Transcript;

/// The runner's list of in-kernel tests, by where they run.
const EXPECTED: &str = include_str!("../expected-tests.txt");

/// Which image ran: the native image (natively or as a Xen HVM guest) runs
/// the core's and native-backend's tests, virtus-pv the core's and its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leg {
    Native,
    Pv,
}

/// Which tests a command line selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// `test=all`: the whole suite.
    All,
    /// `test=<substring>`.
    Filter(String),
}

impl std::fmt::Display for Selection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => write!(f, "test=all"),
            Self::Filter(filter) => write!(f, "test={filter}"),
        }
    }
}

/// What one run had to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    pub leg: Leg,
    pub selection: Selection,
}

impl Expectation {
    /// The expectation of a kernel command line, if it runs tests at all
    /// (`test=list` and a command line without `test=` report none).
    pub fn from_cmdline(cmdline: &str, leg: Leg) -> Option<Self> {
        let value = cmdline
            .split_whitespace()
            .filter_map(|word| word.strip_prefix("test="))
            .next_back()?;
        let selection = match value {
            "list" => return None,
            "all" | "" => Selection::All,
            filter => Selection::Filter(filter.to_string()),
        };
        Some(Self { leg, selection })
    }

    /// The expected tests this run selects.
    pub fn selected(&self) -> Vec<&'static str> {
        expected_tests(self.leg)
            .into_iter()
            .filter(|name| match &self.selection {
                Selection::All => true,
                Selection::Filter(filter) => name.contains(filter.as_str()),
            })
            .collect()
    }

    /// What the transcript lacks. Nothing is said about a run that was cut
    /// short (no summary): its ending is the reason already reported.
    pub fn reasons(&self, transcript: &Transcript) -> Vec<Reason> {
        if transcript.summary.is_none() || transcript.unmatched_filter.is_some() {
            return Vec::new();
        }
        if transcript.reports.is_empty() {
            return vec![Reason::EmptySuite {
                selection: self.selection.to_string(),
            }];
        }
        let reported: BTreeSet<&str> = transcript
            .reports
            .iter()
            .map(|r| r.result.name.as_str())
            .collect();
        let expected = self.selected();
        let missing: Vec<String> = expected
            .iter()
            .filter(|name| !reported.contains(*name))
            .map(|name| name.to_string())
            .collect();
        if missing.is_empty() {
            return Vec::new();
        }
        vec![Reason::TestsMissing {
            missing,
            expected: expected.len(),
            reported: transcript.reports.len(),
        }]
    }
}

/// Every test the runner expects from `leg`'s image, in list order.
pub fn expected_tests(leg: Leg) -> Vec<&'static str> {
    entries()
        .filter(|(group, _)| match group {
            Group::Core => true,
            Group::Native => leg == Leg::Native,
            Group::Pv => leg == Leg::Pv,
        })
        .map(|(_, name)| name)
        .collect()
}

/// The core's tests: the ones every leg must run.
pub fn core_tests() -> Vec<&'static str> {
    entries()
        .filter(|(group, _)| *group == Group::Core)
        .map(|(_, name)| name)
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    Core,
    Native,
    Pv,
}

fn entries() -> impl Iterator<Item = (Group, &'static str)> {
    EXPECTED.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut words = line.split_whitespace();
        let (group, name) = (words.next()?, words.next()?);
        let group = match group {
            "core" => Group::Core,
            "native" => Group::Native,
            "pv" => Group::Pv,
            _ => return None,
        };
        Some((group, name))
    })
}

/// The tests marked `rerun`: host parser tests re-run in the kernel.
pub fn reruns() -> Vec<&'static str> {
    EXPECTED
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[..] {
                [group, name, "rerun"] if !group.starts_with('#') => Some(name),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "expect_tests.rs"]
mod tests;
