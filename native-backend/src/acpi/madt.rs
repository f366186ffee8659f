//! The MADT ("APIC"): where the local APIC and I/O APICs are, how ISA
//! IRQs reach them, and which processors (local APICs) the machine has.

use virtus_kernel::mem::PhysMemory;

use super::tables::{SDT_HEADER_LEN, Sdt, addr, read_array, read_into, u16_at, u32_at, u64_at};
use super::{AcpiError, MAX_IOAPICS, MAX_LOCAL_APICS, MAX_OVERRIDES};

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

/// A processor the MADT lists as usable: a Processor Local APIC (type 0)
/// or Processor Local x2APIC (type 9) entry that is enabled or
/// online-capable (ACPI 6.5, 5.2.12.2 and 5.2.12.12).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalApicInfo {
    /// Its local APIC ID: where INIT, SIPI and IPIs are addressed.
    pub apic_id: u32,
    /// The ACPI processor UID the entry names.
    pub uid: u32,
    /// Flags bit 0: usable now. Otherwise it is only online-capable (bit 1).
    pub enabled: bool,
}

/// What the MADT says about interrupt controllers.
#[derive(Clone, Copy, Debug)]
pub(super) struct Madt {
    pub(super) local_apic_address: u64,
    pub(super) pcat_compat: bool,
    pub(super) ioapics: FixedList<IoApicInfo, MAX_IOAPICS>,
    pub(super) overrides: FixedList<InterruptOverride, MAX_OVERRIDES>,
    /// Usable processors in table order, the first [`MAX_LOCAL_APICS`].
    pub(super) local_apics: FixedList<LocalApicInfo, MAX_LOCAL_APICS>,
    /// Usable processors listed beyond those (not kept, only counted).
    pub(super) local_apics_beyond: usize,
}

/// Local APIC flags: bit 0 Enabled, bit 1 Online Capable.
const LAPIC_ENABLED: u32 = 1 << 0;
const LAPIC_ONLINE_CAPABLE: u32 = 1 << 1;

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
            local_apics: FixedList::new(),
            local_apics_beyond: 0,
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
                MADT_LOCAL_APIC | MADT_LOCAL_X2APIC => {
                    let (need, id, uid, flags) = if kind == MADT_LOCAL_APIC {
                        (8, entry[3].into(), entry[2].into(), u32_at(&entry, 4))
                    } else {
                        (16, u32_at(&entry, 4), u32_at(&entry, 12), u32_at(&entry, 8))
                    };
                    if len < need {
                        return Err(malformed(off, "local APIC entry shorter than its type"));
                    }
                    if flags & (LAPIC_ENABLED | LAPIC_ONLINE_CAPABLE) != 0 {
                        madt.add_local_apic(LocalApicInfo {
                            apic_id: id,
                            uid,
                            enabled: flags & LAPIC_ENABLED != 0,
                        })
                        .map_err(|what| malformed(off, what))?;
                    }
                }
                // NMI sources and the rest: not needed here.
                _ => {}
            }
            off += len;
        }
        Ok(madt)
    }
}

impl Madt {
    /// Record a usable processor, refusing an ID no CPU can have or one
    /// listed twice: either would send INIT to the wrong CPU, or twice.
    fn add_local_apic(&mut self, lapic: LocalApicInfo) -> Result<(), &'static str> {
        // 0xff in a type-0 entry and 0xffffffff in a type-9 one are the
        // broadcast addresses, never a CPU's.
        if lapic.apic_id == 0xff || lapic.apic_id == u32::MAX {
            return Err("local APIC entry with the broadcast ID");
        }
        if self
            .local_apics
            .as_slice()
            .iter()
            .any(|l| l.apic_id == lapic.apic_id)
        {
            return Err("local APIC ID listed twice");
        }
        if !self.local_apics.push(lapic) {
            self.local_apics_beyond += 1;
        }
        Ok(())
    }
}

pub(super) const MADT_LOCAL_APIC: u8 = 0;
pub(super) const MADT_LOCAL_X2APIC: u8 = 9;
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

    fn cpus(entries: &[Vec<u8>]) -> Result<Vec<LocalApicInfo>, AcpiError> {
        let mem = machine(madt(0xfee0_0000, entries), fadt(276, |_| {}), QEMU_S5);
        discover(&mem, 0).map(|info| info.local_apics().to_vec())
    }

    fn cpu(apic_id: u32, uid: u32, enabled: bool) -> LocalApicInfo {
        LocalApicInfo {
            apic_id,
            uid,
            enabled,
        }
    }

    #[test]
    fn usable_processors_are_kept_in_table_order() {
        // Xen's hvmloader: APIC IDs 2 * vCPU, and entries for vCPUs that
        // are neither enabled nor online-capable, which are left out.
        let found = cpus(&[
            lapic_entry(0, 0, 1),
            ioapic_entry(1, 0xfec0_0000, 0),
            lapic_entry(1, 2, 1),
            lapic_entry(2, 4, 0),
            lapic_entry(3, 6, 0b10),
            x2apic_entry(300, 300, 1),
        ])
        .unwrap();
        assert_eq!(
            found,
            [
                cpu(0, 0, true),
                cpu(2, 1, true),
                cpu(6, 3, false),
                cpu(300, 300, true)
            ]
        );
        assert_eq!(cpus(&[ioapic_entry(1, 0xfec0_0000, 0)]).unwrap(), []);
        assert_eq!(discover(&qemu_machine(), 0).unwrap().local_apics().len(), 1);
    }

    #[test]
    fn processor_entries_are_validated() {
        let mut short = x2apic_entry(1, 1, 1);
        short[1] = 12;
        short.truncate(12);
        let twice = [lapic_entry(0, 3, 1), x2apic_entry(1, 3, 1)];
        let broadcast = [lapic_entry(0, 0xff, 1)];
        for (entries, offset) in [(&[short][..], 44), (&twice[..], 52), (&broadcast[..], 44)] {
            assert!(
                matches!(cpus(entries), Err(AcpiError::Malformed { offset: o, .. }) if o == offset),
                "{entries:?}"
            );
        }
    }

    #[test]
    fn processors_beyond_the_list_are_counted() {
        let entries: Vec<_> = (0..MAX_LOCAL_APICS as u32 + 3)
            .map(|i| x2apic_entry(i, i, 1))
            .collect();
        let mem = machine(madt(0xfee0_0000, &entries), fadt(276, |_| {}), QEMU_S5);
        let info = discover(&mem, 0).unwrap();
        assert_eq!(info.local_apics().len(), MAX_LOCAL_APICS);
        assert_eq!(info.local_apics_beyond(), 3);
    }
}
