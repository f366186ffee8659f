//! Booting the kernel image under QEMU: the command line, and one boot from
//! spawn to verdict.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::exit::Termination;
use crate::expect::{Expectation, Leg};
use crate::process::{self, Stream};
use crate::transcript::Transcript;
use crate::verdict::{self, Verdict};

/// The emulator binary, looked up in `PATH`.
pub const QEMU: &str = "qemu-system-x86_64";

/// The Debian package that provides [`QEMU`].
pub const QEMU_PACKAGE: &str = "qemu-system-x86";

/// One virtual machine shape the kernel must work on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineConfig {
    /// QEMU machine type: `q35` (PCIe, ICH9) or `pc` (i440FX, ISA era).
    pub machine: String,
    /// QEMU CPU model, with feature flags: `max`, `qemu64,+x2apic`.
    pub cpu: String,
    /// Guest RAM in QEMU's syntax: `128M`, `6G`.
    pub memory: String,
    /// A disk image attached as [`crate::disk::qemu_drive_args`] says.
    pub disk: Option<std::path::PathBuf>,
    /// The ramdisk of user programs (QEMU's `-initrd`: the PVH loader hands
    /// it to the kernel as module 0 of `hvm_start_info`).
    pub ramdisk: Option<std::path::PathBuf>,
    /// CPUs (`-smp`); the kernel is told too (`smp.cpus=`), as the
    /// reference its own count is checked against.
    pub cpus: u32,
}

impl MachineConfig {
    pub fn new(machine: &str, cpu: &str, memory: &str) -> Self {
        Self {
            machine: machine.into(),
            cpu: cpu.into(),
            memory: memory.into(),
            disk: None,
            ramdisk: None,
            cpus: 1,
        }
    }

    /// The same machine with `cpus` CPUs.
    pub fn with_cpus(&self, cpus: u32) -> Self {
        Self {
            cpus,
            ..self.clone()
        }
    }

    /// The same machine, booted with `ramdisk`.
    pub fn with_ramdisk(&self, ramdisk: &Path) -> Self {
        Self {
            ramdisk: Some(ramdisk.to_path_buf()),
            ..self.clone()
        }
    }
}

impl fmt::Display for MachineConfig {
    /// `q35/max/128M` (`q35/max/128M/2cpu` with more than one CPU): the
    /// prefix of every console line from this machine.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.machine, self.cpu, self.memory)?;
        if self.cpus != 1 {
            write!(f, "/{}cpu", self.cpus)?;
        }
        Ok(())
    }
}

/// QEMU's arguments to boot `image` on `config` with kernel command line
/// `append`.
pub fn arguments(config: &MachineConfig, image: &Path, append: &str) -> Vec<OsString> {
    let append = format!("{append} smp.cpus={}", config.cpus);
    let mut args = headless(&config.machine, &config.cpu, &config.memory, image, &append);
    set_cpus(&mut args, config.cpus);
    // How the kernel reports its verdict: QEMU exits with (v << 1) | 1.
    args.extend(["-device", "isa-debug-exit,iobase=0xf4,iosize=4"].map(OsString::from));
    if let Some(disk) = &config.disk {
        args.extend(crate::disk::qemu_drive_args(&config.machine, disk));
    }
    if let Some(ramdisk) = &config.ramdisk {
        args.extend([OsString::from("-initrd"), ramdisk.as_os_str().to_owned()]);
    }
    args
}

/// Give the machine `cpus` CPUs instead of [`headless`]'s one.
fn set_cpus(args: &mut [OsString], cpus: u32) {
    if let Some(at) = args.iter().position(|a| a == "-smp") {
        args[at + 1] = OsString::from(cpus.to_string());
    }
}

/// What every boot shares, natively or of Xen: the machine, always TCG
/// (results must not depend on whether the host has KVM), one CPU, no
/// display or network, the console as the only channel out (serial on our
/// stdout, and no monitor that could wait for a reader), and a reset that
/// ends QEMU (a triple fault, or Xen's reboot) rather than rebooting.
pub fn headless(
    machine: &str,
    cpu: &str,
    memory: &str,
    kernel: &Path,
    append: &str,
) -> Vec<OsString> {
    let options = [
        ("-machine", machine),
        ("-cpu", cpu),
        ("-m", memory),
        ("-accel", "tcg"),
        ("-smp", "1"),
        ("-display", "none"),
        ("-vga", "none"),
        ("-nic", "none"),
        ("-serial", "stdio"),
        ("-monitor", "none"),
    ];
    let mut args: Vec<OsString> = options
        .iter()
        .flat_map(|(flag, value)| [OsString::from(flag), OsString::from(value)])
        .collect();
    args.push(OsString::from("-no-reboot"));
    args.extend([OsString::from("-kernel"), kernel.as_os_str().to_owned()]);
    args.extend([OsString::from("-append"), OsString::from(append)]);
    args
}

/// The full command as a shell would take it, to reproduce a run by hand.
pub fn shell_command(args: &[OsString]) -> String {
    let mut words = vec![QEMU.to_string()];
    words.extend(args.iter().map(|arg| shell_quote(&arg.to_string_lossy())));
    words.join(" ")
}

fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./,:=+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Why QEMU could not be run at all.
#[derive(Debug)]
pub enum LaunchError {
    QemuMissing,
    Io(io::Error),
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::QemuMissing => write!(
                f,
                "{QEMU} not found in PATH; install the Debian package {QEMU_PACKAGE} \
                 (apt-get install {QEMU_PACKAGE})"
            ),
            Self::Io(error) => write!(f, "cannot run {QEMU}: {error}"),
        }
    }
}

impl From<io::Error> for LaunchError {
    fn from(error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::NotFound => Self::QemuMissing,
            _ => Self::Io(error),
        }
    }
}

/// Checks that QEMU can be started, before committing to a long run.
pub fn check_available() -> Result<(), LaunchError> {
    let mut command = Command::new(QEMU);
    command.arg("--version");
    let finished = process::run_with_timeout(command, Duration::from_secs(10), |_, _, _| {})?;
    match finished.termination {
        Termination::Exited(0) => Ok(()),
        other => Err(LaunchError::Io(io::Error::other(format!(
            "`{QEMU} --version` ended with {other}"
        )))),
    }
}

/// Everything one boot produced.
#[derive(Debug)]
pub struct Boot {
    pub transcript: Transcript,
    pub termination: Termination,
    /// From spawn until QEMU was gone.
    pub elapsed: Duration,
    /// From spawn until the summary line arrived: the suite's running time,
    /// without the shutdown.
    pub result_at: Option<Duration>,
}

impl Boot {
    pub fn verdict(&self) -> Verdict {
        verdict::judge(&self.transcript, self.termination)
    }

    /// Time to the result: the summary line if there was one, else the end.
    pub fn time_to_result(&self) -> Duration {
        self.result_at.unwrap_or(self.elapsed)
    }
}

/// Boots once and returns what happened. Every console line is passed to
/// `show` as it arrives (so the caller can stream it), and fed to the
/// transcript. Returns by `timeout` (plus a short drain) whatever the
/// kernel does.
pub fn boot(
    config: &MachineConfig,
    image: &Path,
    append: &str,
    timeout: Duration,
    mut show: impl FnMut(Stream, &str),
) -> Result<Boot, LaunchError> {
    let mut command = Command::new(QEMU);
    command.args(arguments(config, image, append));
    let expectation = Expectation::from_cmdline(append, Leg::Native);
    let mut transcript = Transcript::expecting(expectation);
    let mut result_at = None;
    let finished = process::run_with_timeout(command, timeout, |stream, line, since_spawn| {
        show(stream, line);
        match stream {
            Stream::Stdout => {
                transcript.feed(line);
                if result_at.is_none() && transcript.summary.is_some() {
                    result_at = Some(since_spawn);
                }
            }
            Stream::Stderr => transcript.feed_emulator(line),
        }
    })?;
    Ok(Boot {
        transcript,
        termination: finished.termination,
        elapsed: finished.elapsed,
        result_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_the_configuration() {
        assert_eq!(
            MachineConfig::new("q35", "qemu64,+x2apic", "512M").to_string(),
            "q35/qemu64,+x2apic/512M"
        );
    }

    #[test]
    fn arguments_follow_the_boot_contract() {
        let config = MachineConfig::new("pc", "qemu64", "32M");
        let args = arguments(
            &config,
            Path::new("target/virtus-native"),
            "test=all loglevel=info",
        );
        let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
        let pair = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
        assert_eq!(pair("-machine"), "pc");
        assert_eq!(pair("-cpu"), "qemu64");
        assert_eq!(pair("-m"), "32M");
        assert_eq!(pair("-accel"), "tcg");
        assert_eq!(pair("-serial"), "stdio");
        assert_eq!(pair("-device"), "isa-debug-exit,iobase=0xf4,iosize=4");
        assert_eq!(pair("-kernel"), "target/virtus-native");
        assert_eq!(pair("-append"), "test=all loglevel=info smp.cpus=1");
        assert_eq!(pair("-smp"), "1");
        assert!(args.contains(&"-no-reboot"));
        assert!(!args.contains(&"-initrd"));
        let four = arguments(&config.with_cpus(4), Path::new("k"), "test=smp");
        let four: Vec<_> = four.iter().map(|a| a.to_str().unwrap()).collect();
        let pair = |flag: &str| four[four.iter().position(|a| *a == flag).unwrap() + 1];
        assert_eq!(pair("-smp"), "4");
        assert_eq!(pair("-append"), "test=smp smp.cpus=4");
        assert_eq!(config.with_cpus(4).to_string(), "pc/qemu64/32M/4cpu");
    }

    #[test]
    fn a_ramdisk_is_the_initrd() {
        let config = MachineConfig::new("q35", "max", "128M").with_ramdisk(Path::new("r.cpio"));
        let args = arguments(&config, Path::new("k"), "");
        let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
        let at = args.iter().position(|a| *a == "-initrd").unwrap();
        assert_eq!(args[at + 1], "r.cpio");
    }

    #[test]
    fn shell_command_quotes_only_what_needs_it() {
        let args = [
            OsString::from("-append"),
            OsString::from("test=all it's"),
            OsString::from("-m"),
        ];
        assert_eq!(
            shell_command(&args),
            r"qemu-system-x86_64 -append 'test=all it'\''s' -m"
        );
    }

    #[test]
    fn missing_qemu_names_the_package() {
        let error = LaunchError::from(io::Error::from(io::ErrorKind::NotFound));
        assert!(error.to_string().contains("qemu-system-x86"));
        assert!(error.to_string().contains("apt-get install"));
    }
}
