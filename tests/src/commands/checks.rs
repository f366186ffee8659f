//! `virtus-run checks`: the negative checks, on the reference machine, then
//! a table of what each one expected and observed.

use super::assessed::{Assessed, print_assessed, result_cell, say_tally};
use super::{NativeFiles, boot_streamed, fault_site};
use crate::checks::{Assessment, Check};
use crate::console::say;
use crate::matrix;
use crate::pool;

/// Console lines shown under a check that misbehaved.
const CONSOLE_TAIL: usize = 10;

pub fn run(files: &NativeFiles, jobs: usize, quiet: bool) -> bool {
    let image = files.image.as_path();
    let config = matrix::matrix().swap_remove(0).with_ramdisk(&files.ramdisk);
    let checks = Check::all();
    let runs = pool::map_parallel(&checks, jobs, |check| {
        let config = config.with_cpus(check.cpus());
        let label = format!("{config} {}", check.name());
        let (append, timeout) = (check.append(), check.timeout());
        let boot = boot_streamed(&label, &config, image, &append, timeout, quiet);
        let (assessment, console_tail) = match boot {
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
        Assessed {
            name: check.name(),
            expected: check.expectation(),
            assessment,
            console_tail,
        }
    });

    say("");
    let behaved = print_assessed("check", &runs);
    let fail = if behaved < runs.len() { " -- FAIL" } else { "" };
    let cases = runs.len();
    say(&format!("checks: {behaved} of {cases} behaved{fail}"));
    say_tally("checks", behaved, cases)
}
