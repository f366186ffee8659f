//! `virtus-run xen-suite`, `both` and `xen-run`: the Xen PVH build of
//! Virtus (`virtus-pv`) as a domU of the test bed.

use std::path::Path;

use super::{boot_streamed, print_indented};
use crate::console::say;
use crate::ktap::Summary;
use crate::matrix::{self, SUITE_CMDLINE, SUITE_TIMEOUT};
use crate::qemu;
use crate::table::{self, Align};
use crate::verdict::Verdict;
use crate::xen::bed::{self, Bed};
use crate::xen::guest_ktap::{judge_guest_ktap, transcript_of};
use crate::xen::interactive::run_interactive;
use crate::xen::pv_args::{PvMode, PvRequest};
use crate::xen::report::GuestReport;
use crate::xen::{Verbosity, XenOptions, run_guests};

/// The name of the Xen leg in results.
const XEN_LEG: &str = "xen-pvh";

/// One leg's outcome, as the `both` table shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leg {
    pub name: String,
    /// The results counted from the KTAP lines; `None` if there were none.
    pub counted: Option<Summary>,
    pub passed: bool,
    /// `PASS` or `FAIL: <the first reason>`.
    pub headline: String,
}

pub fn run(request: &PvRequest) -> Result<bool, String> {
    match request.mode {
        PvMode::Suite => Ok(xen_suite(request)?.passed),
        PvMode::Both => both(request),
        PvMode::Run => xen_run(request),
    }
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
}

fn require(image: &Path, what: &str, flag: &str) -> Result<(), String> {
    if image.is_file() {
        Ok(())
    } else {
        Err(format!(
            "{what} image {} not found; build it first (`make`), or pass {flag}",
            image.display()
        ))
    }
}

/// One bed boot running the suite as the PVH guest `virtus`, streamed,
/// judged and summed up.
fn xen_suite(request: &PvRequest) -> Result<Leg, String> {
    let flag = match request.mode {
        PvMode::Both => "--pv-image",
        _ => "--image",
    };
    require(&request.image, "PVH", flag)?;
    let spec = request.guest()?;
    say(&format!(
        "virtus-run: PVH image {}, {} MB, extra \"{}\"",
        request.image.display(),
        spec.memory_mb,
        spec.extra
    ));
    let options = XenOptions {
        workspace: workspace().to_path_buf(),
        bed: request.bed.clone(),
        dom0: Vec::new(),
        verbosity: request.verbosity,
        sequential: false,
    };
    let report = run_guests(std::slice::from_ref(&spec), &options);
    if let Some(error) = report.setup_error {
        return Err(error);
    }
    let guest = &report.guests[0];
    let transcript = transcript_of(&guest.console);
    let verdict = judge_guest_ktap(&transcript, &guest.end, request.timeout);
    let run_problems = report.run_problems();
    let counted = transcript.counted();
    let leg = Leg {
        name: XEN_LEG.to_string(),
        counted: (!transcript.reports.is_empty()).then_some(counted),
        passed: verdict.passed() && run_problems.is_empty(),
        headline: headline(&verdict, &run_problems),
    };

    say("");
    say(&format!(
        "{XEN_LEG}: {} passed, {} failed, {} skipped",
        counted.passed, counted.failed, counted.skipped
    ));
    say(&format!("{XEN_LEG}: {}", leg.headline));
    print_indented(&verdict.details());
    for problem in run_problems.iter().skip(usize::from(verdict.passed())) {
        say(&format!("{XEN_LEG}: also: run: {problem}"));
    }
    say(&timings(guest));
    if !leg.passed && guest.console.is_empty() && request.verbosity != Verbosity::Verbose {
        say(&format!(
            "last {} lines of Xen, dom0 and QEMU:",
            report.hidden_tail.len()
        ));
        print_indented(&report.hidden_tail);
        if !guest.xl_output.is_empty() {
            say("xl said:");
            print_indented(&guest.xl_output);
        }
    }
    Ok(leg)
}

/// The suite's own verdict first; a clean suite in a broken run (dom0's
/// watchdog, a setup error in dom0) fails by the run's first problem.
fn headline(verdict: &Verdict, run_problems: &[String]) -> String {
    match run_problems.first() {
        Some(problem) if verdict.passed() => format!("FAIL: run: {problem}"),
        _ => verdict.headline(),
    }
}

/// Host times from `xl create` (the guest's `created` marker) to its first
/// console line, its KTAP summary line, and its end.
pub fn timings(guest: &GuestReport) -> String {
    let times = &guest.times;
    let Some(created) = times.created else {
        return format!("{XEN_LEG} times: the guest was never created");
    };
    let since = |at: Option<std::time::Duration>| {
        at.map_or("-".to_string(), |at| {
            format!("+{}", table::seconds(at.saturating_sub(created)))
        })
    };
    format!(
        "{XEN_LEG} times from `xl create` ({} after QEMU started): first console line {}, \
         result line {}, end {}",
        table::seconds(created),
        since(times.first_line),
        since(times.result_line),
        since(times.ended)
    )
}

/// The native suite on the reference machine, then the Xen suite.
fn both(request: &PvRequest) -> Result<bool, String> {
    require(&request.native_image, "native", "--native-image")?;
    require(&request.image, "PVH", "--pv-image")?;
    qemu::check_available().map_err(|error| error.to_string())?;
    let quiet = request.verbosity == Verbosity::Quiet;

    let config = matrix::configurations(true).swap_remove(0);
    let label = config.to_string();
    say(&format!(
        "virtus-run: native image {}",
        request.native_image.display()
    ));
    let native = match boot_streamed(
        &label,
        &config,
        &request.native_image,
        SUITE_CMDLINE,
        SUITE_TIMEOUT,
        quiet,
    ) {
        Ok(boot) => {
            let verdict = boot.verdict();
            let counted = boot.transcript.counted();
            say(&format!("[{label}] {}", verdict.headline()));
            print_indented(&verdict.details());
            Leg {
                name: format!("native {label}"),
                counted: (!boot.transcript.reports.is_empty()).then_some(counted),
                passed: verdict.passed(),
                headline: verdict.headline(),
            }
        }
        Err(error) => Leg {
            name: format!("native {label}"),
            counted: None,
            passed: false,
            headline: format!("FAIL: {error}"),
        },
    };
    say("");
    let xen = xen_suite(request)?;
    let legs = [native, xen];
    say("");
    say(&both_table(&legs));
    say(&total_line(&legs));
    Ok(legs.iter().all(|leg| leg.passed))
}

/// One row per leg: its counts and verdict.
pub fn both_table(legs: &[Leg]) -> String {
    let header = [
        ("leg", Align::Left),
        ("passed", Align::Right),
        ("failed", Align::Right),
        ("skipped", Align::Right),
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
            row.push(leg.headline.clone());
            row
        })
        .collect();
    table::render(&header, &rows)
}

/// `N passed, M failed` summed over the legs. A leg that failed without a
/// failing test (a crash, a timeout) counts as one failure, so the line
/// never reads "0 failed" for a red run.
pub fn total_line(legs: &[Leg]) -> String {
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
    format!("{passed} passed, {failed} failed")
}

/// The guest's console on this terminal, under Xen, until it ends.
fn xen_run(request: &PvRequest) -> Result<bool, String> {
    require(&request.image, "PVH", "--image")?;
    let spec = request.guest()?;
    qemu::check_available().map_err(|error| error.to_string())?;
    let bed = match &request.bed {
        Some(dir) => Bed::open(dir)?,
        None => bed::prepare(workspace(), |line| say(&format!("[testbed] {line}")))?,
    };
    let status = run_interactive(&spec, &bed)?;
    say(&format!("\r\nvirtus-run: QEMU exited ({status})"));
    Ok(status.success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xen::report::GuestTimes;
    use std::time::Duration;

    fn leg(name: &str, counted: Option<(usize, usize, usize)>, headline: &str) -> Leg {
        Leg {
            name: name.into(),
            counted: counted.map(|(passed, failed, skipped)| Summary {
                passed,
                failed,
                skipped,
            }),
            passed: headline == "PASS",
            headline: headline.into(),
        }
    }

    #[test]
    fn both_legs_side_by_side_and_summed() {
        let legs = [
            leg("native q35/max/128M", Some((40, 0, 2)), "PASS"),
            leg(
                "xen-pvh",
                Some((38, 1, 3)),
                "FAIL: test xen_memory failed: expected 32 MiB",
            ),
        ];
        assert_eq!(
            both_table(&legs),
            "leg                  passed  failed  skipped  verdict\n\
             -------------------  ------  ------  -------  ---------------------------------------------\n\
             native q35/max/128M      40       0        2  PASS\n\
             xen-pvh                  38       1        3  FAIL: test xen_memory failed: expected 32 MiB\n"
        );
        assert_eq!(total_line(&legs), "78 passed, 1 failed");
    }

    #[test]
    fn a_leg_that_died_without_a_failed_test_counts_once() {
        let legs = [
            leg("native q35/max/128M", Some((40, 0, 2)), "PASS"),
            leg(
                "xen-pvh",
                None,
                "FAIL: guest crashed before the suite started",
            ),
        ];
        assert!(both_table(&legs).contains("xen-pvh                   -       -        -  FAIL"));
        assert_eq!(total_line(&legs), "40 passed, 1 failed");
    }

    #[test]
    fn timings_count_from_xl_create() {
        let mut guest = crate::xen::report::XenReport::setup_failed(
            &[crate::xen::GuestSpec::pvh("virtus", "/k").unwrap()],
            String::new(),
        )
        .guests
        .remove(0);
        assert_eq!(
            timings(&guest),
            "xen-pvh times: the guest was never created"
        );
        let s = Duration::from_millis;
        guest.times = GuestTimes {
            created: Some(s(12_300)),
            first_line: Some(s(12_700)),
            result_line: Some(s(40_300)),
            ended: None,
        };
        assert_eq!(
            timings(&guest),
            "xen-pvh times from `xl create` (12.3s after QEMU started): first console line +0.4s, \
             result line +28.0s, end -"
        );
    }

    #[test]
    fn a_clean_suite_in_a_broken_run_fails_by_the_run() {
        let clean = Verdict::default();
        assert_eq!(
            headline(&clean, &["dom0's watchdog fired".into()]),
            "FAIL: run: dom0's watchdog fired"
        );
        assert_eq!(headline(&clean, &[]), "PASS");
    }
}
