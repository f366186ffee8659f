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
mod fadt;
mod madt;
mod rsdp;
mod tables;
#[cfg(test)]
mod testing;

use virtus_kernel::mem::PhysMemory;

pub use aml::SleepTypes;
pub use error::{AcpiError, Signature};
pub use fadt::{PmTimer, ResetRegister, ResetRegisterAddress};
pub use madt::{InterruptOverride, IoApicInfo};

use aml::find_s5;
use fadt::{FADT_MIN_LEN, Fadt};
use madt::Madt;
use rsdp::find_rsdp;
use tables::{RootTable, SDT_HEADER_LEN};

/// How many I/O APICs [`AcpiInfo`] records; PCs have one, large servers a handful.
pub const MAX_IOAPICS: usize = 8;
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
    Ok(AcpiInfo {
        rsdp_address: rsdp.paddr,
        rsdp_revision: rsdp.revision,
        madt,
        fadt,
        s5,
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
