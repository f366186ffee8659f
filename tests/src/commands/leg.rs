//! One leg's outcome in `virtus-run legs` (natively, as a Xen HVM guest,
//! as a Xen PVH guest), and whether the legs ran the same core tests.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::ktap::Summary;
use crate::transcript::Transcript;

/// One leg's outcome, as the `legs` table shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leg {
    pub name: String,
    /// The results counted from the KTAP lines; `None` if there were none.
    pub counted: Option<Summary>,
    pub passed: bool,
    /// `PASS` or `FAIL: <the first reason>`.
    pub headline: String,
    /// From the boot (native: QEMU's start; Xen: `xl create`) to the
    /// summary line, or to the end if there was none.
    pub time_to_result: Option<Duration>,
    /// The names of the results reported, in order.
    pub tests: Vec<String>,
}

impl Leg {
    /// A leg that could not run at all.
    pub fn failed(name: String, error: &str) -> Self {
        Self {
            name,
            headline: format!("FAIL: {error}"),
            ..Self::default()
        }
    }
}

/// Every result's name, in the order reported.
pub fn test_names(transcript: &Transcript) -> Vec<String> {
    transcript
        .reports
        .iter()
        .map(|report| report.result.display_name())
        .collect()
}

/// A core test runs in every leg; `native_*` and `pv_*` tests belong to
/// one build or one way of booting.
pub fn is_core(name: &str) -> bool {
    !name.starts_with("native_") && !name.starts_with("pv_")
}

/// Whether the legs reported the same core tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreCheck {
    /// How many legs were compared.
    pub legs: usize,
    /// The core tests every leg reported.
    pub common: usize,
    /// For each leg that lacks some: its name, whether it reported no core
    /// test at all, and the core tests another leg reported and it did not.
    pub missing: Vec<(String, bool, Vec<String>)>,
}

impl CoreCheck {
    /// The same core tests everywhere, and at least one.
    pub fn matches(&self) -> bool {
        self.missing.is_empty() && self.common > 0
    }
}

/// Compares the legs' core test names as sets (order and outcome aside:
/// a skipped or failed test still appeared).
pub fn core_check(legs: &[Leg]) -> CoreCheck {
    let sets: Vec<BTreeSet<&str>> = legs
        .iter()
        .map(|leg| {
            leg.tests
                .iter()
                .map(String::as_str)
                .filter(|name| is_core(name))
                .collect()
        })
        .collect();
    let all: BTreeSet<&str> = sets.iter().flatten().copied().collect();
    let common = all
        .iter()
        .filter(|name| sets.iter().all(|set| set.contains(*name)))
        .count();
    let missing = legs
        .iter()
        .zip(&sets)
        .filter(|(_, set)| set.len() < all.len())
        .map(|(leg, set)| {
            let names = all.difference(set).map(ToString::to_string).collect();
            (leg.name.clone(), set.is_empty(), names)
        })
        .collect();
    CoreCheck {
        legs: legs.len(),
        common,
        missing,
    }
}
