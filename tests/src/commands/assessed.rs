//! How the negative checks end (`checks`, `xen-checks`, the red cases): a
//! table of what each case expected and observed, then, under each case
//! that misbehaved, why and the console lines behind it.

use super::print_indented;
use crate::checks::Assessment;
use crate::console::say;
use crate::table::{self, Align};

/// One case, judged.
pub struct Assessed {
    pub name: String,
    pub expected: String,
    pub assessment: Assessment,
    /// The last console lines, shown if the case misbehaved.
    pub console_tail: Vec<String>,
}

/// `OK`, or `FAIL: <the first problem>`.
pub fn result_cell(assessment: &Assessment) -> String {
    match assessment.problems.first() {
        None => "OK".to_string(),
        Some(problem) => format!("FAIL: {problem}"),
    }
}

/// Says the `N passed, N failed` line CI reads; whether all behaved.
pub fn say_tally(label: &str, behaved: usize, cases: usize) -> bool {
    let failed = cases - behaved;
    say(&format!("{label}: {behaved} passed, {failed} failed"));
    behaved == cases
}

/// Prints the table (`what` heads the first column) and what misbehaved;
/// returns how many cases behaved.
pub fn print_assessed(what: &str, cases: &[Assessed]) -> usize {
    let header = [
        (what, Align::Left),
        ("expected", Align::Left),
        ("observed", Align::Left),
        ("result", Align::Left),
    ];
    let rows: Vec<Vec<String>> = cases
        .iter()
        .map(|case| {
            let a = &case.assessment;
            vec![
                case.name.clone(),
                case.expected.clone(),
                a.observed.clone(),
                result_cell(a),
            ]
        })
        .collect();
    say(&table::render(&header, &rows));
    for case in cases.iter().filter(|case| !case.assessment.behaved()) {
        say(&format!("{} did not behave:", case.name));
        print_indented(&case.assessment.problems);
        let tail = case.console_tail.iter().map(|line| format!("| {line}"));
        print_indented(&tail.collect::<Vec<_>>());
    }
    cases
        .iter()
        .filter(|case| case.assessment.behaved())
        .count()
}
