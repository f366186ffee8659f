//! The options of `virtus-run xen` and `virtus-run xen-proof`.

use std::path::PathBuf;
use std::time::Duration;

use super::guest::{Expectation, GuestImage, GuestKind, GuestSpec, LINUX_PROOF, LINUX_PROOF_LINE};
use super::live::Verbosity;
use super::script::{Dom0Command, Dom0Point};

/// A parsed `xen` or `xen-proof` invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XenRequest {
    pub guests: Vec<GuestSpec>,
    pub dom0: Vec<Dom0Command>,
    /// `--bed DIR`: skip `testbed.py prepare`.
    pub bed: Option<PathBuf>,
    pub verbosity: Verbosity,
}

/// The `--guest` image that is the bed's own Linux kernel.
pub const BED_LINUX: &str = "@linux";

/// Keys a `--guest` value may carry after `NAME=PATH`.
const GUEST_KEYS: [&str; 7] = [
    "memory", "vcpus", "cmdline", "ramdisk", "expect", "timeout", "type",
];

/// The command that runs the Xen runner's negative checks.
pub const CHECKS: &str = "xen-checks";

/// Parses the arguments after `xen`, `xen-proof` or `xen-checks` (`command`). `Ok(None)`
/// asks for help. `--opt value` and `--opt=value` are both accepted.
pub fn parse(
    command: &str,
    args: impl IntoIterator<Item = String>,
) -> Result<Option<XenRequest>, String> {
    let mut args = args.into_iter();
    let mut request = XenRequest {
        guests: Vec::new(),
        dom0: Vec::new(),
        bed: None,
        verbosity: Verbosity::Normal,
    };
    let mut linux_proof = command == "xen-proof";
    let mut expect_lines = Vec::new();
    if linux_proof {
        expect_lines.push((LINUX_PROOF.to_string(), LINUX_PROOF_LINE.to_string()));
    }
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_string(), Some(value.to_string()))
            }
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("`{flag}` needs a value"))
        };
        // `xen-checks` brings its own guests.
        let checks_option = ["-h", "--help", "--bed", "--verbose", "--quiet"].contains(&&*flag);
        if command == CHECKS && !checks_option {
            return Err(format!("`{flag}` is not an option of `{command}`"));
        }
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--guest" => request.guests.push(parse_guest(&value()?)?),
            "--linux-proof" => linux_proof = true,
            "--dom0" | "--dom0-running" => {
                let when = if flag == "--dom0" {
                    Dom0Point::End
                } else {
                    Dom0Point::Running
                };
                request.dom0.push(Dom0Command {
                    when,
                    command: value()?,
                });
            }
            "--expect-line" => {
                let value = value()?;
                let (name, text) = value
                    .split_once('=')
                    .filter(|(_, text)| !text.is_empty())
                    .ok_or(format!("--expect-line wants NAME=TEXT, not `{value}`"))?;
                expect_lines.push((name.to_string(), text.to_string()));
            }
            "--bed" => request.bed = Some(PathBuf::from(value()?)),
            "--verbose" => request.verbosity = Verbosity::Verbose,
            "--quiet" => request.verbosity = Verbosity::Quiet,
            _ => return Err(format!("`{flag}` is not an option of `{command}`")),
        }
    }
    if linux_proof
        && !request
            .guests
            .iter()
            .any(|g| g.image == GuestImage::BedLinux)
    {
        if request.guests.iter().any(|g| g.name == LINUX_PROOF) {
            return Err(format!(
                "the guest name `{LINUX_PROOF}` is the bed's own guest"
            ));
        }
        request.guests.push(GuestSpec::linux_proof());
    }
    for (name, text) in expect_lines {
        let guest = request
            .guests
            .iter_mut()
            .find(|g| g.name == name)
            .ok_or(format!(
                "--expect-line names `{name}`, which is not a guest"
            ))?;
        if !guest.expect_lines.contains(&text) {
            guest.expect_lines.push(text);
        }
    }
    if request.guests.is_empty() && request.dom0.is_empty() && command != CHECKS {
        return Err(format!(
            "`{command}` needs a --guest, --linux-proof or a --dom0 command"
        ));
    }
    Ok(Some(request))
}

/// `NAME=PATH[,type=pvh|hvm][,memory=MB][,vcpus=N][,cmdline=TEXT][,ramdisk=PATH]
/// [,expect=poweroff|crash|any][,timeout=S]`, or `NAME=@linux[,...]` for
/// the bed's Linux with `cmdline` appended to its own (its memory, vCPUs
/// and ramdisk are the bed's). A comma starts a new key only when a known
/// key follows it, so command lines and paths may hold commas of their own.
pub fn parse_guest(text: &str) -> Result<GuestSpec, String> {
    let bad = |why: String| format!("--guest `{text}`: {why}");
    let (name, rest) = text
        .split_once('=')
        .ok_or(bad("wants NAME=PATH[,key=value]...".into()))?;
    let mut parts: Vec<String> = Vec::new();
    for piece in rest.split(',') {
        let starts_key = GUEST_KEYS
            .iter()
            .any(|key| piece.strip_prefix(key).is_some_and(|v| v.starts_with('=')));
        match parts.last_mut() {
            Some(last) if !starts_key => {
                last.push(',');
                last.push_str(piece);
            }
            _ => parts.push(piece.to_string()),
        }
    }
    let (path, settings) = parts.split_first().ok_or(bad("no image path".into()))?;
    if path.is_empty()
        || GUEST_KEYS
            .iter()
            .any(|key| path.starts_with(&format!("{key}=")))
    {
        return Err(bad("no image path".into()));
    }
    let bed_linux = path == BED_LINUX;
    let mut spec = if bed_linux {
        GuestSpec::bed_linux(name, "")
    } else {
        GuestSpec::pvh(name, path)
    }
    .map_err(bad)?;
    let mut ramdisk = None;
    for setting in settings {
        let (key, value) = setting.split_once('=').unwrap_or((setting, ""));
        if bed_linux && ["memory", "vcpus", "ramdisk", "type"].contains(&key) {
            return Err(bad(format!("{key} is fixed for {BED_LINUX}")));
        }
        let number = |max: u32| match value.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad(format!(
                "{key} wants a number from 1 to {max}, not `{value}`"
            ))),
        };
        match key {
            "memory" => spec.memory_mb = number(4096)?,
            "vcpus" => spec.vcpus = number(64)?,
            "cmdline" => spec.extra = value.to_string(),
            "type" => {
                spec.kind = GuestKind::parse(value)
                    .ok_or(bad(format!("type wants pvh or hvm, not `{value}`")))?;
            }
            "ramdisk" if !value.is_empty() => ramdisk = Some(PathBuf::from(value)),
            "expect" => {
                spec.expect = Expectation::parse(value).ok_or(bad(format!(
                    "expect wants poweroff, crash or any, not `{value}`"
                )))?;
            }
            "timeout" => {
                let seconds = value.strip_suffix('s').unwrap_or(value);
                spec.timeout = Duration::from_secs(match seconds.parse::<u64>() {
                    Ok(s) if (1..=3600).contains(&s) => s,
                    _ => return Err(bad(format!("timeout wants whole seconds, not `{value}`"))),
                });
            }
            _ => return Err(bad(format!("`{setting}` is not a guest setting"))),
        }
    }
    if !bed_linux {
        spec.image = GuestImage::File {
            kernel: PathBuf::from(path),
            ramdisk,
        };
    }
    // Refuse now what xl could not read, rather than after booting Xen.
    spec.xl_config().map_err(bad)?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(command: &str, args: &[&str]) -> XenRequest {
        parse(command, args.iter().map(ToString::to_string))
            .unwrap()
            .unwrap()
    }

    fn error(command: &str, args: &[&str]) -> String {
        parse(command, args.iter().map(ToString::to_string)).unwrap_err()
    }

    #[test]
    fn a_guest_with_every_setting() {
        let spec = parse_guest(
            "virtus=target/virtus-pvh,memory=32,vcpus=2,cmdline=test=all,loglevel=info,\
             ramdisk=/tmp/rd,expect=crash,timeout=45s",
        )
        .unwrap();
        assert_eq!(spec.name, "virtus");
        assert_eq!(
            spec.image,
            GuestImage::File {
                kernel: "target/virtus-pvh".into(),
                ramdisk: Some("/tmp/rd".into())
            }
        );
        assert_eq!((spec.memory_mb, spec.vcpus), (32, 2));
        // The comma inside the command line did not start a setting.
        assert_eq!(spec.extra, "test=all,loglevel=info");
        assert_eq!(spec.expect, Expectation::Crash);
        assert_eq!(spec.timeout, Duration::from_secs(45));
    }

    #[test]
    fn an_hvm_guest() {
        let spec = parse_guest("n=/k.elf32,type=hvm,cmdline=test=all,memory=64").unwrap();
        let mut expected = GuestSpec::hvm("n", "/k.elf32").unwrap();
        expected.extra = "test=all".into();
        assert_eq!(spec, expected);
        assert_eq!(parse_guest("p=/k,type=pvh").unwrap().kind, GuestKind::Pvh);
        let error = parse_guest("n=/k,type=pv").unwrap_err();
        assert!(
            error.ends_with("type wants pvh or hvm, not `pv`"),
            "{error}"
        );
        let error = parse_guest("a=@linux,type=hvm").unwrap_err();
        assert!(error.ends_with("type is fixed for @linux"), "{error}");
    }

    #[test]
    fn a_bare_guest_takes_the_defaults() {
        let spec = parse_guest("a=/k,1").unwrap();
        assert_eq!(spec, GuestSpec::pvh("a", "/k,1").unwrap());
    }

    #[test]
    fn the_bed_linux_with_a_command_line() {
        let spec = parse_guest("crasher=@linux,cmdline=rdinit=/x panic=-1,timeout=30").unwrap();
        let mut expected = GuestSpec::bed_linux("crasher", "rdinit=/x panic=-1").unwrap();
        expected.timeout = Duration::from_secs(30);
        assert_eq!(spec, expected);
        assert_eq!(
            parse_guest("a=@linux").unwrap().image,
            GuestImage::BedLinuxArgs
        );
        let error = parse_guest("a=@linux,memory=64").unwrap_err();
        assert!(error.ends_with("memory is fixed for @linux"), "{error}");
        assert!(parse_guest("a=@linux,cmdline=x\"y").is_err());
    }

    #[test]
    fn bad_guests_are_explained() {
        let error = |text: &str| parse_guest(text).unwrap_err();
        assert!(error("nopath").contains("wants NAME=PATH"));
        assert!(error("a=").contains("no image path"));
        assert!(error("a=memory=3").contains("no image path"));
        assert!(error("A=/k").contains("bad guest name"));
        assert!(error("a=/k,memory=0").contains("memory wants a number"));
        assert!(error("a=/k,expect=reboot").contains("expect wants poweroff"));
        assert!(error("a=/k,timeout=soon").contains("timeout wants whole seconds"));
        assert!(error("a=/k,cmdline=say \"hi\"").contains("extra must not contain"));
    }

    #[test]
    fn xen_options() {
        let request = parse_ok(
            "xen",
            &[
                "--guest",
                "a=/k",
                "--guest=b=/k2,timeout=5",
                "--linux-proof",
                "--dom0",
                "xl dmesg",
                "--dom0-running=xl list",
                "--expect-line",
                "a=ok 1",
                "--expect-line=a=done",
                "--bed",
                "/bed",
                "--verbose",
            ],
        );
        let names: Vec<_> = request.guests.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "linux-proof"]);
        assert_eq!(request.guests[0].expect_lines, ["ok 1", "done"]);
        assert_eq!(request.guests[2].expect_lines, [LINUX_PROOF_LINE]);
        assert_eq!(
            request.dom0,
            [
                Dom0Command {
                    when: Dom0Point::End,
                    command: "xl dmesg".into()
                },
                Dom0Command {
                    when: Dom0Point::Running,
                    command: "xl list".into()
                },
            ]
        );
        assert_eq!(request.bed, Some(PathBuf::from("/bed")));
        assert_eq!(request.verbosity, Verbosity::Verbose);
    }

    #[test]
    fn xen_proof_is_the_bed_guest_and_its_line() {
        let request = parse_ok("xen-proof", &[]);
        assert_eq!(request.guests, [GuestSpec::linux_proof()]);
        assert_eq!(request.verbosity, Verbosity::Normal);
        let both = parse_ok("xen-proof", &["--linux-proof", "--quiet"]);
        assert_eq!(both.guests.len(), 1);
        assert_eq!(both.verbosity, Verbosity::Quiet);
    }

    #[test]
    fn mistakes_are_explained() {
        assert_eq!(
            error("xen", &[]),
            "`xen` needs a --guest, --linux-proof or a --dom0 command"
        );
        assert_eq!(
            error("xen", &["--image", "x"]),
            "`--image` is not an option of `xen`"
        );
        assert_eq!(error("xen", &["--guest"]), "`--guest` needs a value");
        assert_eq!(
            error("xen", &["--guest", "a=/k", "--expect-line", "b=x"]),
            "--expect-line names `b`, which is not a guest"
        );
        assert_eq!(
            error("xen", &["--linux-proof", "--expect-line", "linux-proof"]),
            "--expect-line wants NAME=TEXT, not `linux-proof`"
        );
        assert!(
            error("xen", &["--linux-proof", "--guest", "linux-proof=/k"]).contains("bed's own")
        );
        assert_eq!(parse("xen", ["--help".to_string()]), Ok(None));
        assert_eq!(
            error("xen-checks", &["--linux-proof"]),
            "`--linux-proof` is not an option of `xen-checks`"
        );
        let checks = parse_ok("xen-checks", &["--bed=/b", "--quiet"]);
        assert_eq!((checks.bed, checks.guests.len()), (Some("/b".into()), 0));
    }
}
