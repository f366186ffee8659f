//! The three columns of benchmarks: virtus-native in QEMU, then, under
//! one Xen, the same image as an HVM guest and virtus-pv as a PVH guest,
//! each booted `repeat` times with `bench=all` (or `--benches`' filter).
//!
//! Every column has the test disk of [`crate::disk`] for the block
//! benchmarks: natively QEMU's AHCI disk, one fresh image per boot; under
//! Xen one image per guest kind, shared by that kind's runs (they run one
//! after another), which dom0 serves (HVM: the device model's AHCI; PVH:
//! blkback). After the runs the runner checks that the pattern half of
//! each image is unchanged: the benchmarks write only the second half.

use std::time::Duration;

use super::{find, options};
use crate::bench::args::BenchRequest;
use crate::bench::model::{Column, ColumnRun};
use crate::bench::parse::{self, BenchOutput};
use crate::console::LiveConsole;
use crate::disk::{self, DiskPlan, ImageFile};
use crate::exit::Termination;
use crate::matrix;
use crate::qemu;
use crate::symbols;
use crate::xen::bed::Bed;
use crate::xen::disk_serve::{self, ServedDisk};
use crate::xen::guest::GuestKind;
use crate::xen::report::GuestEnd;
use crate::xen::{GuestImage, GuestSpec, RunPlan, TimedRun, Verbosity, XenOptions, run_planned};

/// A bench=all guest takes under a minute here even under HVM, where the
/// trapped UART costs milliseconds a byte (the console line is 32 bytes, no
/// longer 4 KiB): four times that, so that a hang costs minutes, not seven.
const BENCH_TIMEOUT: Duration = Duration::from_secs(240);
const NATIVE_TIMEOUT: Duration = Duration::from_secs(300);
const HVM_MEMORY_MB: u32 = 64;
const PVH_MEMORY_MB: u32 = 32;

/// The native image after a bench run: its pattern half as made (the
/// runner's own check), and the rest too, since the write benchmark writes
/// back what it read: a sector that changed is a wrong read or a stray write.
fn unchanged(image: &ImageFile) -> Result<(), String> {
    image.check(false)?;
    let now = std::fs::read(&image.path).map_err(|e| format!("{}: {e}", image.path.display()))?;
    let made = image.plan.image();
    match now
        .chunks(disk::SECTOR)
        .zip(made.chunks(disk::SECTOR))
        .position(|(a, b)| a != b)
    {
        None => Ok(()),
        Some(lba) => Err(format!(
            "sector {lba} changed, though the benchmarks write back what they read"
        )),
    }
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
    let mut config = matrix::configurations(true)
        .swap_remove(0)
        .with_cpus(request.cpus);
    config.ramdisk = Some(request.ramdisk.clone().or_default());
    let console = LiveConsole::new(label, quiet)
        .with_symbols(symbols::for_image(&request.images.native_image));
    let mut lines = Vec::new();
    let mut run = ColumnRun::default();
    let mut cmdline = request.bench_cmdline();
    let image = match ImageFile::create(DiskPlan::new(disk::native_name(&config.machine))) {
        Ok(image) => {
            config.disk = Some(image.path.clone());
            cmdline = format!("{cmdline} {}", image.plan.kernel_args());
            Some(image)
        }
        Err(e) => {
            run.problems
                .push(format!("cannot write the test disk image: {e}"));
            None
        }
    };
    let boot = qemu::boot(
        &config,
        &request.images.native_image,
        &cmdline,
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
            if let Some(Err(e)) = image.as_ref().map(unchanged) {
                run.problems.push(format!("disk: {e}"));
            }
        }
        Err(error) => run.problems.push(error.to_string()),
    }
    completeness(&mut run);
    run
}

pub fn native_column(request: &BenchRequest) -> Column {
    let config = matrix::configurations(true)
        .swap_remove(0)
        .with_cpus(request.cpus);
    Column {
        name: "native".into(),
        setup: format!(
            "virtus-native in QEMU {config} (TCG), `{}`, the test disk on the ICH9 AHCI \
             controller (a fresh image each boot), one boot per run",
            request.bench_cmdline()
        ),
        runs: (1..=request.repeat)
            .map(|i| native_run(request, &format!("bench {config} run {i}")))
            .collect(),
    }
}

fn bench_guest(name: &str, hvm: bool, request: &BenchRequest) -> Result<GuestSpec, String> {
    let mut spec = if hvm {
        GuestSpec::hvm(name, &request.images.hvm_image)?
    } else {
        GuestSpec::pvh(name, &request.images.pv_image)?
    };
    if let GuestImage::File { ramdisk, .. } = &mut spec.image {
        *ramdisk = Some(request.ramdisk.clone().or_default());
    }
    spec.memory_mb = if hvm { HVM_MEMORY_MB } else { PVH_MEMORY_MB };
    spec.vcpus = request.cpus;
    spec.extra = request_extra(request, hvm);
    spec.timeout = BENCH_TIMEOUT;
    Ok(spec)
}

/// A bench guest's kernel command line, before its disk's arguments.
fn request_extra(request: &BenchRequest, hvm: bool) -> String {
    let cmdline = request.bench_cmdline();
    if hvm {
        cmdline
    } else {
        format!("{cmdline} xen.memory_mb={PVH_MEMORY_MB}")
    }
}

/// One test disk per guest kind, served by dom0 to every run of that kind
/// in turn: the first spec of a kind gets it from [`disk_serve::serve`],
/// the later ones its xl line and kernel arguments. One image per kind,
/// not per run, keeps dom0's initramfs (which holds them) small.
fn serve_disks(
    specs: &mut [GuestSpec],
    xen: &mut XenOptions,
    plan: &mut RunPlan,
) -> Vec<ServedDisk> {
    let mut served: Vec<(GuestKind, ServedDisk, String)> = Vec::new();
    for spec in specs.iter_mut() {
        match served.iter().find(|(kind, ..)| *kind == spec.kind) {
            Some((_, disk, line)) => {
                spec.disks.push(line.clone());
                spec.extra = format!("{} {}", spec.extra, disk.plan.kernel_args());
            }
            None => {
                let disk = disk_serve::serve(spec, xen, plan);
                let line = spec.disks.last().cloned().unwrap_or_default();
                served.push((spec.kind, disk, line));
            }
        }
    }
    served.into_iter().map(|(_, disk, _)| disk).collect()
}

/// What dom0's check of the served images found wrong: the benchmarks must
/// leave the pattern half as the runner made it.
fn disk_problems(disks: &[ServedDisk], run: &TimedRun) -> Vec<String> {
    let problem = |d: &ServedDisk| {
        let p = disk_serve::problem(d, &run.report, false)?;
        Some(format!(
            "the image {} (first served to {}): {p}",
            d.path, d.guest
        ))
    };
    disks.iter().filter_map(problem).collect()
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
pub fn xen_columns(request: &BenchRequest, notes: &mut Vec<String>) -> (Vec<Column>, Option<Bed>) {
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
        &request.beds.hvm_bed
    } else {
        &request.beds.bed
    };
    let mut xen = options(request, bed.as_deref(), true);
    let mut plan = RunPlan::default();
    let disks = serve_disks(&mut specs, &mut xen, &mut plan);
    let run = run_planned(&specs, &plan, &xen);
    let problems = run.report.run_problems();
    notes.extend(problems.iter().map(|p| format!("Xen bench run: {p}")));
    notes.extend(disk_problems(&disks, &run));
    let vcpus = match request.cpus {
        1 => String::new(),
        n => format!(", `vcpus = {n}`"),
    };
    let setup = |hvm: bool, where_: &str| {
        let spec = specs.iter().find(|s| s.name == name(hvm, 1));
        let extra = spec.map_or("", |s| s.extra.as_str());
        if hvm {
            format!(
                "virtus-native.elf32 as a Xen HVM domU ({HVM_MEMORY_MB} MiB{vcpus}, device model \
                 in dom0), `extra=\"{extra}\"`, one domain per run"
            )
        } else {
            format!(
                "virtus-pv as a Xen PVH domU ({PVH_MEMORY_MB} MiB{vcpus}), `extra=\"{extra}\"`, one \
                 domain per run, {where_}"
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
        let mut pvh: Vec<GuestSpec> = specs
            .iter()
            .filter(|s| s.name.contains("-pvh-"))
            .cloned()
            .collect();
        let mut xen = options(request, request.beds.bed.as_deref(), true);
        let mut plan = RunPlan::default();
        // Fresh disks for this Xen boot (the specs carried the old ones).
        for spec in &mut pvh {
            spec.disks.clear();
            spec.extra = request_extra(request, false);
        }
        let disks = serve_disks(&mut pvh, &mut xen, &mut plan);
        let alone = run_planned(&pvh, &plan, &xen);
        notes.extend(disk_problems(&disks, &alone));
        if let Some(c) = columns.iter_mut().find(|c| c.name == "xen-pvh") {
            *c = column(false, &alone, "in a Xen boot of their own on the PVH bed");
        }
    }
    (columns, run.bed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xen::Verbosity;

    #[test]
    fn one_disk_per_guest_kind_shared_by_its_runs() {
        let mut specs = vec![
            GuestSpec::hvm("bench-hvm-1", "/k32").unwrap(),
            GuestSpec::pvh("bench-pvh-1", "/kpv").unwrap(),
            GuestSpec::hvm("bench-hvm-2", "/k32").unwrap(),
            GuestSpec::pvh("bench-pvh-2", "/kpv").unwrap(),
        ];
        for spec in &mut specs {
            spec.extra = "bench=all".into();
        }
        let mut xen = XenOptions::new(None, Verbosity::Quiet);
        let mut plan = RunPlan::default();
        let disks = serve_disks(&mut specs, &mut xen, &mut plan);
        let guests: Vec<&str> = disks.iter().map(|d| d.guest.as_str()).collect();
        assert_eq!(guests, ["bench-hvm-1", "bench-pvh-1"]);
        assert_eq!(plan.files.len(), 2, "one image per kind in dom0");
        assert_eq!(xen.dom0.len(), 2, "and one check of each");
        for (i, spec) in specs.iter().enumerate() {
            let disk = &disks[i % 2];
            assert_eq!(spec.disks.len(), 1, "{}", spec.name);
            assert!(spec.disks[0].ends_with(&format!("target={}", disk.path)));
            assert_eq!(spec.extra, format!("bench=all {}", disk.plan.kernel_args()));
        }
        assert!(specs[0].extra.contains("block.disk=sda "));
        assert!(specs[1].extra.contains("block.disk=xvda "));
    }

    #[test]
    fn a_native_image_must_come_back_as_it_was_made() {
        let image = ImageFile::create(DiskPlan::new(Some("sda"))).unwrap();
        assert_eq!(unchanged(&image), Ok(()));
        // A sector of the second half, where the benchmarks write, changed.
        let mut bytes = std::fs::read(&image.path).unwrap();
        let lba = image.plan.sectors / 2 + 5;
        bytes[lba as usize * disk::SECTOR] ^= 1;
        std::fs::write(&image.path, &bytes).unwrap();
        let error = unchanged(&image).unwrap_err();
        assert!(
            error.starts_with(&format!("sector {lba} changed")),
            "{error}"
        );
    }
}
