//! Where and from what a `virtus-run bench` report was made: the machine,
//! QEMU's and Xen's versions, and the commit of the tree.

use std::fs;
use std::process::Command;

use crate::bench::model::Machine;
use crate::qemu;
use crate::workspace;
use crate::xen::bed::{Bed, Manifest};

/// A command's standard output, if it ran and succeeded.
fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

/// The commit the tree is at, `-dirty` if anything outside bench/ (the
/// report being written) differs from it.
fn commit() -> String {
    let dir = workspace().to_string_lossy().to_string();
    let git = |args: &[&str]| {
        let mut all = vec!["-C", dir.as_str()];
        all.extend_from_slice(args);
        output_of("git", &all)
    };
    let Some(head) = git(&["rev-parse", "HEAD"]) else {
        return "unknown (not a git checkout)".into();
    };
    let dirty = git(&["status", "--porcelain", "--", ".", ":(exclude)bench"])
        .is_none_or(|status| !status.trim().is_empty());
    format!("{}{}", head.trim(), if dirty { "-dirty" } else { "" })
}

/// The CPU model and core count of this machine, QEMU's version, the commit.
pub fn machine() -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
        .max(std::thread::available_parallelism().map_or(0, usize::from));
    let qemu_version = output_of(qemu::QEMU, &["--version"])
        .and_then(|text| {
            text.lines()
                .next()?
                .split("version ")
                .nth(1)
                .map(|v| v.split_whitespace().next().unwrap_or(v).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    Machine {
        cpu_model,
        cores,
        xen_version: String::new(),
        qemu_version,
        commit: commit(),
    }
}

/// The Xen package version the bed was built from (its manifest).
pub fn xen_version_of(bed: &Bed) -> Option<String> {
    Manifest::of(&bed.dir).xen_version()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_xen_version_comes_from_the_bed_manifest() {
        let xen_version_in =
            |text: &str| serde_json::from_str::<Manifest>(text).ok()?.xen_version();
        let manifest = "{\n  \"packages\": {\n    \"libyajl2\": \"2.1.0\",\n    \
            \"xen-hypervisor-4.17-amd64\": \"4.17.7+13-g2445b30a44-0+deb12u1\",\n    \
            \"xen-utils-4.17\": \"4.17.7\"\n  }\n}\n";
        assert_eq!(
            xen_version_in(manifest).as_deref(),
            Some("4.17.7+13-g2445b30a44-0+deb12u1 (xen-hypervisor-4.17-amd64)")
        );
        assert_eq!(xen_version_in("{}"), None);
        assert_eq!(
            xen_version_in("{\"packages\": {\"xen-utils\": \"4.17\"}}"),
            None
        );
        assert_eq!(xen_version_in("not json"), None);
    }

    #[test]
    fn the_commit_is_named() {
        // This tree is a git checkout: a 40-digit hash, maybe `-dirty`.
        let c = commit();
        let hash = c.trim_end_matches("-dirty");
        assert!(
            hash.len() == 40 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{c}"
        );
    }
}
