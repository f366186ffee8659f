//! The options of `virtus-run xen`, `xen-proof` and `xen-checks`, and the
//! `--guest` mini-syntax.

use std::convert::Infallible;
use std::path::PathBuf;

use clap::Args;

use super::guest::{Expectation, GuestImage, GuestKind, GuestSpec, LINUX_PROOF};
use super::live::Verbosity;
use super::script::{Dom0Command, Dom0Point};
use crate::cli::options::{self, BED};

/// A `xen` or `xen-proof` run: its options, then [`XenRequest::resolve`]d.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct XenRequest {
    /// A guest (repeatable): NAME=PATH[,type=pvh|hvm][,memory=MB][,vcpus=N]
    /// [,cmdline=TEXT][,ramdisk=PATH][,expect=poweroff|crash|any][,timeout=S]
    ///
    /// Defaults: PVH, 64 MB, 1 vCPU, expect=poweroff, timeout=60. type=hvm
    /// boots an ELF32 with a PVH note as an HVM guest (direct kernel boot,
    /// its UART as console) on the HVM bed (testbed.py --hvm).
    /// NAME=@linux[,cmdline=TEXT][,expect=...][,timeout=S] is the bed's
    /// Linux as NAME, TEXT added to its command line.
    #[arg(long = "guest", value_name = "NAME=PATH[,KEY=VALUE...]", value_parser = parse_guest)]
    pub guests: Vec<GuestSpec>,
    /// Also boot the bed's Linux guest `linux-proof`, which must print
    /// VIRTUS-LINUX-GUEST-OK (xen-proof: always)
    #[arg(long)]
    pub linux_proof: bool,
    /// Guest NAME must print TEXT (repeatable)
    #[arg(long = "expect-line", value_name = "NAME=TEXT", value_parser = name_and_text)]
    pub expect_lines: Vec<(String, String)>,
    /// Run CMD in dom0 once every guest ended (repeatable)
    #[arg(long, value_name = "CMD", value_parser = at(Dom0Point::End))]
    pub dom0: Vec<Dom0Command>,
    /// Run CMD in dom0 once every guest started (repeatable)
    #[arg(long, value_name = "CMD", value_parser = at(Dom0Point::Running))]
    pub dom0_running: Vec<Dom0Command>,
    #[arg(long, value_name = "DIR", help = BED)]
    pub bed: Option<PathBuf>,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

/// The options of `xen-checks`, which brings its own guests.
#[derive(Args, Clone, Debug)]
pub struct XenChecksArgs {
    #[arg(long, value_name = "DIR", help = BED)]
    pub bed: Option<PathBuf>,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

impl XenRequest {
    /// The run as asked: the bed's Linux added for `xen-proof` (`proof`)
    /// or `--linux-proof`, each `--expect-line` given to its guest, and
    /// every dom0 command in [`XenRequest::dom0`], the running ones last.
    pub fn resolve(mut self, proof: bool) -> Result<Self, String> {
        if proof || self.linux_proof {
            if self.guests.iter().any(|g| g.name == LINUX_PROOF) {
                return Err(format!(
                    "the guest name `{LINUX_PROOF}` is the bed's own guest"
                ));
            }
            self.guests.push(GuestSpec::linux_proof());
        }
        for (name, text) in std::mem::take(&mut self.expect_lines) {
            let guest = (self.guests.iter_mut().find(|g| g.name == name)).ok_or(format!(
                "--expect-line names `{name}`, which is not a guest"
            ))?;
            if !guest.expect_lines.contains(&text) {
                guest.expect_lines.push(text);
            }
        }
        self.dom0.append(&mut self.dom0_running);
        Ok(self)
    }
}

impl XenChecksArgs {
    pub fn request(self) -> XenRequest {
        XenRequest {
            guests: Vec::new(),
            linux_proof: false,
            expect_lines: Vec::new(),
            dom0: Vec::new(),
            dom0_running: Vec::new(),
            bed: self.bed,
            verbosity: self.verbosity,
        }
    }
}

/// `--dom0` and `--dom0-running`: a command for dom0 to run `when`.
fn at(when: Dom0Point) -> impl Fn(&str) -> Result<Dom0Command, Infallible> + Clone {
    move |command| {
        Ok(Dom0Command {
            when,
            command: command.into(),
        })
    }
}

/// `--expect-line NAME=TEXT`.
fn name_and_text(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, line)) if !line.is_empty() => Ok((name.to_string(), line.to_string())),
        _ => Err("not NAME=TEXT".into()),
    }
}

/// The `--guest` image that is the bed's own Linux kernel.
pub const BED_LINUX: &str = "@linux";

/// Keys a `--guest` value may carry after `NAME=PATH`.
const GUEST_KEYS: [&str; 7] = [
    "memory", "vcpus", "cmdline", "ramdisk", "expect", "timeout", "type",
];

/// `NAME=PATH[,type=pvh|hvm][,memory=MB][,vcpus=N][,cmdline=TEXT][,ramdisk=PATH]
/// [,expect=poweroff|crash|any][,timeout=S]`, or `NAME=@linux[,...]` for
/// the bed's Linux with `cmdline` appended to its own (its memory, vCPUs
/// and ramdisk are the bed's). A comma starts a new key only when a known
/// key follows it, so command lines and paths may hold commas of their own.
pub fn parse_guest(text: &str) -> Result<GuestSpec, String> {
    let (name, rest) = text.split_once('=').ok_or("not NAME=PATH[,key=value]...")?;
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
    let (path, settings) = parts.split_first().ok_or("no image path")?;
    if path.is_empty()
        || GUEST_KEYS
            .iter()
            .any(|key| path.starts_with(&format!("{key}=")))
    {
        return Err("no image path".into());
    }
    let bed_linux = path == BED_LINUX;
    let mut spec = if bed_linux {
        GuestSpec::bed_linux(name, "")?
    } else {
        GuestSpec::pvh(name, path)?
    };
    let mut ramdisk = None;
    for setting in settings {
        let (key, value) = setting.split_once('=').unwrap_or((setting, ""));
        if bed_linux && ["memory", "vcpus", "ramdisk", "type"].contains(&key) {
            return Err(format!("{key} is fixed for {BED_LINUX}"));
        }
        let number = |max: u32| match value.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(format!(
                "{key} wants a number from 1 to {max}, not `{value}`"
            )),
        };
        match key {
            "memory" => spec.memory_mb = number(4096)?,
            "vcpus" => spec.vcpus = number(64)?,
            "cmdline" => spec.extra = value.to_string(),
            "type" => {
                spec.kind = GuestKind::parse(value)
                    .ok_or(format!("type wants pvh or hvm, not `{value}`"))?;
            }
            "ramdisk" if !value.is_empty() => ramdisk = Some(PathBuf::from(value)),
            "expect" => {
                spec.expect = Expectation::parse(value).ok_or(format!(
                    "expect wants poweroff, crash or any, not `{value}`"
                ))?;
            }
            "timeout" => {
                spec.timeout =
                    options::seconds(value).map_err(|why| format!("timeout `{value}`: {why}"))?;
            }
            _ => return Err(format!("`{setting}` is not a guest setting")),
        }
    }
    if !bed_linux {
        spec.image = GuestImage::File {
            kernel: PathBuf::from(path),
            ramdisk,
        };
    }
    // Refuse now what xl could not read, rather than after booting Xen.
    spec.xl_config()?;
    Ok(spec)
}

#[cfg(test)]
#[path = "args_tests.rs"]
mod tests;
