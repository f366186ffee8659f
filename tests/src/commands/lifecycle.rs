//! `virtus-run lifecycle`: a running Virtus driven from outside, in each
//! column: natively the power button, under Xen PVH the toolstack's
//! requests (one bed boot, every scenario's guest at once), under Xen HVM
//! the power button again (one boot of the HVM bed). A table per column,
//! the time each request took, and under each scenario that failed the
//! step it stopped at and its console's tail. `--scenario` narrows every
//! column to the scenarios named.

use std::path::Path;

use super::assessed::{Assessed, print_assessed, say_tally};
use super::print_indented;
use super::require;
use super::xen::print_hidden_tail;
use crate::cli::lifecycle::LifecycleArgs;
use crate::console::{LiveConsole, say};
use crate::lifecycle_native;
use crate::process::Stream;
use crate::qemu::{self, MachineConfig};
use crate::xen::disk_serve::{self, ServedDisk};
use crate::xen::lifecycle::{self, KERNEL_SHELL, Scenario};
use crate::xen::lifecycle_figures::{self, Figure};
use crate::xen::lifecycle_judge::{expected, judge, step_reports, timing_lines};
use crate::xen::pv_args::PvRequest;
use crate::xen::{GuestImage, GuestSpec, RunPlan, Verbosity, XenOptions, run_planned};

/// Console lines shown under a scenario that failed.
const CONSOLE_TAIL: usize = 12;

/// The native machines: the reference chipset (ICH9's power management)
/// and the legacy one (PIIX4's).
fn machines() -> [MachineConfig; 2] {
    [
        MachineConfig::new("q35", "max", "128M"),
        MachineConfig::new("pc", "max", "128M"),
    ]
}

/// `Ok(true)` if every scenario of every column asked for passed; `Err`
/// if a column could not run at all (no image, no bed, no QEMU).
pub fn run(args: &LifecycleArgs) -> Result<bool, String> {
    let (native, pvh, hvm) = args.columns();
    let pvh_scenarios = args.chosen(&Scenario::PVH);
    let hvm_scenarios = args.chosen(&Scenario::HVM);
    let native = native && args.runs_native();
    let pvh = pvh && !pvh_scenarios.is_empty();
    let hvm = hvm && !hvm_scenarios.is_empty();
    if !(native || pvh || hvm) {
        return Err(format!(
            "no scenario named {:?} in the columns asked for",
            args.scenario
        ));
    }
    let images = &args.images;
    if native {
        require(&images.native_image, "kernel", "--native-image")?;
    }
    if pvh {
        require(&images.pv_image, "PVH", "--pv-image")?;
    }
    if hvm {
        require(&images.hvm_image, "HVM", "--hvm-image")?;
    }
    // Every column boots to the shell, which runs from the ramdisk.
    let ramdisk = args.ramdisk.resolve()?;
    qemu::check_available().map_err(|error| error.to_string())?;
    let mut cases = Vec::new();
    if native {
        cases.extend(native_column(args, &ramdisk));
    }
    if pvh {
        let base = pvh_base(&images.pv_image, &ramdisk)?;
        cases.extend(xen_column("pvh", &pvh_scenarios, &base, args, false)?);
    }
    if hvm {
        let mut base = GuestSpec::hvm("virtus", &images.hvm_image)?;
        base.image = GuestImage::File {
            kernel: images.hvm_image.clone(),
            ramdisk: Some(ramdisk.clone()),
        };
        base.memory_mb = PvRequest::HVM_MEMORY_MB;
        base.extra = format!("loglevel=info {KERNEL_SHELL}");
        cases.extend(xen_column("hvm", &hvm_scenarios, &base, args, true)?);
    }
    let behaved = cases.iter().filter(|c| c.assessment.behaved()).count();
    say("");
    Ok(say_tally("lifecycle", behaved, cases.len()))
}

/// The power button on each native machine, one boot each.
fn native_column(args: &LifecycleArgs, ramdisk: &Path) -> Vec<Assessed> {
    let quiet = args.verbosity == Verbosity::Quiet;
    let mut cases = Vec::new();
    let mut timings = Vec::new();
    for config in machines().map(|config| config.with_ramdisk(ramdisk)) {
        let label = format!("native {config}");
        let console = LiveConsole::new(label.clone(), quiet);
        let image = &args.images.native_image;
        let run = lifecycle_native::run(&config, image, |line| console.show(Stream::Stdout, line));
        let (assessment, took) = match &run {
            Ok(run) => lifecycle_native::judge(run),
            Err(error) => (
                crate::checks::Assessment {
                    observed: "not run".into(),
                    problems: vec![error.to_string()],
                },
                None,
            ),
        };
        if let Some(took) = took {
            // Often under the poll's period: say so rather than print 0.00s.
            let took = took.as_millis();
            timings.push(format!(
                "{label}: system_powerdown -> QEMU exited: {took} ms (its exit is polled every 20 ms)"
            ));
        }
        let console = run.map(|run| run.console).unwrap_or_default();
        cases.push(Assessed {
            name: format!("{label} power button"),
            expected: "powered off (status 33)".into(),
            assessment,
            console_tail: tail(&console),
        });
    }
    say("");
    print_assessed("native scenario", &cases);
    timings.iter().for_each(|line| say(line));
    cases
}

/// Every scenario of a Xen column on one boot of its bed.
fn xen_column(
    column: &str,
    scenarios: &[Scenario],
    base: &GuestSpec,
    args: &LifecycleArgs,
    hvm: bool,
) -> Result<Vec<Assessed>, String> {
    let bed = if hvm {
        &args.beds.hvm_bed
    } else {
        &args.beds.bed
    };
    let mut options = XenOptions::new(bed.clone(), args.verbosity);
    let (specs, plan, disks) = planned(scenarios, base, &mut options)?;
    say(&format!(
        "virtus-run: lifecycle {column}: {} guests in turn on one boot of Xen",
        specs.len()
    ));
    let run = run_planned(&specs, &plan, &options);
    if let Some(error) = &run.report.setup_error {
        return Err(error.clone());
    }
    let reports = step_reports(&run.events);
    let mut cases = Vec::new();
    let mut timings = Vec::new();
    let mut figures: Vec<(&str, Vec<Figure>)> = Vec::new();
    for scenario in scenarios {
        let guest = run.report.guests.iter().find(|g| g.name == scenario.name());
        let Some(guest) = guest else { continue };
        let found = lifecycle_figures::figures(*scenario, &reports, &guest.console);
        if !found.is_empty() {
            figures.push((scenario.name(), found));
        }
        let mut judged = judge(*scenario, &reports, guest);
        // The disk's own check at the end of the run: the first half, which
        // nothing writes, is untouched.
        if let Some((disk, unfit)) = disks.iter().find(|(d, _)| d.guest == scenario.name()) {
            let problems = &mut judged.assessment.problems;
            problems.extend(unfit.iter().map(|e| format!("disk: {e}")));
            problems.extend(disk_serve::problem(disk, &run.report, false));
        }
        for line in timing_lines(&judged) {
            timings.push(format!("{column} {}: {line}", scenario.name()));
        }
        cases.push(Assessed {
            name: format!("{column} {}", scenario.name()),
            expected: expected(*scenario),
            assessment: judged.assessment,
            console_tail: tail(&guest.console),
        });
    }
    say("");
    print_assessed("Xen scenario", &cases);
    timings.iter().for_each(|line| say(line));
    if !figures.is_empty() {
        say("");
        say(&format!(
            "{column}: live operations (dom0's clock; the guest's own lines)"
        ));
        lifecycle_figures::table(&figures)
            .iter()
            .for_each(|line| say(line));
    }
    let problems = run.report.run_problems();
    if !problems.is_empty() {
        say(&format!("{column}: the run itself failed:"));
        print_indented(&problems);
        print_hidden_tail(&run.report);
        // The run's failure fails the column even if each scenario got
        // what it waited for.
        cases.push(Assessed {
            name: format!("{column} run"),
            expected: "dom0 done".into(),
            assessment: crate::checks::Assessment {
                observed: "failed".into(),
                problems,
            },
            console_tail: run.report.hidden_tail.clone(),
        });
    }
    Ok(cases)
}

/// A Xen column's guests, each with its disk if it needs one (and a
/// reason the scenario cannot prove anything with it, found before the
/// run and reported with the scenario), and the run's plan: one chain per
/// scenario, in turn. Also `virtus-run bench`'s live part.
pub type Disks = Vec<(ServedDisk, Option<String>)>;

pub fn planned(
    scenarios: &[Scenario],
    base: &GuestSpec,
    options: &mut XenOptions,
) -> Result<(Vec<GuestSpec>, RunPlan, Disks), String> {
    let mut plan = RunPlan::default();
    let mut specs = Vec::new();
    let mut disks = Vec::new();
    for scenario in scenarios {
        let mut spec = lifecycle::guest(*scenario, base)?;
        if scenario.needs_disk() {
            let disk = disk_serve::serve(&mut spec, options, &mut plan);
            let unfit = lifecycle::fill_is_visible(&disk.plan).err();
            disks.push((disk, unfit));
        }
        specs.push(spec);
    }
    let script = lifecycle::plan(scenarios, &options.dom0)?;
    plan.script = script.script;
    plan.files.extend(script.files);
    Ok((specs, plan, disks))
}

/// The PVH column's base guest: virtus-pv at its default memory, with the
/// ramdisk of user programs.
pub fn pvh_base(image: &Path, ramdisk: &Path) -> Result<GuestSpec, String> {
    let mut base = GuestSpec::pvh("virtus", image)?;
    base.image = GuestImage::File {
        kernel: image.to_path_buf(),
        ramdisk: Some(ramdisk.to_path_buf()),
    };
    base.memory_mb = PvRequest::DEFAULT_MEMORY_MB;
    base.extra = format!(
        "loglevel=info xen.memory_mb={} {KERNEL_SHELL}",
        base.memory_mb
    );
    Ok(base)
}

fn tail(console: &[String]) -> Vec<String> {
    console[console.len().saturating_sub(CONSOLE_TAIL)..].to_vec()
}
