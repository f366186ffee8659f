//! `virtus-run bench`: every run of the benchmark report, in one
//! invocation, then the report itself (see [`crate::bench`]).
//!
//! 1. natively in QEMU (q35/max/128M), `bench=all`, `repeat` times;
//! 2. under one Xen: the native image (ELF32) as an HVM guest and virtus-pv
//!    as a PVH guest, alternating, `repeat` times each, all `bench=all`;
//! 3. under one Xen: boot against Linux (see [`super::bench_guests`]);
//! 4. under one Xen: the memory floor, bisected by dom0;
//! 5. for each density step, N virtus-pv guests at once under one Xen.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use super::bench_guests::{boot_and_footprint, density, memory_floors};
use super::bench_machine::{machine, xen_version_of};
use crate::bench::args::{BenchRequest, PARTS};
use crate::bench::charts::charts;
use crate::bench::markdown::{markdown, preamble};
use crate::bench::model::{BenchReport, Column, ColumnRun};
use crate::bench::parse::{self, BenchOutput};
use crate::bench::render::tables;
use crate::bench::report_json::report_json;
use crate::bench::svg;
use crate::console::{LiveConsole, say};
use crate::exit::Termination;
use crate::matrix;
use crate::qemu;
use crate::xen::bed::Bed;
use crate::xen::report::{GuestEnd, GuestReport};
use crate::xen::{GuestSpec, Verbosity, XenOptions};
use crate::xen::{TimedRun, run_timed};

const BENCH_CMDLINE: &str = "bench=all";
/// A bench=all guest takes under a minute here even under HVM, where the
/// trapped UART costs milliseconds a byte (the console line is 32 bytes, no
/// longer 4 KiB): four times that, so that a hang costs minutes, not seven.
const BENCH_TIMEOUT: Duration = Duration::from_secs(240);
const NATIVE_TIMEOUT: Duration = Duration::from_secs(300);
const HVM_MEMORY_MB: u32 = 64;
const PVH_MEMORY_MB: u32 = 32;

pub fn workspace() -> &'static Path {
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
        repeat: request.repeat,
        ..Default::default()
    };
    if request.parts.len() < PARTS.len() {
        report
            .notes
            .push(format!("partial run: only {}", request.parts.join(", ")));
    }
    let r = request.repeat;
    if request.runs("native") {
        banner(&format!(
            "native: virtus-native in QEMU, {BENCH_CMDLINE}, {r} runs"
        ));
        report.columns.push(native_column(request));
    }
    if request.runs("hvm") || request.runs("pvh") {
        banner(&format!(
            "Xen: virtus-native.elf32 as HVM guest and virtus-pv as PVH guest, in turn, \
             {BENCH_CMDLINE}, {r} runs each"
        ));
        let (columns, bed) = xen_columns(request, &mut report.notes);
        report.columns.extend(columns);
        note_xen_version(&mut report, bed.as_ref());
    }
    if request.runs("boot") {
        banner(&format!(
            "boot: mute, virtus-pv and Linux twice (quiet, loglevel=7), {r} runs each"
        ));
        let bed = boot_and_footprint(request, &mut report);
        note_xen_version(&mut report, bed.as_ref());
    }
    if request.runs("floor") {
        banner("floor: the least memory for virtus-pv's shell and suite, by bisection");
        let bed = memory_floors(request, &mut report);
        note_xen_version(&mut report, bed.as_ref());
    }
    if request.runs("density") {
        for &n in &request.density {
            banner(&format!("density: {n} virtus-pv guests at once"));
            report.density.push(density(request, n));
        }
    }

    report.elapsed_secs = start.elapsed().as_secs_f64();
    write_report(&report, &request.out_dir)?;
    say("");
    for line in preamble(&report) {
        say(&line);
    }
    for table in tables(&report) {
        say("");
        say(&table.terminal());
    }
    say("");
    for pair in report.pairs() {
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

fn note_xen_version(report: &mut BenchReport, bed: Option<&Bed>) {
    if report.machine.xen_version.is_empty()
        && let Some(version) = bed.and_then(xen_version_of)
    {
        report.machine.xen_version = version;
    }
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

/// A run without its `done` line, or with nothing, says so.
fn completeness(run: &mut ColumnRun) {
    let out: &BenchOutput = &run.output;
    if out.results.is_empty() && out.errors.is_empty() {
        run.problems.push("no `# bench` line at all".into());
    } else if out.done.is_none() {
        run.problems.push("no `# bench done` line".into());
    }
}

fn native_run(request: &BenchRequest, label: &str) -> ColumnRun {
    let quiet = request.verbosity == Verbosity::Quiet;
    let config = matrix::configurations(true).swap_remove(0);
    let console = LiveConsole::new(label, quiet);
    let mut lines = Vec::new();
    let mut run = ColumnRun::default();
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
            run.output = parse::parse(lines.iter().map(String::as_str));
            if boot.termination != Termination::Exited(33) {
                run.problems.push(format!(
                    "QEMU ended with {}, not a clean power-off",
                    boot.termination
                ));
            }
        }
        Err(error) => run.problems.push(error.to_string()),
    }
    completeness(&mut run);
    run
}

fn native_column(request: &BenchRequest) -> Column {
    let config = matrix::configurations(true).swap_remove(0);
    Column {
        name: "native".into(),
        setup: format!("virtus-native in QEMU {config} (TCG), `{BENCH_CMDLINE}`, one boot per run"),
        runs: (1..=request.repeat)
            .map(|i| native_run(request, &format!("bench {config} run {i}")))
            .collect(),
    }
}

pub fn options(request: &BenchRequest, bed: Option<&Path>, sequential: bool) -> XenOptions {
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

pub fn find<'a>(run: &'a TimedRun, guest: &str) -> Option<&'a GuestReport> {
    run.report.guests.iter().find(|g| g.name == guest)
}

/// A Xen guest's bench run: its lines, and how it ended.
fn guest_run(run: &TimedRun, guest: &str) -> ColumnRun {
    let mut out = ColumnRun {
        output: parse::parse(run.console(guest)),
        problems: Vec::new(),
    };
    if let Some(error) = &run.report.setup_error {
        out.problems.push(error.clone());
    } else if let Some(g) = find(run, guest) {
        out.problems.extend(g.problems.iter().cloned());
    }
    completeness(&mut out);
    out
}

fn started(run: &TimedRun, guest: &str) -> bool {
    find(run, guest).is_some_and(|g| !matches!(g.end, GuestEnd::NeverStarted | GuestEnd::Failed(_)))
}

/// The HVM and PVH columns from one Xen boot (the HVM bed when HVM runs),
/// their runs alternating; the PVH runs again on the PVH bed if none of
/// them could start on the HVM bed.
fn xen_columns(request: &BenchRequest, notes: &mut Vec<String>) -> (Vec<Column>, Option<Bed>) {
    let kinds: Vec<bool> = [true, false]
        .into_iter()
        .filter(|&hvm| request.runs(if hvm { "hvm" } else { "pvh" }))
        .collect();
    let name = |hvm: bool, i: usize| format!("bench-{}-{i}", if hvm { "hvm" } else { "pvh" });
    let mut specs = Vec::new();
    for i in 1..=request.repeat {
        for &hvm in &kinds {
            match bench_guest(&name(hvm, i), hvm, request) {
                Ok(spec) => specs.push(spec),
                Err(e) => notes.push(e),
            }
        }
    }
    let on_hvm_bed = kinds.contains(&true);
    let bed = if on_hvm_bed {
        &request.hvm_bed
    } else {
        &request.bed
    };
    let run = run_timed(&specs, &options(request, bed.as_deref(), true));
    notes.extend(
        run.report
            .run_problems()
            .iter()
            .map(|p| format!("Xen bench run: {p}")),
    );
    let setup = |hvm: bool, where_: &str| {
        let spec = specs.iter().find(|s| s.name == name(hvm, 1));
        let extra = spec.map_or("", |s| s.extra.as_str());
        if hvm {
            format!(
                "virtus-native.elf32 as a Xen HVM domU ({HVM_MEMORY_MB} MiB, device model in dom0), \
                 `extra=\"{extra}\"`, one domain per run"
            )
        } else {
            format!(
                "virtus-pv as a Xen PVH domU ({PVH_MEMORY_MB} MiB), `extra=\"{extra}\"`, one domain \
                 per run, {where_}"
            )
        }
    };
    let column = |hvm: bool, run: &TimedRun, where_: &str| Column {
        name: if hvm { "xen-hvm" } else { "xen-pvh" }.into(),
        setup: setup(hvm, where_),
        runs: (1..=request.repeat)
            .map(|i| guest_run(run, &name(hvm, i)))
            .collect(),
    };
    let mut columns: Vec<Column> = kinds
        .iter()
        .map(|&hvm| {
            column(
                hvm,
                &run,
                if on_hvm_bed {
                    "in the same Xen boot as the HVM runs, alternating with them"
                } else {
                    "one after the other in one Xen boot"
                },
            )
        })
        .collect();
    let pvh_started = (1..=request.repeat).any(|i| started(&run, &name(false, i)));
    if on_hvm_bed && kinds.contains(&false) && !pvh_started && run.report.setup_error.is_none() {
        notes.push(
            "no PVH bench guest started on the HVM bed; they ran again on the PVH bed".into(),
        );
        let pvh: Vec<GuestSpec> = specs
            .iter()
            .filter(|s| s.name.contains("-pvh-"))
            .cloned()
            .collect();
        let alone = run_timed(&pvh, &options(request, request.bed.as_deref(), true));
        if let Some(c) = columns.iter_mut().find(|c| c.name == "xen-pvh") {
            *c = column(false, &alone, "in a Xen boot of their own on the PVH bed");
        }
    }
    (columns, run.bed)
}
