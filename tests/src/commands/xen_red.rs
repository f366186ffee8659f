//! `virtus-run xen-suite --red` / `xen-hvm-suite --red`: the runs that must
//! turn red ([`crate::red`]), as guests of one bed boot, one after another,
//! then a table of what each expected and observed.

use super::assessed::{Assessed, print_assessed, say_tally};
use super::require;
use super::xen_suite::kind_names;
use crate::console::say;
use crate::expect::Expectation;
use crate::red::RedCase;
use crate::symbols;
use crate::xen::guest::GuestKind;
use crate::xen::guest_ktap::{judge_guest_ktap, transcript_of};
use crate::xen::pv_args::PvRequest;
use crate::xen::{RunPlan, XenOptions, grant_peek, run_planned};

/// Console lines shown under a case that misbehaved.
const CONSOLE_TAIL: usize = 12;

/// `Ok(true)` if every case was red for its own reason.
pub fn run(request: &PvRequest) -> Result<bool, String> {
    let (leg_name, what, leg) = kind_names(request.kind);
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
    let mut options = XenOptions {
        sequential: true,
        ..XenOptions::new(request.bed.clone(), request.verbosity)
    };
    // The cases that run the whole suite must pass its grant tests.
    let mut plan = RunPlan::default();
    if request.kind == GuestKind::Pvh {
        plan = grant_peek::serve(&mut options)?;
    }
    let report = run_planned(&specs, &plan, &options).report;
    let symbols = symbols::for_image(&request.image);
    if let Some(error) = report.setup_error {
        return Err(error);
    }
    let mut assessed = Vec::new();
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
        let skip = guest.console.len().saturating_sub(CONSOLE_TAIL);
        assessed.push(Assessed {
            name: case.name().to_string(),
            expected: case.expectation(),
            assessment: case.assess(&verdict, transcript.summary.is_some(), site.as_deref()),
            console_tail: guest.console[skip..].to_vec(),
        });
    }
    say("");
    let behaved = print_assessed("case", &assessed);
    Ok(say_tally(
        &format!("{leg_name} red"),
        behaved,
        assessed.len(),
    ))
}
