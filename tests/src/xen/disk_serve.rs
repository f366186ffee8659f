//! The test disk of a Xen guest (see [`crate::disk`]): the image goes into
//! dom0's initramfs, the guest's xl config gets a disk line naming it, and
//! once every guest has ended dom0 prints the sha256 of the image's two
//! regions, which the runner compares with its own.
//!
//! Which dom0 backend serves the disk is the column's point:
//! - PVH: the kernel's `xen-blkback`, the image attached to a loop device by
//!   a small busybox hotplug script (`tests/xen/block-virtus`), so the guest's
//!   blkfront talks to Xen's own split-driver backend (indirect segments,
//!   persistent grants, multi-page rings), with no QEMU in the path.
//! - HVM: the device model (Xen's QEMU, `backendtype=qdisk`) emulates an AHCI
//!   controller (`hdtype = "ahci"`) with the image behind it: every register
//!   access of the native image's driver is a trap to that QEMU in dom0.

use super::guest::{GuestKind, GuestSpec};
use super::report::XenReport;
use super::run::{RunPlan, XenOptions};
use super::script::{Dom0Command, Dom0Point};
use crate::disk::{DiskPlan, SECTOR};

/// Where images land in dom0.
const DIR: &str = "/virtus-run/disks";

/// What the printed sums are introduced by, to find them in dom0's output.
const SUM_TAG: &str = "disk-sums";

/// The dom0 hotplug script of the PVH column's disk.
pub const BLOCK_SCRIPT: &str = "/etc/xen/scripts/block-virtus";

/// A guest's disk: the plan, and the image's path in dom0.
#[derive(Clone, Debug)]
pub struct ServedDisk {
    pub guest: String,
    pub plan: DiskPlan,
    pub path: String,
}

/// The kernel's name for the disk of a guest of `kind`.
pub fn kernel_name(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Pvh => "xvda",
        GuestKind::Hvm => "sda",
    }
}

/// The xl disk line for an image at `path` in dom0.
pub fn xl_disk(kind: GuestKind, path: &str) -> String {
    match kind {
        GuestKind::Pvh => {
            format!("format=raw,vdev=xvda,access=rw,script={BLOCK_SCRIPT},target={path}")
        }
        GuestKind::Hvm => format!("format=raw,vdev=hda,access=rw,backendtype=qdisk,target={path}"),
    }
}

/// Give `spec` a fresh test disk: its image into `plan`'s files, its xl
/// line and kernel arguments into the spec, and dom0's sums at the end.
pub fn serve(spec: &mut GuestSpec, options: &mut XenOptions, plan: &mut RunPlan) -> ServedDisk {
    let disk = DiskPlan::new(Some(kernel_name(spec.kind)));
    let path = format!("{DIR}/{}.img", spec.name);
    plan.files.push((path.clone(), disk.image()));
    spec.disks.push(xl_disk(spec.kind, &path));
    spec.extra = format!("{} {}", spec.extra, disk.kernel_args())
        .trim()
        .to_string();
    let (ro, durable) = (disk.read_only(), disk.durable());
    options.dom0.push(Dom0Command {
        when: Dom0Point::End,
        command: format!(
            "echo {SUM_TAG} {name}; \
             dd if={path} bs={SECTOR} skip={} count={} 2>/dev/null | sha256sum; \
             dd if={path} bs={SECTOR} skip={} count={} 2>/dev/null | sha256sum",
            ro.start,
            ro.end - ro.start,
            durable.start,
            durable.end - durable.start,
            name = spec.name,
        ),
    });
    ServedDisk {
        guest: spec.name.clone(),
        plan: disk,
        path,
    }
}

/// PVH only: a second, read-only disk (`xvdb`, `access=ro`), which the
/// core's `block_read_only_disk_refuses_writes` expects by name. xl
/// refuses read-only emulated disks, so HVM has none.
pub fn serve_read_only(spec: &mut GuestSpec, plan: &mut RunPlan) {
    let path = format!("{DIR}/{}-ro.img", spec.name);
    let image = DiskPlan {
        name: Some("xvdb"),
        sectors: 2048,
        seed: 0x0bad_cafe,
    }
    .image();
    plan.files.push((path.clone(), image));
    spec.disks.push(format!(
        "format=raw,vdev=xvdb,access=ro,script={BLOCK_SCRIPT},target={path}"
    ));
    spec.extra = format!("{} block.ro_disk=xvdb", spec.extra);
}

impl ServedDisk {
    /// Judge the image from dom0's sums. `durable_passed`: the guest's
    /// durability test passed, so its data must be on the image.
    pub fn check(&self, report: &XenReport, durable_passed: bool) -> Result<(), String> {
        let tag = format!("{SUM_TAG} {}", self.guest);
        let output = report
            .dom0
            .iter()
            .find(|c| c.command.starts_with(&format!("echo {tag};")))
            .ok_or("dom0 never ran the disk check")?;
        let sums: Vec<&str> = output
            .lines
            .iter()
            .skip_while(|line| line.trim() != tag)
            .skip(1)
            .filter_map(|line| line.split_whitespace().next())
            .collect();
        match (output.rc, sums.as_slice()) {
            (Some(0), [ro, durable]) => self.plan.check_sums(ro, durable, durable_passed),
            _ => Err(format!(
                "dom0's disk check of {} (rc {:?}) said: {}",
                self.path,
                output.rc,
                output.lines.join(" / ")
            )),
        }
    }
}

/// A disk problem as the leg reports it.
pub fn problem(disk: &ServedDisk, report: &XenReport, durable_passed: bool) -> Option<String> {
    disk.check(report, durable_passed)
        .err()
        .map(|e| format!("disk: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk;
    use crate::xen::report::Dom0Output;

    fn served() -> (ServedDisk, GuestSpec) {
        let mut spec = GuestSpec::hvm("virtus", "/k").unwrap();
        spec.extra = "test=all".into();
        let mut options = XenOptions::new(None, crate::xen::Verbosity::Quiet);
        let mut plan = RunPlan::default();
        let disk = serve(&mut spec, &mut options, &mut plan);
        assert_eq!(plan.files[0].0, "/virtus-run/disks/virtus.img");
        assert_eq!(plan.files[0].1.len(), disk::TEST_SECTORS as usize * SECTOR);
        assert_eq!(options.dom0.len(), 1);
        (disk, spec)
    }

    #[test]
    fn the_guest_gets_the_disk_line_and_the_kernel_arguments() {
        let (disk, spec) = served();
        assert_eq!(
            spec.disks,
            ["format=raw,vdev=hda,access=rw,backendtype=qdisk,target=/virtus-run/disks/virtus.img"]
        );
        assert_eq!(spec.extra, format!("test=all {}", disk.plan.kernel_args()));
        assert!(spec.extra.contains("block.disk=sda "));
        assert!(
            xl_disk(GuestKind::Pvh, "/i")
                .contains("script=/etc/xen/scripts/block-virtus,target=/i")
        );
    }

    #[test]
    fn dom0_sums_are_found_and_judged() {
        let (disk, _) = served();
        let image = disk.plan.image();
        let ro = disk::sha256_hex(&image[..disk.plan.read_only().end as usize * SECTOR]);
        let written = disk::sha256_hex(&disk.plan.durable_bytes());
        let report = |lines: Vec<String>, rc| {
            let mut report = XenReport::setup_failed(&[], String::new());
            report.dom0 = vec![Dom0Output {
                command: "echo disk-sums virtus; dd ...".to_string(),
                lines,
                rc,
            }];
            report
        };
        let good = report(
            vec![
                "disk-sums virtus".into(),
                format!("{ro}  -"),
                format!("{written}  -"),
            ],
            Some(0),
        );
        assert_eq!(disk.check(&good, true), Ok(()));
        let stale = report(
            vec![
                "disk-sums virtus".into(),
                format!("{ro}  -"),
                format!("{ro}  -"),
            ],
            Some(0),
        );
        assert!(
            disk.check(&stale, true)
                .unwrap_err()
                .contains("lack what the guest wrote")
        );
        assert_eq!(disk.check(&stale, false), Ok(()));
        let failed = report(vec!["dd: can't open".into()], Some(1));
        assert!(
            disk.check(&failed, false)
                .unwrap_err()
                .contains("rc Some(1)")
        );
        let none = XenReport::setup_failed(&[], String::new());
        assert!(disk.check(&none, false).is_err());
    }
}
