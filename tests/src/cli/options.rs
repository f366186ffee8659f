//! The options that several commands share, each defined once: flattened
//! structs, the help of `--bed`, the [`Verbosity`] flags, and the value
//! parsers that check them. Defaults that depend on the command (which
//! image, how much memory) are resolved by the command's request.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgMatches, Args, FromArgMatches};

use crate::xen::Verbosity;

/// The native build: what `make build` writes, and what the Xen HVM
/// commands load in its ELF32 form ([`HVM_IMAGE`]).
pub const NATIVE_IMAGE: &str = "virtus-native";
pub const PV_IMAGE: &str = "virtus-pv";
/// Xen's 32-bit device model loads no ELF64.
pub const HVM_IMAGE: &str = "virtus-native.elf32";

/// The help of `--bed` and `--hvm-bed`, which requests take as plain fields.
pub const BED: &str =
    "A prepared test bed [default: the one tests/xen/testbed.py prepares, or has cached]";
pub const HVM_BED: &str = "A prepared HVM test bed [default: the one testbed.py --hvm prepares]";

#[derive(Args, Clone, Debug)]
pub struct Image {
    /// The kernel image, which is never built here [default in
    /// target/x86_64-unknown-none/release: virtus-native; under Xen
    /// virtus-pv for PVH, virtus-native.elf32 for HVM]
    #[arg(long, value_name = "PATH")]
    pub image: Option<PathBuf>,
}

/// `--native-image`, `--hvm-image`, `--pv-image`: the three builds that
/// `legs` and `bench` run side by side.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct LegImages {
    /// The native image
    #[arg(long, value_name = "PATH", default_value_os_t = built(NATIVE_IMAGE))]
    pub native_image: PathBuf,
    /// The HVM guest's image
    #[arg(long, value_name = "PATH", default_value_os_t = built(HVM_IMAGE))]
    pub hvm_image: PathBuf,
    /// The PVH guest's image
    #[arg(long, value_name = "PATH", default_value_os_t = built(PV_IMAGE))]
    pub pv_image: PathBuf,
}

/// `--bed` and `--hvm-bed`: the beds of the commands that run both kinds
/// of Xen guest (`legs`, `bench`).
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct Beds {
    #[arg(long, value_name = "DIR", help = BED)]
    pub bed: Option<PathBuf>,
    #[arg(long, value_name = "DIR", help = HVM_BED)]
    pub hvm_bed: Option<PathBuf>,
}

/// `--ramdisk`: the user programs every boot of the suite or the shell
/// gets; [`crate::ramdisk::resolve`] fills in the default.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct Ramdisk {
    /// The ramdisk of user programs (cpio newc) [default in
    /// target/x86_64-unknown-none/release: virtus-ramdisk.cpio, which
    /// `make build` makes]
    #[arg(long, value_name = "PATH")]
    pub ramdisk: Option<PathBuf>,
}

impl Ramdisk {
    /// The given ramdisk or the default; an error if the file is missing.
    pub fn resolve(&self) -> Result<PathBuf, String> {
        crate::ramdisk::resolve(self.ramdisk.as_deref())
    }

    /// The given ramdisk or the default, not yet checked to exist.
    pub fn or_default(self) -> PathBuf {
        self.ramdisk.unwrap_or_else(crate::ramdisk::default_path)
    }
}

/// `--quiet`, alone for the native commands.
#[derive(Args, Clone, Debug)]
pub struct Quiet {
    /// Do not stream the consoles, print only verdicts
    #[arg(long)]
    pub quiet: bool,
}

/// `--quiet` or `--verbose`: what a field of type [`Verbosity`] takes.
#[derive(Args)]
struct VerbosityFlags {
    #[command(flatten)]
    quiet: Quiet,
    /// Also stream Xen's and dom0's kernel lines
    #[arg(long, conflicts_with = "quiet")]
    verbose: bool,
}

impl Args for Verbosity {
    fn augment_args(command: clap::Command) -> clap::Command {
        VerbosityFlags::augment_args(command)
    }
    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        VerbosityFlags::augment_args_for_update(command)
    }
}

impl FromArgMatches for Verbosity {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let flags = VerbosityFlags::from_arg_matches(matches)?;
        Ok(match (flags.quiet.quiet, flags.verbose) {
            (true, _) => Verbosity::Quiet,
            (_, true) => Verbosity::Verbose,
            _ => Verbosity::Normal,
        })
    }
    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

#[derive(Args, Clone, Debug)]
pub struct Memory {
    /// The guest's memory in MB, 4 to 4096 (`48` or `48M`) [default: 32 for
    /// a PVH guest, 64 for an HVM one]
    #[arg(long, value_name = "MB", value_parser = megabytes)]
    pub memory: Option<u32>,
}

#[derive(Args, Clone, Debug)]
pub struct Timeout {
    /// The time limit of each boot, whole seconds (`30` or `30s`) [default:
    /// 120 natively, 240 under Xen]
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    pub timeout: Option<Duration>,
}

#[derive(Args, Clone, Debug)]
pub struct Jobs {
    /// Boot up to N machines at once
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
}

/// `30` or `30s`: whole seconds, 1 to a day. Also the `timeout=` of a
/// `--guest`.
pub fn seconds(text: &str) -> Result<Duration, String> {
    match text.strip_suffix('s').unwrap_or(text).parse::<u64>() {
        Ok(secs) if (1..=24 * 3600).contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err("not whole seconds from 1 to 86400 (e.g. 120 or 120s)".into()),
    }
}

/// `48` or `48M`: MB, 4 to 4096.
pub fn megabytes(text: &str) -> Result<u32, String> {
    match text.strip_suffix(['M', 'm']).unwrap_or(text).parse::<u32>() {
        Ok(mb) if (4..=4096).contains(&mb) => Ok(mb),
        _ => Err("not MB from 4 to 4096 (e.g. 48 or 48M)".into()),
    }
}

/// An image in `make`'s output directory: the workspace's target directory,
/// or `$CARGO_TARGET_DIR` as cargo itself would use.
pub fn built(image: &str) -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => crate::workspace().join("target"),
    };
    target.join("x86_64-unknown-none/release").join(image)
}
