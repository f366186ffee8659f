//! The live operations under one Xen per run: `virtus-run lifecycle`'s PVH
//! scenarios for `xl save`/`xl restore`, `xl save -c`, `xl migrate` and
//! `xl mem-set`, `repeat` times; each run judged as `lifecycle` judges it
//! (a failed scenario is a note, and its figures are left out), and its
//! figures ([`crate::xen::lifecycle_figures`]) kept per run.

use super::super::lifecycle::{planned, pvh_base};
use super::options;
use crate::bench::args::BenchRequest;
use crate::bench::model::{BenchReport, LiveFigure};
use crate::console::say;
use crate::xen::GuestKind;
use crate::xen::bed::Bed;
use crate::xen::lifecycle::Scenario;
use crate::xen::lifecycle_figures::figures;
use crate::xen::lifecycle_judge::{judge, step_reports};
use crate::xen::run_planned;

/// The scenarios whose figures the report carries.
pub const SCENARIOS: [Scenario; 4] = [
    Scenario::SaveRestore(GuestKind::Pvh),
    Scenario::Checkpoint,
    Scenario::Migrate,
    Scenario::MemSet,
];

pub fn live(request: &BenchRequest, report: &mut BenchReport) -> Option<Bed> {
    let mut bed = None;
    for run in 0..request.repeat {
        say(&format!("live run {}/{}", run + 1, request.repeat));
        let mut xen = options(request, request.beds.bed.as_deref(), true);
        let planned = pvh_base(
            &request.images.pv_image,
            &request.ramdisk.clone().or_default(),
        )
        .and_then(|base| planned(&SCENARIOS, &base, &mut xen));
        let (specs, plan, _disks) = match planned {
            Ok(planned) => planned,
            Err(e) => {
                report.notes.push(format!("live: {e}"));
                return None;
            }
        };
        let ran = run_planned(&specs, &plan, &xen);
        let problems = ran.report.run_problems();
        let notes = problems
            .iter()
            .map(|p| format!("live run {}: {p}", run + 1));
        report.notes.extend(notes);
        let reports = step_reports(&ran.events);
        for scenario in SCENARIOS {
            let name = scenario.name();
            let Some(guest) = ran.report.guests.iter().find(|g| g.name == name) else {
                report
                    .notes
                    .push(format!("live run {}: {name} never ran", run + 1));
                continue;
            };
            let judged = judge(scenario, &reports, guest);
            if !judged.assessment.behaved() {
                let why = judged.assessment.problems.join("; ");
                report.notes.push(format!(
                    "live run {}: {name} failed, its figures left out: {why}",
                    run + 1
                ));
                continue;
            }
            let found = figures(scenario, &reports, &guest.console);
            report.live.extend(found.into_iter().map(|f| LiveFigure {
                scenario: name.to_string(),
                what: f.what,
                value: f.value,
                unit: f.unit.to_string(),
                run,
            }));
        }
        bed = ran.bed;
    }
    bed
}
