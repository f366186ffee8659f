//! The Xen runs of `virtus-run bench` that boot whole guests rather than
//! benchmarks: boot against Linux, the memory floor, density.

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::bench::{find, options};
use crate::bench::args::BenchRequest;
use crate::bench::boot::{BootKind, BootRow, boot_run};
use crate::bench::floor;
use crate::bench::model::{BenchReport, DensityStep};
use crate::xen::bed::Bed;
use crate::xen::guest::GUEST_DIR;
use crate::xen::guest_ktap::transcript_of;
use crate::xen::initramfs;
use crate::xen::{Dom0Command, Dom0Point, GuestSpec, mute};
use crate::xen::{RunPlan, TimedRun, run_planned, run_timed};

/// Every boot guest gets what the bed's Linux needs (96 MiB, see
/// `linux_guest_cfg` in tests/xen/virtus.sh), so all build alike.
const BOOT_MEMORY_MB: u32 = crate::xen::guest::BED_LINUX_MEMORY_MB;
const DENSITY_MEMORY_MB: u32 = 6;
const DENSITY_TIMEOUT: Duration = Duration::from_secs(120);

fn file_size(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().map(|m| m.len())
}

/// The image's size as dom0 gets it, without debug sections.
fn stripped_size(image: &Path) -> Option<u64> {
    file_size(&initramfs::stripped(image).ok()??.0)
}

/// What the shell guests get typed in once their prompt is up.
fn shutdown_at_prompt(name: &str) -> (String, Vec<u8>) {
    (
        format!("{GUEST_DIR}/{name}.input"),
        b"virtus> \nshutdown\\n".to_vec(),
    )
}

/// The run's own problems, each after `what`.
fn problems_of(run: &TimedRun, what: &str) -> Vec<String> {
    let problems = run.report.run_problems();
    problems.iter().map(|p| format!("{what}: {p}")).collect()
}

/// The boot guests of one round, in the order they run.
fn boot_round(
    i: usize,
    pv: &Path,
    mute: &Path,
) -> Result<Vec<(GuestSpec, BootKind, String)>, String> {
    let mut mute_spec = GuestSpec::pvh(&format!("boot-mute-{i}"), mute)?;
    mute_spec.timeout = Duration::from_secs(30);
    let mut virtus = GuestSpec::pvh(&format!("boot-virtus-{i}"), pv)?;
    virtus.extra = format!("xen.memory_mb={BOOT_MEMORY_MB}");
    virtus.timeout = Duration::from_secs(30);
    let quiet = GuestSpec::bed_linux(&format!("boot-linux-quiet-{i}"), "")?;
    let verbose = GuestSpec::bed_linux(&format!("boot-linux-verbose-{i}"), "loglevel=7")?;
    let round = [
        (mute_spec, BootKind::Mute, "mute guest (toolstack floor)"),
        (virtus, BootKind::Virtus, "virtus-pv to its shell"),
        (quiet, BootKind::Linux, "Linux, `quiet`"),
        (verbose, BootKind::Linux, "Linux, `quiet loglevel=7`"),
    ];
    let alike = |(mut spec, kind, label): (GuestSpec, BootKind, &str)| {
        spec.memory_mb = BOOT_MEMORY_MB;
        (spec, kind, label.to_string())
    };
    Ok(round.into_iter().map(alike).collect())
}

/// The boot comparison and the footprint; returns the bed it ran on.
pub fn boot_and_footprint(request: &BenchRequest, report: &mut BenchReport) -> Option<Bed> {
    let mute = std::env::temp_dir().join(format!("virtus-bench-mute-{}.elf", std::process::id()));
    if let Err(e) = fs::write(&mute, mute::elf()) {
        report
            .notes
            .push(format!("cannot write {}: {e}", mute.display()));
        return None;
    }
    let mut guests = Vec::new();
    for i in 1..=request.repeat {
        match boot_round(i, &request.pv_image, &mute) {
            Ok(round) => guests.extend(round),
            Err(e) => report.notes.push(e),
        }
    }
    // The first `xl create` of a Xen boot finds dom0's caches cold (xl and
    // its libraries are read for the first time): a mute guest first, not
    // counted, so that round 1 is like the others.
    let mut specs: Vec<GuestSpec> = match GuestSpec::pvh("boot-warm-up", &mute) {
        Ok(mut warm_up) => {
            warm_up.memory_mb = BOOT_MEMORY_MB;
            warm_up.timeout = Duration::from_secs(30);
            vec![warm_up]
        }
        Err(e) => {
            report.notes.push(e);
            Vec::new()
        }
    };
    specs.extend(guests.iter().map(|(s, ..)| s.clone()));
    let mut files: Vec<(String, Vec<u8>)> = specs
        .iter()
        .filter(|s| s.name.starts_with("boot-virtus-"))
        .map(|s| shutdown_at_prompt(&s.name))
        .collect();
    // dom0 stamps the first console byte of these guests only.
    files.extend(
        specs
            .iter()
            .map(|s| (format!("{GUEST_DIR}/{}.first-byte", s.name), Vec::new())),
    );
    let plan = RunPlan {
        script: None,
        files,
    };
    let run = run_planned(
        &specs,
        &plan,
        &options(request, request.bed.as_deref(), true),
    );
    let _ = fs::remove_file(&mute);
    report.notes.extend(problems_of(&run, "boot run"));
    for (spec, kind, label) in &guests {
        let Some(g) = find(&run, &spec.name) else {
            continue;
        };
        match report.boot.iter_mut().find(|b| &b.guest == label) {
            Some(row) => row.runs.push(boot_run(*kind, g)),
            None => report.boot.push(BootRow {
                guest: label.clone(),
                kind: *kind,
                memory_mb: spec.memory_mb,
                runs: vec![boot_run(*kind, g)],
            }),
        }
    }
    let f = &mut report.footprint;
    f.virtus_pv_bytes = file_size(&request.pv_image);
    f.virtus_pv_stripped_bytes = stripped_size(&request.pv_image);
    if let Some(bed) = &run.bed {
        f.linux_vmlinux_bytes = file_size(&bed.vmlinux());
        f.linux_initramfs_bytes = file_size(&bed.dir.join("linux-guest.cpio.gz"));
    }
    f.linux_floor_source = "96 MiB is the documented floor, cited and not re-measured in this run \
         (tests/xen/virtus.sh, tests/xen/README.md: 80 MiB panics out of memory, \
         below 72 MiB xl refuses the kernel)"
        .into();
    run.bed
}

/// The memory floors of the shell and the suite, bisected by dom0.
pub fn memory_floors(request: &BenchRequest, report: &mut BenchReport) -> Option<Bed> {
    let (specs, plan) = match floor::plan(&request.pv_image) {
        Ok(plan) => plan,
        Err(e) => {
            report.notes.push(format!("floor: {e}"));
            return None;
        }
    };
    let run = run_planned(
        &specs,
        &plan,
        &options(request, request.bed.as_deref(), true),
    );
    report.notes.extend(problems_of(&run, "floor run"));
    let elapsed = run.report.stages.qemu_exit.unwrap_or_default();
    report.floors = floor::floors(&run.events, run.report.termination, elapsed);
    run.bed
}

/// The shell commands each density guest gets once all are running.
const DENSITY_INPUT: &str = "test time_\\nshutdown\\n";

/// dom0's command that hands every guest its workload at once: the lines
/// written into each guest's console pty (its path in xenstore; what is
/// written there reaches the guest as console input through xenconsoled),
/// so the guests all run together instead of each ending before the later
/// ones are even created. (`xl console` does not forward a non-tty stdin.)
pub fn density_input_command(names: &[String]) -> String {
    format!(
        "for g in {}; do t=$(xenstore-read /local/domain/$(xl domid $g)/console/tty) \
         && printf '{DENSITY_INPUT}' >$t; done",
        names.join(" ")
    )
}

/// The most guests running at once: created and not yet ended.
pub fn peak_running(spans: &[(Duration, Option<Duration>)]) -> usize {
    spans
        .iter()
        .map(|(at, _)| {
            spans
                .iter()
                .filter(|(created, ended)| created <= at && ended.is_none_or(|e| e > *at))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// From `earlier` to `later`, in seconds, if both are known.
fn between(earlier: Option<Duration>, later: Option<Duration>) -> Option<f64> {
    Some(later?.checked_sub(earlier?)?.as_secs_f64())
}

/// N guests at once. Each boots into its shell and waits; once all are
/// running, dom0 types the workload (`test time_`, then `shutdown`) into
/// every console, so all N run it together.
pub fn density(request: &BenchRequest, n: usize) -> DensityStep {
    let mut step = DensityStep {
        n,
        memory_mb: DENSITY_MEMORY_MB,
        ..Default::default()
    };
    let mut specs = Vec::new();
    for i in 1..=n {
        match GuestSpec::pvh(&format!("d{n}-{i}"), &request.pv_image) {
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
    let mut options = options(request, request.bed.as_deref(), false);
    options.dom0.push(Dom0Command {
        when: Dom0Point::Running,
        command: density_input_command(&names),
    });
    let run = run_timed(&specs, &options);
    step.problems.extend(problems_of(&run, "run"));
    let ready = run.report.stages.dom0_ready;
    let mut previous = ready;
    let mut last_end = None;
    let mut spans = Vec::new();
    for spec in &specs {
        let Some(g) = find(&run, &spec.name) else {
            continue;
        };
        if let Some(c) = between(previous, g.times.created) {
            step.create_secs.push(c);
        }
        if let Some(created) = g.times.created {
            spans.push((created, g.times.ended));
        }
        previous = g.times.created.or(previous);
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
    fn peak_counts_guests_alive_together() {
        let s = Duration::from_secs;
        assert_eq!(peak_running(&[]), 0);
        assert_eq!(peak_running(&[(s(1), Some(s(2))), (s(3), Some(s(4)))]), 1);
        assert_eq!(
            peak_running(&[(s(1), Some(s(5))), (s(2), None), (s(3), Some(s(4)))]),
            3
        );
    }

    #[test]
    fn times_between_markers() {
        let s = Duration::from_secs;
        assert_eq!(between(Some(s(2)), Some(s(5))), Some(3.0));
        assert_eq!(between(Some(s(5)), Some(s(2))), None);
        assert_eq!(between(None, Some(s(2))), None);
    }

    #[test]
    fn a_boot_round_is_alike_but_for_the_guest() {
        let round = boot_round(2, Path::new("/pv"), Path::new("/mute")).unwrap();
        let names: Vec<&str> = round.iter().map(|(s, ..)| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "boot-mute-2",
                "boot-virtus-2",
                "boot-linux-quiet-2",
                "boot-linux-verbose-2"
            ]
        );
        assert!(round.iter().all(|(s, ..)| s.memory_mb == 96));
        assert_eq!(round[3].0.extra, "loglevel=7");
        let (path, text) = shutdown_at_prompt("boot-virtus-2");
        assert_eq!(path, "/virtus-run/guests/boot-virtus-2.input");
        assert_eq!(text, b"virtus> \nshutdown\\n");
    }
}
