//! The QEMU machine that boots Xen: its memory, Xen's command line, and
//! dom0's kernel and initramfs as multiboot modules.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use super::bed::Bed;
use super::guest::GuestSpec;
use super::hvm::Flavour;
use crate::qemu;

/// Xen's command line. `smap=false`: PV dom0 faults on its first iret
/// under TCG with SMAP on. dom0 needs 256 MB or `xl` is OOM-killed, 384 MB to unpack
/// the initramfs with the test disks (512 MB
/// on the HVM bed, see [`Flavour::dom0_mb`]).
///
/// `spec-ctrl=eager-fpu`: the bed's concurrency fault. On the emulated
/// AMD CPU Xen 4.17 switches FPU/SSE state lazily (spec_ctrl.c's
/// `should_use_eager_fpu()` is false for all but Intel family 6): it leaves
/// one vCPU's registers loaded, sets CR0.TS and restores the next vCPU's
/// state when its first FPU/SSE instruction traps with #NM. Under QEMU
/// 7.2's TCG that hand-over is not faithful, and guests that use SSE (Linux
/// domUs, dom0's glibc; Virtus is built without SSE, which is why its
/// guests never showed it) ran on each other's registers: with two or
/// three Linux domUs at once (`virtus-run xen-concurrency`) patterns
/// changed between two reads inside a guest, and `xl` and the console
/// relays in dom0 died (ld.so assertions, malloc corruption, segfaults).
/// Measured, one change at a time (runs failed / runs): lazy FPU with
/// `asid=0`: K=3 2/2, K=2 2/2, one Linux domU next to Virtus PVH and HVM
/// 2/2; `asid=1` K=3 1/1; `hap_2mb=0 hap_1gb=0` K=2 1/1; `-cpu ...,-pdpe1gb`
/// K=2 1/1; eager FPU (this line): K=2 0/1 (122 s, against 128 s lazy),
/// and `xen-concurrency`'s own figures in the README. Shadow paging
/// (`hap=0`) was no alternative: Debian's Xen is built without it, and PVH
/// needs HAP.
///
/// `asid=0` (a guest-TLB flush on every VMRUN) is kept but was no cure:
/// QEMU's TCG SVM (target/i386/tcg/sysemu/svm_helper.c) reloads CR3 on
/// VMRUN and #VMEXIT, which flushes its whole soft TLB, and flushes the NPT
/// index too; its TLB has no ASID tag and it offers no FlushByASID, so no
/// translation outlives a world switch whatever Xen asks.
pub fn xen_cmdline(flavour: Flavour) -> String {
    let dom0 = flavour.dom0_mb();
    let line = format!(
        "console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all \
         dom0_mem={dom0}M,max:{dom0}M smap=false asid=0 spec-ctrl=eager-fpu"
    );
    match std::env::var(XEN_ARGS_ENV) {
        Ok(more) if !more.trim().is_empty() => format!("{line} {}", more.trim()),
        _ => line,
    }
}

/// Experiments with the bed (`xen-concurrency`'s reproducer): words
/// appended to Xen's command line (a later `asid=1` overrides `asid=0`),
/// and a QEMU `-cpu` model instead of [`CPU_MODEL`].
pub const XEN_ARGS_ENV: &str = "VIRTUS_BED_XEN_ARGS";
pub const CPU_ENV: &str = "VIRTUS_BED_CPU";

/// EPYC for SVM with nested paging (Xen's PVH needs HAP); no MONITOR,
/// on which Xen's idle loop faults under TCG.
pub const CPU_MODEL: &str = "EPYC,+svm,+npt,-monitor";

pub fn cpu_model() -> String {
    match std::env::var(CPU_ENV) {
        Ok(model) if !model.trim().is_empty() => model.trim().to_string(),
        _ => CPU_MODEL.to_string(),
    }
}

/// dom0's kernel command line, before the watchdog.
const DOM0_CMDLINE: &str = "console=hvc0 earlyprintk=xen quiet";

/// The machine's memory: dom0's 384 MB (512 MB for HVM guests), what Xen
/// keeps for itself, and the guests' own, which may all run at once. Never
/// below 512 MB (1536 MB with HVM guests). Past four guests, room for Xen's
/// own per-domain overhead (page tables, HAP pool, event and grant
/// structures), which many small guests at once (density) run out of.
pub fn machine_memory_mb(specs: &[GuestSpec]) -> u32 {
    const XEN_MB: u32 = 64;
    const PER_GUEST_OVERHEAD_MB: u32 = 4;
    const MARGIN_MB: u32 = 128;
    let flavour = Flavour::of(specs);
    let guests: u32 = specs.iter().map(|spec| spec.memory_mb).sum();
    let base = (flavour.dom0_mb() + XEN_MB + guests)
        .div_ceil(128)
        .max(flavour.min_machine_mb() / 128)
        * 128;
    if specs.len() <= 4 {
        return base;
    }
    (base + MARGIN_MB + PER_GUEST_OVERHEAD_MB * specs.len() as u32).div_ceil(128) * 128
}

/// QEMU's arguments: Xen as the multiboot kernel, dom0's kernel and
/// initramfs as its modules. Multiboot module strings are split at commas,
/// so commas within one are doubled; the first word of each is the file.
/// dom0's `virtus.watchdog` reboots it `watchdog` after its start; its
/// `virtus.stall` reboots it once its script and relays have been silent
/// for `stall` (never with `None`: an interactive session waits on a user).
pub fn qemu_arguments(
    bed: &Bed,
    initramfs: &Path,
    memory_mb: u32,
    watchdog: Duration,
    stall: Option<Duration>,
) -> Result<Vec<OsString>, String> {
    let word = |path: &Path| -> Result<String, String> {
        match path.to_str() {
            Some(text) if !text.contains(char::is_whitespace) => Ok(text.to_string()),
            _ => Err(format!(
                "{} cannot be a multiboot module (not UTF-8, or has spaces)",
                path.display()
            )),
        }
    };
    let dom0 = format!(
        "{} {DOM0_CMDLINE} virtus.stall={} virtus.watchdog={}",
        word(&bed.vmlinux())?,
        stall.map_or(0, |stall| stall.as_secs()),
        watchdog.as_secs()
    );
    let modules = format!(
        "{},{}",
        dom0.replace(',', ",,"),
        word(initramfs)?.replace(',', ",,")
    );
    // dom0 ends with `reboot -f`; Xen resets the machine, and QEMU exits.
    let mut args = qemu::headless(
        "q35",
        &cpu_model(),
        &memory_mb.to_string(),
        &bed.xen(),
        &xen_cmdline(bed.flavour),
    );
    args.extend([OsString::from("-initrd"), OsString::from(modules)]);
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xen::bed::pvh_bed;

    fn bed() -> Bed {
        pvh_bed("/cache/xen-bed")
    }

    #[test]
    fn qemu_boots_xen_with_dom0_as_modules() {
        let args = qemu_arguments(
            &bed(),
            Path::new("/tmp/x.initramfs"),
            512,
            Duration::from_secs(150),
            Some(Duration::from_secs(300)),
        )
        .unwrap();
        let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
        let pair = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
        assert_eq!(pair("-cpu"), "EPYC,+svm,+npt,-monitor");
        assert_eq!(pair("-kernel"), "/cache/xen-bed/xen");
        assert_eq!(pair("-m"), "512");
        assert!(pair("-append").contains("dom0_mem=384M,max:384M"));
        assert!(pair("-append").ends_with("asid=0 spec-ctrl=eager-fpu"));
        assert_eq!(
            pair("-initrd"),
            "/cache/xen-bed/vmlinux console=hvc0 earlyprintk=xen quiet \
             virtus.stall=300 virtus.watchdog=150,/tmp/x.initramfs"
        );
        assert!(args.contains(&"-no-reboot"));
    }

    #[test]
    fn the_machine_has_room_for_every_guest_at_once() {
        let linux = |name: &str| GuestSpec::bed_linux(name, "").unwrap();
        assert_eq!(machine_memory_mb(&[]), 512);
        assert_eq!(machine_memory_mb(&[GuestSpec::linux_proof()]), 640);
        let two = [linux("a"), linux("b")];
        assert_eq!(machine_memory_mb(&two), 640);
        let four = [linux("a"), linux("b"), linux("c"), GuestSpec::linux_proof()];
        assert_eq!(machine_memory_mb(&four), 896);
        let mut big = GuestSpec::pvh("big", "/k").unwrap();
        big.memory_mb = 1000;
        assert_eq!(machine_memory_mb(&[big]), 1536);
    }

    #[test]
    fn many_small_guests_get_headroom() {
        let guests = |n: usize| -> Vec<GuestSpec> {
            (0..n)
                .map(|i| {
                    let mut spec = GuestSpec::pvh(&format!("g{i}"), "/k").unwrap();
                    spec.memory_mb = 6;
                    spec
                })
                .collect()
        };
        assert_eq!(machine_memory_mb(&guests(4)), 512);
        // 384 + 64 + 192 = 640, then 128 + 4 x 32 more.
        assert_eq!(machine_memory_mb(&guests(32)), 896);
    }

    #[test]
    fn commas_in_module_strings_are_doubled() {
        let odd = pvh_bed("/a,b");
        let args = qemu_arguments(
            &odd,
            Path::new("/t,mp/x"),
            512,
            Duration::from_secs(9),
            None,
        )
        .unwrap();
        let initrd = args.last().unwrap().to_str().unwrap();
        assert!(initrd.starts_with("/a,,b/vmlinux "), "{initrd}");
        assert!(initrd.ends_with("watchdog=9,/t,,mp/x"), "{initrd}");
        assert!(qemu_arguments(&bed(), Path::new("/tmp/a b"), 512, Duration::ZERO, None).is_err());
    }
}
