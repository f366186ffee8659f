//! The options that several commands share, each defined once and
//! `#[command(flatten)]`ed into the commands that take it, with the value
//! parsers that check them. Defaults that depend on the command (which
//! image, how much memory) are resolved by the command's request.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::xen::Verbosity;

/// The native build: what `make build` writes, and what the Xen HVM
/// commands load in its ELF32 form ([`HVM_IMAGE`]).
pub const NATIVE_IMAGE: &str = "virtus-native";
/// The PVH build, next to it.
pub const PV_IMAGE: &str = "virtus-pv";
/// The native image in ELF32 form, next to it: Xen's 32-bit device model
/// loads no ELF64.
pub const HVM_IMAGE: &str = "virtus-native.elf32";

/// `--image`.
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
#[derive(Args, Clone, Debug)]
pub struct LegImages {
    /// The native image
    #[arg(long, value_name = "PATH", default_value_os_t = build_dir().join(NATIVE_IMAGE))]
    pub native_image: PathBuf,
    /// The HVM guest's image
    #[arg(long, value_name = "PATH", default_value_os_t = build_dir().join(HVM_IMAGE))]
    pub hvm_image: PathBuf,
    /// The PVH guest's image
    #[arg(long, value_name = "PATH", default_value_os_t = build_dir().join(PV_IMAGE))]
    pub pv_image: PathBuf,
}

/// `--quiet`, alone for the native commands.
#[derive(Args, Clone, Debug)]
pub struct Quiet {
    /// Do not stream the consoles, print only verdicts
    #[arg(long)]
    pub quiet: bool,
}

/// `--quiet` or `--verbose`, for the commands that boot Xen.
#[derive(Args, Clone, Debug)]
pub struct VerbosityArgs {
    #[command(flatten)]
    pub quiet: Quiet,
    /// Also stream Xen's and dom0's kernel lines
    #[arg(long, conflicts_with = "quiet")]
    pub verbose: bool,
}

impl VerbosityArgs {
    pub fn level(&self) -> Verbosity {
        match (self.quiet.quiet, self.verbose) {
            (true, _) => Verbosity::Quiet,
            (_, true) => Verbosity::Verbose,
            _ => Verbosity::Normal,
        }
    }
}

/// `--bed`.
#[derive(Args, Clone, Debug)]
pub struct Bed {
    /// A prepared test bed [default: the one tests/xen/testbed.py prepares,
    /// or has cached]
    #[arg(long, value_name = "DIR")]
    pub bed: Option<PathBuf>,
}

/// `--bed` and `--hvm-bed`, for the commands that run PVH and HVM guests.
#[derive(Args, Clone, Debug)]
pub struct Beds {
    #[command(flatten)]
    pub bed: Bed,
    /// A prepared HVM test bed [default: the one testbed.py --hvm prepares]
    #[arg(long, value_name = "DIR")]
    pub hvm_bed: Option<PathBuf>,
}

/// `--memory`.
#[derive(Args, Clone, Debug)]
pub struct Memory {
    /// The guest's memory in MB, 4 to 4096 (`48` or `48M`) [default: 32 for
    /// a PVH guest, 64 for an HVM one]
    #[arg(long, value_name = "MB", value_parser = megabytes)]
    pub memory: Option<u32>,
}

/// `--timeout`.
#[derive(Args, Clone, Debug)]
pub struct Timeout {
    /// The time limit of each boot, whole seconds (`30` or `30s`) [default:
    /// 120 natively, 240 under Xen]
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    pub timeout: Option<Duration>,
}

/// `--jobs`.
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

/// Where `make` puts the images: the workspace's target directory (or
/// `$CARGO_TARGET_DIR`, as cargo itself would use).
pub fn build_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => crate::workspace().join("target"),
    };
    target.join("x86_64-unknown-none/release")
}
