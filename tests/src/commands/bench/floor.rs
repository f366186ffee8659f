//! The memory floors of virtus-pv's shell and suite under one Xen, bisected
//! by dom0 (the plan and the judging are in [`crate::bench::floor`]).

use super::options;
use crate::bench::args::BenchRequest;
use crate::bench::floor;
use crate::bench::model::BenchReport;
use crate::xen::bed::Bed;
use crate::xen::run_planned;

pub fn memory_floors(request: &BenchRequest, report: &mut BenchReport) -> Option<Bed> {
    let (specs, plan) = match floor::plan(&request.images.pv_image) {
        Ok(plan) => plan,
        Err(e) => {
            report.notes.push(format!("floor: {e}"));
            return None;
        }
    };
    let run = run_planned(
        &specs,
        &plan,
        &options(request, request.beds.bed.as_deref(), true),
    );
    let problems = run.report.run_problems();
    report
        .notes
        .extend(problems.iter().map(|p| format!("floor run: {p}")));
    let elapsed = run.report.stages.qemu_exit.unwrap_or_default();
    report.floors = floor::floors(&run.events, run.report.termination, elapsed);
    run.bed
}
