//! `virtus-run xen-suite` and `xen-hvm-suite`: one bed boot running the
//! suite as the guest `virtus` (PVH, or the native image as HVM),
//! streamed, judged and summed up; also the Xen legs of `legs`.

use std::time::Duration;

use super::leg::{Leg, test_names};
use super::print_indented;
use super::require;
use super::xen::print_hidden_tail;
use crate::console::say;
use crate::expect;
use crate::table;
use crate::verdict::Verdict;
use crate::xen::guest::GuestKind;
use crate::xen::guest_ktap::{judge_guest_ktap, transcript_of};
use crate::xen::pv_args::PvRequest;
use crate::xen::report::GuestReport;
use crate::xen::{RunPlan, Verbosity, XenOptions, disk_serve, grant_peek, run_planned};

/// A guest kind's leg name in results, its word in messages, and the
/// tests it must report.
pub fn kind_names(kind: GuestKind) -> (&'static str, &'static str, expect::Leg) {
    match kind {
        GuestKind::Hvm => ("xen-hvm", "HVM", expect::Leg::Native),
        GuestKind::Pvh => ("xen-pvh", "PVH", expect::Leg::Pv),
    }
}

/// A Xen leg's name in the `legs` table: the guest type and its memory.
pub fn leg_name(request: &PvRequest) -> String {
    let name = format!("{} {}M", kind_names(request.kind).0, request.memory_mb);
    match request.cpus {
        1 => name,
        n => format!("{name} {n}cpu"),
    }
}

/// Runs the suite; `flag` names the option that sets the image.
pub fn run(request: &PvRequest, flag: &str) -> Result<Leg, String> {
    let (leg_name, what, leg) = kind_names(request.kind);
    require(&request.image, what, flag)?;
    let mut spec = request.guest()?;
    let mut options = XenOptions::new(request.bed.clone(), request.verbosity);
    let mut plan = RunPlan::default();
    if request.kind == GuestKind::Pvh {
        // dom0's side of the grant tests (pv_grant_*).
        plan = grant_peek::serve(&mut options)?;
    }
    let disk = disk_serve::serve(&mut spec, &mut options, &mut plan);
    if request.kind == GuestKind::Pvh {
        disk_serve::serve_read_only(&mut spec, &mut plan);
    }
    say(&format!(
        "virtus-run: {what} image {}, {} MB, extra \"{}\"",
        request.image.display(),
        spec.memory_mb,
        spec.extra
    ));
    let report = run_planned(std::slice::from_ref(&spec), &plan, &options).report;
    if let Some(error) = report.setup_error {
        return Err(error);
    }
    let guest = &report.guests[0];
    let expectation = expect::Expectation::from_cmdline(&spec.extra, leg);
    let transcript = transcript_of(&guest.console, expectation);
    let verdict = judge_guest_ktap(&transcript, &guest.end, request.timeout, request.kind);
    let mut run_problems = report.run_problems();
    let durable_passed = transcript.passed(crate::disk::DURABLE_TEST);
    run_problems.extend(disk_serve::problem(&disk, &report, durable_passed));
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
    say(&format!("{leg_name}: {counted}"));
    say(&format!("{leg_name}: {}", leg.headline));
    print_indented(&verdict.details());
    for problem in run_problems.iter().skip(usize::from(verdict.passed())) {
        say(&format!("{leg_name}: also: run: {problem}"));
    }
    say(&timings(leg_name, guest));
    if !leg.passed && guest.console.is_empty() && request.verbosity != Verbosity::Verbose {
        print_hidden_tail(&report);
        if !guest.xl_output.is_empty() {
            say("xl said:");
            print_indented(&guest.xl_output);
        }
    }
    let responder = report
        .dom0
        .iter()
        .find(|c| c.command.contains(grant_peek::LOG));
    if let Some(log) = responder.filter(|_| !leg.passed) {
        say("dom0's grant responder said:");
        print_indented(&log.lines);
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
fn timings(leg: &str, guest: &GuestReport) -> String {
    let times = &guest.times;
    let Some(created) = times.created else {
        return format!("{leg} times: the guest was never created");
    };
    let since = |at: Option<Duration>| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xen::report::{GuestTimes, XenReport};

    fn never_started() -> GuestReport {
        let spec = crate::xen::GuestSpec::pvh("virtus", "/k").unwrap();
        XenReport::setup_failed(&[spec], String::new())
            .guests
            .remove(0)
    }

    #[test]
    fn time_to_result_counts_from_xl_create_to_the_summary_or_the_end() {
        let mut guest = never_started();
        assert_eq!(time_to_result(&guest), None);
        let s = Duration::from_millis;
        guest.times = GuestTimes {
            created: Some(s(10_000)),
            first_line: Some(s(10_500)),
            result_line: None,
            ended: Some(s(19_000)),
        };
        assert_eq!(time_to_result(&guest), Some(s(9_000)));
        guest.times.result_line = Some(s(18_000));
        assert_eq!(time_to_result(&guest), Some(s(8_000)));
    }

    #[test]
    fn timings_count_from_xl_create() {
        let mut guest = never_started();
        assert_eq!(
            timings("xen-pvh", &guest),
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
            timings("xen-pvh", &guest),
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
