//! The `virtus-run` command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bench::args::{self as bench_args, BenchRequest};
use crate::matrix;
use crate::qemu::MachineConfig;
use crate::xen::Verbosity;
use crate::xen::args::{self as xen_args, XenRequest};
use crate::xen::pv_args::{self, PvRequest};

pub const USAGE: &str = "\
usage: virtus-run <command> [options]

commands:
  suite    run the whole in-kernel suite on every machine configuration
  checks   prove that crashes, failures and hangs are caught
  boot     boot once and judge the run (for development)
  xen      boot Xen in QEMU and run PVH or HVM guests under it
  xen-proof  boot the test bed's own Linux guest under Xen (proves the bed)
  xen-checks  prove that guests that crash, hang or print nothing are caught
  xen-suite  run the suite on the Xen PVH build (virtus-pv) as a domU
  legs     the suite three ways, side by side: natively (q35/max/128M), the
           same image as a Xen HVM guest, and virtus-pv as a Xen PVH guest;
           then checks that the same core tests ran in each (alias: both)
  xen-run  boot virtus-pv (or with --hvm the native image) under Xen with its
           console on this terminal
  xen-hvm-suite  run the suite on the unmodified native image as a Xen HVM domU
  bench    the kernel's micro-benchmarks natively, as Xen HVM and as Xen PVH
           guest; boot and footprint against Linux; density; writes bench/

options (all commands):
  --image PATH      kernel image (default: target/x86_64-unknown-none/release/virtus-native
                    under the workspace root; the image is never built here)
  --quiet           do not stream the console, print only verdicts
suite:
  --quick           only the first configuration (q35/max/128M)
  --jobs N          boot up to N machines at once (default 1)
  --timeout SECS    per-configuration limit (default 120)
checks:
  --jobs N          run up to N checks at once (default 1)
boot:
  --machine M       QEMU machine type (default q35)
  --cpu C           QEMU CPU model (default max)
  --mem M           guest memory (default 128M)
  --append \"...\"    kernel command line (default \"test=all loglevel=info\")
  --timeout SECS    limit for the boot (default 120)
xen, xen-proof (--image does not apply; --quiet does):
  --guest NAME=PATH[,type=pvh|hvm][,memory=MB][,vcpus=N][,cmdline=TEXT]
          [,ramdisk=PATH][,expect=poweroff|crash|any][,timeout=S]
                    a guest (repeatable; defaults PVH, 64 MB, 1 vCPU,
                    expect=poweroff, timeout=60); type=hvm boots an ELF32
                    with a PVH note as an HVM guest (direct kernel boot,
                    its UART as console) on the HVM bed (testbed.py --hvm)
  --guest NAME=@linux[,cmdline=TEXT][,expect=...][,timeout=S]
                    the bed's Linux as NAME, TEXT added to its command line
  --linux-proof     also boot the bed's Linux guest `linux-proof`
                    (xen-proof: always, and it must print VIRTUS-LINUX-GUEST-OK)
  --expect-line NAME=TEXT   guest NAME must print TEXT (repeatable)
  --dom0 \"CMD\"      run CMD in dom0 once every guest ended (repeatable)
  --dom0-running \"CMD\"  run CMD in dom0 once every guest started
  --bed DIR         a prepared bed; default: tests/xen/testbed.py prepare
  --verbose         also stream Xen's and dom0's kernel lines
xen-checks: --bed, --quiet and --verbose, as for xen
xen-suite, xen-run (--image defaults to virtus-pv next to virtus-native):
  --memory MB       the guest's memory (default 32; passed as xen.memory_mb)
  --append \"...\"    added to the guest's command line; xen-suite's is
                    \"test=all loglevel=info xen.memory_mb=MB\", xen-run's has no test=
  --timeout SECS    xen-suite: how long dom0 waits for the guest (default 240)
  --ramdisk PATH    a ramdisk for the guest
  --bed DIR, and for xen-suite --quiet and --verbose, as for xen
xen-run --hvm: the native image as an HVM guest on the HVM bed: --image
                    defaults to virtus-native.elf32, --memory to 64, and the
                    command line is \"loglevel=info\" and --append
legs (alias both):
  --native-image PATH   the native leg's image (default virtus-native)
  --hvm-image PATH      the HVM leg's (default virtus-native.elf32)
  --pv-image PATH       the PVH leg's (default virtus-pv)
  --memory MB           the PVH guest's memory (default 32)
  --hvm-memory MB       the HVM guest's memory (default 64)
  --bed DIR, --hvm-bed DIR  prepared PVH and HVM beds
  --timeout SECS, --quiet   as for xen-suite; a core test (not native_*
                    or pv_*) missing from a leg fails the run
xen-hvm-suite (--image defaults to virtus-native.elf32 next to virtus-native):
  --memory MB (default 64), --append, --timeout, --bed, --quiet, --verbose;
                    the command line is \"test=all loglevel=info\" and --append
bench:
  --quick           density with 4 guests only (default 8, 16, 32), and 2
                    runs of each column and boot (default 3)
  --repeat N        runs of each column and boot (spread of every figure)
  --density N,N...  the density steps (guests at once)
  --only PART,...   run only some of native, hvm, pvh (xen: both), boot,
                    floor (memory bisection), density: a partial report, for
                    development (use --out elsewhere than bench/)
  --native-image PATH, --hvm-image PATH, --pv-image PATH   as for legs
  --out DIR         where report.md, report.json and the charts go
                    (default bench/ under the workspace root)
  --bed DIR, --hvm-bed DIR, --quiet, --verbose   as for xen

exit status: 0 if everything passed, 1 if something failed, 2 on usage
or setup errors (no image, no QEMU).";

/// Which command to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Suite {
        quick: bool,
        timeout: Duration,
    },
    Checks,
    Boot {
        config: MachineConfig,
        append: String,
        timeout: Duration,
    },
    Xen(XenRequest),
    /// `xen-suite`, `xen-run`, `both`: the PVH build under Xen.
    Pv(Box<PvRequest>),
    /// `xen-checks`: only the request's bed and verbosity apply.
    XenChecks(XenRequest),
    /// `bench`: the benchmark report.
    Bench(Box<BenchRequest>),
}

/// A parsed invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub command: Command,
    pub image: PathBuf,
    pub quiet: bool,
    pub jobs: usize,
}

/// What the user asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Run(Invocation),
    Help,
}

/// Parses the arguments after the program name. `--opt value` and
/// `--opt=value` are both accepted.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Request, String> {
    let mut args = args.into_iter();
    let command_name = match args.next() {
        None => return Err("no command given".to_string()),
        Some(arg) if ["-h", "--help", "help"].contains(&arg.as_str()) => return Ok(Request::Help),
        Some(arg) => arg,
    };
    if ["xen", "xen-proof", xen_args::CHECKS].contains(&command_name.as_str()) {
        return Ok(match xen_args::parse(&command_name, args)? {
            None => Request::Help,
            Some(request) => Request::Run(Invocation {
                quiet: request.verbosity == Verbosity::Quiet,
                command: match command_name.as_str() {
                    xen_args::CHECKS => Command::XenChecks(request),
                    _ => Command::Xen(request),
                },
                image: default_image(),
                jobs: 1,
            }),
        });
    }
    if ["xen-suite", "xen-run", "legs", "both", "xen-hvm-suite"].contains(&command_name.as_str()) {
        return Ok(
            match pv_args::parse(&command_name, args, default_image())? {
                None => Request::Help,
                Some(request) => Request::Run(Invocation {
                    quiet: request.verbosity == Verbosity::Quiet,
                    image: request.image.clone(),
                    command: Command::Pv(Box::new(request)),
                    jobs: 1,
                }),
            },
        );
    }
    if command_name == "bench" {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new("."));
        return Ok(match bench_args::parse(args, default_image(), workspace)? {
            None => Request::Help,
            Some(request) => Request::Run(Invocation {
                quiet: request.verbosity == Verbosity::Quiet,
                image: request.native_image.clone(),
                command: Command::Bench(Box::new(request)),
                jobs: 1,
            }),
        });
    }
    let allowed: &[&str] = match command_name.as_str() {
        "suite" => &["--image", "--quiet", "--quick", "--jobs", "--timeout"],
        "checks" => &["--image", "--quiet", "--jobs"],
        "boot" => &[
            "--image",
            "--quiet",
            "--machine",
            "--cpu",
            "--mem",
            "--append",
            "--timeout",
        ],
        other => return Err(format!("unknown command `{other}`")),
    };

    let mut image = None;
    let mut quiet = false;
    let mut quick = false;
    let mut jobs = 1;
    let mut timeout = matrix::SUITE_TIMEOUT;
    let mut config = matrix::matrix().swap_remove(0);
    let mut append = matrix::SUITE_CMDLINE.to_string();

    while let Some(arg) = args.next() {
        if ["-h", "--help"].contains(&arg.as_str()) {
            return Ok(Request::Help);
        }
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg, None),
        };
        if !allowed.contains(&flag.as_str()) {
            return Err(format!("`{flag}` is not an option of `{command_name}`"));
        }
        let mut value = || {
            inline_value
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("`{flag}` needs a value"))
        };
        match flag.as_str() {
            "--quiet" => quiet = true,
            "--quick" => quick = true,
            "--image" => image = Some(PathBuf::from(value()?)),
            "--jobs" => jobs = parse_jobs(&value()?)?,
            "--timeout" => timeout = parse_seconds(&value()?)?,
            "--machine" => config.machine = value()?,
            "--cpu" => config.cpu = value()?,
            "--mem" => config.memory = value()?,
            "--append" => append = value()?,
            _ => unreachable!("every allowed option is handled"),
        }
    }

    let command = match command_name.as_str() {
        "suite" => Command::Suite { quick, timeout },
        "checks" => Command::Checks,
        _ => Command::Boot {
            config,
            append,
            timeout,
        },
    };
    let image = image.unwrap_or_else(default_image);
    Ok(Request::Run(Invocation {
        command,
        image,
        quiet,
        jobs,
    }))
}

fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(jobs) if jobs > 0 => Ok(jobs),
        _ => Err(format!("--jobs wants a positive count, not `{text}`")),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let number = text.strip_suffix('s').unwrap_or(text);
    match number.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs <= 24.0 * 3600.0 => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!("--timeout wants seconds (e.g. 120), not `{text}`")),
    }
}

/// Where `make` puts the image: the workspace's target directory (or
/// `$CARGO_TARGET_DIR`, as cargo itself would use). Located from this
/// crate's source directory, so it works from any working directory.
pub fn default_image() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace.join("target"),
    };
    target.join("x86_64-unknown-none/release/virtus-native")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Invocation {
        match parse(args.iter().map(ToString::to_string)) {
            Ok(Request::Run(invocation)) => invocation,
            other => panic!("{args:?} parsed as {other:?}"),
        }
    }

    fn error(args: &[&str]) -> String {
        parse(args.iter().map(ToString::to_string)).unwrap_err()
    }

    #[test]
    fn suite_defaults() {
        let invocation = run(&["suite"]);
        assert_eq!(
            invocation.command,
            Command::Suite {
                quick: false,
                timeout: Duration::from_secs(120)
            }
        );
        assert!(
            invocation
                .image
                .ends_with("target/x86_64-unknown-none/release/virtus-native")
        );
        assert_eq!(invocation.jobs, 1);
        assert!(!invocation.quiet);
    }

    #[test]
    fn suite_options() {
        let invocation = run(&[
            "suite", "--image", "/tmp/k", "--quick", "--jobs=3", "--quiet",
        ]);
        assert_eq!(
            invocation.command,
            Command::Suite {
                quick: true,
                timeout: Duration::from_secs(120)
            }
        );
        assert_eq!(invocation.image, PathBuf::from("/tmp/k"));
        assert_eq!(invocation.jobs, 3);
        assert!(invocation.quiet);
    }

    #[test]
    fn boot_options() {
        let invocation = run(&[
            "boot",
            "--machine",
            "pc",
            "--cpu=qemu64,+x2apic",
            "--mem",
            "32M",
            "--append",
            "test=heap loglevel=debug",
            "--timeout",
            "30s",
        ]);
        assert_eq!(
            invocation.command,
            Command::Boot {
                config: MachineConfig::new("pc", "qemu64,+x2apic", "32M"),
                append: "test=heap loglevel=debug".into(),
                timeout: Duration::from_secs(30),
            }
        );
    }

    #[test]
    fn boot_defaults_to_the_reference_machine_and_full_suite() {
        let Command::Boot { config, append, .. } = run(&["boot"]).command else {
            panic!()
        };
        assert_eq!(config.to_string(), "q35/max/128M");
        assert_eq!(append, "test=all loglevel=info");
    }

    #[test]
    fn xen_checks() {
        let Command::XenChecks(request) = run(&["xen-checks", "--quiet"]).command else {
            panic!()
        };
        assert_eq!(request.verbosity, Verbosity::Quiet);
        assert!(matches!(run(&["xen-proof"]).command, Command::Xen(_)));
    }

    #[test]
    fn legs_and_its_alias_both() {
        for command in ["legs", "both"] {
            let Command::Pv(request) = run(&[command, "--hvm-memory=80"]).command else {
                panic!()
            };
            assert_eq!(request.mode, pv_args::PvMode::Legs);
            assert_eq!(request.hvm_memory_mb, 80);
        }
    }

    #[test]
    fn bench() {
        let Command::Bench(request) = run(&["bench", "--quick"]).command else {
            panic!()
        };
        assert!(request.quick);
        assert_eq!(request.density, [4]);
        assert!(request.pv_image.ends_with("release/virtus-pv"));
    }

    #[test]
    fn help() {
        assert_eq!(parse(["--help".to_string()]), Ok(Request::Help));
        assert_eq!(
            parse(["checks".to_string(), "-h".to_string()]),
            Ok(Request::Help)
        );
    }

    #[test]
    fn mistakes_are_explained() {
        assert_eq!(error(&[]), "no command given");
        assert_eq!(error(&["frobnicate"]), "unknown command `frobnicate`");
        assert_eq!(
            error(&["checks", "--quick"]),
            "`--quick` is not an option of `checks`"
        );
        assert_eq!(error(&["suite", "--image"]), "`--image` needs a value");
        assert_eq!(
            error(&["suite", "--jobs", "0"]),
            "--jobs wants a positive count, not `0`"
        );
        assert_eq!(
            error(&["boot", "--timeout", "soon"]),
            "--timeout wants seconds (e.g. 120), not `soon`"
        );
    }
}
