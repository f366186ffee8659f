//! `virtus-run bench`: every run of the benchmark report, in one
//! invocation, then the report itself (see [`crate::bench`]).
//!
//! 1. natively in QEMU (q35/max/128M), `bench=all`;
//! 2. under one Xen: the native image (ELF32) as an HVM guest, then
//!    virtus-pv as a PVH guest, one after the other, both `bench=all`;
//! 3. under one Xen: virtus-pv listing its tests (32, 5 and 4 MiB) and the
//!    bed's Linux, one after the other, timed from the host;
//! 4. for each density step, N virtus-pv guests at once under one Xen.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::bench::args::{BenchRequest, PARTS};
use crate::bench::json::report_json;
use crate::bench::model::{BenchReport, BootRow, Column, DensityStep, Machine};
use crate::bench::parse::{self, BenchOutput};
use crate::bench::render::{self, charts, markdown, tables};
use crate::bench::svg;
use crate::bench::xenrun::{TimedRun, run_timed};
use crate::console::{LiveConsole, say};
use crate::exit::Termination;
use crate::matrix;
use crate::qemu;
use crate::xen::bed::Bed;
use crate::xen::guest::{Expectation, GuestSpec, LINUX_PROOF, LINUX_PROOF_LINE};
use crate::xen::guest_ktap::transcript_of;
use crate::xen::report::{GuestEnd, GuestReport};
use crate::xen::{Dom0Command, Dom0Point, Verbosity, XenOptions};

const BENCH_CMDLINE: &str = "bench=all";
/// Generous: a trapped UART costs milliseconds per byte under HVM.
const BENCH_TIMEOUT: Duration = Duration::from_secs(420);
const NATIVE_TIMEOUT: Duration = Duration::from_secs(300);
const HVM_MEMORY_MB: u32 = 64;
const PVH_MEMORY_MB: u32 = 32;
const BOOT_MEMORY_MB: u32 = 32;
/// Memory sizes tried for the smallest that boots virtus-pv.
const FLOOR_TRIES: [u32; 2] = [5, 4];
const DENSITY_MEMORY_MB: u32 = 6;
const DENSITY_WORKLOAD: &str = "shell, then `test time_` and `shutdown` typed into all at once";
const DENSITY_TIMEOUT: Duration = Duration::from_secs(120);

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
}

pub fn run(request: &BenchRequest) -> Result<bool, String> {
    for (image, what) in [
        (&request.native_image, "native"),
        (&request.hvm_image, "HVM (ELF32)"),
        (&request.pv_image, "PVH"),
    ] {
        if !image.is_file() {
            return Err(format!(
                "{what} image {} not found; build it first (`make build`)",
                image.display()
            ));
        }
    }
    qemu::check_available().map_err(|error| error.to_string())?;
    fs::create_dir_all(&request.out_dir)
        .map_err(|e| format!("cannot create {}: {e}", request.out_dir.display()))?;
    let start = Instant::now();
    let mut report = BenchReport {
        machine: machine(),
        quick: request.quick,
        ..Default::default()
    };

    if request.parts.len() < PARTS.len() {
        report
            .notes
            .push(format!("partial run: only {}", request.parts.join(", ")));
    }
    if request.runs("native") {
        banner("1/4 native: virtus-native in QEMU, bench=all");
        report.columns.push(native_column(request));
    }
    if request.runs("xen") {
        banner("2/4 Xen: virtus-native.elf32 as HVM guest, then virtus-pv as PVH guest, bench=all");
        let (hvm, pvh, xen_version) = xen_columns(request, &mut report.notes);
        report.columns.push(hvm);
        report.columns.push(pvh);
        if let Some(version) = xen_version {
            report.machine.xen_version = version;
        }
    }
    if request.runs("boot") {
        banner(
            "3/4 boot and footprint: virtus-pv (32, 5, 4 MiB) and the bed's Linux, one at a time",
        );
        let bed = boot_and_footprint(request, &mut report);
        if report.machine.xen_version.is_empty()
            && let Some(bed) = &bed
        {
            report.machine.xen_version = xen_version_of(bed).unwrap_or_default();
        }
    }
    let density_steps: &[usize] = if request.runs("density") {
        &request.density
    } else {
        &[]
    };
    for &n in density_steps {
        banner(&format!(
            "4/4 density: {n} virtus-pv guests at once ({DENSITY_MEMORY_MB} MiB each, {DENSITY_WORKLOAD})"
        ));
        report.density.push(density(request, n));
    }

    report.elapsed_secs = start.elapsed().as_secs_f64();
    write_report(&report, &request.out_dir)?;
    say("");
    for line in render::preamble(&report) {
        say(&line);
    }
    for table in tables(&report) {
        say("");
        say(&table.terminal());
    }
    let (pairs, _) = report.pairs();
    say("");
    for pair in &pairs {
        say(&format!("{}: {}", pair.pair, pair.verdict()));
    }
    for note in &report.notes {
        say(&format!("note: {note}"));
    }
    say(&format!(
        "report: {} (and report.json, {} charts) in {:.1} s",
        request.out_dir.join("report.md").display(),
        charts(&report).len(),
        report.elapsed_secs
    ));
    Ok(report.passed())
}

fn banner(text: &str) {
    say("");
    say(&format!("== bench {text}"));
}

fn write_report(report: &BenchReport, dir: &Path) -> Result<(), String> {
    let write = |name: &str, text: &str| {
        fs::write(dir.join(name), text)
            .map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))
    };
    write("report.md", &markdown(report))?;
    write("report.json", &report_json(report).render())?;
    for (file, chart) in charts(report) {
        write(&file, &svg::render(&chart))?;
    }
    Ok(())
}

/// The CPU model and core count of this machine, and QEMU's version.
fn machine() -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
        .max(std::thread::available_parallelism().map_or(0, usize::from));
    let qemu_version = Command::new(qemu::QEMU)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            text.lines()
                .next()?
                .split("version ")
                .nth(1)
                .map(|v| v.split_whitespace().next().unwrap_or(v).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    Machine {
        cpu_model,
        cores,
        xen_version: String::new(),
        qemu_version,
    }
}

/// The Xen package version the bed was built from (its manifest).
fn xen_version_of(bed: &Bed) -> Option<String> {
    xen_version_in(&fs::read_to_string(bed.dir.join("manifest.json")).ok()?)
}

/// `"xen-hypervisor-4.17-amd64": "4.17.7+13-g2445b30a44-0+deb12u1"` in a
/// bed's manifest: the package and its version.
pub fn xen_version_in(manifest: &str) -> Option<String> {
    let at = manifest.find("\"xen-hypervisor-")?;
    let line = manifest[at..].lines().next()?;
    let (package, version) = line.split_once(':')?;
    let clean = |t: &str| t.trim().trim_end_matches(',').trim_matches('"').to_string();
    let version = clean(version);
    (!version.is_empty()).then(|| format!("{version} ({})", clean(package)))
}

fn native_column(request: &BenchRequest) -> Column {
    let quiet = request.verbosity == Verbosity::Quiet;
    let config = matrix::configurations(true).swap_remove(0);
    let label = format!("bench {config}");
    let console = LiveConsole::new(&label, quiet);
    let mut lines = Vec::new();
    let mut column = Column {
        name: "native".into(),
        setup: format!("virtus-native in QEMU {config} (TCG), `{BENCH_CMDLINE}`"),
        ..Default::default()
    };
    let boot = qemu::boot(
        &config,
        &request.native_image,
        BENCH_CMDLINE,
        NATIVE_TIMEOUT,
        |stream, line| {
            console.show(stream, line);
            if stream == crate::process::Stream::Stdout {
                lines.push(line.to_string());
            }
        },
    );
    match boot {
        Ok(boot) => {
            column.output = parse::parse(lines.iter().map(String::as_str));
            match boot.termination {
                Termination::Exited(33) => {}
                other => column
                    .problems
                    .push(format!("QEMU ended with {other}, not a clean power-off")),
            }
        }
        Err(error) => column.problems.push(error.to_string()),
    }
    completeness(&mut column);
    column
}

/// A column without its `done` line, or with nothing, says so.
fn completeness(column: &mut Column) {
    let out: &BenchOutput = &column.output;
    if out.results.is_empty() && out.errors.is_empty() {
        column.problems.push("no `# bench` line at all".into());
    } else if out.done.is_none() {
        column.problems.push("no `# bench done` line".into());
    }
}

fn options(request: &BenchRequest, bed: Option<&Path>, sequential: bool) -> XenOptions {
    XenOptions {
        workspace: workspace().to_path_buf(),
        bed: bed.map(Path::to_path_buf),
        dom0: Vec::new(),
        verbosity: request.verbosity,
        sequential,
    }
}

fn bench_guest(name: &str, hvm: bool, request: &BenchRequest) -> Result<GuestSpec, String> {
    let mut spec = if hvm {
        GuestSpec::hvm(name, &request.hvm_image)?
    } else {
        GuestSpec::pvh(name, &request.pv_image)?
    };
    spec.memory_mb = if hvm { HVM_MEMORY_MB } else { PVH_MEMORY_MB };
    spec.extra = if hvm {
        BENCH_CMDLINE.to_string()
    } else {
        format!("{BENCH_CMDLINE} xen.memory_mb={PVH_MEMORY_MB}")
    };
    spec.timeout = BENCH_TIMEOUT;
    Ok(spec)
}

/// A Xen guest's bench column: its lines, and how it ended.
fn guest_column(name: &str, setup: String, run: &TimedRun, guest: &str) -> Column {
    let mut column = Column {
        name: name.into(),
        setup,
        output: parse::parse(run.console(guest)),
        ..Default::default()
    };
    if let Some(error) = &run.report.setup_error {
        column.problems.push(error.clone());
    } else if let Some(g) = find(run, guest) {
        column.problems.extend(g.problems.iter().cloned());
    }
    completeness(&mut column);
    column
}

fn find<'a>(run: &'a TimedRun, guest: &str) -> Option<&'a GuestReport> {
    run.report.guests.iter().find(|g| g.name == guest)
}

/// The HVM and PVH columns from one Xen boot (the HVM bed), the guests
/// one after the other; the PVH guest again on the PVH bed if the HVM
/// bed could not run it.
fn xen_columns(
    request: &BenchRequest,
    notes: &mut Vec<String>,
) -> (Column, Column, Option<String>) {
    let specs = match (
        bench_guest("bench-hvm", true, request),
        bench_guest("bench-pvh", false, request),
    ) {
        (Ok(h), Ok(p)) => vec![h, p],
        (Err(e), _) | (_, Err(e)) => {
            let failed = |name: &str| Column {
                name: name.into(),
                problems: vec![e.clone()],
                ..Default::default()
            };
            return (failed("xen-hvm"), failed("xen-pvh"), None);
        }
    };
    let run = run_timed(&specs, &options(request, request.hvm_bed.as_deref(), true));
    notes.extend(
        run.report
            .run_problems()
            .iter()
            .map(|p| format!("Xen bench run: {p}")),
    );
    let version = run.bed.as_ref().and_then(xen_version_of);
    let hvm = guest_column(
        "xen-hvm",
        format!(
            "virtus-native.elf32 as a Xen HVM domU ({HVM_MEMORY_MB} MiB, device model in dom0), \
             `extra=\"{}\"`",
            specs[0].extra
        ),
        &run,
        "bench-hvm",
    );
    let pvh_setup = |bed: &str| {
        format!(
            "virtus-pv as a Xen PVH domU ({PVH_MEMORY_MB} MiB), `extra=\"{}\"`, {bed}",
            specs[1].extra
        )
    };
    let mut pvh = guest_column(
        "xen-pvh",
        pvh_setup("same Xen boot as the HVM guest, after it"),
        &run,
        "bench-pvh",
    );
    let started = find(&run, "bench-pvh")
        .is_some_and(|g| !matches!(g.end, GuestEnd::NeverStarted | GuestEnd::Failed(_)));
    if !started && run.report.setup_error.is_none() {
        notes.push(
            "the PVH bench guest did not start on the HVM bed; it ran again alone on the PVH bed"
                .into(),
        );
        let alone = run_timed(
            &specs[1..],
            &options(request, request.bed.as_deref(), false),
        );
        pvh = guest_column(
            "xen-pvh",
            pvh_setup("its own Xen boot on the PVH bed"),
            &alone,
            "bench-pvh",
        );
    }
    (hvm, pvh, version)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// From `earlier` to `later`, in seconds, if both are known.
fn between(earlier: Option<Duration>, later: Option<Duration>) -> Option<f64> {
    Some(secs(later?.checked_sub(earlier?)?))
}

fn file_size(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().map(|m| m.len())
}

fn stripped_size(image: &Path) -> Option<u64> {
    let out = std::env::temp_dir().join(format!("virtus-bench-{}.stripped", std::process::id()));
    let ok = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(image)
        .arg(&out)
        .status()
        .is_ok_and(|s| s.success());
    let size = ok.then(|| file_size(&out)).flatten();
    let _ = fs::remove_file(&out);
    size
}

fn boot_guest(name: &str, memory_mb: u32, request: &BenchRequest) -> Result<GuestSpec, String> {
    let mut spec = GuestSpec::pvh(name, &request.pv_image)?;
    spec.memory_mb = memory_mb;
    spec.extra = format!("test=list xen.memory_mb={memory_mb}");
    spec.timeout = Duration::from_secs(60);
    if memory_mb < BOOT_MEMORY_MB {
        // Too little memory may crash it or fail the start: still a result.
        spec.expect = Expectation::Any;
    }
    Ok(spec)
}

/// A Virtus guest listed its tests and powered off.
fn listed(run: &TimedRun, guest: &str) -> bool {
    find(run, guest).is_some_and(|g| {
        g.end == GuestEnd::Shutdown(crate::xen::protocol::ShutdownReason::Poweroff)
    }) && run.line_at(guest, "# test:").is_some()
}

/// The boot comparison and the footprint; returns the bed it ran on.
fn boot_and_footprint(request: &BenchRequest, report: &mut BenchReport) -> Option<Bed> {
    let mut specs = Vec::new();
    let names: Vec<(String, u32)> = std::iter::once(("virtus".to_string(), BOOT_MEMORY_MB))
        .chain(FLOOR_TRIES.iter().map(|mb| (format!("virtus-{mb}m"), *mb)))
        .collect();
    for (name, mb) in &names {
        match boot_guest(name, *mb, request) {
            Ok(spec) => specs.push(spec),
            Err(error) => report.notes.push(error),
        }
    }
    specs.push(GuestSpec::linux_proof());
    let run = run_timed(&specs, &options(request, request.bed.as_deref(), true));
    report.notes.extend(
        run.report
            .run_problems()
            .iter()
            .map(|p| format!("boot run: {p}")),
    );

    // Guests ran one after the other: each `xl create` starts when the
    // previous guest's end was reported (dom0 ready for the first). The
    // `created` marker comes once the guest is unpaused, and a quick
    // guest's first line may come before it: times are from the start.
    let mut previous = run.report.stages.dom0_ready;
    for spec in &specs {
        let Some(g) = find(&run, &spec.name) else {
            continue;
        };
        let created = g.times.created;
        let linux = spec.name == LINUX_PROOF;
        let (ready, ready_is) = if linux {
            (
                run.line_at(&spec.name, LINUX_PROOF_LINE),
                format!("`{LINUX_PROOF_LINE}` printed"),
            )
        } else {
            let last_test = run
                .lines
                .iter()
                .rev()
                .find(|l| l.guest == spec.name && l.text.contains("# test:"))
                .map(|l| l.at);
            (
                last_test,
                "last `# test:` line printed (test=list)".to_string(),
            )
        };
        let passed = if linux {
            g.passed()
        } else {
            listed(&run, &spec.name)
        };
        report.boot.push(BootRow {
            guest: if linux {
                "Linux (bed's PVH guest)".into()
            } else {
                format!("virtus-pv {}", spec.name)
            },
            memory_mb: spec.memory_mb,
            create_secs: between(previous, created),
            first_line_secs: between(previous, g.times.first_line),
            ready_secs: between(previous, ready),
            ready_is,
            ended: match &g.end {
                GuestEnd::Failed(why) => format!("failed: {why}"),
                end => end.word().to_string(),
            },
            // The floor tries may fail: that is their result, not a failure.
            passed: passed || spec.memory_mb < BOOT_MEMORY_MB,
        });
        previous = g.times.ended.or(created);
    }
    let f = &mut report.footprint;
    f.virtus_pv_bytes = file_size(&request.pv_image);
    f.virtus_pv_stripped_bytes = stripped_size(&request.pv_image);
    if let Some(bed) = &run.bed {
        f.linux_vmlinux_bytes = file_size(&bed.vmlinux());
        f.linux_initramfs_bytes = file_size(&bed.dir.join("linux-guest.cpio.gz"));
    }
    f.virtus_tries = specs
        .iter()
        .filter(|s| s.name.starts_with("virtus-"))
        .map(|s| (s.memory_mb, listed(&run, &s.name)))
        .collect();
    // The bed's Linux guest: 96 MiB, fixed by the bed's library.
    f.linux_tries = find(&run, LINUX_PROOF)
        .map(|g| vec![(crate::xen::guest::BED_LINUX_MEMORY_MB, g.passed())])
        .unwrap_or_default();
    f.linux_floor_source = "96 MiB is the documented floor, cited and not re-measured in this run \
         (tests/xen/virtus.sh, tests/xen/README.md: 80 MiB panics out of memory, \
         below 72 MiB xl refuses the kernel)"
        .into();
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

/// N guests at once. Each boots into its shell and waits; once all are
/// running, dom0 types the workload (`test time_`, then `shutdown`) into
/// every console, so all N run it together.
fn density(request: &BenchRequest, n: usize) -> DensityStep {
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
    step.problems.extend(
        run.report
            .run_problems()
            .iter()
            .map(|p| format!("run: {p}")),
    );
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
        let ok = g.passed() && counted.failed == 0 && counted.passed > 0;
        if ok {
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
    fn the_xen_version_comes_from_the_bed_manifest() {
        let manifest = "{\n  \"packages\": {\n    \"libyajl2\": \"2.1.0\",\n    \
            \"xen-hypervisor-4.17-amd64\": \"4.17.7+13-g2445b30a44-0+deb12u1\",\n    \
            \"xen-utils-4.17\": \"4.17.7\"\n  }\n}\n";
        assert_eq!(
            xen_version_in(manifest).as_deref(),
            Some("4.17.7+13-g2445b30a44-0+deb12u1 (xen-hypervisor-4.17-amd64)")
        );
        assert_eq!(xen_version_in("{}"), None);
    }

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
}
