//! The boot comparison of `virtus-run bench` under one Xen (a mute guest,
//! virtus-pv to its shell, the bed's Linux quiet and verbose, in turn), and
//! the footprint of their images.

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::{find, options};
use crate::bench::args::BenchRequest;
use crate::bench::boot::{BootKind, BootRow, boot_run};
use crate::bench::floor::shutdown_at_prompt;
use crate::bench::model::BenchReport;
use crate::xen::bed::Bed;
use crate::xen::guest::GUEST_DIR;
use crate::xen::{GuestSpec, RunPlan, initramfs, mute, run_planned};

/// Every boot guest gets what the bed's Linux needs (96 MiB, see
/// `linux_guest_cfg` in tests/xen/virtus.sh), so all build alike.
const BOOT_MEMORY_MB: u32 = crate::xen::guest::BED_LINUX_MEMORY_MB;
const SHORT_TIMEOUT: Duration = Duration::from_secs(30);

fn file_size(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().map(|m| m.len())
}

/// The boot guests of one round, in the order they run, with their rows.
fn boot_round(
    i: usize,
    pv: &Path,
    mute: &Path,
) -> Result<Vec<(GuestSpec, BootKind, &'static str)>, String> {
    use BootKind::{Linux, Mute, Virtus};
    let mute = GuestSpec::pvh(&format!("boot-mute-{i}"), mute)?;
    let mut virtus = GuestSpec::pvh(&format!("boot-virtus-{i}"), pv)?;
    virtus.extra = format!("xen.memory_mb={BOOT_MEMORY_MB}");
    let quiet = GuestSpec::bed_linux(&format!("boot-linux-quiet-{i}"), "")?;
    let verbose = GuestSpec::bed_linux(&format!("boot-linux-verbose-{i}"), "loglevel=7")?;
    let mut round = vec![
        (mute, Mute, "mute guest (toolstack floor)"),
        (virtus, Virtus, "virtus-pv to its shell"),
        (quiet, Linux, "Linux, `quiet`"),
        (verbose, Linux, "Linux, `quiet loglevel=7`"),
    ];
    for (spec, kind, _) in &mut round {
        spec.memory_mb = BOOT_MEMORY_MB;
        if *kind != Linux {
            spec.timeout = SHORT_TIMEOUT;
        }
    }
    Ok(round)
}

/// The boot comparison and the footprint; returns the bed it ran on.
pub fn boot_and_footprint(request: &BenchRequest, report: &mut BenchReport) -> Option<Bed> {
    let mute = std::env::temp_dir().join(format!("virtus-bench-mute-{}.elf", std::process::id()));
    if let Err(e) = fs::write(&mute, mute::elf()) {
        let note = format!("cannot write {}: {e}", mute.display());
        report.notes.push(note);
        return None;
    }
    // The first `xl create` of a Xen boot finds dom0's caches cold (xl and
    // its libraries are read for the first time): a mute guest first, not
    // counted, so that round 1 is like the others.
    let mut specs = Vec::new();
    match GuestSpec::pvh("boot-warm-up", &mute) {
        Ok(mut warm_up) => {
            warm_up.memory_mb = BOOT_MEMORY_MB;
            warm_up.timeout = SHORT_TIMEOUT;
            specs.push(warm_up);
        }
        Err(e) => report.notes.push(e),
    }
    let mut guests = Vec::new();
    for i in 1..=request.repeat {
        match boot_round(i, &request.images.pv_image, &mute) {
            Ok(round) => guests.extend(round),
            Err(e) => report.notes.push(e),
        }
    }
    specs.extend(guests.iter().map(|(s, ..)| s.clone()));
    let virtus = specs.iter().filter(|s| s.name.starts_with("boot-virtus-"));
    let mut files: Vec<(String, Vec<u8>)> = virtus.map(|s| shutdown_at_prompt(&s.name)).collect();
    // dom0 stamps the first console byte of these guests only.
    files.extend(
        specs
            .iter()
            .map(|s| (format!("{GUEST_DIR}/{}.first-byte", s.name), Vec::new())),
    );
    let plan = RunPlan {
        script: None,
        files,
    };
    let run = run_planned(
        &specs,
        &plan,
        &options(request, request.beds.bed.as_deref(), true),
    );
    let _ = fs::remove_file(&mute);
    let problems = run.report.run_problems();
    report
        .notes
        .extend(problems.iter().map(|p| format!("boot run: {p}")));
    for (spec, kind, label) in &guests {
        let Some(g) = find(&run, &spec.name) else {
            continue;
        };
        match report.boot.iter_mut().find(|b| b.guest == *label) {
            Some(row) => row.runs.push(boot_run(*kind, g)),
            None => report.boot.push(BootRow {
                guest: label.to_string(),
                kind: *kind,
                memory_mb: spec.memory_mb,
                runs: vec![boot_run(*kind, g)],
            }),
        }
    }
    let f = &mut report.footprint;
    f.virtus_pv_bytes = file_size(&request.images.pv_image);
    // The image's size as dom0 gets it, without debug sections.
    let stripped = initramfs::stripped(&request.images.pv_image).ok().flatten();
    f.virtus_pv_stripped_bytes = stripped.and_then(|file| file_size(&file.0));
    if let Some(bed) = &run.bed {
        f.linux_vmlinux_bytes = file_size(&bed.vmlinux());
        f.linux_initramfs_bytes = file_size(&bed.dir.join("linux-guest.cpio.gz"));
    }
    f.linux_floor_source = "96 MiB is the documented floor, cited and not re-measured in this run \
         (tests/xen/virtus.sh, tests/xen/README.md: 80 MiB panics out of memory, \
         below 72 MiB xl refuses the kernel)"
        .into();
    run.bed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boot_round_is_alike_but_for_the_guest() {
        let round = boot_round(2, Path::new("/pv"), Path::new("/mute")).unwrap();
        let names: Vec<&str> = round.iter().map(|(s, ..)| s.name.as_str()).collect();
        let want = [
            "boot-mute-2",
            "boot-virtus-2",
            "boot-linux-quiet-2",
            "boot-linux-verbose-2",
        ];
        assert_eq!(names, want);
        assert!(round.iter().all(|(s, ..)| s.memory_mb == 96));
        assert_eq!(round[3].0.extra, "loglevel=7");
        let (path, text) = shutdown_at_prompt("boot-virtus-2");
        assert_eq!(path, "/virtus-run/guests/boot-virtus-2.input");
        assert_eq!(text, b"virtus> \nshutdown\\n");
    }
}
