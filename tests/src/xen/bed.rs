//! The Xen test bed: Xen, a dom0 kernel and its initramfs, prepared and
//! cached by `tests/xen/testbed.py`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

use super::hvm::Flavour;
use crate::exit::Termination;
use crate::process::{self, Stream};

/// The preparation script, relative to the workspace root.
pub const TESTBED_SCRIPT: &str = "tests/xen/testbed.py";

/// Downloading and unpacking about 90 MB of packages, the first time.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

const READY: &str = "testbed: ready ";

/// A prepared bed directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bed {
    pub dir: PathBuf,
    /// From its manifest: whether it can run HVM guests.
    pub flavour: Flavour,
}

/// What the runner reads of a bed's `manifest.json` (written by testbed.py).
#[derive(Debug, Default, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub flavour: Flavour,
    /// Each Debian package the bed was built from, and its version.
    #[serde(default)]
    pub packages: BTreeMap<String, String>,
}

impl Manifest {
    /// The manifest in bed `dir`; an unreadable one is an old PVH bed's.
    pub fn of(dir: &Path) -> Self {
        let text = std::fs::read_to_string(dir.join("manifest.json")).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or_default()
    }

    /// The Xen the bed was built from, as `<version> (<package>)`, from
    /// `"xen-hypervisor-4.17-amd64": "4.17.7+13-…"` among its packages.
    pub fn xen_version(&self) -> Option<String> {
        let (package, version) = self
            .packages
            .iter()
            .find(|(package, _)| package.starts_with("xen-hypervisor-"))?;
        (!version.is_empty()).then(|| format!("{version} ({package})"))
    }
}

impl Bed {
    /// The hypervisor: a multiboot ELF for QEMU's `-kernel`.
    pub fn xen(&self) -> PathBuf {
        self.dir.join("xen")
    }

    /// dom0's kernel, uncompressed (it boots seconds faster under TCG).
    pub fn vmlinux(&self) -> PathBuf {
        self.dir.join("vmlinux")
    }

    /// dom0's base initramfs; the runner appends its own archive to it.
    pub fn dom0_initramfs(&self) -> PathBuf {
        self.dir.join("dom0.cpio.gz")
    }

    /// A bed directory that has what a boot needs.
    pub fn open(dir: &Path) -> Result<Self, String> {
        let bed = Self {
            dir: dir.to_path_buf(),
            flavour: Manifest::of(dir).flavour,
        };
        for file in [bed.xen(), bed.vmlinux(), bed.dom0_initramfs()] {
            if !file.is_file() {
                return Err(format!(
                    "test bed {} lacks {}",
                    dir.display(),
                    file.display()
                ));
            }
        }
        Ok(bed)
    }
}

/// A PVH bed at `dir`, unchecked, for tests.
#[cfg(test)]
pub(crate) fn pvh_bed(dir: impl Into<PathBuf>) -> Bed {
    let (dir, flavour) = (dir.into(), Flavour::Pvh);
    Bed { dir, flavour }
}

/// The bed directory named by testbed.py's output, whose last line must
/// be `testbed: ready <dir>`.
pub fn parse_ready(stdout: &[String]) -> Option<PathBuf> {
    let last = stdout.iter().rev().find(|line| !line.trim().is_empty())?;
    let dir = last.trim_end().strip_prefix(READY)?;
    (!dir.is_empty() && Path::new(dir).is_absolute()).then(|| PathBuf::from(dir))
}

/// Runs `testbed.py prepare` from `workspace` for the `flavour`, handing
/// each progress line to `show`, and opens the bed it names.
pub fn prepare(
    workspace: &Path,
    flavour: Flavour,
    mut show: impl FnMut(&str),
) -> Result<Bed, String> {
    let script = workspace.join(TESTBED_SCRIPT);
    if !script.is_file() {
        return Err(format!("{} not found", script.display()));
    }
    let mut command = Command::new("python3");
    command
        .arg(TESTBED_SCRIPT)
        .arg("prepare")
        .args(flavour.testbed_args())
        .current_dir(workspace);
    let mut stdout = Vec::new();
    let mut stderr_tail = Vec::new();
    let finished = process::run_with_timeout(command, PREPARE_TIMEOUT, |stream, line, _| {
        show(line);
        match stream {
            Stream::Stdout => stdout.push(line.to_string()),
            Stream::Stderr => stderr_tail.push(line.to_string()),
        }
    })
    .map_err(|error| format!("cannot run python3 {TESTBED_SCRIPT}: {error}"))?;
    if finished.termination != Termination::Exited(0) {
        let last = stderr_tail
            .last()
            .or(stdout.last())
            .filter(|l| !l.is_empty());
        let last = last.map(|l| format!(": {l}")).unwrap_or_default();
        let end = finished.termination;
        return Err(format!("{TESTBED_SCRIPT} prepare failed ({end}){last}"));
    }
    let dir = parse_ready(&stdout).ok_or(format!(
        "{TESTBED_SCRIPT} prepare did not end with `{READY}<dir>`"
    ))?;
    Bed::open(&dir)
}

/// The bed in `dir` if one is given, else the one `testbed.py prepare`
/// makes for `flavour` (its progress lines handed to `show`); refused if
/// `flavour` needs the HVM bed and this is not one.
pub fn open_or_prepare(
    dir: Option<&Path>,
    workspace: &Path,
    flavour: Flavour,
    show: impl FnMut(&str),
) -> Result<Bed, String> {
    let bed = match dir {
        Some(dir) => Bed::open(dir)?,
        None => prepare(workspace, flavour, show)?,
    };
    if flavour == Flavour::Hvm && bed.flavour != Flavour::Hvm {
        return Err(format!(
            "HVM guests need the HVM bed (`{TESTBED_SCRIPT} prepare --hvm`); {} is a {} bed",
            bed.dir.display(),
            bed.flavour.word()
        ));
    }
    Ok(bed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_ready_line_names_the_bed() {
        assert_eq!(
            parse_ready(&lines(&[
                "testbed: fetching xen-hypervisor-4.17-amd64",
                "testbed: ready /work/main/target/xen-bed",
                "",
            ])),
            Some(PathBuf::from("/work/main/target/xen-bed"))
        );
    }

    #[test]
    fn only_a_final_ready_line_with_an_absolute_dir_counts() {
        assert_eq!(parse_ready(&[]), None);
        assert_eq!(parse_ready(&lines(&["testbed: ready relative/dir"])), None);
        assert_eq!(parse_ready(&lines(&["testbed: ready "])), None);
        assert_eq!(
            parse_ready(&lines(&["testbed: ready /a", "testbed: oops"])),
            None
        );
    }

    #[test]
    fn the_manifest_names_the_flavour() {
        let flavour = |text: &str| serde_json::from_str::<Manifest>(text).unwrap().flavour;
        let hvm = "{\n  \"format\": 1,\n  \"flavour\": \"hvm\",\n  \"key\": \"x\"\n}\n";
        assert_eq!(flavour(hvm), Flavour::Hvm);
        assert_eq!(flavour("{\"flavour\": \"pvh\"}"), Flavour::Pvh);
        assert_eq!(flavour("{\"format\": 1}"), Flavour::Pvh);
        assert_eq!(
            Manifest::of(Path::new("/nonexistent")).flavour,
            Flavour::Pvh
        );
    }

    #[test]
    fn a_bed_without_its_files_is_refused() {
        let error = Bed::open(Path::new("/nonexistent/bed")).unwrap_err();
        assert!(error.contains("lacks /nonexistent/bed/xen"), "{error}");
    }
}
