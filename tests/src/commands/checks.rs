//! `virtus-run checks`: the negative checks, on the reference machine, then
//! a table of what each one expected and observed.

use std::path::Path;

use super::{boot_streamed, fault_site, print_indented};
use crate::checks::{Assessment, Check};
use crate::console::say;
use crate::matrix;
use crate::pool;
use crate::table::{self, Align};

/// Console lines shown under a check that misbehaved.
const CONSOLE_TAIL: usize = 10;

struct CheckRun {
    check: Check,
    assessment: Assessment,
    console_tail: Vec<String>,
}

pub fn run(image: &Path, jobs: usize, quiet: bool) -> bool {
    let config = matrix::matrix().swap_remove(0);
    let checks = Check::all();
    let runs = pool::map_parallel(&checks, jobs, |check| {
        let label = format!("{config} {}", check.name());
        let (assessment, console_tail) = match boot_streamed(
            &label,
            &config,
            image,
            &check.append(),
            check.timeout(),
            quiet,
        ) {
            Ok(boot) => (
                check.assess(&boot, fault_site(image, &boot).as_deref()),
                boot.transcript.tail(CONSOLE_TAIL),
            ),
            Err(error) => (
                Assessment {
                    observed: "-".into(),
                    problems: vec![error.to_string()],
                },
                Vec::new(),
            ),
        };
        say(&format!("[{label}] {}", result_cell(&assessment)));
        CheckRun {
            check: *check,
            assessment,
            console_tail,
        }
    });

    say("");
    let header = [
        ("check", Align::Left),
        ("expected", Align::Left),
        ("observed", Align::Left),
        ("result", Align::Left),
    ];
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            vec![
                run.check.name(),
                run.check.expectation(),
                run.assessment.observed.clone(),
                result_cell(&run.assessment),
            ]
        })
        .collect();
    say(&table::render(&header, &rows));
    for run in runs.iter().filter(|run| !run.assessment.behaved()) {
        say(&format!("{} did not behave:", run.check.name()));
        print_indented(&run.assessment.problems);
        let console = run.console_tail.iter().map(|line| format!("| {line}"));
        print_indented(&console.collect::<Vec<_>>());
    }
    let behaved = runs.iter().filter(|run| run.assessment.behaved()).count();
    say(&format!(
        "checks: {behaved} of {} behaved{}",
        runs.len(),
        if behaved == runs.len() {
            ""
        } else {
            " -- FAIL"
        }
    ));
    say(&format!(
        "checks: {behaved} passed, {} failed",
        runs.len() - behaved
    ));
    behaved == runs.len()
}

fn result_cell(assessment: &Assessment) -> String {
    match assessment.problems.first() {
        None => "OK".to_string(),
        Some(problem) => format!("FAIL: {problem}"),
    }
}
