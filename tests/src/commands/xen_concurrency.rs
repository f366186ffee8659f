//! `virtus-run xen-concurrency`: Linux PVH domUs checking their own memory
//! next to Virtus as a PVH and an HVM domU, all at once on the bed
//! ([`crate::xen::concurrency`]), once or `--runs` times; a table per run
//! and the failure rate.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use super::print_indented;
use super::xen::{guest_table, print_hidden_tail};
use crate::cli::options::{BED, HVM_BED, HVM_IMAGE, PV_IMAGE, built, seconds};
use crate::console::say;
use crate::xen::concurrency::{self, Plan};
use crate::xen::guest_ktap::{judge_guest_ktap, transcript_of};
use crate::xen::hvm::Flavour;
use crate::xen::machine::{cpu_model, xen_cmdline};
use crate::xen::report::XenReport;
use crate::xen::{GuestImage, GuestKind, GuestSpec, RunPlan, Verbosity, XenOptions, run_planned};

/// Console lines shown under a failing Virtus guest.
const CONSOLE_TAIL: usize = 12;

#[derive(Args, Clone, Debug)]
pub struct ConcurrencyArgs {
    /// Linux PVH domUs running the memory check at once
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub linux: u32,
    /// Each Linux domU's memory
    #[arg(long, value_name = "MB", default_value_t = 128)]
    pub linux_memory: u32,
    /// The check's pattern: this many numbers, about 10 bytes each
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub numbers: u32,
    /// How many times each Linux domU re-reads and checks its memory
    #[arg(long, value_name = "R", default_value_t = 2)]
    pub rounds: u32,
    /// The Virtus tests the PVH and HVM domUs run (`test=`); `none`: no
    /// Virtus domU
    #[arg(long, value_name = "FILTER", default_value = "mem_")]
    pub virtus_tests: String,
    /// The PVH Virtus image
    #[arg(long, value_name = "PATH", default_value_os_t = built(PV_IMAGE))]
    pub pv_image: PathBuf,
    /// The HVM Virtus image (ELF32); `--no-hvm` leaves it out
    #[arg(long, value_name = "PATH", default_value_os_t = built(HVM_IMAGE))]
    pub hvm_image: PathBuf,
    /// No HVM Virtus domU (and so the smaller PVH bed)
    #[arg(long)]
    pub no_hvm: bool,
    /// How many fresh boots of the whole configuration
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub runs: u32,
    /// How long dom0 waits for each guest, once it waits for it
    #[arg(long, value_name = "SECS", value_parser = seconds, default_value = "300")]
    pub timeout: Duration,
    #[arg(long, value_name = "DIR", help = BED)]
    pub bed: Option<PathBuf>,
    #[arg(long, value_name = "DIR", help = HVM_BED)]
    pub hvm_bed: Option<PathBuf>,
    #[arg(long)]
    pub quiet: bool,
}

impl ConcurrencyArgs {
    /// The configuration: the Linux guests, then the Virtus ones.
    pub fn plan(&self) -> Result<Plan, String> {
        let mut virtus = Vec::new();
        if self.virtus_tests != "none" {
            let ramdisk = crate::ramdisk::resolve(None)?;
            let filter = &self.virtus_tests;
            let mut pvh = GuestSpec::pvh("virtus-pvh", &self.pv_image)?;
            pvh.memory_mb = 32;
            pvh.extra = format!("test={filter} loglevel=info xen.memory_mb=32");
            let mut kinds = vec![pvh];
            if !self.no_hvm {
                let mut hvm = GuestSpec::hvm("virtus-hvm", &self.hvm_image)?;
                hvm.extra = format!("test={filter} loglevel=info");
                kinds.push(hvm);
            }
            for mut spec in kinds {
                if let GuestImage::File { ramdisk: r, .. } = &mut spec.image {
                    *r = Some(ramdisk.clone());
                }
                spec.timeout = self.timeout;
                virtus.push(spec);
            }
        }
        Ok(Plan {
            linux: self.linux,
            linux_memory_mb: self.linux_memory,
            numbers: self.numbers,
            rounds: self.rounds,
            timeout: self.timeout,
            virtus,
        })
    }
}

/// `Ok(true)` if every run passed.
pub fn run(args: &ConcurrencyArgs) -> Result<bool, String> {
    let plan = args.plan()?;
    let specs = plan.specs()?;
    let flavour = Flavour::of(&specs);
    let verbosity = if args.quiet {
        Verbosity::Quiet
    } else {
        Verbosity::Normal
    };
    let bed = match flavour {
        Flavour::Hvm => args.hvm_bed.clone(),
        Flavour::Pvh => args.bed.clone(),
    };
    let options = XenOptions::new(bed, verbosity);
    let run_plan = RunPlan {
        script: Some(plan.script(&specs)),
        files: plan
            .files()
            .map_err(|e| format!("cannot pack /memcheck: {e}"))?,
    };
    let cpu = cpu_model();
    say(&format!(
        "xen-concurrency: {} Linux domU(s) of {} MB ({} numbers x {} rounds), {} Virtus \
         domU(s) (test={}); Xen: {}; QEMU -cpu {cpu}",
        plan.linux,
        plan.linux_memory_mb,
        plan.numbers,
        plan.rounds,
        plan.virtus.len(),
        args.virtus_tests,
        xen_cmdline(flavour),
    ));
    let mut failed = 0;
    for attempt in 1..=args.runs {
        let started = Instant::now();
        let run = run_planned(&specs, &run_plan, &options);
        let report = run.report;
        if let Some(error) = report.setup_error {
            return Err(error);
        }
        let support = concurrency::xen_support_lines(&run.events);
        for line in &support {
            say(&format!("[xen] {line}"));
        }
        let mut problems = judge(&specs, &report);
        problems.extend(concurrency::dom0_crashes(&run.events));
        problems.extend(concurrency::lazy_fpu_problem(&support));
        let secs = started.elapsed().as_secs();
        say("");
        say(&guest_table(&report));
        print_indented(&problems);
        let verdict = if problems.is_empty() { "PASS" } else { "FAIL" };
        failed += usize::from(!problems.is_empty());
        say(&format!(
            "xen-concurrency: run {attempt}/{}: {verdict} in {secs} s",
            args.runs
        ));
        if !problems.is_empty() {
            print_hidden_tail(&report);
        }
    }
    let runs = args.runs as usize;
    say(&format!(
        "xen-concurrency: {} passed, {failed} failed (of {runs} runs)",
        runs - failed
    ));
    Ok(failed == 0)
}

/// What went wrong in a run: each guest's problems, the Linux guests'
/// evidence of corruption, the Virtus guests' suite verdicts, and the
/// run's own (dom0 never finishing its script).
fn judge(specs: &[GuestSpec], report: &XenReport) -> Vec<String> {
    let mut problems = Vec::new();
    for (spec, guest) in specs.iter().zip(&report.guests) {
        let name = &guest.name;
        if concurrency::is_linux(spec) {
            for problem in &guest.problems {
                problems.push(format!("{name}: {problem}"));
            }
            if !guest.passed() {
                let evidence = concurrency::evidence(guest);
                problems.extend(evidence.iter().map(|line| format!("{name}| {line}")));
                if evidence.is_empty() {
                    let tail = &guest.console[guest.console.len().saturating_sub(CONSOLE_TAIL)..];
                    problems.extend(tail.iter().map(|line| format!("{name}| {line}")));
                }
            } else if let Some(secs) = concurrency::workload_secs(guest) {
                say(&format!("[xen] {name}: memory check passed in {secs:.1} s"));
            }
            continue;
        }
        let transcript = transcript_of(&guest.console, None);
        let kind = spec.kind;
        let verdict = judge_guest_ktap(&transcript, &guest.end, spec.timeout, kind);
        if !verdict.passed() {
            problems.push(format!("{name}: suite {}", verdict.headline()));
            let tail = &guest.console[guest.console.len().saturating_sub(CONSOLE_TAIL)..];
            problems.extend(tail.iter().map(|line| format!("{name}| {line}")));
        } else if kind == GuestKind::Hvm || kind == GuestKind::Pvh {
            let counted = transcript.counted();
            say(&format!(
                "[xen] {name}: suite passed ({} tests)",
                counted.passed
            ));
        }
    }
    problems.extend(report.run_problems());
    problems
}
