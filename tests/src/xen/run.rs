//! One Xen run: the bed, dom0's extra initramfs, QEMU under a hard
//! deadline, and the console folded into a [`XenReport`].

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::bed::{self, Bed};
use super::cpio::CpioWriter;
use super::guest::{GuestImage, GuestSpec};
use super::hvm::Flavour;
use super::live::{self, Verbosity};
use super::protocol::{ConsoleParser, Event, Stamped};
use super::report::{Recorder, XenReport};
use super::script::{self, Dom0Command, Script};
use crate::console::say;
use crate::process::{self, Stream};
use crate::qemu;

/// Xen's command line. `smap=false`: PV dom0 faults on its first iret
/// under TCG with SMAP on. dom0 needs 256 MB or `xl` is OOM-killed (512 MB
/// on the HVM bed, see [`Flavour::dom0_mb`]). `asid=0`: QEMU's emulated
/// SVM does not keep TLB entries apart by ASID, so with ASIDs on, guests
/// running at once (three Linux domUs) read and wrote each other's memory
/// through stale translations; without, Xen flushes the TLB on every switch.
pub fn xen_cmdline(flavour: Flavour) -> String {
    let dom0 = flavour.dom0_mb();
    format!(
        "console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all \
         dom0_mem={dom0}M,max:{dom0}M smap=false asid=0"
    )
}

/// dom0's kernel command line, before the watchdog.
const DOM0_CMDLINE: &str = "console=hvc0 earlyprintk=xen quiet";

/// Booting Xen and dom0 and tearing down, on top of the guests' own
/// budgets: about 20 s under TCG, with a wide margin.
const RUN_OVERHEAD: Duration = Duration::from_secs(120);

/// The machine's memory: dom0's 256 MB (512 MB for HVM guests), what Xen
/// keeps for itself, and the guests' own, which are all running at once.
/// Never below 512 MB (1536 MB with HVM guests).
pub fn machine_memory_mb(specs: &[GuestSpec]) -> u32 {
    const XEN_MB: u32 = 64;
    let flavour = Flavour::of(specs);
    let guests: u32 = specs.iter().map(|spec| spec.memory_mb).sum();
    (flavour.dom0_mb() + XEN_MB + guests)
        .div_ceil(128)
        .max(flavour.min_machine_mb() / 128)
        * 128
}

/// dom0's watchdog fires this long after the guests' budgets, before the
/// runner's own deadline, so that a hang in dom0 still ends in a report.
const WATCHDOG_OVERHEAD: Duration = Duration::from_secs(60);

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

/// Boots Xen under QEMU, runs `specs` as dom0's guests, and reports how
/// each ended. Never fails: a run that could not happen is a report with a
/// `setup_error`, every guest marked as never started.
pub fn run_guests(specs: &[GuestSpec], options: &XenOptions) -> XenReport {
    match prepare(specs, options) {
        Ok((bed, script)) => boot(specs, options, &bed, &script),
        Err(error) => XenReport::setup_failed(specs, error),
    }
}

/// Everything that can fail before QEMU starts, checked before anything
/// slow happens.
fn prepare(specs: &[GuestSpec], options: &XenOptions) -> Result<(Bed, Script), String> {
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
    let script = script::script(specs, &options.dom0, options.sequential)?;
    qemu::check_available().map_err(|error| error.to_string())?;
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
            "HVM guests need the HVM bed (`{} prepare --hvm`); {} is a {} bed",
            bed::TESTBED_SCRIPT,
            bed.dir.display(),
            bed.flavour.word()
        ));
    }
    Ok((bed, script))
}

fn boot(specs: &[GuestSpec], options: &XenOptions, bed: &Bed, script: &Script) -> XenReport {
    let budget: Duration = specs.iter().map(|spec| spec.timeout).sum();
    let initramfs = match TempFile::new().and_then(|file| {
        write_initramfs(bed, specs, &script.text, &file.0)?;
        Ok(file)
    }) {
        Ok(file) => file,
        Err(error) => {
            return XenReport::setup_failed(
                specs,
                format!("cannot write dom0's initramfs: {error}"),
            );
        }
    };
    let memory = machine_memory_mb(specs);
    let args = match qemu_arguments(bed, &initramfs.0, memory, budget + WATCHDOG_OVERHEAD) {
        Ok(args) => args,
        Err(error) => return XenReport::setup_failed(specs, error),
    };
    let verbosity = options.verbosity;
    let symbols = live::GuestSymbols::of(specs);
    if verbosity != Verbosity::Quiet {
        say(&format!("[xen] $ {}", qemu::shell_command(&args)));
    }

    let mut recorder = Recorder::new(specs, &script.dom0_order);
    let mut parser = ConsoleParser::new();
    let take = |stamped: Stamped, recorder: &mut Recorder| {
        if let Some(text) = live::render(&stamped.event, stamped.at, verbosity, &symbols) {
            say(&text);
        }
        recorder.record(&stamped);
    };
    let mut command = Command::new(qemu::QEMU);
    command.args(&args);
    let finished = process::run_with_timeout(command, budget + RUN_OVERHEAD, |stream, line, at| {
        match stream {
            Stream::Stdout => {
                for stamped in parser.feed(&format!("{line}\n"), at) {
                    take(stamped, &mut recorder);
                }
            }
            Stream::Stderr => {
                // QEMU's complaints; under TCG mostly about CPUID bits it
                // cannot emulate, which are harmless.
                let harmless = line.contains("TCG doesn't support requested feature");
                if verbosity == Verbosity::Normal && !harmless {
                    say(&format!("[xen] qemu: {line}"));
                }
                let event = Event::Other(format!("qemu: {line}"));
                take(Stamped { at, event }, &mut recorder);
            }
        }
    });
    for stamped in parser.finish() {
        take(stamped, &mut recorder);
    }
    match finished {
        Ok(finished) => recorder.finish(finished.termination, finished.elapsed),
        Err(error) => XenReport::setup_failed(specs, qemu::LaunchError::from(error).to_string()),
    }
}

/// QEMU's arguments: Xen as the multiboot kernel, dom0's kernel and
/// initramfs as its modules. Multiboot module strings are split at commas,
/// so commas within one are doubled; the first word of each is the file.
pub fn qemu_arguments(
    bed: &Bed,
    initramfs: &Path,
    memory_mb: u32,
    watchdog: Duration,
) -> Result<Vec<OsString>, String> {
    let word = |path: &Path| -> Result<String, String> {
        match path.to_str() {
            Some(text) if !text.contains(char::is_whitespace) => Ok(text.to_string()),
            _ => Err(format!(
                "{} cannot be a multiboot module (not UTF-8, or has spaces)",
                path.display()
            )),
        }
    };
    let dom0 = format!(
        "{} {DOM0_CMDLINE} virtus.watchdog={}",
        word(&bed.vmlinux())?,
        watchdog.as_secs()
    );
    let modules = format!(
        "{},{}",
        dom0.replace(',', ",,"),
        word(initramfs)?.replace(',', ",,")
    );
    let options = [
        ("-machine", "q35"),
        // EPYC for SVM with nested paging (Xen's PVH needs HAP); no
        // MONITOR, on which Xen's idle loop faults under TCG.
        ("-cpu", "EPYC,+svm,+npt,-monitor"),
        ("-accel", "tcg"),
        ("-smp", "1"),
        ("-display", "none"),
        ("-vga", "none"),
        ("-nic", "none"),
        ("-serial", "stdio"),
        ("-monitor", "none"),
    ];
    let mut args = Vec::new();
    for (flag, value) in options {
        args.extend([OsString::from(flag), OsString::from(value)]);
    }
    args.extend([OsString::from("-m"), OsString::from(memory_mb.to_string())]);
    // dom0 ends with `reboot -f`; Xen resets the machine, and QEMU exits.
    args.push(OsString::from("-no-reboot"));
    args.extend([OsString::from("-kernel"), bed.xen().into_os_string()]);
    args.extend([
        OsString::from("-append"),
        OsString::from(xen_cmdline(bed.flavour)),
    ]);
    args.extend([OsString::from("-initrd"), OsString::from(modules)]);
    Ok(args)
}

/// dom0's initramfs: the bed's, then an archive with the script and the
/// guests (the kernel unpacks concatenated archives in order).
pub(crate) fn write_initramfs(
    bed: &Bed,
    specs: &[GuestSpec],
    script: &str,
    path: &Path,
) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    io::copy(&mut File::open(bed.dom0_initramfs())?, &mut out)?;
    let mut archive = CpioWriter::new(out);
    let cpio = |error| io::Error::other(format!("{error}"));
    archive
        .add_file("/virtus-run/script.sh", 0o755, script.as_bytes())
        .map_err(cpio)?;
    for spec in specs {
        let (GuestImage::File { kernel, ramdisk }, Ok(Some(config))) =
            (&spec.image, spec.xl_config())
        else {
            continue;
        };
        archive
            .add_file(&spec.dom0_config(), 0o644, config.as_bytes())
            .map_err(cpio)?;
        archive
            .add_file(&spec.dom0_kernel(), 0o644, &guest_kernel_bytes(kernel)?)
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

/// The guest kernel as it goes into dom0: without debug sections when
/// `objcopy` can strip them. dom0's root file system is a tmpfs that holds
/// the whole bed, so a few megabytes of DWARF per guest decide whether
/// several guests fit; xl needs only the loadable segments and the notes.
fn guest_kernel_bytes(kernel: &Path) -> io::Result<Vec<u8>> {
    let stripped = TempFile::new()?;
    let status = std::process::Command::new("objcopy")
        .arg("--strip-debug")
        .arg(kernel)
        .arg(&stripped.0)
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => fs::read(&stripped.0),
        _ => fs::read(kernel),
    }
}

/// A file in the temporary directory, removed when dropped.
pub(crate) struct TempFile(pub(crate) PathBuf);

impl TempFile {
    pub(crate) fn new() -> io::Result<Self> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "virtus-xen-{}-{}.initramfs",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        File::create(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
