//! `virtus-run soak-lifecycle`: N create/shutdown cycles of a Virtus PVH
//! domU on one boot of the Xen bed. dom0's `soak-lifecycle.sh` runs the
//! loop: `xl create -F`, wait for the kernel shell's prompt in
//! xenconsoled's log, `xl shutdown -w` (the guest must say it was asked to
//! power off and end with reason poweroff), then until a deadline: `xl
//! list` shows only Domain-0, `xenstore-ls -f`'s paths are the baseline's
//! (taken before the first cycle) and `xl info`'s free_memory is back to
//! the baseline's. The runner judges the lines again and prints the
//! figures; a leak fails the run, naming the path.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::soak_figures::{SoakLine, Spread, shell_word, soak_lines};
use crate::cli::options::{BED, PV_IMAGE, built};
use crate::console::say;
use crate::xen::lifecycle::{KERNEL_SHELL, SHELL_READY};
use crate::xen::pv_args::PvRequest;
use crate::xen::script::Script;
use crate::xen::{GuestSpec, RunPlan, Verbosity, XenOptions, run_planned};

/// The figure: the full form.
pub const FULL_CYCLES: u32 = 200;

#[derive(Args, Clone, Debug)]
pub struct SoakLifecycleArgs {
    /// Create/shutdown cycles, all on one boot of the bed (the full form: 200)
    #[arg(long, value_name = "N", default_value_t = FULL_CYCLES,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub cycles: u32,
    /// The PVH guest's image
    #[arg(long, value_name = "PATH", default_value_os_t = built(PV_IMAGE))]
    pub pv_image: PathBuf,
    #[arg(long, value_name = "DIR", help = BED)]
    pub bed: Option<PathBuf>,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

/// The template's name; cycle N's domain is `soak-lc-N`.
const TEMPLATE: &str = "soak-lc";
const TAG: &str = "soak-lc";
const LIBRARY: &str = include_str!("../../xen/soak-lifecycle.sh");
const LIBRARY_PATH: &str = "/virtus-run/soak-lifecycle.sh";
/// The most one cycle may take in dom0: boot 90 s, shutdown and watcher 30
/// s each, settling 20 s (the script's own deadlines), with a margin. Only
/// the run's hard deadline (and dom0's watchdog) is made of it.
const CYCLE_BUDGET: Duration = Duration::from_secs(180);

pub fn run(args: &SoakLifecycleArgs) -> Result<bool, String> {
    super::require(&args.pv_image, "PVH", "--pv-image")?;
    let (spec, plan) = plan(&args.pv_image, args.cycles)?;
    let options = XenOptions::new(args.bed.clone(), args.verbosity);
    let form = if args.cycles >= FULL_CYCLES {
        "full form"
    } else {
        "short form"
    };
    say(&format!(
        "virtus-run: soak-lifecycle ({form}): {} create/shutdown cycles of virtus-pv on one boot of Xen",
        args.cycles
    ));
    let run = run_planned(&[spec], &plan, &options);
    if let Some(error) = &run.report.setup_error {
        return Err(error.clone());
    }
    let judged = judge(&soak_lines(TAG, &run.events), args.cycles);
    let mut problems = run.report.run_problems();
    problems.extend(judged.problems.iter().cloned());
    say("");
    for line in &judged.figures {
        say(&format!("soak-lifecycle: {line}"));
    }
    for problem in &problems {
        say(&format!("soak-lifecycle: FAIL: {problem}"));
    }
    if !problems.is_empty() {
        super::xen::print_hidden_tail(&run.report);
    }
    let verdict = if problems.is_empty() { "PASS" } else { "FAIL" };
    say(&format!(
        "soak-lifecycle ({form}): {verdict}: {} of {} cycles clean, {} leaks",
        judged.clean, args.cycles, judged.leaks
    ));
    Ok(problems.is_empty())
}

/// The template guest (never started under its own name) and dom0's
/// script: the whole loop is one call.
fn plan(image: &std::path::Path, cycles: u32) -> Result<(GuestSpec, RunPlan), String> {
    let mut spec = GuestSpec::pvh(TEMPLATE, image)?;
    spec.memory_mb = PvRequest::DEFAULT_MEMORY_MB;
    spec.extra = format!(
        "loglevel=info xen.memory_mb={} {KERNEL_SHELL}",
        spec.memory_mb
    );
    spec.timeout = CYCLE_BUDGET * cycles;
    let text = format!(
        "# Written by virtus-run; sourced by dom0's init.\n. {LIBRARY_PATH}\nsoak_lc {TEMPLATE} {cycles} {}\n",
        shell_word(SHELL_READY)?
    );
    let script = Script {
        text,
        dom0_order: Vec::new(),
    };
    let files = vec![(LIBRARY_PATH.to_string(), LIBRARY.as_bytes().to_vec())];
    Ok((
        spec,
        RunPlan {
            script: Some(script),
            files,
        },
    ))
}

/// The soak judged from dom0's lines: the figures to print, what went
/// wrong, the cycles that were clean and the leaks named.
#[derive(Debug, Default, PartialEq)]
pub struct Judged {
    pub figures: Vec<String>,
    pub problems: Vec<String>,
    pub clean: usize,
    pub leaks: usize,
}

pub fn judge(lines: &[SoakLine], cycles: u32) -> Judged {
    let mut judged = Judged::default();
    let baseline = lines.iter().find(|l| l.verb == "baseline");
    let free_base = baseline.and_then(|l| l.number("free_mb"));
    let Some(free_base) = free_base else {
        judged
            .problems
            .push("dom0 never reported its baseline (xl list, xenstore, free memory)".into());
        failures(lines, &mut judged);
        return judged;
    };
    let cycle_lines: Vec<&SoakLine> = lines.iter().filter(|l| l.verb == "cycle").collect();
    let mut domids = std::collections::BTreeSet::new();
    let mut series: [Vec<f64>; 4] = Default::default();
    let mut free = Vec::new();
    for (i, line) in cycle_lines.iter().enumerate() {
        let want = i as u64 + 1;
        let keys = ["boot_ms", "shutdown_ms", "settle_ms", "total_ms"];
        let values: Vec<Option<u64>> = keys.iter().map(|k| line.number(k)).collect();
        let (Some(n), Some(domid), Some(f)) = (
            line.number("n"),
            line.number("domid"),
            line.number("free_mb"),
        ) else {
            judged
                .problems
                .push(format!("cycle {want}: a report without its figures"));
            continue;
        };
        if n != want || values.iter().any(Option::is_none) {
            judged.problems.push(format!(
                "cycle {want}: reported as {n}, or without its times"
            ));
            continue;
        }
        // Xen never reuses a domain id within a boot: the same id twice
        // would mean a cycle was not a new domain.
        if !domids.insert(domid) {
            judged
                .problems
                .push(format!("cycle {n}: domain id {domid} again"));
        }
        if f < free_base {
            judged.problems.push(format!(
                "cycle {n}: free memory {f} MB, below the baseline's {free_base} MB"
            ));
        }
        for (s, v) in series.iter_mut().zip(values) {
            s.push(v.unwrap_or(0) as f64 / 1000.0);
        }
        free.push(f);
        judged.clean += 1;
    }
    failures(lines, &mut judged);
    let done = lines.iter().find(|l| l.verb == "done");
    if judged.clean != cycles as usize
        || done.and_then(|l| l.number("cycles")) != Some(cycles.into())
    {
        judged.problems.push(format!(
            "{} of {cycles} cycles reported clean{}",
            judged.clean,
            if done.is_some() {
                ""
            } else {
                ", and dom0 never said it was done"
            }
        ));
    }
    let names = [
        "xl create -> shell prompt",
        "xl shutdown -w -> domain gone",
        "gone -> nothing left (xl, xenstore, memory)",
        "whole cycle",
    ];
    for (name, values) in names.iter().zip(&series) {
        if let Some(spread) = Spread::of(values) {
            judged
                .figures
                .push(format!("{name}: {}", spread.show("s", 2)));
        }
    }
    let paths = baseline.and_then(|l| l.field("paths")).unwrap_or("?");
    let (lo, hi) = (free.iter().min(), free.iter().max());
    if let (Some(lo), Some(hi)) = (lo, hi) {
        judged.figures.push(format!(
            "dom0 after each cycle: xl list only Domain-0, xenstore's {paths} baseline paths and none added, \
             free_memory {lo}..{hi} MB (baseline {free_base} MB)"
        ));
    }
    if let Some(line) = lines.iter().find(|l| l.verb == "containers") {
        judged.figures.push(format!(
            "empty containers the first domain left, as libxl keeps them (nothing below them): {}",
            if line.text.is_empty() {
                "none"
            } else {
                &line.text
            }
        ));
    }
    judged
}

/// The failures and leaks dom0 reported, into `judged`'s problems.
fn failures(lines: &[SoakLine], judged: &mut Judged) {
    for line in lines {
        let n = line.field("n").unwrap_or("?");
        match line.verb.as_str() {
            "leak" => {
                judged.leaks += 1;
                let kind = line.field("kind").unwrap_or("?");
                judged
                    .problems
                    .push(format!("cycle {n}: leak ({kind}): {}", line.text));
            }
            "failed" => {
                let what = line.field("what").unwrap_or("?");
                judged
                    .problems
                    .push(format!("cycle {n} failed ({what}): {}", line.text));
            }
            "output" => judged.problems.push(format!("  cycle {n}: {}", line.text)),
            _ => {}
        }
    }
}

#[cfg(test)]
#[path = "soak_lifecycle_tests.rs"]
mod tests;
