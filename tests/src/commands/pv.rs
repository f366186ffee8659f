//! `virtus-run xen-suite`, `xen-hvm-suite`, `legs` (alias `both`) and
//! `xen-run`: Virtus as a domU of the test bed, the PVH build (`virtus-pv`)
//! or the unmodified native image as an HVM guest.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::{boot_streamed, print_indented};
use crate::console::say;
use crate::expect;
use crate::ktap::Summary;
use crate::matrix::{self, SUITE_CMDLINE, SUITE_TIMEOUT};
use crate::qemu;
use crate::table::{self, Align};
use crate::transcript::Transcript;
use crate::verdict::Verdict;
use crate::xen::bed::{self, Bed};
use crate::xen::guest::GuestKind;
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

/// One leg's outcome, as the `legs` table shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    fn failed(name: String, error: &str) -> Self {
        Self {
            name,
            counted: None,
            passed: false,
            headline: format!("FAIL: {error}"),
            time_to_result: None,
            tests: Vec::new(),
        }
    }
}

pub fn run(request: &PvRequest) -> Result<bool, String> {
    match request.mode {
        PvMode::Suite | PvMode::HvmSuite if request.red => super::xen_red::run(request),
        PvMode::Suite | PvMode::HvmSuite => Ok(xen_suite(request, "--image")?.passed),
        PvMode::Legs => legs(request),
        PvMode::Run => xen_run(request),
    }
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
}

pub(super) fn require(image: &Path, what: &str, flag: &str) -> Result<(), String> {
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
/// `flag` names the option that sets the image.
fn xen_suite(request: &PvRequest, flag: &str) -> Result<Leg, String> {
    let (leg_name, what) = match request.kind {
        GuestKind::Hvm => (HVM_LEG, "HVM"),
        GuestKind::Pvh => (XEN_LEG, "PVH"),
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
    let leg = match request.kind {
        GuestKind::Hvm => expect::Leg::Native,
        GuestKind::Pvh => expect::Leg::Pv,
    };
    let expectation = expect::Expectation::from_cmdline(&spec.extra, leg);
    let transcript = transcript_of(&guest.console, expectation);
    let verdict = judge_guest_ktap(&transcript, &guest.end, request.timeout, request.kind);
    let run_problems = report.run_problems();
    let counted = transcript.counted();
    let leg = Leg {
        name: self::leg_name(request),
        counted: (!transcript.reports.is_empty()).then_some(counted),
        passed: verdict.passed() && run_problems.is_empty(),
        headline: headline(&verdict, &run_problems),
        time_to_result: time_to_result(guest),
        tests: test_names(&transcript),
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

/// From `xl create` to the summary line, or to the guest's end.
fn time_to_result(guest: &GuestReport) -> Option<Duration> {
    let times = &guest.times;
    let at = times.result_line.or(times.ended)?;
    Some(at.saturating_sub(times.created?))
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

/// The same suite three ways, one after the other: natively on the
/// reference machine, the same image as a Xen HVM guest, and the PVH build
/// as a Xen PVH guest; then whether the same core tests ran in each.
fn legs(request: &PvRequest) -> Result<bool, String> {
    let [hvm, pvh] = request.xen_legs();
    require(&request.native_image, "native", "--native-image")?;
    require(&hvm.image, "HVM", "--hvm-image")?;
    require(&pvh.image, "PVH", "--pv-image")?;
    qemu::check_available().map_err(|error| error.to_string())?;

    let native = native_leg(request);
    let mut legs = vec![native];
    for (leg, flag) in [(hvm, "--hvm-image"), (pvh, "--pv-image")] {
        say("");
        let name = leg_name(&leg);
        legs.push(xen_suite(&leg, flag).unwrap_or_else(|error| {
            say(&format!("{name}: FAIL: {error}"));
            Leg::failed(name, &error)
        }));
    }
    let core = core_check(&legs);
    say("");
    say(&legs_table(&legs));
    for line in core.lines() {
        say(&line);
    }
    say(&total_line(&legs, core.matches()));
    Ok(legs.iter().all(|leg| leg.passed) && core.matches())
}

/// The native suite on the first machine of the matrix (q35/max/128M).
fn native_leg(request: &PvRequest) -> Leg {
    let quiet = request.verbosity == Verbosity::Quiet;
    let config = matrix::configurations(true).swap_remove(0);
    let label = config.to_string();
    let name = format!("native {label}");
    say(&format!(
        "virtus-run: native image {}",
        request.native_image.display()
    ));
    match boot_streamed(
        &label,
        &config,
        &request.native_image,
        SUITE_CMDLINE,
        SUITE_TIMEOUT,
        quiet,
    ) {
        Ok(boot) => {
            let verdict = boot.verdict();
            say(&format!("[{label}] {}", verdict.headline()));
            print_indented(&verdict.details());
            Leg {
                name,
                counted: (!boot.transcript.reports.is_empty()).then_some(boot.transcript.counted()),
                passed: verdict.passed(),
                headline: verdict.headline(),
                time_to_result: Some(boot.time_to_result()),
                tests: test_names(&boot.transcript),
            }
        }
        Err(error) => Leg::failed(name, &error.to_string()),
    }
}

/// A Xen leg's name in the table: the guest type and its memory.
fn leg_name(request: &PvRequest) -> String {
    let leg = match request.kind {
        GuestKind::Hvm => HVM_LEG,
        GuestKind::Pvh => XEN_LEG,
    };
    format!("{leg} {}M", request.memory_mb)
}

/// Every result's name, in the order reported.
fn test_names(transcript: &Transcript) -> Vec<String> {
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

    /// What to print under the table.
    pub fn lines(&self) -> Vec<String> {
        if self.common == 0 && self.missing.is_empty() {
            return vec!["core tests: FAIL: no leg reported a core test".to_string()];
        }
        if self.matches() {
            let reruns = crate::expect::reruns().len();
            return vec![format!(
                "core tests: the same {} in all {} legs (native_* and pv_* are not compared; \
                 {reruns} of them re-run host parser tests on fake input)",
                self.common, self.legs
            )];
        }
        let mut lines = vec![format!(
            "core tests: FAIL: {} common to all {} legs, but the sets differ:",
            self.common, self.legs
        )];
        for (leg, none, names) in &self.missing {
            lines.push(if *none {
                format!("    {leg}: reported no core test ({} missing)", names.len())
            } else {
                format!("    missing from {leg}: {}", names.join(", "))
            });
        }
        lines
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

/// The guest's console on this terminal, under Xen, until it ends.
fn xen_run(request: &PvRequest) -> Result<bool, String> {
    let what = match request.kind {
        GuestKind::Hvm => "HVM",
        GuestKind::Pvh => "PVH",
    };
    require(&request.image, what, "--image")?;
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
