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
use super::live::{self, Verbosity};
use super::protocol::{ConsoleParser, Event, Stamped};
use super::report::{Recorder, XenReport};
use super::script::{self, Dom0Command, Script};
use crate::console::say;
use crate::process::{self, Stream};
use crate::qemu;

/// Xen's command line. `smap=false`: PV dom0 faults on its first iret
/// under TCG with SMAP on. dom0 needs 256 MB or `xl` is OOM-killed.
pub const XEN_CMDLINE: &str = "console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all \
                               dom0_mem=256M,max:256M smap=false";

/// dom0's kernel command line, before the watchdog.
const DOM0_CMDLINE: &str = "console=hvc0 earlyprintk=xen quiet";

/// Booting Xen and dom0 and tearing down, on top of the guests' own
/// budgets: about 20 s under TCG, with a wide margin.
const RUN_OVERHEAD: Duration = Duration::from_secs(120);

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
    let script = script::script(specs, &options.dom0)?;
    qemu::check_available().map_err(|error| error.to_string())?;
    let bed = match &options.bed {
        Some(dir) => Bed::open(dir)?,
        None => bed::prepare(&options.workspace, |line| {
            if options.verbosity != Verbosity::Quiet {
                say(&format!("[testbed] {line}"));
            }
        })?,
    };
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
    let args = match qemu_arguments(bed, &initramfs.0, budget + WATCHDOG_OVERHEAD) {
        Ok(args) => args,
        Err(error) => return XenReport::setup_failed(specs, error),
    };
    let verbosity = options.verbosity;
    if verbosity != Verbosity::Quiet {
        say(&format!("[xen] $ {}", qemu::shell_command(&args)));
    }

    let mut recorder = Recorder::new(specs, &script.dom0_order);
    let mut parser = ConsoleParser::new();
    let take = |stamped: Stamped, recorder: &mut Recorder| {
        if let Some(text) = live::render(&stamped.event, stamped.at, verbosity) {
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
        ("-m", "512"),
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
    // dom0 ends with `reboot -f`; Xen resets the machine, and QEMU exits.
    args.push(OsString::from("-no-reboot"));
    args.extend([OsString::from("-kernel"), bed.xen().into_os_string()]);
    args.extend([OsString::from("-append"), OsString::from(XEN_CMDLINE)]);
    args.extend([OsString::from("-initrd"), OsString::from(modules)]);
    Ok(args)
}

/// dom0's initramfs: the bed's, then an archive with the script and the
/// guests (the kernel unpacks concatenated archives in order).
fn write_initramfs(bed: &Bed, specs: &[GuestSpec], script: &str, path: &Path) -> io::Result<()> {
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
            .add_file(&spec.dom0_kernel(), 0o644, &fs::read(kernel)?)
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

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new() -> io::Result<Self> {
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
mod tests {
    use super::*;

    fn bed() -> Bed {
        Bed {
            dir: PathBuf::from("/cache/xen-bed"),
        }
    }

    #[test]
    fn qemu_boots_xen_with_dom0_as_modules() {
        let args = qemu_arguments(
            &bed(),
            Path::new("/tmp/x.initramfs"),
            Duration::from_secs(150),
        )
        .unwrap();
        let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
        let pair = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
        assert_eq!(pair("-cpu"), "EPYC,+svm,+npt,-monitor");
        assert_eq!(pair("-kernel"), "/cache/xen-bed/xen");
        assert_eq!(pair("-m"), "512");
        assert!(pair("-append").contains("dom0_mem=256M,max:256M"));
        assert_eq!(
            pair("-initrd"),
            "/cache/xen-bed/vmlinux console=hvc0 earlyprintk=xen quiet \
             virtus.watchdog=150,/tmp/x.initramfs"
        );
        assert!(args.contains(&"-no-reboot"));
    }

    #[test]
    fn commas_in_module_strings_are_doubled() {
        let odd = Bed {
            dir: PathBuf::from("/a,b"),
        };
        let args = qemu_arguments(&odd, Path::new("/t,mp/x"), Duration::from_secs(9)).unwrap();
        let initrd = args.last().unwrap().to_str().unwrap();
        assert!(initrd.starts_with("/a,,b/vmlinux "), "{initrd}");
        assert!(initrd.ends_with("watchdog=9,/t,,mp/x"), "{initrd}");
        assert!(qemu_arguments(&bed(), Path::new("/tmp/a b"), Duration::ZERO).is_err());
    }

    #[test]
    fn the_initramfs_is_the_bed_archive_then_ours() {
        let dir = std::env::temp_dir().join(format!("virtus-xen-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("dom0.cpio.gz"), b"BASE").unwrap();
        fs::write(dir.join("k.elf"), b"\x7fELF-kernel").unwrap();
        let bed = Bed { dir: dir.clone() };
        let spec = GuestSpec::pvh("a", dir.join("k.elf")).unwrap();
        let out = dir.join("initramfs");
        write_initramfs(
            &bed,
            &[spec, GuestSpec::linux_proof()],
            "guest_start a\n",
            &out,
        )
        .unwrap();
        let bytes = fs::read(&out).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert!(bytes.starts_with(b"BASE070701"));
        let text = String::from_utf8_lossy(&bytes);
        for name in [
            "virtus-run\0",
            "virtus-run/script.sh\0",
            "virtus-run/guests\0",
            "virtus-run/guests/a.cfg\0",
            "virtus-run/guests/a.elf\0",
            "\x7fELF-kernel",
            "TRAILER!!!\0",
        ] {
            assert!(text.contains(name), "{name:?}");
        }
        // The bed's guest brings its own files.
        assert!(!text.contains("linux-proof"));
    }

    #[test]
    fn bad_specs_fail_before_anything_runs() {
        let options = XenOptions {
            workspace: PathBuf::from("/nonexistent"),
            bed: None,
            dom0: Vec::new(),
            verbosity: Verbosity::Quiet,
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
