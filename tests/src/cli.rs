//! The `virtus-run` command line, on clap: a subcommand per command, the
//! options several of them share defined once in [`options`].

pub mod lifecycle;
pub mod options;
pub mod soak_console;

use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::bench::args::BenchRequest;
use crate::cli::lifecycle::LifecycleArgs;
use crate::cli::soak_console::SoakConsoleArgs;
use crate::matrix;
use crate::qemu::MachineConfig;
use crate::xen::args::{XenChecksArgs, XenRequest};
use crate::xen::pv_args::{LegsArgs, XenRunArgs, XenSuiteArgs};
use options::{Image, Jobs, Quiet, Ramdisk, Timeout};

/// Boots Virtus under QEMU, natively or nested under Xen, and judges the
/// test report it prints.
#[derive(Parser, Debug)]
#[command(name = "virtus-run", after_help = EXIT_STATUS,
          mut_subcommands(|command| command.after_help(EXIT_STATUS)))]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_STATUS: &str = "Exit status: 0 if everything passed, 1 if something failed, 2 on \
                           usage or setup errors (no image, no QEMU).";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the whole in-kernel suite on every machine configuration
    Suite(SuiteArgs),
    /// Prove that crashes, failures and hangs are caught
    Checks(ChecksArgs),
    /// Boot once and judge the run (for development)
    Boot(BootArgs),
    /// Boot Xen in QEMU and run PVH or HVM guests under it
    #[command(group(ArgGroup::new("run").required(true).multiple(true)
        .args(["guests", "linux_proof", "dom0", "dom0_running"])))]
    Xen(XenRequest),
    /// Boot the test bed's own Linux guest under Xen (proves the bed)
    XenProof(XenRequest),
    /// Prove that guests that crash, hang or print nothing are caught
    XenChecks(XenChecksArgs),
    /// Linux PVH domUs checking their memory next to Virtus PVH and HVM
    /// domUs, all at once on the bed: proof that concurrent guests keep
    /// their memory and registers apart
    ///
    /// Each Linux domU fills a tmpfs with a pattern seeded by its number,
    /// copies it through one large buffer, and re-reads and checks both,
    /// with sha256 sums of random data and of busybox, --rounds times;
    /// the Virtus domUs run `test=FILTER`; Xen must report eager FPU
    /// switching. Experiments: the environment's VIRTUS_BED_XEN_ARGS is
    /// appended to Xen's command line (`spec-ctrl=no-eager-fpu` brings the
    /// fault back), and VIRTUS_BED_CPU replaces QEMU's -cpu.
    XenConcurrency(crate::commands::ConcurrencyArgs),
    /// Run the suite on the Xen PVH build (virtus-pv) as a domU
    ///
    /// Its command line is "test=all loglevel=info xen.memory_mb=MB" and
    /// --append.
    XenSuite(XenSuiteArgs),
    /// The suite three ways, side by side: natively (q35/max/128M), the
    /// same image as a Xen HVM guest, and virtus-pv as a Xen PVH guest
    ///
    /// Then checks that the same core tests ran in each: a core test (not
    /// native_* or pv_*) missing from a leg fails the run. --memory is the
    /// PVH guest's.
    #[command(alias = "both")]
    Legs(LegsArgs),
    /// Boot virtus-pv (or with --hvm the native image) under Xen with its
    /// console on this terminal
    ///
    /// Its command line is "loglevel=info", "xen.memory_mb=MB" under PVH,
    /// and --append.
    XenRun(XenRunArgs),
    /// Run the suite on the unmodified native image as a Xen HVM domU
    ///
    /// Its command line is "test=all loglevel=info" and --append.
    XenHvmSuite(XenSuiteArgs),
    /// The kernel's micro-benchmarks natively, as Xen HVM and as Xen PVH
    /// guest; boot and footprint against Linux; density; writes bench/
    #[command(mut_arg("native_image", |arg| arg.visible_alias("image")))]
    Bench(BenchRequest),
    /// Drive a running Virtus from outside and judge how it answers
    ///
    /// Natively QEMU's power button; as a Xen PVH domU `xl shutdown -w`,
    /// `xl reboot`, `xl sysrq m` and `c`, a xenstore watch at the shell,
    /// `xl save` and `xl restore`, `xl save -c`, `xl migrate` to this host
    /// and `xl mem-set` down and up; the native image as a Xen HVM domU
    /// `xl trigger power`, `xl shutdown -F`, `xl save` and `xl restore`.
    /// All three columns unless some are named. After each Xen column, a
    /// table of the live operations' figures with their n.
    Lifecycle(LifecycleArgs),
    /// A burst of N bytes from the guest and N to it through its console,
    /// with the CRC-32 and count at both ends
    ///
    /// Natively on QEMU's serial port, with the runner at the other end;
    /// as a Xen PVH domU (virtus-pv's PV console ring and xenconsoled) and
    /// with the native image as a Xen HVM domU (the device model's
    /// emulated 16550), with dom0 at the other end, reading the guest's
    /// pty raw. Both streams are regenerated from the seed here and
    /// compared with both ends' sums. All three columns unless some are
    /// named; figures (bytes, seconds, MB/s) per direction per column.
    SoakConsole(SoakConsoleArgs),
    /// Pack user programs into the ramdisk (what `make build` runs)
    ///
    /// Each PROGRAM goes in as bin/NAME after a check of what user/ABI.md
    /// promises (static x86_64 ET_EXEC in user space, no W+X segment),
    /// with two malformed files made from `hello`: bad-truncated and
    /// bad-machine.
    Ramdisk(RamdiskArgs),
    /// Create and shut down a Virtus PVH domU N times on one boot of Xen,
    /// proving after each cycle that xl list, xenstore and Xen's free
    /// memory are back to the baseline; per-cycle timings
    SoakLifecycle(crate::commands::soak_lifecycle::SoakLifecycleArgs),
    /// A write/read-verify workload on the PVH guest's blkfront disk for a
    /// given time, the image checked in dom0 and on the host afterwards
    SoakDisk(crate::commands::soak_disk::SoakDiskArgs),
}

#[derive(Args, Debug)]
pub struct RamdiskArgs {
    /// The archive to write (cpio newc)
    #[arg(long, value_name = "PATH")]
    pub out: std::path::PathBuf,
    /// The program files; one of them must be `hello`
    #[arg(value_name = "PROGRAM", required = true)]
    pub programs: Vec<std::path::PathBuf>,
}

#[derive(Args, Debug)]
pub struct SuiteArgs {
    #[command(flatten)]
    pub image: Image,
    #[command(flatten)]
    pub ramdisk: Ramdisk,
    #[command(flatten)]
    pub quiet: Quiet,
    /// Only the first configuration (q35/max/128M)
    #[arg(long)]
    pub quick: bool,
    #[command(flatten)]
    pub jobs: Jobs,
    #[command(flatten)]
    pub timeout: Timeout,
}

#[derive(Args, Debug)]
pub struct ChecksArgs {
    #[command(flatten)]
    pub image: Image,
    #[command(flatten)]
    pub ramdisk: Ramdisk,
    #[command(flatten)]
    pub quiet: Quiet,
    #[command(flatten)]
    pub jobs: Jobs,
}

#[derive(Args, Debug)]
pub struct BootArgs {
    #[command(flatten)]
    pub image: Image,
    #[command(flatten)]
    pub ramdisk: Ramdisk,
    #[command(flatten)]
    pub quiet: Quiet,
    /// QEMU machine type
    #[arg(long, value_name = "M", default_value_t = reference().machine)]
    pub machine: String,
    /// QEMU CPU model, with feature flags
    #[arg(long, value_name = "C", default_value_t = reference().cpu)]
    pub cpu: String,
    /// Guest memory, in QEMU's syntax
    #[arg(long, value_name = "M", default_value_t = reference().memory)]
    pub mem: String,
    /// The kernel command line
    #[arg(long, value_name = "ARGS", default_value = matrix::SUITE_CMDLINE)]
    pub append: String,
    #[command(flatten)]
    pub timeout: Timeout,
}

impl BootArgs {
    pub fn config(&self) -> MachineConfig {
        MachineConfig::new(&self.machine, &self.cpu, &self.mem)
    }
}

/// The reference machine: the first of the matrix.
fn reference() -> MachineConfig {
    matrix::matrix().swap_remove(0)
}

/// The command of `virtus-run ARGS...`, or clap's error, for the tests of
/// every command's options.
#[cfg(test)]
pub(crate) fn parse_args(args: &[&str]) -> Result<Command, clap::Error> {
    Cli::try_parse_from(std::iter::once("virtus-run").chain(args.iter().copied()))
        .map(|cli| cli.command)
}

/// A test's command line, split at spaces.
#[cfg(test)]
pub(crate) fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Checks each row of `table`, `ARGS => Kind: text`: clap refuses ARGS
/// with that kind of error, which ends the runner with status 2, and
/// says the text.
#[cfg(test)]
pub(crate) fn mistakes(table: &str) {
    for row in table.lines() {
        let (line, expected) = row.split_once(" => ").expect("ARGS => Kind: text");
        let (kind, text) = expected.split_once(": ").unwrap_or((expected, ""));
        let error = parse_args(&words(line)).expect_err(line);
        let got = (format!("{:?}", error.kind()), error.exit_code());
        assert_eq!(got, (kind.to_string(), 2), "{line}: {error}");
        assert!(error.to_string().contains(text), "{line}: {error}");
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
