//! Concurrent mixed guests on the bed (`virtus-run xen-concurrency`):
//! several Linux PVH domUs, each checking its own memory
//! (`tests/xen/memcheck-init`), next to Virtus as a PVH and an HVM domU
//! running their suite, all at once.
//!
//! Under the nested, emulated SVM of the bed, guests that run at once have
//! read and written each other's memory (see [`super::machine`]). A guest
//! whose memory changed under it prints `MEMCHECK FAIL` with the bytes that
//! differ; a kernel it corrupts crashes (`oops=panic`), and one whose dom0
//! was corrupted fails to start or never reports.
//!
//! The Linux guests boot the bed's own kernel (`/boot/vmlinux` in dom0)
//! with the bed's guest initramfs, to which dom0 appends a small archive
//! holding `/memcheck`; they start with `rdinit=/memcheck`.

use std::time::Duration;

use super::cpio::Archive;
use super::guest::{GUEST_DIR, GuestImage, GuestKind, GuestSpec};
use super::protocol::{Event, Stamped};
use super::report::GuestReport;
use super::script::Script;

/// The workload, run as the Linux guests' `rdinit`.
pub const MEMCHECK_INIT: &str = include_str!("../../xen/memcheck-init");

/// The line a Linux guest ends with when its memory held.
pub const PASS_LINE: &str = "MEMCHECK-RESULT PASS";
/// The prefix of every line of the workload.
pub const LINE_PREFIX: &str = "MEMCHECK";

/// The archive with `/memcheck`, in dom0; and the guests' initramfs that
/// dom0 makes of the bed's and this one.
const MEMCHECK_ARCHIVE: &str = "/virtus-run/memcheck.cpio";
const GUEST_INITRAMFS: &str = "/virtus-run/memcheck-guest.cpio";

/// One configuration of concurrent guests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// How many Linux guests run the workload at once.
    pub linux: u32,
    /// Each Linux guest's memory.
    pub linux_memory_mb: u32,
    /// The workload's pattern length (numbers, about 10 bytes each) and
    /// how often it is checked.
    pub numbers: u32,
    pub rounds: u32,
    /// How long dom0 waits for each guest, once it waits for it.
    pub timeout: Duration,
    /// Virtus guests started after the Linux ones (their suite).
    pub virtus: Vec<GuestSpec>,
}

impl Plan {
    /// The Linux guests' names: `mem1`, `mem2`, ...
    pub fn linux_names(&self) -> Vec<String> {
        (1..=self.linux).map(|i| format!("mem{i}")).collect()
    }

    /// Every guest of the run, the Virtus ones first: an HVM guest's build
    /// (its device model in dom0) must finish within `guest_start`'s 60 s,
    /// which it did not once three busy Linux domUs shared the one CPU.
    /// The Linux ones boot files that are already in dom0 (the runner
    /// copies none), and are expected to power off after [`PASS_LINE`].
    pub fn specs(&self) -> Result<Vec<GuestSpec>, String> {
        let mut specs = self.virtus.clone();
        for name in self.linux_names() {
            let mut spec = GuestSpec::bed_linux(&name, "")?;
            spec.memory_mb = self.linux_memory_mb;
            spec.expect_lines = vec![PASS_LINE.to_string()];
            spec.timeout = self.timeout;
            specs.push(spec);
        }
        Ok(specs)
    }

    /// Linux guest `seed`'s xl configuration (like the library's
    /// `linux_guest_cfg`, with the memcheck initramfs and parameters).
    pub fn linux_config(&self, name: &str, seed: u32) -> String {
        format!(
            "name = \"{name}\"\ntype = \"pvh\"\nkernel = \"/boot/vmlinux\"\n\
             ramdisk = \"{GUEST_INITRAMFS}\"\nmemory = {}\nvcpus = 1\n\
             tsc_mode = \"native\"\n\
             extra = \"console=hvc0 quiet panic=-1 oops=panic rdinit=/memcheck \
             memcheck.seed={seed} memcheck.numbers={} memcheck.rounds={}\"\n\
             on_poweroff = \"destroy\"\non_reboot = \"destroy\"\non_crash = \"destroy\"\n",
            self.linux_memory_mb, self.numbers, self.rounds
        )
    }

    /// The files dom0 gets: the `/memcheck` archive and each Linux guest's
    /// configuration. The Virtus guests' come from [`super::initramfs`].
    pub fn files(&self) -> std::io::Result<Vec<(String, Vec<u8>)>> {
        let mut archive = Archive::new(Vec::new());
        archive.file("memcheck", 0o755, MEMCHECK_INIT.as_bytes())?;
        let mut files = vec![(MEMCHECK_ARCHIVE.to_string(), archive.finish()?)];
        for (seed, name) in (1..).zip(self.linux_names()) {
            let config = self.linux_config(&name, seed);
            files.push((format!("{GUEST_DIR}/{name}.cfg"), config.into_bytes()));
        }
        Ok(files)
    }

    /// dom0's script: make the guests' initramfs (the bed's, zero-padded to
    /// four bytes, where the kernel looks for an appended archive, then
    /// ours), start every guest, then wait for each.
    pub fn script(&self, specs: &[GuestSpec]) -> Script {
        let mut text = String::from("# Written by virtus-run xen-concurrency.\n");
        text.push_str(&format!(
            "_size=$(wc -c </boot/linux-guest.cpio.gz)\n\
             {{ cat /boot/linux-guest.cpio.gz; head -c $(( (4 - _size % 4) % 4 )) /dev/zero; \
             cat {MEMCHECK_ARCHIVE}; }} >{GUEST_INITRAMFS}\n"
        ));
        for spec in specs {
            text.push_str(&format!("guest_start {}\n", spec.name));
        }
        for spec in specs {
            let secs = spec.timeout.as_secs().max(1);
            text.push_str(&format!("guest_wait {} {secs}\n", spec.name));
        }
        Script {
            text,
            dom0_order: Vec::new(),
        }
    }
}

/// Whether `spec` is one of the workload's Linux guests.
pub fn is_linux(spec: &GuestSpec) -> bool {
    spec.image == GuestImage::BedLinuxArgs && spec.kind == GuestKind::Pvh
}

/// The workload's lines of a Linux guest that say what went wrong (its
/// `FAIL`, `diff` and `around` lines), and its result line.
pub fn evidence(guest: &GuestReport) -> Vec<&str> {
    let telling = |line: &&str| {
        line.starts_with("MEMCHECK FAIL")
            || line.starts_with("MEMCHECK diff")
            || line.starts_with("MEMCHECK around")
            || line.starts_with("MEMCHECK-RESULT")
    };
    guest
        .console
        .iter()
        .map(String::as_str)
        .filter(telling)
        .collect()
}

/// The `secs=` of a Linux guest's result line: how long its workload ran.
pub fn workload_secs(guest: &GuestReport) -> Option<f64> {
    let line = guest
        .console
        .iter()
        .find(|line| line.starts_with("MEMCHECK-RESULT"))?;
    line.split_whitespace()
        .find_map(|word| word.strip_prefix("secs="))?
        .parse()
        .ok()
}

/// What dom0's own programs said as they died: glibc's and the shell's
/// words for a process whose memory was corrupted under it (the bed's
/// first sign of the fault: `xl` and the console relays crash while the
/// guests still run). dom0's output reaches the runner as plain lines.
pub const DOM0_CRASH_SIGNS: [&str; 5] = [
    "Segmentation fault",
    "Inconsistency detected by ld.so",
    "corrupted",
    "Aborted",
    "inflate failed",
];

/// Each line of dom0 or of `xl` that shows a dom0 process crashed.
pub fn dom0_crashes(events: &[Stamped]) -> Vec<String> {
    let telling = |text: &str| DOM0_CRASH_SIGNS.iter().any(|sign| text.contains(sign));
    events
        .iter()
        .filter_map(|stamped| match &stamped.event {
            Event::Other(text) if telling(text) => Some(format!("dom0: {text}")),
            Event::GuestXl { guest, text } if telling(text) => {
                Some(format!("dom0 (xl for {guest}): {text}"))
            }
            _ => None,
        })
        .collect()
}

/// Xen's boot lines that say how it protects guests from each other
/// (`Support for HVM VMs: ... EAGER_FPU ...`, and the same for PV): the
/// proof that the bed's Xen switches FPU state eagerly (see
/// [`super::machine::xen_cmdline`]).
pub fn xen_support_lines(events: &[Stamped]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|stamped| match &stamped.event {
            Event::Xen(text) if text.contains("Support for") => Some(text.trim()),
            _ => None,
        })
        .collect()
}

/// The problem, if Xen's support lines do not both say `EAGER_FPU`.
pub fn lazy_fpu_problem(lines: &[&str]) -> Option<String> {
    let eager = lines
        .iter()
        .filter(|line| line.contains("EAGER_FPU"))
        .count();
    (lines.len() < 2 || eager < lines.len()).then(|| {
        format!(
            "Xen does not say EAGER_FPU for both PV and HVM guests (its lazy FPU switching \
             corrupts concurrent guests under TCG): {lines:?}"
        )
    })
}

#[cfg(test)]
#[path = "concurrency_tests.rs"]
mod tests;
