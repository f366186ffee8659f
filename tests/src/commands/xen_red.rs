//! `virtus-run xen-suite --red` / `xen-hvm-suite --red`: the runs that must
//! turn red ([`crate::red`]), as guests of one bed boot, one after another,
//! then a table of what each expected and observed.

use super::print_indented;
use super::pv::require;
use crate::console::say;
use crate::expect::{Expectation, Leg};
use crate::red::RedCase;
use crate::symbols;
use crate::table::{self, Align};
use crate::xen::guest::GuestKind;
use crate::xen::guest_ktap::{judge_guest_ktap, transcript_of};
use crate::xen::pv_args::PvRequest;
use crate::xen::{XenOptions, run_guests};

/// Console lines shown under a case that misbehaved.
const CONSOLE_TAIL: usize = 12;

/// `Ok(true)` if every case was red for its own reason.
pub fn run(request: &PvRequest) -> Result<bool, String> {
    let (what, leg) = match request.kind {
        GuestKind::Hvm => ("HVM", Leg::Native),
        GuestKind::Pvh => ("PVH", Leg::Pv),
    };
    require(&request.image, what, "--image")?;
    let base = request.guest()?;
    let cases: Vec<RedCase> = RedCase::ALL
        .into_iter()
        .filter(|case| request.kind == GuestKind::Pvh || !case.applies_to_pvh_only())
        .collect();
    let specs = cases
        .iter()
        .map(|case| {
            let mut spec = base.clone();
            spec.name = case.name().to_string();
            spec.extra = format!("{} {}", base.extra, case.append());
            spec
        })
        .collect::<Vec<_>>();
    say(&format!(
        "virtus-run: {what} image {}: {} runs that must turn red",
        request.image.display(),
        specs.len()
    ));
    let options = XenOptions {
        sequential: true,
        ..XenOptions::new(request.bed.clone(), request.verbosity)
    };
    let report = run_guests(&specs, &options);
    let symbols = symbols::for_image(&request.image);
    if let Some(error) = report.setup_error {
        return Err(error);
    }
    let mut rows = Vec::new();
    let mut misbehaved = Vec::new();
    for (case, spec) in cases.iter().zip(&specs) {
        let Some(guest) = report.guests.iter().find(|g| g.name == spec.name) else {
            return Err(format!("no report for guest {}", spec.name));
        };
        let expectation = Expectation::from_cmdline(&spec.extra, leg);
        let transcript = transcript_of(&guest.console, expectation);
        let verdict = judge_guest_ktap(&transcript, &guest.end, spec.timeout, request.kind);
        let site = symbols
            .as_deref()
            .and_then(|s| s.fault_site(&guest.console));
        let assessment = case.assess(&verdict, transcript.summary.is_some(), site.as_deref());
        rows.push(vec![
            case.name().to_string(),
            case.expectation(),
            assessment.observed.clone(),
            match assessment.problems.first() {
                None => "OK".to_string(),
                Some(problem) => format!("FAIL: {problem}"),
            },
        ]);
        if !assessment.behaved() {
            let skip = guest.console.len().saturating_sub(CONSOLE_TAIL);
            misbehaved.push((case, assessment, guest.console[skip..].to_vec()));
        }
    }
    let header = [
        ("case", Align::Left),
        ("expected", Align::Left),
        ("observed", Align::Left),
        ("result", Align::Left),
    ];
    say("");
    say(&table::render(&header, &rows));
    for (case, assessment, tail) in &misbehaved {
        say(&format!("{} did not behave:", case.name()));
        print_indented(&assessment.problems);
        print_indented(&tail.iter().map(|l| format!("| {l}")).collect::<Vec<_>>());
    }
    let label = match request.kind {
        GuestKind::Hvm => "xen-hvm red",
        GuestKind::Pvh => "xen-pvh red",
    };
    say(&format!(
        "{label}: {} passed, {} failed",
        rows.len() - misbehaved.len(),
        misbehaved.len()
    ));
    Ok(misbehaved.is_empty())
}
