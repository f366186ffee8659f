//! ACPI table discovery: the RSDP, the RSDT/XSDT, the MADT ("APIC"), the FADT
//! ("FACP") and the `\_S5_` package in the DSDT.
//!
//! Everything here is pure logic over [`PhysMemory`], so it runs unchanged on
//! the host under `cargo test`. Firmware tables are untrusted input: every
//! table's signature, length and checksum is checked before a field is used,
//! every offset is bounded by the table's own length, and an error names the
//! table and what was wrong with it.
//!
//! Only what the native backend needs is decoded: where the interrupt
//! controllers are and how ISA IRQs reach them, how to power off and reset,
//! and where the ACPI PM timer is. There is no AML interpreter: `\_S5_` is
//! found by its encoding, which firmware (QEMU, hvmloader, iasl) emits as a
//! plain `Name (\_S5, Package () {...})`.

mod aml;
mod error;
mod events;
mod fadt;
mod madt;
mod rsdp;
mod tables;
#[cfg(test)]
mod testing;

use virtus_kernel::mem::PhysMemory;

pub use aml::SleepTypes;
pub use error::{AcpiError, Signature};
pub use events::{AcpiModeSwitch, GpeBlock, Pm1EventBlocks};
pub use fadt::{PmTimer, ResetRegister, ResetRegisterAddress};
pub use madt::{InterruptOverride, IoApicInfo, LocalApicInfo};

use aml::find_s5;
use fadt::{FADT_MIN_LEN, Fadt};
use madt::{MPS_INTI_POLARITY_ACTIVE_HIGH, MPS_INTI_TRIGGER_EDGE, Madt};
use rsdp::find_rsdp;
use tables::{RootTable, SDT_HEADER_LEN};

/// How many I/O APICs [`AcpiInfo`] records; PCs have one, large servers a handful.
pub const MAX_IOAPICS: usize = 8;
/// How many processors [`AcpiInfo`] records (more are counted, not kept;
/// the kernel runs on at most a handful).
pub const MAX_LOCAL_APICS: usize = 64;
/// How many ISA interrupt source overrides [`AcpiInfo`] records (one per ISA IRQ).
pub const MAX_OVERRIDES: usize = 16;

/// Everything the native backend learns from ACPI.
///
/// Only [`discover`] makes one, so the ports and addresses in it are the
/// firmware's, which is what lets [`crate::power`] write to them safely.
#[derive(Clone, Copy, Debug)]
pub struct AcpiInfo {
    rsdp_address: u64,
    rsdp_revision: u8,
    madt: Madt,
    fadt: Fadt,
    s5: Result<SleepTypes, AcpiError>,
    has_mcfg: bool,
}

impl AcpiInfo {
    pub fn rsdp_address(&self) -> u64 {
        self.rsdp_address
    }

    /// 0 for ACPI 1.0 (RSDT), 2 or more for ACPI 2.0+ (XSDT).
    pub fn rsdp_revision(&self) -> u8 {
        self.rsdp_revision
    }

    /// Physical address of the local APIC registers (the MADT's 64-bit
    /// override if it has one).
    pub fn local_apic_address(&self) -> u64 {
        self.madt.local_apic_address
    }

    /// MADT PCAT_COMPAT: a legacy 8259 pair is present (and must be masked).
    pub fn pcat_compat(&self) -> bool {
        self.madt.pcat_compat
    }

    pub fn ioapics(&self) -> &[IoApicInfo] {
        self.madt.ioapics.as_slice()
    }

    /// The I/O APIC serving `gsi` as `(register block address, GSI base)`:
    /// the one with the highest GSI base not above it. (How many inputs it
    /// has only its own version register tells; `IoApic::route` checks.)
    pub fn ioapic_for_gsi(&self, gsi: u32) -> Option<(u64, u32)> {
        let ioapic = self
            .ioapics()
            .iter()
            .filter(|i| i.gsi_base <= gsi)
            .max_by_key(|i| i.gsi_base)?;
        Some((ioapic.address.into(), ioapic.gsi_base))
    }

    /// The usable processors (enabled or online-capable local APICs and
    /// x2APICs), in table order; at most [`MAX_LOCAL_APICS`].
    pub fn local_apics(&self) -> &[LocalApicInfo] {
        self.madt.local_apics.as_slice()
    }

    /// Usable processors the table lists beyond [`Self::local_apics`].
    pub fn local_apics_beyond(&self) -> usize {
        self.madt.local_apics_beyond
    }

    /// ISA interrupt source overrides (bus 0 only).
    pub fn interrupt_overrides(&self) -> &[InterruptOverride] {
        self.madt.overrides.as_slice()
    }

    /// `(gsi, active_low, level_triggered)` for ISA IRQ `isa_irq`: its
    /// override if the MADT has one, else the ISA default (same number, edge,
    /// active high).
    pub fn irq_to_gsi(&self, isa_irq: u8) -> (u32, bool, bool) {
        self.interrupt_overrides()
            .iter()
            .find(|o| o.source == isa_irq)
            .map_or((isa_irq.into(), false, false), |o| {
                (o.gsi, o.active_low, o.level_triggered)
            })
    }

    /// `(gsi, active_low, level_triggered)` of the SCI: SCI_INT through its
    /// interrupt source override if the MADT has one. Unlike an ISA IRQ, the
    /// SCI is a sharable, level-triggered, active-low interrupt (ACPI spec
    /// 5.2.9): that is what it is without an override, and what an
    /// override's "conforms to the bus" polarity or trigger means.
    pub fn sci_routing(&self) -> (u32, bool, bool) {
        let sci = self.sci_interrupt();
        let found = self
            .interrupt_overrides()
            .iter()
            .find(|o| u16::from(o.source) == sci);
        let gsi = found.map_or(u32::from(sci), |o| o.gsi);
        let flags = found.map_or(0, |o| o.inti_flags);
        // Only an explicit 0b01 (active high, edge) departs from the SCI's
        // defaults; 0b00 conforms to them and 0b10 is reserved.
        let active_low = flags & 0b11 != MPS_INTI_POLARITY_ACTIVE_HIGH;
        let level = flags & (0b11 << 2) != MPS_INTI_TRIGGER_EDGE;
        (gsi, active_low, level)
    }

    /// PM1a_CNT_BLK port (where SLP_TYPa and SLP_EN are written).
    pub fn pm1a_control(&self) -> Option<u16> {
        self.fadt.pm1a_control
    }

    /// PM1b_CNT_BLK port, on machines with a second PM1 block.
    pub fn pm1b_control(&self) -> Option<u16> {
        self.fadt.pm1b_control
    }

    pub fn pm_timer(&self) -> Option<PmTimer> {
        self.fadt.pm_timer
    }

    /// RESET_REG, only if the FADT flags say it is supported.
    pub fn reset_register(&self) -> Option<ResetRegister> {
        self.fadt.reset
    }

    /// X_DSDT if set, else DSDT.
    pub fn dsdt_address(&self) -> u64 {
        self.fadt.dsdt_address
    }

    /// SCI_INT: the ISA IRQ of the ACPI System Control Interrupt.
    pub fn sci_interrupt(&self) -> u16 {
        self.fadt.sci_interrupt
    }

    /// The PM1 event blocks (the fixed power button's status and enable
    /// bits), or why the FADT does not give usable ones.
    pub fn pm1_events(&self) -> Result<Pm1EventBlocks, AcpiError> {
        self.fadt.events.pm1
    }

    /// The general-purpose event blocks GPE0 and GPE1 that exist (and fit
    /// the I/O space).
    pub fn gpe_blocks(&self) -> impl Iterator<Item = GpeBlock> {
        self.fadt.events.gpe.into_iter().flatten()
    }

    /// SMI_CMD and ACPI_ENABLE, if the machine has a legacy mode to leave.
    pub fn acpi_mode_switch(&self) -> Option<AcpiModeSwitch> {
        self.fadt.events.mode_switch
    }

    /// FADT PWR_BUTTON: the power button is a control-method device, which
    /// only an AML interpreter can serve, not the fixed PM1 feature.
    pub fn power_button_is_control_method(&self) -> bool {
        self.fadt.events.power_button_is_control_method
    }

    /// HW_REDUCED_ACPI: no PM1 blocks; sleep goes through SLEEP_CONTROL_REG,
    /// which this module does not decode.
    pub fn hardware_reduced(&self) -> bool {
        self.fadt.hardware_reduced
    }

    /// `\_S5_`'s sleep types, or why the DSDT did not yield them: a DSDT
    /// without a usable `\_S5_` only rules out ACPI power-off, not the rest.
    pub fn s5(&self) -> Result<SleepTypes, AcpiError> {
        self.s5
    }

    /// The firmware lists a valid MCFG table: the chipset has PCI Express
    /// enhanced configuration space (QEMU q35 does, i440FX-based machines,
    /// including Xen HVM's, do not). Tests use it to tell the chipsets
    /// apart without reading PCI configuration space, which is under test.
    pub fn has_mcfg(&self) -> bool {
        self.has_mcfg
    }
}

/// Find and validate the ACPI tables. `rsdp_hint` is hvm_start_info's
/// `rsdp_paddr` (0 if the loader gave none, in which case the BIOS areas
/// are scanned).
pub fn discover(mem: &dyn PhysMemory, rsdp_hint: u64) -> Result<AcpiInfo, AcpiError> {
    let rsdp = find_rsdp(mem, rsdp_hint)?;
    let root = RootTable::load(mem, &rsdp)?;
    let madt = Madt::parse(mem, &root.find(mem, Signature::MADT, SDT_HEADER_LEN + 8)?)?;
    let fadt = Fadt::parse(mem, &root.find(mem, Signature::FADT, FADT_MIN_LEN)?)?;
    let s5 = find_s5(mem, fadt.dsdt_address);
    let has_mcfg = root.find(mem, Signature::MCFG, SDT_HEADER_LEN).is_ok();
    Ok(AcpiInfo {
        rsdp_address: rsdp.paddr,
        rsdp_revision: rsdp.revision,
        madt,
        fadt,
        s5,
        has_mcfg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use testing::*;

    #[test]
    fn finds_a_revision_0_rsdp_by_scanning_the_bios_area() {
        let info = discover(&qemu_machine(), 0).unwrap();
        assert_eq!((info.rsdp_address(), info.rsdp_revision()), (RSDP_AT, 0));
        assert_eq!(info.local_apic_address(), 0xfee0_0000);
        assert!(info.pcat_compat());
        assert_eq!(
            info.ioapics(),
            &[IoApicInfo {
                id: 0,
                address: 0xfec0_0000,
                gsi_base: 0
            }]
        );
        assert_eq!(
            (info.pm1a_control(), info.pm1b_control()),
            (Some(0x604), None)
        );
        assert_eq!(
            info.pm_timer(),
            Some(PmTimer {
                port: 0x608,
                width32: true
            })
        );
        let reset = ResetRegister {
            address: ResetRegisterAddress::SystemIo(0xcf9),
            value: 6,
        };
        assert_eq!(info.reset_register(), Some(reset));
        assert_eq!(
            (
                info.dsdt_address(),
                info.sci_interrupt(),
                info.hardware_reduced()
            ),
            (DSDT_AT, 9, false)
        );
        assert_eq!(
            info.s5(),
            Ok(SleepTypes {
                slp_typ_a: 0,
                slp_typ_b: 0
            })
        );
    }

    #[test]
    fn a_gsi_belongs_to_the_ioapic_with_the_highest_base_below_it() {
        let entries = [
            ioapic_entry(2, 0xfec1_0000, 24),
            ioapic_entry(1, 0xfec0_0000, 0),
        ];
        let info = discover(
            &machine(madt(0xfee0_0000, &entries), fadt(276, |_| {}), QEMU_S5),
            0,
        )
        .unwrap();
        assert_eq!(info.ioapic_for_gsi(4), Some((0xfec0_0000, 0)));
        assert_eq!(info.ioapic_for_gsi(30), Some((0xfec1_0000, 24)));
        let info = discover(
            &machine(madt(0xfee0_0000, &entries[..1]), fadt(276, |_| {}), QEMU_S5),
            0,
        )
        .unwrap();
        assert_eq!(info.ioapic_for_gsi(4), None);
    }

    #[test]
    fn the_sci_follows_its_override_and_is_level_active_low_by_default() {
        // QEMU (pc and q35): IRQ 9 -> GSI 9, active high, level (0x000d).
        let info = discover(&qemu_machine(), 0).unwrap();
        assert_eq!(info.sci_routing(), (9, false, true));
        // Xen's hvmloader has no override for IRQ 9: the SCI's defaults.
        let plain = [ioapic_entry(1, 0xfec0_0000, 0), override_entry(0, 2, 0)];
        let mem = machine(madt(0xfee0_0000, &plain), fadt(276, |_| {}), QEMU_S5);
        assert_eq!(discover(&mem, 0).unwrap().sci_routing(), (9, true, true));
        // An override that moves the SCI and leaves both modes to the bus.
        let moved = [ioapic_entry(1, 0xfec0_0000, 0), override_entry(9, 20, 0)];
        let mem = machine(madt(0xfee0_0000, &moved), fadt(276, |_| {}), QEMU_S5);
        assert_eq!(discover(&mem, 0).unwrap().sci_routing(), (20, true, true));
        // Edge, active high, stated outright (0b01 polarity, 0b01 trigger).
        let edge = [
            ioapic_entry(1, 0xfec0_0000, 0),
            override_entry(9, 9, 0x0005),
        ];
        let mem = machine(madt(0xfee0_0000, &edge), fadt(276, |_| {}), QEMU_S5);
        assert_eq!(discover(&mem, 0).unwrap().sci_routing(), (9, false, false));
    }

    #[test]
    fn a_bad_dsdt_only_costs_s5() {
        let mut mem = qemu_machine();
        let mut dsdt = sdt(b"DSDT", QEMU_S5);
        dsdt[40] ^= 1;
        mem.put(DSDT_AT, &dsdt);
        let info = discover(&mem, 0).unwrap();
        assert_eq!(
            info.s5(),
            Err(AcpiError::BadChecksum {
                table: Signature::DSDT,
                paddr: DSDT_AT
            })
        );
        assert_eq!(info.pm1a_control(), Some(0x604));
    }
}
