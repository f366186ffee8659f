//! `virtus-run suite`: the full suite on every machine configuration, then
//! one table that says which machines passed.

use std::time::Duration;

use super::{NativeFiles, boot_with_disk, print_indented};
use crate::console::say;
use crate::matrix::{self, SUITE_CMDLINE};
use crate::pool;
use crate::qemu::{Boot, MachineConfig};
use crate::table::{self, Align};

/// One configuration's run: the boot, or why QEMU could not be started.
pub struct SuiteRun {
    pub config: MachineConfig,
    pub boot: Result<Boot, String>,
    /// The test disk's image, judged after the run.
    pub disk: Result<(), String>,
}

impl SuiteRun {
    pub fn passed(&self) -> bool {
        self.boot.as_ref().is_ok_and(|boot| boot.verdict().passed()) && self.disk.is_ok()
    }

    fn headline(&self) -> String {
        match (&self.boot, &self.disk) {
            (Ok(boot), Err(disk)) if boot.verdict().passed() => format!("FAIL: {disk}"),
            (Ok(boot), _) => boot.verdict().headline(),
            (Err(error), _) => format!("FAIL: {error}"),
        }
    }
}

pub fn run(files: &NativeFiles, quick: bool, timeout: Duration, jobs: usize, quiet: bool) -> bool {
    let image = files.image.as_path();
    let configs: Vec<_> = matrix::configurations(quick)
        .iter()
        .map(|config| config.with_ramdisk(&files.ramdisk))
        .collect();
    let runs = pool::map_parallel(&configs, jobs, |config| {
        let label = config.to_string();
        let (boot, disk) = boot_with_disk(&label, config, image, SUITE_CMDLINE, timeout, quiet);
        let run = SuiteRun {
            config: config.clone(),
            boot: boot.map_err(|e| e.to_string()),
            disk,
        };
        say(&format!("[{label}] {}", run.headline()));
        run
    });

    say("");
    say(&summary_table(&runs));
    // The table has each headline; what it cannot show is the console
    // lines behind it and any further reasons.
    for run in &runs {
        let details = run
            .boot
            .as_ref()
            .map(|boot| boot.verdict().details())
            .unwrap_or_default();
        if !details.is_empty() {
            say(&format!("{}: {}", run.config, run.headline()));
            print_indented(&details);
        }
    }
    let passed = runs.iter().filter(|run| run.passed()).count();
    say(&format!(
        "suite: {passed} of {} configurations passed{}",
        runs.len(),
        if passed == runs.len() { "" } else { " -- FAIL" }
    ));
    say(&tally_line(&runs));
    passed == runs.len()
}

/// Kernel test results summed over all configurations, as the plain
/// `N passed, N failed` line CI reads. A configuration that failed without
/// a failing test (a crash, a timeout) counts as one failure, so the line
/// can never read "0 failed" for a red suite.
pub fn tally_line(runs: &[SuiteRun]) -> String {
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for run in runs {
        let counted = run.boot.as_ref().map(|boot| boot.transcript.counted());
        let (p, f, s) = counted.map_or((0, 0, 0), |c| (c.passed, c.failed, c.skipped));
        passed += p;
        skipped += s;
        failed += if !run.passed() && f == 0 { 1 } else { f };
    }
    format!("suite: {passed} passed, {failed} failed, {skipped} skipped")
}

/// The end-of-run table: one row per configuration.
pub fn summary_table(runs: &[SuiteRun]) -> String {
    let header = [
        ("configuration", Align::Left),
        ("passed", Align::Right),
        ("failed", Align::Right),
        ("skipped", Align::Right),
        ("time", Align::Right),
        ("verdict", Align::Left),
    ];
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            let mut row = vec![run.config.to_string()];
            match &run.boot {
                Ok(boot) if !boot.transcript.reports.is_empty() => {
                    let counted = boot.transcript.counted();
                    row.extend(
                        [counted.passed, counted.failed, counted.skipped].map(|n| n.to_string()),
                    );
                    row.push(table::seconds(boot.time_to_result()));
                }
                Ok(boot) => {
                    row.extend(["-", "-", "-"].map(String::from));
                    row.push(table::seconds(boot.time_to_result()));
                }
                Err(_) => row.extend(["-", "-", "-", "-"].map(String::from)),
            }
            row.push(run.headline());
            row
        })
        .collect();
    table::render(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Termination;
    use crate::transcript::Transcript;

    fn run(config: MachineConfig, console: &str, termination: Termination, secs: u64) -> SuiteRun {
        let boot = Boot {
            transcript: Transcript::from_console(console),
            termination,
            elapsed: Duration::from_secs(secs + 1),
            result_at: Some(Duration::from_secs(secs)).filter(|_| console.contains("passed,")),
        };
        SuiteRun {
            config,
            boot: Ok(boot),
            disk: Ok(()),
        }
    }

    #[test]
    fn table_shows_counts_time_and_verdict() {
        let good = "KTAP version 1\n1..2\nok 1 a\nok 2 b # SKIP n/a\n1 passed, 0 failed, 1 skipped\n# end of run\n";
        let crashed = "KTAP version 1\n1..2\n# running: a\n";
        let runs = [
            run(
                MachineConfig::new("q35", "max", "128M"),
                good,
                Termination::Exited(33),
                8,
            ),
            run(
                MachineConfig::new("pc", "qemu64", "32M"),
                crashed,
                Termination::Exited(37),
                2,
            ),
            SuiteRun {
                config: MachineConfig::new("q35", "max", "6G"),
                boot: Err("QEMU missing".into()),
                disk: Ok(()),
            },
        ];
        assert_eq!(
            summary_table(&runs),
            "configuration  passed  failed  skipped  time  verdict\n\
             -------------  ------  ------  -------  ----  ----------------------------------------------------\n\
             q35/max/128M        1       0        1  8.0s  PASS\n\
             pc/qemu64/32M       -       -        -  3.0s  FAIL: kernel crashed during test a (no summary line)\n\
             q35/max/6G          -       -        -     -  FAIL: QEMU missing\n"
        );
        assert!(runs[0].passed());
        assert!(!runs[1].passed());
        assert!(!runs[2].passed());
    }
}
