//! One Xen run, as [`crate::xen::run_guests`] does it, that also keeps the
//! host time of every guest console line: boot times need the moment a
//! given line arrived, not only the first one.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::console::say;
use crate::process::{self, Stream};
use crate::qemu;
use crate::xen::XenOptions;
use crate::xen::bed::{self, Bed};
use crate::xen::cpio::CpioWriter;
use crate::xen::guest::{GuestImage, GuestSpec};
use crate::xen::hvm::Flavour;
use crate::xen::live::{self, Verbosity};
use crate::xen::protocol::{ConsoleParser, Event, Stamped};
use crate::xen::report::{Recorder, XenReport};
use crate::xen::run::{TempFile, machine_memory_mb, qemu_arguments};
use crate::xen::script;

/// Same margins as [`crate::xen::run`].
const RUN_OVERHEAD: Duration = Duration::from_secs(120);
const WATCHDOG_OVERHEAD: Duration = Duration::from_secs(60);

/// A guest console line and when the host saw it (from QEMU's start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimedLine {
    pub guest: String,
    pub at: Duration,
    pub text: String,
}

/// A run's report and its guests' lines with their times.
#[derive(Clone, Debug)]
pub struct TimedRun {
    pub report: XenReport,
    pub lines: Vec<TimedLine>,
    /// Every event, in order: for guests the script makes up as it goes
    /// (the memory floor's probes), which the report does not know.
    pub events: Vec<Stamped>,
    /// The bed the run used (for its files' sizes).
    pub bed: Option<Bed>,
}

/// What a run does beyond starting its guests: a script of its own instead
/// of the one [`script::script`] writes, and more files in dom0.
#[derive(Clone, Debug, Default)]
pub struct RunPlan {
    pub script: Option<script::Script>,
    /// (path in dom0, contents).
    pub files: Vec<(String, Vec<u8>)>,
}

impl TimedRun {
    /// When `guest` first printed a line containing `text`.
    pub fn line_at(&self, guest: &str, text: &str) -> Option<Duration> {
        self.lines
            .iter()
            .find(|l| l.guest == guest && l.text.contains(text))
            .map(|l| l.at)
    }

    /// When `guest` printed its last line.
    pub fn last_line_at(&self, guest: &str) -> Option<Duration> {
        self.lines
            .iter()
            .rev()
            .find(|l| l.guest == guest)
            .map(|l| l.at)
    }

    /// `guest`'s lines, in order.
    pub fn console(&self, guest: &str) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|l| l.guest == guest)
            .map(|l| l.text.as_str())
            .collect()
    }
}

/// The outer machine's memory: what [`machine_memory_mb`] gives, plus
/// room for Xen's own per-domain overhead (page tables, HAP pool, event
/// and grant structures) when many small guests run at once, and a margin.
pub fn bench_machine_memory_mb(specs: &[GuestSpec]) -> u32 {
    const PER_GUEST_OVERHEAD_MB: u32 = 4;
    const MARGIN_MB: u32 = 128;
    let base = machine_memory_mb(specs);
    if specs.len() <= 4 {
        return base;
    }
    (base + MARGIN_MB + PER_GUEST_OVERHEAD_MB * specs.len() as u32).div_ceil(128) * 128
}

/// dom0's initramfs as [`crate::xen::run`] writes it, except that guests
/// booting the same kernel share one copy of it: dom0's root is a tmpfs
/// that already holds most of the bed, and 32 copies do not fit.
fn write_initramfs_shared(
    bed: &Bed,
    specs: &[GuestSpec],
    script: &str,
    files: &[(String, Vec<u8>)],
    path: &std::path::Path,
) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    io::copy(&mut File::open(bed.dom0_initramfs())?, &mut out)?;
    let mut archive = CpioWriter::new(out);
    let cpio = |error| io::Error::other(format!("{error}"));
    archive
        .add_file("/virtus-run/script.sh", 0o755, script.as_bytes())
        .map_err(cpio)?;
    for (dom0_path, contents) in files {
        archive.add_file(dom0_path, 0o644, contents).map_err(cpio)?;
    }
    let mut copies: Vec<(PathBuf, String)> = Vec::new();
    for spec in specs {
        let (GuestImage::File { kernel, ramdisk }, Ok(Some(config))) =
            (&spec.image, spec.xl_config())
        else {
            continue;
        };
        let own = spec.dom0_kernel();
        let shared = copies
            .iter()
            .find(|(host, _)| host == kernel)
            .map(|(_, dom0)| dom0.clone());
        let config = match &shared {
            Some(dom0) => config.replace(&format!("\"{own}\""), &format!("\"{dom0}\"")),
            None => {
                archive
                    .add_file(&own, 0o644, &stripped_bytes(kernel)?)
                    .map_err(cpio)?;
                copies.push((kernel.clone(), own.clone()));
                config
            }
        };
        archive
            .add_file(&spec.dom0_config(), 0o644, config.as_bytes())
            .map_err(cpio)?;
        if let Some(ramdisk) = ramdisk {
            archive
                .add_file(&spec.dom0_ramdisk(), 0o644, &fs::read(ramdisk)?)
                .map_err(cpio)?;
        }
    }
    archive.finish().map_err(cpio)?;
    Ok(())
}

/// The kernel without debug sections, as dom0 gets it (unstripped if
/// `objcopy` fails).
fn stripped_bytes(kernel: &std::path::Path) -> io::Result<Vec<u8>> {
    let stripped = TempFile::new()?;
    let ok = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(kernel)
        .arg(&stripped.0)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        fs::read(&stripped.0)
    } else {
        fs::read(kernel)
    }
}

/// Opens (or prepares) the bed a run of `specs` needs.
pub fn open_bed(specs: &[GuestSpec], options: &XenOptions) -> Result<Bed, String> {
    let flavour = Flavour::of(specs);
    let bed = match &options.bed {
        Some(dir) => Bed::open(dir)?,
        None => bed::prepare(&options.workspace, flavour, |line| {
            if options.verbosity != Verbosity::Quiet {
                say(&format!("[testbed] {line}"));
            }
        })?,
    };
    if flavour == Flavour::Hvm && bed.flavour != Flavour::Hvm {
        return Err(format!(
            "HVM guests need the HVM bed; {} is a {} bed",
            bed.dir.display(),
            bed.flavour.word()
        ));
    }
    Ok(bed)
}

/// Boots Xen under QEMU and runs `specs`, keeping each console line's
/// time. Never fails: a run that could not happen has a `setup_error`.
pub fn run_timed(specs: &[GuestSpec], options: &XenOptions) -> TimedRun {
    run_planned(specs, &RunPlan::default(), options)
}

/// [`run_timed`], with `plan`'s script and files.
pub fn run_planned(specs: &[GuestSpec], plan: &RunPlan, options: &XenOptions) -> TimedRun {
    let failed = |error: String| TimedRun {
        report: XenReport::setup_failed(specs, error),
        lines: Vec::new(),
        events: Vec::new(),
        bed: None,
    };
    for spec in specs {
        if let Err(error) = spec.xl_config() {
            return failed(error);
        }
        if let GuestImage::File { kernel, .. } = &spec.image
            && !kernel.is_file()
        {
            return failed(format!(
                "guest {}: {} not found",
                spec.name,
                kernel.display()
            ));
        }
    }
    let script = match &plan.script {
        Some(script) => script.clone(),
        None => match script::script(specs, &options.dom0, options.sequential) {
            Ok(script) => script,
            Err(error) => return failed(error),
        },
    };
    if let Err(error) = qemu::check_available() {
        return failed(error.to_string());
    }
    let bed = match open_bed(specs, options) {
        Ok(bed) => bed,
        Err(error) => return failed(error),
    };
    let budget: Duration = specs.iter().map(|spec| spec.timeout).sum();
    let initramfs = match TempFile::new().and_then(|file| {
        write_initramfs_shared(&bed, specs, &script.text, &plan.files, &file.0)?;
        Ok(file)
    }) {
        Ok(file) => file,
        Err(error) => return failed(format!("cannot write dom0's initramfs: {error}")),
    };
    let memory = bench_machine_memory_mb(specs);
    let args = match qemu_arguments(&bed, &initramfs.0, memory, budget + WATCHDOG_OVERHEAD) {
        Ok(args) => args,
        Err(error) => return failed(error),
    };
    let verbosity = options.verbosity;
    let symbols = live::GuestSymbols::of(specs);
    if verbosity != Verbosity::Quiet {
        say(&format!("[xen] $ {}", qemu::shell_command(&args)));
    }
    let mut recorder = Recorder::new(specs, &script.dom0_order);
    let mut parser = ConsoleParser::new();
    let mut lines = Vec::new();
    let mut events = Vec::new();
    let mut take = |stamped: Stamped, recorder: &mut Recorder| {
        if let Some(text) = live::render(&stamped.event, stamped.at, verbosity, &symbols) {
            say(&text);
        }
        if let Event::GuestLine { guest, text } = &stamped.event {
            lines.push(TimedLine {
                guest: guest.clone(),
                at: stamped.at,
                text: text.clone(),
            });
        }
        recorder.record(&stamped);
        events.push(stamped);
    };
    let mut command = Command::new(qemu::QEMU);
    command.args(&args);
    let finished =
        process::run_with_timeout(
            command,
            budget + RUN_OVERHEAD,
            |stream, line, at| match stream {
                Stream::Stdout => {
                    for stamped in parser.feed(&format!("{line}\n"), at) {
                        take(stamped, &mut recorder);
                    }
                }
                Stream::Stderr => {
                    let harmless = line.contains("TCG doesn't support requested feature");
                    if verbosity == Verbosity::Normal && !harmless {
                        say(&format!("[xen] qemu: {line}"));
                    }
                    let event = Event::Other(format!("qemu: {line}"));
                    take(Stamped { at, event }, &mut recorder);
                }
            },
        );
    for stamped in parser.finish() {
        take(stamped, &mut recorder);
    }
    let report = match finished {
        Ok(finished) => recorder.finish(finished.termination, finished.elapsed),
        Err(error) => XenReport::setup_failed(specs, qemu::LaunchError::from(error).to_string()),
    };
    TimedRun {
        report,
        lines,
        events,
        bed: Some(bed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_guests_get_headroom() {
        let guests = |n: usize| -> Vec<GuestSpec> {
            (0..n)
                .map(|i| {
                    let mut spec = GuestSpec::pvh(&format!("g{i}"), "/k").unwrap();
                    spec.memory_mb = 6;
                    spec
                })
                .collect()
        };
        assert_eq!(
            bench_machine_memory_mb(&guests(2)),
            machine_memory_mb(&guests(2))
        );
        // 256 + 64 + 192 = 512, then 128 + 4 x 32 more.
        assert_eq!(bench_machine_memory_mb(&guests(32)), 768);
    }
}

#[cfg(test)]
mod shared_tests {
    use super::*;

    #[test]
    fn guests_with_one_kernel_share_one_copy() {
        let dir = std::env::temp_dir().join(format!("virtus-bench-bed-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for file in ["xen", "vmlinux", "dom0.cpio.gz"] {
            fs::write(dir.join(file), b"bed").unwrap();
        }
        let kernel = dir.join("kernel");
        fs::write(&kernel, b"KERNEL-BYTES-ONCE").unwrap();
        let bed = Bed::open(&dir).unwrap();
        let specs: Vec<GuestSpec> = ["d2-1", "d2-2"]
            .iter()
            .map(|name| GuestSpec::pvh(name, &kernel).unwrap())
            .collect();
        let out = dir.join("out.cpio");
        write_initramfs_shared(&bed, &specs, "true\n", &[], &out).unwrap();
        let bytes = fs::read(&out).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(text.matches("KERNEL-BYTES-ONCE").count(), 1);
        assert_eq!(
            text.matches("kernel = \"/virtus-run/guests/d2-1.elf\"")
                .count(),
            2,
            "{text}"
        );
        assert!(text.starts_with("bed"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
