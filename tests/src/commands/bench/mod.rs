//! `virtus-run bench`: every run of the benchmark report, in one
//! invocation, then the report itself (see [`crate::bench`]). This file
//! orchestrates; each part runs elsewhere:
//!
//! 1. natively in QEMU (q35/max/128M), `bench=all`, `repeat` times, and
//! 2. under one Xen: the native image (ELF32) as an HVM guest and virtus-pv
//!    as a PVH guest, alternating, `repeat` times each, all `bench=all`
//!    (both in [`columns`]);
//! 3. 1 and 2 again with 2 and with 4 CPUs, the `smp_` benchmarks only
//!    (native `-smp N`, Xen `vcpus = N`, one Xen boot per count);
//! 4. under one Xen: boot against Linux ([`boot`]);
//! 5. under one Xen: the memory floor, bisected by dom0 ([`floor`]);
//! 6. for each density step, N virtus-pv guests at once under one Xen
//!    ([`density`]);
//! 7. under one Xen per run: the live operations, save, restore,
//!    checkpoint, migration and balloon ([`live`]).
//!
//! [`machine`] says where the report was made.

mod boot;
mod columns;
mod density;
mod floor;
mod live;
mod machine;

use std::fs;
use std::path::Path;
use std::time::Instant;

use crate::bench::args::{BenchRequest, PARTS};
use crate::bench::model::BenchReport;
use crate::bench::report::{self, charts::charts, markdown::preamble, tables};
use crate::bench::smp_rows::{CPUS, SmpColumns};
use crate::console::say;
use crate::qemu;
use crate::xen::TimedRun;
use crate::xen::XenOptions;
use crate::xen::bed::Bed;
use crate::xen::report::GuestReport;
use boot::boot_and_footprint;
use columns::{native_column, xen_columns};
use density::density;
use floor::memory_floors;
use live::live;
use machine::{machine, xen_version_of};

pub fn run(request: &BenchRequest) -> Result<bool, String> {
    for (image, what) in [
        (&request.images.native_image, "native"),
        (&request.images.hvm_image, "HVM (ELF32)"),
        (&request.images.pv_image, "PVH"),
    ] {
        if !image.is_file() {
            return Err(format!(
                "{what} image {} not found; build it first (`make build`)",
                image.display()
            ));
        }
    }
    if ["native", "hvm", "pvh", "smp", "live"]
        .iter()
        .any(|part| request.runs(part))
    {
        request.ramdisk.resolve()?;
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
    if request.benches != "all" {
        report.notes.push(format!(
            "partial run: only the kernel benchmarks matching `{}`",
            request.benches
        ));
    }
    let r = request.repeat;
    let bench_cmdline = request.bench_cmdline();
    if request.runs("native") {
        banner(&format!(
            "native: virtus-native in QEMU, {bench_cmdline}, {r} runs"
        ));
        report.columns.push(native_column(request));
    }
    if request.runs("hvm") || request.runs("pvh") {
        banner(&format!(
            "Xen: virtus-native.elf32 as HVM guest and virtus-pv as PVH guest, in turn, \
             {bench_cmdline}, {r} runs each"
        ));
        let (columns, bed) = xen_columns(request, &mut report.notes);
        report.columns.extend(columns);
        note_xen_version(&mut report, bed.as_ref());
    }
    if request.runs("smp") {
        for cpus in CPUS {
            banner(&format!(
                "SMP: the three columns with {cpus} CPUs, bench=smp_, {r} runs each"
            ));
            let set = smp_columns(&request.smp(cpus), &mut report);
            report.smp.push(set);
        }
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

    if request.runs("live") {
        banner(&format!(
            "live: xl save/restore, save -c, migrate, mem-set of virtus-pv, {r} runs"
        ));
        let bed = live(request, &mut report);
        note_xen_version(&mut report, bed.as_ref());
    }

    report.elapsed_secs = start.elapsed().as_secs_f64();
    report::write(&report, &request.out_dir)?;
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
    for line in report::block_tables::goal_lines(&report) {
        say(&line);
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

/// The three columns of the `smp` part's `request` (one CPU count), their
/// Xen notes tagged with it.
fn smp_columns(request: &BenchRequest, report: &mut BenchReport) -> SmpColumns {
    let mut columns = vec![native_column(request)];
    let mut notes = Vec::new();
    let (xen, bed) = xen_columns(request, &mut notes);
    columns.extend(xen);
    let tag = |n: String| format!("SMP, {} CPUs: {n}", request.cpus);
    report.notes.extend(notes.into_iter().map(tag));
    note_xen_version(report, bed.as_ref());
    SmpColumns {
        cpus: request.cpus,
        columns,
    }
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

/// The Xen options of a bench run: its bed, the workspace, the verbosity.
pub fn options(request: &BenchRequest, bed: Option<&Path>, sequential: bool) -> XenOptions {
    XenOptions {
        workspace: crate::workspace().to_path_buf(),
        bed: bed.map(Path::to_path_buf),
        dom0: Vec::new(),
        verbosity: request.verbosity,
        sequential,
    }
}

/// A guest's report in a run, by name.
pub fn find<'a>(run: &'a TimedRun, guest: &str) -> Option<&'a GuestReport> {
    run.report.guests.iter().find(|g| g.name == guest)
}
