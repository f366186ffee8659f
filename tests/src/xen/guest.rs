//! A guest to run under Xen, and the `xl` configuration it becomes.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::hvm::{self, XlValue};
use super::protocol::ShutdownReason;

/// Where guest files live inside dom0 (see [`super::script`]).
pub const GUEST_DIR: &str = "/virtus-run/guests";

/// Name of the bed's own Linux guest (see [`GuestImage::BedLinux`]).
pub const LINUX_PROOF: &str = "linux-proof";

/// The line the bed's Linux guest prints once its userspace runs.
pub const LINUX_PROOF_LINE: &str = "VIRTUS-LINUX-GUEST-OK";

/// The memory the library's `linux_guest_cfg` gives the bed's Linux
/// (fixed there: the least it boots in).
pub const BED_LINUX_MEMORY_MB: u32 = 96;

const MAX_NAME: usize = 32;

/// How Xen runs the guest: PVH (the kernel's PVH entry, no emulated
/// devices) or HVM (an unmodified kernel on emulated hardware, see
/// [`super::hvm`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestKind {
    Pvh,
    Hvm,
}

impl GuestKind {
    pub fn xl_type(self) -> &'static str {
        match self {
            Self::Pvh => "pvh",
            Self::Hvm => "hvm",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pvh, Self::Hvm]
            .into_iter()
            .find(|k| k.xl_type() == text)
    }
}

/// What the guest boots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestImage {
    /// A kernel file on the host, copied into dom0.
    File {
        kernel: PathBuf,
        ramdisk: Option<PathBuf>,
    },
    /// The bed's own Linux PVH guest, already in dom0's initramfs and
    /// started by the library's `linux_proof_guest`.
    BedLinux,
    /// The same kernel and initramfs under the spec's own name, with the
    /// spec's `extra` appended to the bed's command line: the library's
    /// `linux_guest_cfg` writes its config in dom0 (`--guest NAME=@linux`).
    BedLinuxArgs,
}

/// How the guest must end to pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// A clean `SCHEDOP_shutdown(poweroff)`.
    Poweroff,
    /// A crash: for guests that are meant to die (fault-injection tests).
    Crash,
    /// Any shutdown Xen reports; only a hang or a failed start fails.
    Any,
}

impl Expectation {
    pub fn parse(text: &str) -> Option<Self> {
        let all = [Self::Poweroff, Self::Crash, Self::Any];
        all.into_iter().find(|e| e.to_string() == text)
    }

    pub fn accepts(self, reason: ShutdownReason) -> bool {
        match self {
            Self::Poweroff => reason == ShutdownReason::Poweroff,
            Self::Crash => reason == ShutdownReason::Crash,
            Self::Any => true,
        }
    }
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Poweroff => "poweroff",
            Self::Crash => "crash",
            Self::Any => "any",
        })
    }
}

/// One guest of a run, and what it must do to pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestSpec {
    /// The domain name, and the label of its console lines.
    pub name: String,
    pub kind: GuestKind,
    pub image: GuestImage,
    pub memory_mb: u32,
    pub vcpus: u32,
    /// The guest kernel's command line (`extra` in xl's words).
    pub extra: String,
    pub expect: Expectation,
    /// Texts that must each appear in some console line.
    pub expect_lines: Vec<String>,
    /// How long dom0 waits for the guest to end once it waits for it.
    pub timeout: Duration,
    /// xl disk specifications (`xl-disk-configuration(5)`), one per disk,
    /// each naming a file or device in dom0.
    pub disks: Vec<String>,
}

impl GuestSpec {
    pub const DEFAULT_MEMORY_MB: u32 = 64;
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// A PVH guest booting `kernel` with the defaults: 64 MB, one vCPU,
    /// an empty command line, expected to power off within 60 s.
    pub fn pvh(name: &str, kernel: impl Into<PathBuf>) -> Result<Self, String> {
        validate_name(name)?;
        Ok(Self {
            name: name.to_string(),
            kind: GuestKind::Pvh,
            image: GuestImage::File {
                kernel: kernel.into(),
                ramdisk: None,
            },
            memory_mb: Self::DEFAULT_MEMORY_MB,
            vcpus: 1,
            extra: String::new(),
            expect: Expectation::Poweroff,
            expect_lines: Vec::new(),
            timeout: Self::DEFAULT_TIMEOUT,
            disks: Vec::new(),
        })
    }

    /// An HVM guest booting `kernel` (an ELF32 with a PVH note) directly,
    /// with the same defaults as [`Self::pvh`].
    pub fn hvm(name: &str, kernel: impl Into<PathBuf>) -> Result<Self, String> {
        Ok(Self {
            kind: GuestKind::Hvm,
            ..Self::pvh(name, kernel)?
        })
    }

    /// The bed's Linux guest, which must print [`LINUX_PROOF_LINE`]: the
    /// proof that Xen, dom0 and the toolstack of the bed really work.
    pub fn linux_proof() -> Self {
        Self {
            image: GuestImage::BedLinux,
            memory_mb: BED_LINUX_MEMORY_MB,
            expect_lines: vec![LINUX_PROOF_LINE.to_string()],
            ..Self::pvh(LINUX_PROOF, "").expect("a valid name")
        }
    }

    /// The bed's Linux as `name`, `extra` appended to its command line,
    /// expected to power off within 60 s.
    pub fn bed_linux(name: &str, extra: &str) -> Result<Self, String> {
        validate_name(name)?;
        Ok(Self {
            name: name.to_string(),
            image: GuestImage::BedLinuxArgs,
            extra: extra.to_string(),
            expect_lines: Vec::new(),
            ..Self::linux_proof()
        })
    }

    /// Paths inside dom0 of the kernel and ramdisk copies.
    pub fn dom0_kernel(&self) -> String {
        format!("{GUEST_DIR}/{}.elf", self.name)
    }

    pub fn dom0_ramdisk(&self) -> String {
        format!("{GUEST_DIR}/{}.ramdisk", self.name)
    }

    pub fn dom0_config(&self) -> String {
        format!("{GUEST_DIR}/{}.cfg", self.name)
    }

    /// The `xl` configuration file; `None` for the bed's Linux, whose
    /// configuration the library writes in dom0. Fails on values `xl`
    /// could not read back as written.
    pub fn xl_config(&self) -> Result<Option<String>, String> {
        validate_name(&self.name)?;
        let GuestImage::File { ramdisk, .. } = &self.image else {
            // `linux_guest_cfg` puts the words inside an xl string too.
            quote(&self.extra).map_err(|problem| format!("extra {problem}"))?;
            return Ok(None);
        };
        let mut config = String::new();
        let mut setting = |key: &str, value: XlValue| -> Result<(), String> {
            let text = match value {
                XlValue::Str(text) => quote(text).map_err(|problem| format!("{key} {problem}"))?,
                XlValue::Num(n) => n.to_string(),
            };
            config.push_str(&format!("{key} = {text}\n"));
            Ok(())
        };
        setting("name", XlValue::Str(&self.name))?;
        setting("type", XlValue::Str(self.kind.xl_type()))?;
        setting("kernel", XlValue::Str(&self.dom0_kernel()))?;
        if ramdisk.is_some() {
            setting("ramdisk", XlValue::Str(&self.dom0_ramdisk()))?;
        }
        // A PVH Virtus compares the name xenstore gives it with this one.
        // Either kind checks its own count of CPUs against xl's.
        let extra = match self.kind {
            GuestKind::Pvh => format!(
                "{} xen.expect_name={} smp.cpus={}",
                self.extra, self.name, self.vcpus
            ),
            GuestKind::Hvm => format!("{} smp.cpus={}", self.extra, self.vcpus),
        };
        if !extra.trim().is_empty() {
            setting("extra", XlValue::Str(extra.trim_start()))?;
        }
        if self.kind == GuestKind::Hvm {
            for (key, value) in hvm::XL_SETTINGS {
                setting(key, value)?;
            }
        }
        // A guest that reboots is almost always a triple fault, and one
        // restarted after a crash would loop until the timeout: every end
        // destroys the domain (an HVM one once its UART drained), and dom0
        // reports how it ended.
        for event in ["on_poweroff", "on_reboot", "on_crash"] {
            setting(event, XlValue::Str(hvm::end_action(self.kind)))?;
        }
        // Under TCG, an RDTSCP exit cannot be emulated in Xen's default TSC
        // mode and kills the guest; native mode lets RDTSCP run.
        setting("tsc_mode", XlValue::Str("native"))?;
        if self.memory_mb == 0 || self.vcpus == 0 {
            let name = &self.name;
            return Err(format!("guest {name}: memory and vcpus must be positive"));
        }
        if !self.disks.is_empty() {
            let mut quoted = Vec::new();
            for spec in &self.disks {
                quoted.push(quote(spec).map_err(|problem| format!("disk {problem}"))?);
            }
            config.push_str(&format!("disk = [ {} ]\n", quoted.join(", ")));
        }
        config.push_str(&format!("memory = {}\n", self.memory_mb));
        config.push_str(&format!("vcpus = {}\n", self.vcpus));
        Ok(Some(config))
    }
}

/// Domain names are also file names in dom0 and words in the console
/// protocol: lowercase letters, digits and `-`, at most 32.
pub fn validate_name(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if name.is_empty() || name.len() > MAX_NAME || !name.chars().all(allowed) {
        Err(format!(
            "bad guest name `{name}`: use 1 to {MAX_NAME} of a-z, 0-9 and -"
        ))
    } else {
        Ok(())
    }
}

/// A value as an xl string. xl's parser has escapes, but which ones differs
/// between versions; values that would need one are refused instead.
fn quote(value: &str) -> Result<String, String> {
    match value
        .chars()
        .find(|c| matches!(c, '"' | '\'' | '\\') || c.is_control())
    {
        Some(c) => Err(format!(
            "must not contain {c:?}: `{}`",
            value.escape_debug()
        )),
        None => Ok(format!("\"{value}\"")),
    }
}

#[cfg(test)]
#[path = "guest_tests.rs"]
mod tests;
