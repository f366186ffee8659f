//! The MADT ("APIC"): where the local APIC and I/O APICs are, and how ISA
//! IRQs reach them.

use virtus_kernel::mem::PhysMemory;

use super::tables::{SDT_HEADER_LEN, Sdt, addr, read_array, read_into, u16_at, u32_at, u64_at};
use super::{AcpiError, MAX_IOAPICS, MAX_OVERRIDES};

/// A fixed-capacity list: discovery runs before there is a heap.
#[derive(Clone, Copy, Debug)]
pub(super) struct FixedList<T: Copy + Default, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<T: Copy + Default, const N: usize> FixedList<T, N> {
    fn new() -> Self {
        Self {
            items: [T::default(); N],
            len: 0,
        }
    }

    fn push(&mut self, item: T) -> bool {
        let Some(slot) = self.items.get_mut(self.len) else {
            return false;
        };
        *slot = item;
        self.len += 1;
        true
    }

    pub(super) fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }
}

/// An I/O APIC as the MADT lists it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoApicInfo {
    pub id: u8,
    /// Physical address of its register block (IOREGSEL, IOWIN).
    pub address: u32,
    /// First Global System Interrupt its redirection table serves.
    pub gsi_base: u32,
}

/// An ISA interrupt source override: ISA IRQ `source` arrives at `gsi`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterruptOverride {
    pub source: u8,
    pub gsi: u32,
    pub active_low: bool,
    pub level_triggered: bool,
    /// The MPS INTI flags as the table has them, for the SCI, whose
    /// "conforms to the bus" means level, active low rather than ISA's edge,
    /// active high.
    pub inti_flags: u16,
}

/// What the MADT says about interrupt controllers.
#[derive(Clone, Copy, Debug)]
pub(super) struct Madt {
    pub(super) local_apic_address: u64,
    pub(super) pcat_compat: bool,
    pub(super) ioapics: FixedList<IoApicInfo, MAX_IOAPICS>,
    pub(super) overrides: FixedList<InterruptOverride, MAX_OVERRIDES>,
}

/// MADT Flags bit 0: the machine also has a dual 8259 PIC to mask.
pub(super) const MADT_PCAT_COMPAT: u32 = 1 << 0;
/// MPS INTI flags: polarity in bits 0-1, trigger mode in bits 2-3; `0b11` is
/// active low / level, `0b00` "conforms to the bus" (ISA: high, edge).
const MPS_INTI_POLARITY_ACTIVE_LOW: u16 = 0b11;
pub(super) const MPS_INTI_POLARITY_ACTIVE_HIGH: u16 = 0b01;
const MPS_INTI_TRIGGER_LEVEL: u16 = 0b11 << 2;
pub(super) const MPS_INTI_TRIGGER_EDGE: u16 = 0b01 << 2;

impl Madt {
    pub(super) fn parse(mem: &dyn PhysMemory, sdt: &Sdt) -> Result<Self, AcpiError> {
        let table = sdt.signature;
        let fixed: [u8; 8] = read_array(mem, table, addr(table, sdt.paddr, SDT_HEADER_LEN)?)?;
        let mut madt = Self {
            local_apic_address: u32_at(&fixed, 0).into(),
            pcat_compat: u32_at(&fixed, 4) & MADT_PCAT_COMPAT != 0,
            ioapics: FixedList::new(),
            overrides: FixedList::new(),
        };
        let malformed = |offset, what| AcpiError::Malformed {
            table,
            offset,
            what,
        };
        let mut off = SDT_HEADER_LEN + 8;
        while off < sdt.length {
            let mut entry = [0u8; 16];
            let header_len = (sdt.length - off).min(2) as usize;
            read_into(
                mem,
                table,
                addr(table, sdt.paddr, off)?,
                &mut entry[..header_len],
            )?;
            let (kind, len) = (entry[0], u32::from(entry[1]));
            if header_len < 2 || len < 2 || len > sdt.length - off {
                return Err(malformed(
                    off,
                    "entry length is below 2 or runs past the table",
                ));
            }
            let body = len.min(entry.len() as u32) as usize;
            read_into(mem, table, addr(table, sdt.paddr, off)?, &mut entry[..body])?;
            match kind {
                MADT_IO_APIC => {
                    if len < 12 {
                        return Err(malformed(off, "I/O APIC entry shorter than 12 bytes"));
                    }
                    let ioapic = IoApicInfo {
                        id: entry[2],
                        address: u32_at(&entry, 4),
                        gsi_base: u32_at(&entry, 8),
                    };
                    if ioapic.address == 0 {
                        return Err(malformed(off, "I/O APIC at address 0"));
                    }
                    if !madt.ioapics.push(ioapic) {
                        return Err(AcpiError::TooMany {
                            table,
                            what: "I/O APICs",
                        });
                    }
                }
                MADT_INTERRUPT_SOURCE_OVERRIDE => {
                    if len < 10 {
                        return Err(malformed(
                            off,
                            "interrupt source override shorter than 10 bytes",
                        ));
                    }
                    let flags = u16_at(&entry, 8);
                    // Bus 0 (ISA) is the only bus the spec defines.
                    if entry[2] == 0 {
                        let iso = InterruptOverride {
                            source: entry[3],
                            gsi: u32_at(&entry, 4),
                            active_low: flags & 0b11 == MPS_INTI_POLARITY_ACTIVE_LOW,
                            level_triggered: flags & (0b11 << 2) == MPS_INTI_TRIGGER_LEVEL,
                            inti_flags: flags,
                        };
                        if !madt.overrides.push(iso) {
                            return Err(AcpiError::TooMany {
                                table,
                                what: "interrupt source overrides",
                            });
                        }
                    }
                }
                MADT_LOCAL_APIC_ADDRESS_OVERRIDE => {
                    if len < 12 {
                        return Err(malformed(
                            off,
                            "local APIC address override shorter than 12 bytes",
                        ));
                    }
                    madt.local_apic_address = u64_at(&entry, 4);
                }
                // Processor Local APICs, NMI sources and the rest: not needed here.
                _ => {}
            }
            off += len;
        }
        Ok(madt)
    }
}

pub(super) const MADT_IO_APIC: u8 = 1;
pub(super) const MADT_INTERRUPT_SOURCE_OVERRIDE: u8 = 2;
const MADT_LOCAL_APIC_ADDRESS_OVERRIDE: u8 = 5;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::testing::*;
    use crate::acpi::{Signature, discover};

    #[test]
    fn madt_entries_must_fit_the_table() {
        let zero_length = madt(0xfee0_0000, &[vec![MADT_IO_APIC, 0]]);
        let mem = machine(zero_length, fadt(276, |_| {}), QEMU_S5);
        let err = discover(&mem, 0).unwrap_err();
        assert!(
            matches!(
                err,
                AcpiError::Malformed {
                    table: Signature::MADT,
                    offset: 44,
                    ..
                }
            ),
            "{err:?}"
        );
        let mut entry = ioapic_entry(0, 0xfec0_0000, 0);
        entry[1] = 20;
        let too_long = madt(0xfee0_0000, &[entry]);
        let mem = machine(too_long, fadt(276, |_| {}), QEMU_S5);
        assert!(matches!(
            discover(&mem, 0),
            Err(AcpiError::Malformed { offset: 44, .. })
        ));
        let mut short = ioapic_entry(0, 0xfec0_0000, 0);
        short[1] = 8;
        short.truncate(8);
        let mem = machine(madt(0xfee0_0000, &[short]), fadt(276, |_| {}), QEMU_S5);
        assert!(matches!(
            discover(&mem, 0),
            Err(AcpiError::Malformed { offset: 44, .. })
        ));
    }

    #[test]
    fn more_ioapics_than_the_list_holds_is_an_error() {
        let entries: Vec<_> = (0..=MAX_IOAPICS as u8)
            .map(|i| ioapic_entry(i, 0xfec0_0000 + u32::from(i) * 0x1000, u32::from(i) * 24))
            .collect();
        let mem = machine(madt(0xfee0_0000, &entries), fadt(276, |_| {}), QEMU_S5);
        assert_eq!(
            discover(&mem, 0).unwrap_err(),
            AcpiError::TooMany {
                table: Signature::MADT,
                what: "I/O APICs"
            }
        );
    }

    #[test]
    fn isa_irqs_follow_the_overrides() {
        let info = discover(&qemu_machine(), 0).unwrap();
        assert_eq!(info.interrupt_overrides().len(), 3);
        assert_eq!(info.irq_to_gsi(0), (2, false, false));
        assert_eq!(info.irq_to_gsi(9), (9, false, true)); // active high, level
        assert_eq!(info.irq_to_gsi(11), (11, true, true));
        assert_eq!(info.irq_to_gsi(4), (4, false, false));
    }

    #[test]
    fn without_overrides_isa_irqs_are_identity_mapped_edge_high() {
        let mem = machine(
            madt(0xfee0_0000, &[ioapic_entry(1, 0xfec0_0000, 0)]),
            fadt(276, |_| {}),
            QEMU_S5,
        );
        let info = discover(&mem, 0).unwrap();
        assert!(info.interrupt_overrides().is_empty());
        assert!((0..16).all(|irq| info.irq_to_gsi(irq) == (u32::from(irq), false, false)));
    }

    #[test]
    fn the_local_apic_address_override_wins() {
        let mut entry = vec![MADT_LOCAL_APIC_ADDRESS_OVERRIDE, 12, 0, 0];
        entry.extend_from_slice(&0x1_0000_0000u64.to_le_bytes());
        let mem = machine(madt(0xfee0_0000, &[entry]), fadt(276, |_| {}), QEMU_S5);
        assert_eq!(
            discover(&mem, 0).unwrap().local_apic_address(),
            0x1_0000_0000
        );
    }
}
