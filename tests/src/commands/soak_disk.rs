//! `virtus-run soak-disk`: the block workload for a given time on a Virtus
//! PVH domU's blkfront disk (xen-blkback and a loop device in dom0), with
//! checksums at three ends. At the kernel shell the guest runs `disk soak`
//! over the image's writable half: pass after pass it writes the test
//! pattern of a new seed in requests of varying size, flushes, reads all
//! back and verifies every sector; its last pass writes the seed the runner
//! chose, and it reports its figures and the FNV-1a 64 of what that pass
//! read. Then dom0 shuts it down (`xl shutdown -w`) and hashes the image
//! (sha256 per MiB); the runner regenerates the pattern from the seed and
//! compares both, and checks that the read-only half is untouched.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::soak_figures::{Spread, shell_word};
use crate::cli::options::{BED, PV_IMAGE, built};
use crate::console::say;
use crate::disk::{DURABLE_SECTORS, SECTOR, fill_sector, sha256_hex};
use crate::xen::disk_serve::{self, ServedDisk};
use crate::xen::lifecycle::{KERNEL_SHELL, LIBRARY, SHELL_READY};
use crate::xen::lifecycle_judge::{StepReport, step_reports};
use crate::xen::pv_args::PvRequest;
use crate::xen::script::{Dom0Point, Script, run_dom0};
use crate::xen::{GuestSpec, RunPlan, Verbosity, XenOptions, run_planned};

/// A few minutes: the full form.
pub const FULL_SECONDS: u64 = 180;

#[derive(Args, Clone, Debug)]
pub struct SoakDiskArgs {
    /// How long the workload runs, in seconds (whole passes: the last one
    /// starts before the time is up; the full form: 180)
    #[arg(long, value_name = "N", default_value_t = FULL_SECONDS,
          value_parser = clap::value_parser!(u64).range(1..=7200))]
    pub seconds: u64,
    /// The PVH guest's image
    #[arg(long, value_name = "PATH", default_value_os_t = built(PV_IMAGE))]
    pub pv_image: PathBuf,
    #[arg(long, value_name = "DIR", help = BED)]
    pub bed: Option<PathBuf>,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

const GUEST: &str = "soak-disk";
const LIBRARY_PATH: &str = "/virtus-run/lifecycle.sh";
/// Sectors per sha256 dom0 reports: a loss is located to 1 MiB.
const SUM_CHUNK: u64 = 2048;
/// On top of the workload's own time: its last pass (seconds under nested
/// TCG on a loaded host), the boot, the shutdown and the sums.
const MARGIN_SECS: u64 = 300;
/// The line the guest's `disk soak` ends with, whatever happened.
const END: &str = "disk soak: end";

/// What the guest is asked to do, and what the image must hold after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    pub lba: u64,
    pub sectors: u64,
    pub seconds: u64,
    pub seed: u32,
}

impl Workload {
    /// The image's writable half, clear of the durability test's sectors,
    /// with a seed whose pattern differs from the image's own.
    pub fn on(disk: &ServedDisk, seconds: u64) -> Self {
        let plan = &disk.plan;
        let mut seed = plan.seed.rotate_left(13) ^ 0x5ea1_d15c;
        if seed == plan.seed {
            seed ^= 1;
        }
        let lba = plan.sectors / 2;
        Self {
            lba,
            sectors: plan.sectors - DURABLE_SECTORS - lba,
            seconds,
            seed,
        }
    }

    /// What is typed at the guest's shell.
    pub fn command(&self) -> String {
        format!(
            "disk soak xvda {} {} {} {:08x}",
            self.lba, self.sectors, self.seconds, self.seed
        )
    }

    /// The bytes the range must hold at the end.
    fn bytes(&self) -> Vec<u8> {
        let mut bytes = vec![0; self.sectors as usize * SECTOR];
        for (i, sector) in bytes.chunks_exact_mut(SECTOR).enumerate() {
            fill_sector(self.seed, self.lba + i as u64, sector);
        }
        bytes
    }

    /// (lba, count, sha256) of each chunk dom0 reports.
    pub fn expected_sums(&self) -> Vec<(u64, u64, String)> {
        let bytes = self.bytes();
        let chunks = bytes.chunks(SUM_CHUNK as usize * SECTOR);
        let sums = chunks.enumerate().map(|(i, chunk)| {
            let lba = self.lba + i as u64 * SUM_CHUNK;
            (lba, (chunk.len() / SECTOR) as u64, sha256_hex(chunk))
        });
        sums.collect()
    }

    pub fn expected_fnv(&self) -> String {
        let hash = self.bytes().iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        format!("{hash:016x}")
    }
}

pub fn run(args: &SoakDiskArgs) -> Result<bool, String> {
    super::require(&args.pv_image, "PVH", "--pv-image")?;
    let mut options = XenOptions::new(args.bed.clone(), args.verbosity);
    let (spec, plan, disk, work) = plan(&args.pv_image, args.seconds, &mut options)?;
    let form = if args.seconds >= FULL_SECONDS {
        "full form"
    } else {
        "short form"
    };
    say(&format!(
        "virtus-run: soak-disk ({form}): {} s of write/flush/read-verify on xvda (blkfront -> \
         xen-blkback), sectors {}..{}, final seed {:08x}",
        args.seconds,
        work.lba,
        work.lba + work.sectors,
        work.seed
    ));
    let run = run_planned(&[spec], &plan, &options);
    if let Some(error) = &run.report.setup_error {
        return Err(error.clone());
    }
    let console = run.console(GUEST);
    let reports: Vec<StepReport> = step_reports(&run.events)
        .into_iter()
        .filter(|r| r.guest == GUEST)
        .collect();
    let mut problems = run.report.run_problems();
    let figures = judge(&work, &console, &reports, &mut problems);
    problems.extend(disk_serve::problem(&disk, &run.report, false));
    say("");
    for line in &figures {
        say(&format!("soak-disk: {line}"));
    }
    for problem in &problems {
        say(&format!("soak-disk: FAIL: {problem}"));
    }
    if !problems.is_empty() {
        for line in console.iter().rev().take(12).rev() {
            say(&format!("    [{GUEST}] {line}"));
        }
        super::xen::print_hidden_tail(&run.report);
    }
    let verdict = if problems.is_empty() { "PASS" } else { "FAIL" };
    say(&format!("soak-disk ({form}): {verdict}"));
    Ok(problems.is_empty())
}

/// The guest with its disk, dom0's script, the disk, and the workload.
fn plan(
    image: &std::path::Path,
    seconds: u64,
    options: &mut XenOptions,
) -> Result<(GuestSpec, RunPlan, ServedDisk, Workload), String> {
    let mut spec = GuestSpec::pvh(GUEST, image)?;
    spec.memory_mb = PvRequest::DEFAULT_MEMORY_MB;
    spec.extra = format!(
        "loglevel=info xen.memory_mb={} {KERNEL_SHELL}",
        spec.memory_mb
    );
    let mut plan = RunPlan::default();
    let disk = disk_serve::serve(&mut spec, options, &mut plan);
    let work = Workload::on(&disk, seconds);
    spec.timeout = Duration::from_secs(2 * seconds + 2 * MARGIN_SECS);
    let wait = seconds + MARGIN_SECS;
    let steps = [
        format!("lc_domid 0 {GUEST}"),
        format!("lc_see 1 {GUEST} 1 90 {}", shell_word(SHELL_READY)?),
        format!("lc_type 2 {GUEST} 1 {}", shell_word(&work.command())?),
        format!("lc_see 3 {GUEST} 1 {wait} {}", shell_word(END)?),
        format!(
            "lc_run 4 {GUEST} 0 {}",
            shell_word(&format!("xl shutdown -w {GUEST}"))?
        ),
        format!("lc_gone 5 {GUEST} 1 30"),
        format!(
            "lc_sums 6 {GUEST} {} {} {} {SUM_CHUNK}",
            disk.path, work.lba, work.sectors
        ),
    ];
    let mut text = format!(
        "# Written by virtus-run; sourced by dom0's init.\n. {LIBRARY_PATH}\nguest_start {GUEST} &&\n  {}\nlc_end {GUEST} $? 60\n",
        steps.join(" &&\n  ")
    );
    let mut dom0_order = Vec::new();
    run_dom0(&options.dom0, Dom0Point::End, &mut text, &mut dom0_order)?;
    plan.script = Some(Script { text, dom0_order });
    plan.files
        .push((LIBRARY_PATH.to_string(), LIBRARY.as_bytes().to_vec()));
    Ok((spec, plan, disk, work))
}

/// Judges the guest's own report, dom0's steps and sums against `work`;
/// the figures to print. Problems go to `problems`.
pub fn judge(
    work: &Workload,
    console: &[&str],
    reports: &[StepReport],
    problems: &mut Vec<String>,
) -> Vec<String> {
    let mut figures = Vec::new();
    for r in reports.iter().filter(|r| r.verb == "missed") {
        problems.push(format!("dom0 step {}: missed: {}", r.step, r.text));
    }
    match reports.iter().find(|r| r.verb == "ended") {
        Some(r) if r.field("reason") == Some("poweroff") => {}
        Some(r) => problems.push(format!(
            "the guest ended with {}, not poweroff",
            r.field("reason").unwrap_or("?")
        )),
        None => problems.push("dom0 never saw the guest power off".into()),
    }
    let end = console.iter().find_map(|line| {
        let at = line.find(END)?;
        Some(
            line[at + END.len()..]
                .split_whitespace()
                .filter_map(|w| w.split_once('='))
                .collect::<Vec<_>>(),
        )
    });
    let Some(end) = end else {
        problems.push(format!("the guest never printed `{END} ...`"));
        return figures;
    };
    let field = |key: &str| end.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let number = |key: &str| field(key).and_then(|v| v.parse::<u64>().ok());
    if field("status") != Some("ok") || number("errors") != Some(0) {
        let error = console
            .iter()
            .find_map(|l| l.split_once("disk soak: error: ").map(|x| x.1));
        problems.push(format!(
            "the guest's workload failed: status {}, errors {}: {}",
            field("status").unwrap_or("?"),
            field("errors").unwrap_or("?"),
            error.unwrap_or("no error line")
        ));
    }
    let (passes, written, read, requests, ms) = (
        number("passes").unwrap_or(0),
        number("written").unwrap_or(0),
        number("read").unwrap_or(0),
        number("requests").unwrap_or(0),
        number("ms").unwrap_or(0),
    );
    let pass_bytes = work.sectors * SECTOR as u64;
    if number("lba") != Some(work.lba)
        || number("sectors") != Some(work.sectors)
        || field("seed") != Some(&format!("{:08x}", work.seed))
    {
        problems.push(format!(
            "the guest soaked other sectors or another seed than asked: {end:?}"
        ));
    }
    if passes == 0 || written != passes * pass_bytes || read != written {
        problems.push(format!(
            "{passes} passes of {pass_bytes} bytes, but {written} bytes written and {read} read"
        ));
    }
    let fnv = work.expected_fnv();
    match field("fnv1a64") {
        Some(got) if got == fnv => {}
        got => problems.push(format!(
            "the guest read back fnv1a64 {}, the host's regeneration from the seed gives {fnv}",
            got.unwrap_or("none")
        )),
    }
    let sums: Vec<(u64, u64, String)> = reports
        .iter()
        .filter(|r| r.verb == "sum")
        .map(|r| {
            let n = |k| r.field(k).and_then(|v| v.parse().ok()).unwrap_or(0);
            (n("lba"), n("count"), r.text.trim().to_string())
        })
        .collect();
    let expected = work.expected_sums();
    for (want, got) in expected.iter().zip(&sums) {
        if want != got {
            problems.push(format!(
                "dom0's sha256 of sectors {}..{} of the image is {}, the host's regeneration gives {}",
                got.0,
                got.0 + got.1,
                got.2,
                want.2
            ));
        }
    }
    if sums.len() != expected.len() {
        problems.push(format!(
            "dom0 hashed {} chunks of the range, not {}",
            sums.len(),
            expected.len()
        ));
    }
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let secs = ms as f64 / 1000.0;
    figures.push(format!(
        "{passes} passes in {secs:.1} s (guest's clock): {:.1} MiB written, {:.1} MiB read and verified, \
         {requests} requests, {} errors",
        mib(written),
        mib(read),
        field("errors").unwrap_or("?")
    ));
    if secs > 0.0 {
        figures.push(format!(
            "throughput: {:.2} MiB/s written+read ({:.2} MiB/s each way)",
            mib(written + read) / secs,
            mib(written) / secs
        ));
    }
    let pass_secs: Vec<f64> = console
        .iter()
        .filter_map(|l| {
            let rest = l.split_once("disk soak: pass ")?.1;
            let ms = rest.rsplit_once(" in ")?.1.strip_suffix(" ms")?;
            ms.trim().parse::<f64>().ok().map(|ms| ms / 1000.0)
        })
        .collect();
    if let Some(spread) = Spread::of(&pass_secs) {
        figures.push(format!(
            "one pass ({:.1} MiB written, flushed, read back): {}",
            mib(pass_bytes),
            spread.show("s", 2)
        ));
    }
    figures.push(format!(
        "checksums: guest fnv1a64 {} = host's; dom0 sha256 of {} chunks of the image = host's: {}",
        field("fnv1a64").unwrap_or("none"),
        sums.len(),
        if problems.is_empty() {
            "all equal"
        } else {
            "see below"
        }
    ));
    figures
}

#[cfg(test)]
#[path = "soak_disk_tests.rs"]
mod tests;
