//! Density in `virtus-run bench`: N virtus-pv guests at once under one Xen,
//! each booting into its shell; once all run, dom0 types the workload
//! (`test time_`, then `shutdown`) into every console, so all N run it
//! together.

use std::time::Duration;

use super::{find, options};
use crate::bench::args::BenchRequest;
use crate::bench::model::DensityStep;
use crate::xen::guest_ktap::transcript_of;
use crate::xen::{Dom0Command, Dom0Point, GuestSpec, run_timed};

const DENSITY_MEMORY_MB: u32 = 6;
const DENSITY_TIMEOUT: Duration = Duration::from_secs(120);

/// dom0's command that hands every guest its workload at once: the lines
/// written into each guest's console pty (its path in xenstore; what is
/// written there reaches the guest as console input through xenconsoled),
/// so the guests all run together instead of each ending before the later
/// ones are even created. (`xl console` does not forward a non-tty stdin.)
fn density_input_command(names: &[String]) -> String {
    format!(
        "for g in {}; do t=$(xenstore-read /local/domain/$(xl domid $g)/console/tty) \
         && printf 'test time_\\nshutdown\\n' >$t; done",
        names.join(" ")
    )
}

/// The most guests running at once: created and not yet ended.
fn peak_running(spans: &[(Duration, Option<Duration>)]) -> usize {
    let alive_at = |at: &Duration| {
        let alive = |(created, ended): &&(Duration, Option<Duration>)| {
            created <= at && ended.is_none_or(|e| e > *at)
        };
        spans.iter().filter(alive).count()
    };
    spans.iter().map(|(at, _)| alive_at(at)).max().unwrap_or(0)
}

/// From `earlier` to `later`, in seconds, if both are known.
fn between(earlier: Option<Duration>, later: Option<Duration>) -> Option<f64> {
    Some(later?.checked_sub(earlier?)?.as_secs_f64())
}

/// N guests at once.
pub fn density(request: &BenchRequest, n: usize) -> DensityStep {
    let mut step = DensityStep {
        n,
        memory_mb: DENSITY_MEMORY_MB,
        ..Default::default()
    };
    let mut specs = Vec::new();
    for i in 1..=n {
        match GuestSpec::pvh(&format!("d{n}-{i}"), &request.images.pv_image) {
            Ok(mut spec) => {
                spec.memory_mb = DENSITY_MEMORY_MB;
                spec.extra = format!("xen.memory_mb={DENSITY_MEMORY_MB}");
                spec.timeout = DENSITY_TIMEOUT;
                specs.push(spec);
            }
            Err(error) => step.problems.push(error),
        }
    }
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let mut options = options(request, request.beds.bed.as_deref(), false);
    options.dom0.push(Dom0Command {
        when: Dom0Point::Running,
        command: density_input_command(&names),
    });
    let run = run_timed(&specs, &options);
    let problems = run.report.run_problems();
    step.problems
        .extend(problems.iter().map(|p| format!("run: {p}")));
    let ready = run.report.stages.dom0_ready;
    let (mut previous, mut last_end, mut spans) = (ready, None, Vec::new());
    for spec in &specs {
        let Some(g) = find(&run, &spec.name) else {
            continue;
        };
        let created = g.times.created;
        step.create_secs.extend(between(previous, created));
        spans.extend(created.map(|c| (c, g.times.ended)));
        previous = created.or(previous);
        last_end = last_end.max(g.times.ended);
        let counted = transcript_of(&g.console, None).counted();
        if g.passed() && counted.failed == 0 && counted.passed > 0 {
            step.passed += 1;
        } else {
            let why = if g.problems.is_empty() {
                format!("{} passed, {} failed", counted.passed, counted.failed)
            } else {
                g.problems.join(", ")
            };
            step.problems.push(format!("{}: {why}", spec.name));
        }
    }
    step.peak_running = peak_running(&spans);
    step.all_created_secs = between(ready, previous);
    step.all_ended_secs = between(ready, last_end);
    step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_workload_goes_to_every_console() {
        let command = density_input_command(&["d2-1".into(), "d2-2".into()]);
        assert_eq!(
            command,
            "for g in d2-1 d2-2; do t=$(xenstore-read /local/domain/$(xl domid $g)/console/tty) \
             && printf 'test time_\\nshutdown\\n' >$t; done"
        );
    }

    #[test]
    fn peaks_and_times_between_markers() {
        let s = Duration::from_secs;
        assert_eq!(peak_running(&[]), 0);
        assert_eq!(peak_running(&[(s(1), Some(s(2))), (s(3), Some(s(4)))]), 1);
        let three = [(s(1), Some(s(5))), (s(2), None), (s(3), Some(s(4)))];
        assert_eq!(peak_running(&three), 3);
        assert_eq!(between(Some(s(2)), Some(s(5))), Some(3.0));
        assert_eq!(between(Some(s(5)), Some(s(2))), None);
        assert_eq!(between(None, Some(s(2))), None);
    }
}
