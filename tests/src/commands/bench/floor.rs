//! The memory floors of virtus-pv's shell and suite under one Xen, bisected
//! by dom0 (the plan and the judging are in [`crate::bench::floor`]).

use super::options;
use crate::bench::args::BenchRequest;
use crate::bench::floor;
use crate::bench::model::BenchReport;
use crate::xen::bed::Bed;
use crate::xen::script::{Dom0Point, run_dom0};
use crate::xen::{grant_peek, run_planned};

pub fn memory_floors(request: &BenchRequest, report: &mut BenchReport) -> Option<Bed> {
    let mut xen = options(request, request.beds.bed.as_deref(), true);
    // The suite's probes run the grant tests, which dom0 must answer.
    let planned = request
        .ramdisk
        .resolve()
        .and_then(|ramdisk| floor::plan(&request.images.pv_image, &ramdisk))
        .and_then(|(specs, plan)| Ok((specs, plan, grant_peek::serve(&mut xen)?)));
    let (specs, mut plan, peek) = match planned {
        Ok(planned) => planned,
        Err(e) => {
            report.notes.push(format!("floor: {e}"));
            return None;
        }
    };
    plan.files.extend(peek.files);
    // The floor writes its own script: the responder's start goes first.
    if let Some(script) = plan.script.as_mut() {
        let mut start = String::new();
        let mut order = Vec::new();
        if let Err(e) = run_dom0(&xen.dom0, Dom0Point::Start, &mut start, &mut order) {
            report.notes.push(format!("floor: {e}"));
            return None;
        }
        let header = script.text.find('\n').map_or(0, |i| i + 1);
        script.text.insert_str(header, &start);
        order.append(&mut script.dom0_order);
        script.dom0_order = order;
    }
    let run = run_planned(&specs, &plan, &xen);
    let problems = run.report.run_problems();
    report
        .notes
        .extend(problems.iter().map(|p| format!("floor run: {p}")));
    let elapsed = run.report.stages.qemu_exit.unwrap_or_default();
    report.floors = floor::floors(&run.events, run.report.termination, elapsed);
    run.bed
}
