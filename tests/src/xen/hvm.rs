//! Fully virtualized (HVM) guests: the bed flavour they need and the `xl`
//! settings that boot an unmodified kernel with direct kernel boot.
//!
//! An HVM domU runs with Xen's QEMU device model in dom0: hvmloader, then
//! SeaBIOS, then QEMU's PVH option ROM enters the kernel (an ELF32 with a
//! PVH note, linked at 4 MiB or above). Its console is the emulated 16550
//! (`serial = "pty"`), which dom0 reads with `xl console -t serial`. The
//! device model and its firmware are only in the HVM flavour of the bed
//! (`testbed.py prepare --hvm`), which boots dom0 with 512 MB.

use serde::Deserialize;

use super::guest::{GuestKind, GuestSpec};

/// Which bed a run needs: the small PVH one, or the HVM one (as its
/// `manifest.json` names it; beds from before the flavours were PVH beds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    #[default]
    Pvh,
    Hvm,
}

impl Flavour {
    /// The HVM flavour as soon as one guest is HVM.
    pub fn of(specs: &[GuestSpec]) -> Self {
        if specs.iter().any(|spec| spec.kind == GuestKind::Hvm) {
            Self::Hvm
        } else {
            Self::Pvh
        }
    }

    /// What `testbed.py prepare` (and `dir`) add to select the flavour.
    pub fn testbed_args(self) -> &'static [&'static str] {
        match self {
            Self::Pvh => &[],
            Self::Hvm => &["--hvm"],
        }
    }

    /// dom0's memory: `xl` needs 256 MB; dom0's root (the unpacked
    /// initramfs, at most half its memory) holds the bed, the guests' 16
    /// MiB test disks and their loop devices' page cache, which 256 MB no
    /// longer fits ("Initramfs unpacking failed: write error"); the device
    /// model of each HVM guest runs in dom0 too, and the HVM bed is bigger.
    pub fn dom0_mb(self) -> u32 {
        match self {
            Self::Pvh => 384,
            Self::Hvm => 512,
        }
    }

    /// The least memory of the outer QEMU machine.
    pub fn min_machine_mb(self) -> u32 {
        match self {
            Self::Pvh => 512,
            Self::Hvm => 1536,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Self::Pvh => "pvh",
            Self::Hvm => "hvm",
        }
    }
}

/// An `xl` value: a string or a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XlValue<'a> {
    Str(&'a str),
    Num(u32),
}

/// The device-model settings of an HVM guest, after its kernel and
/// command line. `serial = "pty"`: the UART is the console. No graphics,
/// no Xen platform PCI device (the guest is unmodified; the device model
/// then runs `-machine pc,accel=xen`). HAP: Debian's Xen has no shadow
/// paging.
pub const XL_SETTINGS: [(&str, XlValue<'static>); 9] = [
    ("device_model_version", XlValue::Str("qemu-xen")),
    ("hap", XlValue::Num(1)),
    ("serial", XlValue::Str("pty")),
    ("vga", XlValue::Str("none")),
    ("nographic", XlValue::Num(1)),
    ("vnc", XlValue::Num(0)),
    ("sdl", XlValue::Num(0)),
    ("xen_platform_pci", XlValue::Num(0)),
    // A guest's disks as an AHCI controller (ICH9, as on q35), the
    // device the native image drives; the default, PIIX IDE, it does not.
    ("hdtype", XlValue::Str("ahci")),
];

/// What Xen does when a guest of `kind` ends. An HVM domain is preserved:
/// destroying it at once kills the device model with the UART's last
/// bytes still in it; dom0's `guest_wait` destroys it after a moment.
pub fn end_action(kind: GuestKind) -> &'static str {
    match kind {
        GuestKind::Pvh => "destroy",
        GuestKind::Hvm => "preserve",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hvm_guest_makes_an_hvm_run() {
        let pvh = GuestSpec::pvh("a", "/k").unwrap();
        let hvm = GuestSpec::hvm("b", "/k.elf32").unwrap();
        assert_eq!(Flavour::of(&[]), Flavour::Pvh);
        assert_eq!(Flavour::of(std::slice::from_ref(&pvh)), Flavour::Pvh);
        assert_eq!(Flavour::of(&[pvh, hvm]), Flavour::Hvm);
        assert_eq!(Flavour::Hvm.testbed_args(), ["--hvm"]);
        assert!(Flavour::Pvh.testbed_args().is_empty());
        assert_eq!((Flavour::Pvh.dom0_mb(), Flavour::Hvm.dom0_mb()), (384, 512));
        assert_eq!(Flavour::Hvm.min_machine_mb(), 1536);
    }

    #[test]
    fn hvm_domains_are_preserved_for_the_uart_to_drain() {
        assert_eq!(end_action(GuestKind::Hvm), "preserve");
        assert_eq!(end_action(GuestKind::Pvh), "destroy");
    }
}
