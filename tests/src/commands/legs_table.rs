//! What `virtus-run legs` prints at its end: the legs side by side, the
//! core-test comparison, and the total line.

use super::leg::{CoreCheck, Leg};
use crate::table::{self, Align};

/// One row per leg: its counts, how long it took to its result, and its
/// verdict.
pub fn legs_table(legs: &[Leg]) -> String {
    let header = [
        ("leg", Align::Left),
        ("passed", Align::Right),
        ("failed", Align::Right),
        ("skipped", Align::Right),
        ("time to result", Align::Right),
        ("verdict", Align::Left),
    ];
    let rows: Vec<Vec<String>> = legs
        .iter()
        .map(|leg| {
            let mut row = vec![leg.name.clone()];
            match leg.counted {
                Some(c) => row.extend([c.passed, c.failed, c.skipped].map(|n| n.to_string())),
                None => row.extend(["-", "-", "-"].map(String::from)),
            }
            row.push(leg.time_to_result.map_or("-".into(), table::seconds));
            row.push(leg.headline.clone());
            row
        })
        .collect();
    table::render(&header, &rows)
}

/// What to print under the table about the core tests.
pub fn core_lines(check: &CoreCheck) -> Vec<String> {
    if check.common == 0 && check.missing.is_empty() {
        return vec!["core tests: FAIL: no leg reported a core test".to_string()];
    }
    if check.matches() {
        let reruns = crate::expect::reruns().len();
        return vec![format!(
            "core tests: the same {} in all {} legs (native_* and pv_* are not compared; \
             {reruns} of them re-run host parser tests on fake input)",
            check.common, check.legs
        )];
    }
    let mut lines = vec![format!(
        "core tests: FAIL: {} common to all {} legs, but the sets differ:",
        check.common, check.legs
    )];
    for (leg, none, names) in &check.missing {
        lines.push(if *none {
            format!("    {leg}: reported no core test ({} missing)", names.len())
        } else {
            format!("    missing from {leg}: {}", names.join(", "))
        });
    }
    lines
}

/// `N passed, M failed` summed over the legs. A leg that failed without a
/// failing test (a crash, a timeout) counts as one failure, and so does a
/// core-set mismatch in legs that all passed, so the line never reads
/// "0 failed" for a red run.
pub fn total_line(legs: &[Leg], core_matches: bool) -> String {
    let (mut passed, mut failed) = (0, 0);
    for leg in legs {
        let counted = leg.counted.unwrap_or_default();
        passed += counted.passed;
        failed += if !leg.passed && counted.failed == 0 {
            1
        } else {
            counted.failed
        };
    }
    if !core_matches && failed == 0 {
        failed = 1;
    }
    format!("{passed} passed, {failed} failed")
}

#[cfg(test)]
#[path = "legs_tests.rs"]
mod tests;
