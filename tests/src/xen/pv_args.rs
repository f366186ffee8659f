//! The options of the commands that run Virtus as a Xen domU: the PVH
//! build (`virtus-pv`) with `xen-suite` and `xen-run`, the unmodified
//! native image as an HVM guest with `xen-hvm-suite` and `xen-run --hvm`,
//! and all three ways at once with `legs` (alias `both`).

use std::path::PathBuf;
use std::time::Duration;

use super::guest::{GuestImage, GuestKind, GuestSpec};
use super::live::Verbosity;

/// The domain name of the Virtus guest, and the label of its lines.
pub const GUEST_NAME: &str = "virtus";

/// The kernel command line of a suite run under Xen (before the memory).
pub const SUITE_EXTRA: &str = "test=all loglevel=info";

/// Booting to the shell: no tests.
pub const RUN_EXTRA: &str = "loglevel=info";

/// Which command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PvMode {
    /// `xen-suite`: the suite as a PVH guest, judged.
    Suite,
    /// `xen-run`: the guest's console on this terminal (PVH, or HVM
    /// with `--hvm`).
    Run,
    /// `legs` (alias `both`): the native suite (first machine), the
    /// native image as an HVM guest and the PVH build, side by side.
    Legs,
    /// `xen-hvm-suite`: the native image's suite as an HVM guest, judged.
    HvmSuite,
}

/// A parsed `xen-suite`, `xen-hvm-suite`, `xen-run` or `legs` invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PvRequest {
    pub mode: PvMode,
    /// How Xen runs the guest: PVH, or HVM for `xen-hvm-suite` and
    /// `xen-run --hvm`. `legs` runs both; this is its PVH leg's.
    pub kind: GuestKind,
    /// The guest image (`--image`, or `--pv-image` for `legs`).
    pub image: PathBuf,
    /// The native image, for `legs`.
    pub native_image: PathBuf,
    /// The HVM leg's image, for `legs` (`--hvm-image`).
    pub hvm_image: PathBuf,
    pub ramdisk: Option<PathBuf>,
    pub memory_mb: u32,
    /// The HVM leg's memory, for `legs` (`--hvm-memory`).
    pub hvm_memory_mb: u32,
    /// Appended to the guest's command line.
    pub append: String,
    /// How long dom0 waits for the guest to end.
    pub timeout: Duration,
    pub bed: Option<PathBuf>,
    /// The HVM leg's bed, for `legs` (`--hvm-bed`).
    pub hvm_bed: Option<PathBuf>,
    pub verbosity: Verbosity,
    /// `--red`: run the cases that must turn red ([`crate::red`]) instead
    /// of the suite.
    pub red: bool,
}

impl PvRequest {
    pub const DEFAULT_MEMORY_MB: u32 = 32;
    /// An HVM guest also holds hvmloader's and SeaBIOS's tables.
    pub const HVM_MEMORY_MB: u32 = 64;
    /// A nested guest under TCG runs slower than the native suite's 120 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(240);

    /// The guest's command line: `xl`'s `extra`. The kernel checks that
    /// it sees the memory `xl` gave it (`xen.memory_mb`).
    /// The native kernel under HVM finds its memory in the E820 map.
    pub fn extra(&self) -> String {
        let base = match self.mode {
            PvMode::Run => RUN_EXTRA,
            PvMode::Suite | PvMode::Legs | PvMode::HvmSuite => SUITE_EXTRA,
        };
        let extra = match self.kind {
            GuestKind::Pvh => format!("{base} xen.memory_mb={} {}", self.memory_mb, self.append),
            GuestKind::Hvm => format!("{base} {}", self.append),
        };
        extra.trim_end().to_string()
    }

    /// The guest as dom0 runs it: one vCPU, expected to power off.
    pub fn guest(&self) -> Result<GuestSpec, String> {
        let mut spec = GuestSpec::pvh(GUEST_NAME, &self.image)?;
        spec.kind = self.kind;
        spec.image = GuestImage::File {
            kernel: self.image.clone(),
            ramdisk: self.ramdisk.clone(),
        };
        spec.memory_mb = self.memory_mb;
        spec.vcpus = 1;
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

/// Parses the arguments after `command`. `Ok(None)` asks for help.
/// `native_default` is the native image's default path; the PVH image's
/// default is `virtus-pv` next to it, the HVM image's the ELF32 form of the
/// native one, `virtus-native.elf32` (Xen's 32-bit device model loads no
/// ELF64).
pub fn parse(
    command: &str,
    args: impl IntoIterator<Item = String>,
    native_default: PathBuf,
) -> Result<Option<PvRequest>, String> {
    let (mode, allowed): (PvMode, &[&str]) = match command {
        "xen-suite" => (
            PvMode::Suite,
            &[
                "--image",
                "--memory",
                "--append",
                "--timeout",
                "--ramdisk",
                "--bed",
                "--quiet",
                "--verbose",
                "--red",
            ],
        ),
        "xen-hvm-suite" => (
            PvMode::HvmSuite,
            &[
                "--image",
                "--memory",
                "--append",
                "--timeout",
                "--bed",
                "--quiet",
                "--verbose",
                "--red",
            ],
        ),
        "xen-run" => (
            PvMode::Run,
            &[
                "--image",
                "--memory",
                "--append",
                "--ramdisk",
                "--bed",
                "--hvm",
            ],
        ),
        "legs" | "both" => (
            PvMode::Legs,
            &[
                "--native-image",
                "--hvm-image",
                "--pv-image",
                "--memory",
                "--hvm-memory",
                "--timeout",
                "--bed",
                "--hvm-bed",
                "--quiet",
            ],
        ),
        other => return Err(format!("unknown command `{other}`")),
    };
    let hvm_image = native_default.with_file_name(HVM_IMAGE);
    let mut request = PvRequest {
        mode,
        kind: if mode == PvMode::HvmSuite {
            GuestKind::Hvm
        } else {
            GuestKind::Pvh
        },
        image: native_default.with_file_name(PV_IMAGE),
        native_image: native_default,
        hvm_image,
        ramdisk: None,
        memory_mb: PvRequest::DEFAULT_MEMORY_MB,
        hvm_memory_mb: PvRequest::HVM_MEMORY_MB,
        append: String::new(),
        timeout: PvRequest::DEFAULT_TIMEOUT,
        bed: None,
        hvm_bed: None,
        verbosity: Verbosity::Normal,
        red: false,
    };
    // `xen-run --hvm` changes the defaults, wherever among the options.
    let (mut image, mut memory) = (None, None);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if ["-h", "--help"].contains(&arg.as_str()) {
            return Ok(None);
        }

        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg, None),
        };
        if !allowed.contains(&flag.as_str()) {
            return Err(format!("`{flag}` is not an option of `{command}`"));
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("`{flag}` needs a value"))
        };
        match flag.as_str() {
            "--image" | "--pv-image" => image = Some(PathBuf::from(value()?)),
            "--native-image" => request.native_image = PathBuf::from(value()?),
            "--hvm-image" => request.hvm_image = PathBuf::from(value()?),
            "--ramdisk" => request.ramdisk = Some(PathBuf::from(value()?)),
            "--memory" => memory = Some(parse_memory(&flag, &value()?)?),
            "--hvm-memory" => request.hvm_memory_mb = parse_memory(&flag, &value()?)?,
            "--append" => request.append = value()?,
            "--timeout" => {
                let text = value()?;
                let seconds = text.strip_suffix('s').unwrap_or(&text);
                request.timeout = match seconds.parse::<u64>() {
                    Ok(s) if (1..=3600).contains(&s) => Duration::from_secs(s),
                    _ => return Err(format!("--timeout wants whole seconds, not `{text}`")),
                };
            }
            "--bed" => request.bed = Some(PathBuf::from(value()?)),
            "--hvm-bed" => request.hvm_bed = Some(PathBuf::from(value()?)),
            "--hvm" => request.kind = GuestKind::Hvm,
            "--quiet" => request.verbosity = Verbosity::Quiet,
            "--red" => request.red = true,
            "--verbose" => request.verbosity = Verbosity::Verbose,
            _ => unreachable!("every allowed option is handled"),
        }
    }
    let hvm = request.kind == GuestKind::Hvm;
    request.image = image.unwrap_or_else(|| {
        if hvm {
            request.hvm_image.clone()
        } else {
            request.image.clone()
        }
    });
    request.memory_mb = memory.unwrap_or(if hvm {
        PvRequest::HVM_MEMORY_MB
    } else {
        PvRequest::DEFAULT_MEMORY_MB
    });
    // Refuse now what xl could not read, rather than after booting Xen.
    request.guest()?;
    for leg in request.xen_legs() {
        leg.guest()?;
    }
    Ok(Some(request))
}

/// The PVH build, next to the native image.
const PV_IMAGE: &str = "virtus-pv";

/// The native image in ELF32 form, next to it: Xen's 32-bit device model
/// loads no ELF64.
const HVM_IMAGE: &str = "virtus-native.elf32";

/// `--memory 48` or `--memory 48M`: MB from 4 to 4096.
fn parse_memory(flag: &str, text: &str) -> Result<u32, String> {
    let number = text.strip_suffix(['M', 'm']).unwrap_or(text);
    match number.parse::<u32>() {
        Ok(mb) if (4..=4096).contains(&mb) => Ok(mb),
        _ => Err(format!("{flag} wants MB from 4 to 4096, not `{text}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native() -> PathBuf {
        PathBuf::from("/ws/target/x86_64-unknown-none/release/virtus-native")
    }

    fn parse_ok(command: &str, args: &[&str]) -> PvRequest {
        parse(command, args.iter().map(ToString::to_string), native())
            .unwrap()
            .unwrap()
    }

    fn error(command: &str, args: &[&str]) -> String {
        parse(command, args.iter().map(ToString::to_string), native()).unwrap_err()
    }

    #[test]
    fn xen_suite_defaults() {
        let request = parse_ok("xen-suite", &[]);
        assert_eq!(request.mode, PvMode::Suite);
        assert_eq!(
            request.image,
            PathBuf::from("/ws/target/x86_64-unknown-none/release/virtus-pv")
        );
        assert_eq!(request.extra(), "test=all loglevel=info xen.memory_mb=32");
        let guest = request.guest().unwrap();
        assert_eq!(
            (guest.name.as_str(), guest.memory_mb, guest.vcpus),
            ("virtus", 32, 1)
        );
        assert_eq!(guest.timeout, Duration::from_secs(240));
        let config = guest.xl_config().unwrap().unwrap();
        assert!(config.contains("extra = \"test=all loglevel=info xen.memory_mb=32\"\n"));
        assert!(config.contains("memory = 32\n"));
    }

    #[test]
    fn xen_suite_options() {
        let request = parse_ok(
            "xen-suite",
            &[
                "--image=/k",
                "--memory",
                "64M",
                "--append",
                "log=xen",
                "--timeout",
                "90s",
                "--bed",
                "/bed",
                "--quiet",
            ],
        );
        assert_eq!(request.image, PathBuf::from("/k"));
        assert_eq!(request.memory_mb, 64);
        assert_eq!(
            request.extra(),
            "test=all loglevel=info xen.memory_mb=64 log=xen"
        );
        assert_eq!(request.timeout, Duration::from_secs(90));
        assert_eq!(request.bed, Some(PathBuf::from("/bed")));
        assert_eq!(request.verbosity, Verbosity::Quiet);
    }

    #[test]
    fn xen_hvm_suite_runs_the_native_elf32() {
        let request = parse_ok("xen-hvm-suite", &[]);
        assert_eq!(request.mode, PvMode::HvmSuite);
        assert_eq!(
            request.image,
            PathBuf::from("/ws/target/x86_64-unknown-none/release/virtus-native.elf32")
        );
        assert_eq!(request.extra(), "test=all loglevel=info");
        let guest = request.guest().unwrap();
        assert_eq!((guest.kind, guest.memory_mb), (GuestKind::Hvm, 64));
        let config = guest.xl_config().unwrap().unwrap();
        assert!(config.contains("type = \"hvm\"\n"), "{config}");
        assert!(config.contains("extra = \"test=all loglevel=info\"\n"));
        let request = parse_ok(
            "xen-hvm-suite",
            &["--image=/n32", "--memory=96", "--append=x"],
        );
        assert_eq!(request.image, PathBuf::from("/n32"));
        assert_eq!(request.memory_mb, 96);
        assert_eq!(request.extra(), "test=all loglevel=info x");
        assert_eq!(
            error("xen-hvm-suite", &["--ramdisk", "/rd"]),
            "`--ramdisk` is not an option of `xen-hvm-suite`"
        );
    }

    #[test]
    fn xen_run_boots_to_the_shell() {
        let request = parse_ok("xen-run", &["--memory", "48", "--ramdisk", "/rd"]);
        assert_eq!(request.extra(), "loglevel=info xen.memory_mb=48");
        assert_eq!(request.ramdisk, Some(PathBuf::from("/rd")));
    }

    #[test]
    fn legs_takes_three_images() {
        let request = parse_ok(
            "legs",
            &[
                "--native-image",
                "/n",
                "--hvm-image=/n32",
                "--pv-image=/p",
                "--memory=48",
                "--hvm-memory",
                "96M",
                "--bed",
                "/bed",
                "--hvm-bed=/hbed",
                "--quiet",
            ],
        );
        assert_eq!(request.mode, PvMode::Legs);
        assert_eq!(request.native_image, PathBuf::from("/n"));
        assert_eq!(request.verbosity, Verbosity::Quiet);
        let [hvm, pvh] = request.xen_legs();
        assert_eq!(
            (hvm.mode, hvm.kind, &hvm.image, hvm.memory_mb, &hvm.bed),
            (
                PvMode::HvmSuite,
                GuestKind::Hvm,
                &PathBuf::from("/n32"),
                96,
                &Some(PathBuf::from("/hbed"))
            )
        );
        assert_eq!(hvm.extra(), "test=all loglevel=info");
        assert_eq!(
            (pvh.mode, pvh.kind, &pvh.image, pvh.memory_mb, &pvh.bed),
            (
                PvMode::Suite,
                GuestKind::Pvh,
                &PathBuf::from("/p"),
                48,
                &Some(PathBuf::from("/bed"))
            )
        );
        assert_eq!(pvh.extra(), "test=all loglevel=info xen.memory_mb=48");
    }

    #[test]
    fn legs_defaults_and_its_alias_both() {
        for command in ["legs", "both"] {
            let request = parse_ok(command, &[]);
            assert_eq!(request.mode, PvMode::Legs);
            assert_eq!(request.native_image, native());
            let [hvm, pvh] = request.xen_legs();
            assert_eq!(hvm.image, native().with_file_name("virtus-native.elf32"));
            assert_eq!((hvm.memory_mb, pvh.memory_mb), (64, 32));
            assert_eq!(pvh.image, native().with_file_name("virtus-pv"));
            assert_eq!((hvm.bed, pvh.bed), (None, None));
        }
    }

    #[test]
    fn xen_run_hvm_boots_the_native_elf32_to_the_shell() {
        let request = parse_ok("xen-run", &["--hvm"]);
        assert_eq!((request.mode, request.kind), (PvMode::Run, GuestKind::Hvm));
        assert_eq!(
            request.image,
            native().with_file_name("virtus-native.elf32")
        );
        assert_eq!(request.memory_mb, 64);
        assert_eq!(request.extra(), "loglevel=info");
        let config = request.guest().unwrap().xl_config().unwrap().unwrap();
        assert!(config.contains("type = \"hvm\"\n"), "{config}");
        assert!(config.contains("serial = \"pty\"\n"), "{config}");
        // The options may come before --hvm, and keep their values.
        let request = parse_ok(
            "xen-run",
            &["--image=/k32", "--memory", "80", "--append=x", "--hvm"],
        );
        assert_eq!(
            (request.kind, &request.image, request.memory_mb),
            (GuestKind::Hvm, &PathBuf::from("/k32"), 80)
        );
        assert_eq!(request.extra(), "loglevel=info x");
        // Without --hvm it stays the PVH build.
        let pvh = parse_ok("xen-run", &[]);
        assert_eq!((pvh.kind, pvh.memory_mb), (GuestKind::Pvh, 32));
        assert_eq!(pvh.image, native().with_file_name("virtus-pv"));
    }

    #[test]
    fn mistakes_are_explained() {
        assert_eq!(
            error("xen-run", &["--timeout", "5"]),
            "`--timeout` is not an option of `xen-run`"
        );
        assert_eq!(
            error("both", &["--image", "/k"]),
            "`--image` is not an option of `both`"
        );
        assert_eq!(
            error("legs", &["--hvm-memory", "2"]),
            "--hvm-memory wants MB from 4 to 4096, not `2`"
        );
        assert_eq!(
            error("xen-suite", &["--hvm"]),
            "`--hvm` is not an option of `xen-suite`"
        );
        assert_eq!(error("xen-suite", &["--image"]), "`--image` needs a value");
        assert_eq!(
            error("xen-suite", &["--memory", "lots"]),
            "--memory wants MB from 4 to 4096, not `lots`"
        );
        assert_eq!(
            error("xen-suite", &["--timeout", "0"]),
            "--timeout wants whole seconds, not `0`"
        );
        assert!(error("xen-suite", &["--append", "say \"hi\""]).contains("extra must not"));
        assert_eq!(parse("xen-run", ["-h".to_string()], native()), Ok(None));
    }
}
