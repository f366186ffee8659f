//! The options of the commands that run Virtus as a Xen domU: the PVH
//! build (`virtus-pv`) with `xen-suite` and `xen-run`, the unmodified
//! native image as an HVM guest with `xen-hvm-suite` and `xen-run --hvm`,
//! and all three ways at once with `legs` (alias `both`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::guest::{GuestImage, GuestKind, GuestSpec};
use super::live::Verbosity;
use crate::cli::options::{
    BED, Beds, HVM_IMAGE, Image, LegImages, Memory, NATIVE_IMAGE, PV_IMAGE, Ramdisk, Timeout,
    built, megabytes,
};

/// Which command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PvMode {
    /// `xen-suite`.
    Suite,
    /// `xen-run`: the guest's console on this terminal.
    Run,
    /// `legs` (alias `both`).
    Legs,
    /// `xen-hvm-suite`.
    HvmSuite,
}

/// A parsed `xen-suite`, `xen-hvm-suite`, `xen-run` or `legs` invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PvRequest {
    pub mode: PvMode,
    /// `legs` runs both kinds; this is its PVH leg's.
    pub kind: GuestKind,
    /// The guest image (`--image`, or `--pv-image` for `legs`).
    pub image: PathBuf,
    /// The ramdisk of user programs, every leg's (`--ramdisk`, or the one
    /// `make build` packs); checked to exist when the run starts.
    pub ramdisk: Option<PathBuf>,
    pub memory_mb: u32,
    /// vCPUs of every Xen guest, CPUs of the native leg.
    pub cpus: u32,
    /// Appended to the guest's command line.
    pub append: String,
    /// How long dom0 waits for the guest to end.
    pub timeout: Duration,
    pub bed: Option<PathBuf>,
    pub verbosity: Verbosity,
    /// Run the cases that must turn red ([`crate::red`]), not the suite.
    pub red: bool,
    // For `legs`: its native leg's image, and its HVM leg's.
    pub native_image: PathBuf,
    pub hvm_image: PathBuf,
    pub hvm_memory_mb: u32,
    pub hvm_bed: Option<PathBuf>,
}

impl PvRequest {
    pub const DEFAULT_MEMORY_MB: u32 = 32;
    /// An HVM guest also holds hvmloader's and SeaBIOS's tables.
    pub const HVM_MEMORY_MB: u32 = 64;
    /// A nested guest under TCG runs slower than the native suite's 120 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(240);

    /// `xl`'s `extra`. A PVH kernel checks that it sees the memory `xl`
    /// gave it (`xen.memory_mb`); under HVM it finds it in the E820 map.
    pub fn extra(&self) -> String {
        // Booting to the shell runs no tests.
        let base = match self.mode {
            PvMode::Run => "loglevel=info",
            PvMode::Suite | PvMode::Legs | PvMode::HvmSuite => "test=all loglevel=info",
        };
        let extra = match self.kind {
            GuestKind::Pvh => format!("{base} xen.memory_mb={} {}", self.memory_mb, self.append),
            GuestKind::Hvm => format!("{base} {}", self.append),
        };
        extra.trim_end().to_string()
    }

    /// The guest as dom0 runs it: `virtus` (the label of its lines), one
    /// vCPU, expected to power off.
    pub fn guest(&self) -> Result<GuestSpec, String> {
        let mut spec = GuestSpec::pvh("virtus", &self.image)?;
        spec.kind = self.kind;
        spec.image = GuestImage::File {
            kernel: self.image.clone(),
            ramdisk: self.ramdisk.clone(),
        };
        spec.memory_mb = self.memory_mb;
        spec.vcpus = self.cpus;
        spec.extra = self.extra();
        spec.timeout = self.timeout;
        spec.xl_config()?;
        Ok(spec)
    }

    /// The Xen legs of `legs`, as the suite commands they stand for: the
    /// native image as an HVM guest (`xen-hvm-suite`), then the PVH build
    /// (`xen-suite`).
    pub fn xen_legs(&self) -> [PvRequest; 2] {
        let pvh = PvRequest {
            mode: PvMode::Suite,
            kind: GuestKind::Pvh,
            ..self.clone()
        };
        let hvm = PvRequest {
            mode: PvMode::HvmSuite,
            kind: GuestKind::Hvm,
            image: self.hvm_image.clone(),
            memory_mb: self.hvm_memory_mb,
            bed: self.hvm_bed.clone(),
            ..self.clone()
        };
        [hvm, pvh]
    }
}

/// The options of a Virtus domU, common to `xen-suite`, `xen-hvm-suite`
/// and `xen-run`.
#[derive(Args, Clone, Debug)]
pub struct DomUArgs {
    #[command(flatten)]
    pub image: Image,
    #[command(flatten)]
    pub memory: Memory,
    /// Added to the guest's command line
    #[arg(long, value_name = "ARGS")]
    pub append: Option<String>,
    #[command(flatten)]
    pub ramdisk: Ramdisk,
    #[arg(long, value_name = "DIR", help = BED)]
    pub bed: Option<PathBuf>,
    /// The guest's vCPUs, 1 to 8
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub cpus: u32,
}

#[derive(Args, Clone, Debug)]
pub struct XenSuiteArgs {
    #[command(flatten)]
    pub domu: DomUArgs,
    #[command(flatten)]
    pub timeout: Timeout,
    #[command(flatten)]
    pub verbosity: Verbosity,
    /// Run the cases that must turn red (a failing test, a filter that
    /// matches nothing, a crash after the summary) instead of the suite
    #[arg(long)]
    pub red: bool,
}

#[derive(Args, Clone, Debug)]
pub struct XenRunArgs {
    #[command(flatten)]
    pub domu: DomUArgs,
    /// Boot the native image as an HVM guest on the HVM bed: --image
    /// defaults to virtus-native.elf32, --memory to 64
    #[arg(long)]
    pub hvm: bool,
}

#[derive(Args, Clone, Debug)]
pub struct LegsArgs {
    #[command(flatten)]
    pub images: LegImages,
    // The PVH guest's.
    #[command(flatten)]
    pub memory: Memory,
    /// The HVM guest's memory in MB, 4 to 4096
    #[arg(long, value_name = "MB", value_parser = megabytes, default_value_t = PvRequest::HVM_MEMORY_MB)]
    pub hvm_memory: u32,
    #[command(flatten)]
    pub timeout: Timeout,
    #[command(flatten)]
    pub ramdisk: Ramdisk,
    #[command(flatten)]
    pub beds: Beds,
    #[command(flatten)]
    pub verbosity: Verbosity,
    /// CPUs in every leg (`-smp` natively, `vcpus` under Xen), 1 to 8
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub cpus: u32,
}

impl DomUArgs {
    /// The run of `mode` as a `kind` guest: by default that kind's build,
    /// next to the native image, with the memory that kind needs. What xl
    /// could not read (in `--append`) is refused now, not after booting Xen.
    fn request(self, mode: PvMode, kind: GuestKind) -> Result<PvRequest, String> {
        let (image, memory_mb) = match kind {
            GuestKind::Pvh => (PV_IMAGE, PvRequest::DEFAULT_MEMORY_MB),
            GuestKind::Hvm => (HVM_IMAGE, PvRequest::HVM_MEMORY_MB),
        };
        let request = PvRequest {
            mode,
            kind,
            image: self.image.image.unwrap_or_else(|| built(image)),
            native_image: built(NATIVE_IMAGE),
            hvm_image: built(HVM_IMAGE),
            ramdisk: Some(self.ramdisk.or_default()),
            memory_mb: self.memory.memory.unwrap_or(memory_mb),
            cpus: self.cpus,
            hvm_memory_mb: PvRequest::HVM_MEMORY_MB,
            append: self.append.unwrap_or_default(),
            timeout: PvRequest::DEFAULT_TIMEOUT,
            bed: self.bed,
            hvm_bed: None,
            verbosity: Verbosity::Normal,
            red: false,
        };
        request.guest()?;
        Ok(request)
    }
}

impl XenSuiteArgs {
    /// `xen-suite` (PVH) or `xen-hvm-suite` (HVM).
    pub fn request(self, kind: GuestKind) -> Result<PvRequest, String> {
        let mode = match kind {
            GuestKind::Pvh => PvMode::Suite,
            GuestKind::Hvm => PvMode::HvmSuite,
        };
        Ok(PvRequest {
            timeout: self.timeout.timeout.unwrap_or(PvRequest::DEFAULT_TIMEOUT),
            verbosity: self.verbosity,
            red: self.red,
            ..self.domu.request(mode, kind)?
        })
    }
}

impl XenRunArgs {
    pub fn request(self) -> Result<PvRequest, String> {
        let kind = if self.hvm {
            GuestKind::Hvm
        } else {
            GuestKind::Pvh
        };
        self.domu.request(PvMode::Run, kind)
    }
}

impl LegsArgs {
    pub fn request(self) -> PvRequest {
        PvRequest {
            mode: PvMode::Legs,
            kind: GuestKind::Pvh,
            image: self.images.pv_image,
            native_image: self.images.native_image,
            hvm_image: self.images.hvm_image,
            ramdisk: Some(self.ramdisk.or_default()),
            memory_mb: self.memory.memory.unwrap_or(PvRequest::DEFAULT_MEMORY_MB),
            cpus: self.cpus,
            hvm_memory_mb: self.hvm_memory,
            append: String::new(),
            timeout: self.timeout.timeout.unwrap_or(PvRequest::DEFAULT_TIMEOUT),
            bed: self.beds.bed,
            hvm_bed: self.beds.hvm_bed,
            verbosity: self.verbosity,
            red: false,
        }
    }
}

#[cfg(test)]
#[path = "pv_args_tests.rs"]
mod tests;
