//! One Xen run, the only boot loop of Xen in the runner: the checks, the
//! bed, dom0's initramfs, QEMU under a hard deadline, and every console
//! event kept with the host time it arrived and folded into a
//! [`XenReport`]. Every command that boots Xen comes through here.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::bed::{self, Bed};
use super::guest::{GuestImage, GuestSpec};
use super::hvm::Flavour;
use super::initramfs;
use super::live::{self, Verbosity};
use super::machine::{machine_memory_mb, qemu_arguments};
use super::protocol::{ConsoleParser, Event, Stamped};
use super::recorder::Recorder;
use super::report::XenReport;
use super::script::{self, Dom0Command, Script};
use crate::console::say;
use crate::process::{self, Stream};
use crate::qemu;

/// Booting Xen and dom0 and tearing down, on top of the guests' own
/// budgets: about 20 s under TCG, with a wide margin.
const RUN_OVERHEAD: Duration = Duration::from_secs(120);

/// dom0's watchdog fires this long after the guests' budgets, before the
/// runner's own deadline, so that a hang in dom0 still ends in a report.
const WATCHDOG_OVERHEAD: Duration = Duration::from_secs(60);

/// dom0's stall sentinel reboots it after this long without a line from
/// its script or a relay: over three times the longest step's own timeout
/// (a guest's boot, 90 s), so only dom0 or the bed itself can be at fault.
/// Under `make test` the HVM lifecycle column twice went silent that way
/// (the script's next step never printed, while dom0's watchdog still
/// fired on time twenty minutes later); see [`run_planned`].
pub const STALL: Duration = Duration::from_secs(300);

/// How a run is set up, beyond its guests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XenOptions {
    /// The workspace root, where `tests/xen/testbed.py` lives.
    pub workspace: PathBuf,
    /// A bed already prepared; otherwise `testbed.py prepare` is run.
    pub bed: Option<PathBuf>,
    pub dom0: Vec<Dom0Command>,
    pub verbosity: Verbosity,
    /// Run the guests one after another instead of all at once. Several
    /// Linux domUs at once under this nested, emulated SVM have corrupted
    /// each other's and dom0's memory (seen as ld.so assertions in dom0),
    /// so the checks that need trustworthy verdicts run them in turn.
    pub sequential: bool,
}

impl XenOptions {
    /// The guests all at once and no dom0 commands; the bed in `bed`, or
    /// prepared from this workspace.
    pub fn new(bed: Option<PathBuf>, verbosity: Verbosity) -> Self {
        Self {
            workspace: crate::workspace().to_path_buf(),
            bed,
            dom0: Vec::new(),
            verbosity,
            sequential: false,
        }
    }
}

/// What a run does beyond starting its guests: a script of its own instead
/// of the one [`script::script`] writes, and more files in dom0.
#[derive(Clone, Debug, Default)]
pub struct RunPlan {
    pub script: Option<Script>,
    /// (path in dom0, contents).
    pub files: Vec<(String, Vec<u8>)>,
}

/// A run's report, and every event with the host time it arrived at.
#[derive(Clone, Debug)]
pub struct TimedRun {
    pub report: XenReport,
    /// In order, with the lines of guests the report does not know (the
    /// ones a script makes up as it goes, such as the memory floor's
    /// probes).
    pub events: Vec<Stamped>,
    /// The bed the run used (for its files' sizes).
    pub bed: Option<Bed>,
}

impl TimedRun {
    fn failed(specs: &[GuestSpec], error: String, bed: Option<Bed>) -> Self {
        Self {
            report: XenReport::setup_failed(specs, error),
            events: Vec::new(),
            bed,
        }
    }

    /// `guest`'s console lines, in order.
    pub fn console(&self, guest: &str) -> Vec<&str> {
        let lines = self
            .events
            .iter()
            .filter_map(|stamped| match &stamped.event {
                Event::GuestLine { guest: g, text } if g == guest => Some(text.as_str()),
                _ => None,
            });
        lines.collect()
    }
}

/// Boots Xen under QEMU, runs `specs` as dom0's guests, and reports how
/// each ended. Never fails: a run that could not happen is a report with a
/// `setup_error`, every guest marked as never started.
pub fn run_guests(specs: &[GuestSpec], options: &XenOptions) -> XenReport {
    run_timed(specs, options).report
}

/// [`run_guests`], keeping every event and the bed.
pub fn run_timed(specs: &[GuestSpec], options: &XenOptions) -> TimedRun {
    run_planned(specs, &RunPlan::default(), options)
}

/// [`run_timed`], with `plan`'s script and files.
///
/// A run whose dom0 stalled ([`STALL`]) is run once more from the start,
/// in a fresh machine: the stall is the bed's fault, not a verdict on a
/// guest, since every step of a script has its own timeout. The stall is
/// said, with what dom0's processes were doing, and kept in the second
/// run's notes; a second stall fails the run.
pub fn run_planned(specs: &[GuestSpec], plan: &RunPlan, options: &XenOptions) -> TimedRun {
    let (bed, script) = match prepare(specs, plan, options) {
        Ok(prepared) => prepared,
        Err(error) => return TimedRun::failed(specs, error, None),
    };
    let first = boot(specs, plan, options, bed.clone(), &script);
    let Some(secs) = say_stall(&first.report) else {
        return first;
    };
    say("[xen] running the whole run once more, in a fresh machine");
    let mut second = boot(specs, plan, options, bed, &script);
    say_stall(&second.report);
    second.report.notes.push(format!(
        "a first attempt stalled ({secs} s without a line from dom0's script) and was run again"
    ));
    second
}

/// Says what dom0 was doing when its script stalled, whatever the
/// verbosity; the stall's length, if it stalled.
fn say_stall(report: &XenReport) -> Option<u32> {
    let secs = report.stalled?;
    say(&format!(
        "[xen] dom0's script stalled ({secs} s without a line); what dom0 was doing:"
    ));
    for line in &report.stall_info {
        say(&format!("[xen:stall]   {line}"));
    }
    Some(secs)
}

/// Everything that can fail before QEMU starts, checked before anything
/// slow happens.
fn prepare(
    specs: &[GuestSpec],
    plan: &RunPlan,
    options: &XenOptions,
) -> Result<(Bed, Script), String> {
    let mut names = BTreeSet::new();
    for spec in specs {
        if !names.insert(spec.name.as_str()) {
            return Err(format!("two guests named `{}`", spec.name));
        }
        spec.xl_config()?;
        if let GuestImage::File { kernel, ramdisk } = &spec.image {
            for file in std::iter::once(kernel).chain(ramdisk) {
                if !file.is_file() {
                    return Err(format!("guest {}: {} not found", spec.name, file.display()));
                }
            }
        }
    }
    let script = match &plan.script {
        Some(script) => script.clone(),
        None => script::script(specs, &options.dom0, options.sequential)?,
    };
    qemu::check_available().map_err(|error| error.to_string())?;
    let bed = bed::open_or_prepare(
        options.bed.as_deref(),
        &options.workspace,
        Flavour::of(specs),
        |line| {
            if options.verbosity != Verbosity::Quiet {
                say(&format!("[testbed] {line}"));
            }
        },
    )?;
    Ok((bed, script))
}

fn boot(
    specs: &[GuestSpec],
    plan: &RunPlan,
    options: &XenOptions,
    bed: Bed,
    script: &Script,
) -> TimedRun {
    let budget: Duration = specs.iter().map(|spec| spec.timeout).sum();
    let initramfs = match initramfs::write(&bed, specs, &script.text, &plan.files) {
        Ok(file) => file,
        Err(error) => {
            let error = format!("cannot write dom0's initramfs: {error}");
            return TimedRun::failed(specs, error, Some(bed));
        }
    };
    let memory = machine_memory_mb(specs);
    let watchdog = budget + WATCHDOG_OVERHEAD;
    let args = match qemu_arguments(&bed, &initramfs.0, memory, watchdog, Some(STALL)) {
        Ok(args) => args,
        Err(error) => return TimedRun::failed(specs, error, Some(bed)),
    };
    let verbosity = options.verbosity;
    let symbols = live::GuestSymbols::of(specs);
    if verbosity != Verbosity::Quiet {
        say(&format!("[xen] $ {}", qemu::shell_command(&args)));
    }

    let mut recorder = Recorder::new(specs, &script.dom0_order);
    let mut parser = ConsoleParser::new();
    let mut events = Vec::new();
    let mut take = |stamped: Stamped| {
        if let Some(text) = live::render(&stamped.event, stamped.at, verbosity, &symbols) {
            say(&text);
        }
        recorder.record(&stamped);
        events.push(stamped);
    };
    let mut command = Command::new(qemu::QEMU);
    command.args(&args);
    let finished = process::run_with_timeout(command, budget + RUN_OVERHEAD, |stream, line, at| {
        match stream {
            Stream::Stdout => parser
                .feed(&format!("{line}\n"), at)
                .into_iter()
                .for_each(&mut take),
            Stream::Stderr => {
                // QEMU's complaints; under TCG mostly about CPUID bits it
                // cannot emulate, which are harmless.
                let harmless = line.contains("TCG doesn't support requested feature");
                if verbosity == Verbosity::Normal && !harmless {
                    say(&format!("[xen] qemu: {line}"));
                }
                let event = Event::Other(format!("qemu: {line}"));
                take(Stamped { at, event });
            }
        }
    });
    parser.finish().into_iter().for_each(&mut take);
    let report = match finished {
        Ok(finished) => recorder.finish(finished.termination, finished.elapsed),
        Err(error) => XenReport::setup_failed(specs, qemu::LaunchError::from(error).to_string()),
    };
    TimedRun {
        report,
        events,
        bed: Some(bed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_specs_fail_before_anything_runs() {
        let options = XenOptions {
            workspace: PathBuf::from("/nonexistent"),
            ..XenOptions::new(None, Verbosity::Quiet)
        };
        let missing = GuestSpec::pvh("a", "/nonexistent/kernel").unwrap();
        let report = run_guests(&[missing], &options);
        assert_eq!(
            report.setup_error.as_deref(),
            Some("guest a: /nonexistent/kernel not found")
        );
        let twice = run_guests(
            &[GuestSpec::linux_proof(), GuestSpec::linux_proof()],
            &options,
        );
        assert_eq!(
            twice.setup_error.as_deref(),
            Some("two guests named `linux-proof`")
        );
    }
}
