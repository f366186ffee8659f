//! A guest to run under Xen, and the `xl` configuration it becomes.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

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

/// How Xen runs the guest. PVH only, for now: the kernel has a PVH entry
/// and the bed's Xen has no shadow paging for anything else without HAP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestKind {
    Pvh,
}

impl GuestKind {
    pub fn xl_type(self) -> &'static str {
        match self {
            Self::Pvh => "pvh",
        }
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
        match text {
            "poweroff" => Some(Self::Poweroff),
            "crash" => Some(Self::Crash),
            "any" => Some(Self::Any),
            _ => None,
        }
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
        })
    }

    /// The bed's Linux guest, which must print [`LINUX_PROOF_LINE`]: the
    /// proof that Xen, dom0 and the toolstack of the bed really work.
    pub fn linux_proof() -> Self {
        Self {
            name: LINUX_PROOF.to_string(),
            kind: GuestKind::Pvh,
            image: GuestImage::BedLinux,
            memory_mb: BED_LINUX_MEMORY_MB,
            vcpus: 1,
            extra: String::new(),
            expect: Expectation::Poweroff,
            expect_lines: vec![LINUX_PROOF_LINE.to_string()],
            timeout: Self::DEFAULT_TIMEOUT,
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
        let mut string = |key: &str, value: &str| -> Result<(), String> {
            let quoted = quote(value).map_err(|problem| format!("{key} {problem}"))?;
            config.push_str(&format!("{key} = {quoted}\n"));
            Ok(())
        };
        string("name", &self.name)?;
        string("type", self.kind.xl_type())?;
        string("kernel", &self.dom0_kernel())?;
        if ramdisk.is_some() {
            string("ramdisk", &self.dom0_ramdisk())?;
        }
        if !self.extra.is_empty() {
            string("extra", &self.extra)?;
        }
        // A guest that reboots is almost always a triple fault, and one
        // restarted after a crash would loop until the timeout: every end
        // destroys the domain, and dom0 reports how it ended.
        for event in ["on_poweroff", "on_reboot", "on_crash"] {
            string(event, "destroy")?;
        }
        // Under TCG, an RDTSCP exit cannot be emulated in Xen's default TSC
        // mode and kills the guest; native mode lets RDTSCP run.
        string("tsc_mode", "native")?;
        if self.memory_mb == 0 || self.vcpus == 0 {
            return Err(format!(
                "guest {}: memory and vcpus must be positive",
                self.name
            ));
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
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "virtus-pvh", "t0", &"x".repeat(32)] {
            assert_eq!(validate_name(good), Ok(()), "{good}");
        }
        for bad in ["", "A", "a_b", "a b", "a.b", "a/b", &"x".repeat(33)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(GuestSpec::pvh("Virtus", "/k").is_err());
    }

    #[test]
    fn xl_config_of_a_pvh_guest() {
        let mut spec = GuestSpec::pvh("virtus", "/host/target/virtus-pvh").unwrap();
        spec.extra = "test=all loglevel=info".into();
        spec.memory_mb = 32;
        spec.vcpus = 2;
        spec.image = GuestImage::File {
            kernel: "/host/k".into(),
            ramdisk: Some("/host/initrd".into()),
        };
        assert_eq!(
            spec.xl_config().unwrap().unwrap(),
            "name = \"virtus\"\n\
             type = \"pvh\"\n\
             kernel = \"/virtus-run/guests/virtus.elf\"\n\
             ramdisk = \"/virtus-run/guests/virtus.ramdisk\"\n\
             extra = \"test=all loglevel=info\"\n\
             on_poweroff = \"destroy\"\n\
             on_reboot = \"destroy\"\n\
             on_crash = \"destroy\"\n\
             tsc_mode = \"native\"\n\
             memory = 32\n\
             vcpus = 2\n"
        );
    }

    #[test]
    fn minimal_config_has_no_ramdisk_or_extra() {
        let config = GuestSpec::pvh("a", "/k")
            .unwrap()
            .xl_config()
            .unwrap()
            .unwrap();
        assert!(!config.contains("ramdisk"));
        assert!(!config.contains("extra"));
        assert!(config.contains("memory = 64\n"));
        assert!(config.contains("vcpus = 1\n"));
    }

    #[test]
    fn values_xl_could_misread_are_refused() {
        for extra in ["say \"hi\"", "it's", "a\\b", "two\nlines", "tab\there"] {
            let mut spec = GuestSpec::pvh("a", "/k").unwrap();
            spec.extra = extra.into();
            let error = spec.xl_config().unwrap_err();
            assert!(error.starts_with("extra must not contain"), "{error}");
        }
        let mut spec = GuestSpec::pvh("a", "/k").unwrap();
        spec.memory_mb = 0;
        assert!(spec.xl_config().is_err());
    }

    #[test]
    fn the_bed_guest_brings_its_own_config() {
        let proof = GuestSpec::linux_proof();
        assert_eq!(proof.xl_config(), Ok(None));
        assert_eq!(proof.expect_lines, [LINUX_PROOF_LINE]);
    }

    #[test]
    fn the_bed_linux_with_arguments() {
        let crasher = GuestSpec::bed_linux("crasher", "rdinit=/none panic=-1").unwrap();
        assert_eq!(crasher.image, GuestImage::BedLinuxArgs);
        assert_eq!(crasher.extra, "rdinit=/none panic=-1");
        assert_eq!(crasher.memory_mb, BED_LINUX_MEMORY_MB);
        assert!(crasher.expect_lines.is_empty());
        assert_eq!(crasher.xl_config(), Ok(None));
        let quoted = GuestSpec::bed_linux("a", "say \"hi\"").unwrap();
        assert!(
            quoted
                .xl_config()
                .unwrap_err()
                .starts_with("extra must not")
        );
        assert!(GuestSpec::bed_linux("A", "").is_err());
    }

    #[test]
    fn expectations() {
        use ShutdownReason::*;
        assert!(Expectation::Poweroff.accepts(Poweroff));
        assert!(!Expectation::Poweroff.accepts(Crash));
        assert!(Expectation::Crash.accepts(Crash));
        assert!(!Expectation::Crash.accepts(Reboot));
        assert!(Expectation::Any.accepts(Reboot));
        assert_eq!(Expectation::parse("crash"), Some(Expectation::Crash));
        assert_eq!(Expectation::parse("halt"), None);
    }
}
