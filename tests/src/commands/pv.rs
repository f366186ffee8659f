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
use crate::xen::hvm::Flavour;
use crate::xen::interactive::run_interactive;
use crate::xen::pv_args::{PvMode, PvRequest};
use crate::xen::report::GuestReport;
use crate::xen::{Verbosity, XenOptions, run_guests};

/// The name of the Xen leg in results.
const XEN_LEG: &str = "xen-pvh";

/// The name of the HVM run in results.
const HVM_LEG: &str = "xen-hvm";

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
        PvMode::Suite | PvMode::HvmSuite => Ok(xen_suite(request)?.passed),
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

/// One bed boot running the suite as the guest `virtus` (PVH, or HVM for
/// `xen-hvm-suite`), streamed, judged and summed up.
fn xen_suite(request: &PvRequest) -> Result<Leg, String> {
    let flag = match request.mode {
        PvMode::Both => "--pv-image",
        _ => "--image",
    };
    let (leg_name, what) = match request.mode {
        PvMode::HvmSuite => (HVM_LEG, "HVM"),
        _ => (XEN_LEG, "PVH"),
    };
    require(&request.image, what, flag)?;
    let spec = request.guest()?;
    say(&format!(
        "virtus-run: {what} image {}, {} MB, extra \"{}\"",
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
        name: leg_name.to_string(),
        counted: (!transcript.reports.is_empty()).then_some(counted),
        passed: verdict.passed() && run_problems.is_empty(),
        headline: headline(&verdict, &run_problems),
    };

    say("");
    say(&format!(
        "{leg_name}: {} passed, {} failed, {} skipped",
        counted.passed, counted.failed, counted.skipped
    ));
    say(&format!("{leg_name}: {}", leg.headline));
    print_indented(&verdict.details());
    for problem in run_problems.iter().skip(usize::from(verdict.passed())) {
        say(&format!("{leg_name}: also: run: {problem}"));
    }
    say(&timings(leg_name, guest));
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
pub fn timings(leg: &str, guest: &GuestReport) -> String {
    let times = &guest.times;
    let Some(created) = times.created else {
        return format!("{leg} times: the guest was never created");
    };
    let since = |at: Option<std::time::Duration>| {
        at.map_or("-".to_string(), |at| {
            format!("+{}", table::seconds(at.saturating_sub(created)))
        })
    };
    format!(
        "{leg} times from `xl create` ({} after QEMU started): first console line {}, \
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
        None => bed::prepare(
            workspace(),
            Flavour::of(std::slice::from_ref(&spec)),
            |line| say(&format!("[testbed] {line}")),
        )?,
    };
    let status = run_interactive(&spec, &bed)?;
    say(&format!("\r\nvirtus-run: QEMU exited ({status})"));
    Ok(status.success())
}

#[cfg(test)]
#[path = "pv_tests.rs"]
mod tests;
