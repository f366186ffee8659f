//! Test fixtures: fake physical memory and builders for the ACPI tables of a
//! QEMU-like machine.

use virtus_kernel::mem::PhysMemory;

use super::fadt::{FADT_PARSED_LEN, FADT_RESET_REG_SUP, FADT_TMR_VAL_EXT, GAS_SYSTEM_IO};
use super::madt::{
    MADT_INTERRUPT_SOURCE_OVERRIDE, MADT_IO_APIC, MADT_LOCAL_APIC, MADT_LOCAL_X2APIC,
    MADT_PCAT_COMPAT,
};
use super::rsdp::{BIOS_AREA, EBDA_SEGMENT_PTR};

/// Physical memory made of disjoint regions; a read must fall wholly
/// inside one of them, as it would inside one RAM range.
#[derive(Default)]
pub(super) struct FakeMemory {
    regions: Vec<(u64, Vec<u8>)>,
}

impl FakeMemory {
    pub(super) fn put(&mut self, paddr: u64, bytes: &[u8]) {
        let end = paddr + bytes.len() as u64;
        for (base, data) in &mut self.regions {
            if paddr >= *base && end <= *base + data.len() as u64 {
                let off = (paddr - *base) as usize;
                data[off..off + bytes.len()].copy_from_slice(bytes);
                return;
            }
        }
        self.regions.push((paddr, bytes.to_vec()));
    }
}

impl PhysMemory for FakeMemory {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> bool {
        let Some(end) = paddr.checked_add(buf.len() as u64) else {
            return false;
        };
        self.regions.iter().any(|(base, data)| {
            let ok = paddr >= *base && end <= *base + data.len() as u64;
            if ok {
                let off = (paddr - *base) as usize;
                buf.copy_from_slice(&data[off..off + buf.len()]);
            }
            ok
        })
    }
}

pub(super) fn put16(t: &mut [u8], off: usize, v: u16) {
    t[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
pub(super) fn put32(t: &mut [u8], off: usize, v: u32) {
    t[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
pub(super) fn put64(t: &mut [u8], off: usize, v: u64) {
    t[off..off + 8].copy_from_slice(&v.to_le_bytes());
}
pub(super) fn gas(t: &mut [u8], off: usize, space: u8, address: u64) {
    t[off] = space;
    t[off + 1] = 8;
    put64(t, off + 4, address);
}
/// Make the bytes `range` of `t` sum to zero by adjusting `t[at]`.
pub(super) fn fix_checksum(t: &mut [u8], at: usize, len: usize) {
    t[at] = 0;
    t[at] = 0u8.wrapping_sub(t[..len].iter().fold(0u8, |s, &b| s.wrapping_add(b)));
}

pub(super) fn sdt(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut t = vec![0; 36];
    t[..4].copy_from_slice(sig);
    put32(&mut t, 4, (36 + body.len()) as u32);
    t[8] = 2;
    t[10..16].copy_from_slice(b"VIRTUS");
    t.extend_from_slice(body);
    let len = t.len();
    fix_checksum(&mut t, 9, len);
    t
}

pub(super) fn rsdp(revision: u8, rsdt: u32, xsdt: u64) -> Vec<u8> {
    let mut t = vec![0; 36];
    t[..8].copy_from_slice(b"RSD PTR ");
    t[9..15].copy_from_slice(b"VIRTUS");
    t[15] = revision;
    put32(&mut t, 16, rsdt);
    put32(&mut t, 20, 36);
    put64(&mut t, 24, xsdt);
    // The extended checksum covers the first one, so it comes last.
    fix_checksum(&mut t, 8, 20);
    fix_checksum(&mut t, 32, 36);
    if revision < 2 {
        t.truncate(20);
    }
    t
}

pub(super) fn root(sig: &[u8; 4], entries: &[u64]) -> Vec<u8> {
    let body: Vec<u8> = if sig == b"XSDT" {
        entries.iter().flat_map(|e| e.to_le_bytes()).collect()
    } else {
        entries
            .iter()
            .flat_map(|&e| (e as u32).to_le_bytes())
            .collect()
    };
    sdt(sig, &body)
}

pub(super) fn madt(local_apic: u32, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut body = vec![0; 8];
    put32(&mut body, 0, local_apic);
    put32(&mut body, 4, MADT_PCAT_COMPAT);
    entries.iter().for_each(|e| body.extend_from_slice(e));
    sdt(b"APIC", &body)
}

pub(super) fn ioapic_entry(id: u8, address: u32, gsi_base: u32) -> Vec<u8> {
    let mut e = vec![MADT_IO_APIC, 12, id, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    put32(&mut e, 4, address);
    put32(&mut e, 8, gsi_base);
    e
}

/// A Processor Local APIC entry (type 0).
pub(super) fn lapic_entry(uid: u8, apic_id: u8, flags: u32) -> Vec<u8> {
    let mut e = vec![MADT_LOCAL_APIC, 8, uid, apic_id, 0, 0, 0, 0];
    put32(&mut e, 4, flags);
    e
}

/// A Processor Local x2APIC entry (type 9).
pub(super) fn x2apic_entry(uid: u32, apic_id: u32, flags: u32) -> Vec<u8> {
    let mut e = vec![0; 16];
    e[0] = MADT_LOCAL_X2APIC;
    e[1] = 16;
    put32(&mut e, 4, apic_id);
    put32(&mut e, 8, flags);
    put32(&mut e, 12, uid);
    e
}

pub(super) fn override_entry(source: u8, gsi: u32, flags: u16) -> Vec<u8> {
    let mut e = vec![
        MADT_INTERRUPT_SOURCE_OVERRIDE,
        10,
        0,
        source,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    put32(&mut e, 4, gsi);
    put16(&mut e, 8, flags);
    e
}

pub(super) const RSDP_AT: u64 = 0xf5a40;
pub(super) const RSDT_AT: u64 = 0x7fe_0000;
pub(super) const XSDT_AT: u64 = 0x7fe_0100;
pub(super) const MADT_AT: u64 = 0x7fe_1000;
pub(super) const FADT_AT: u64 = 0x7fe_2000;
pub(super) const DSDT_AT: u64 = 0x7fe_3000;

/// A FADT laid out like QEMU's q35 one: PM block at 0x600 (PM1 events,
/// control, 32-bit PM timer), GPE0 at 0x620, SMI_CMD 0xB2, SCI on IRQ 9,
/// RESET_REG at port 0xCF9.
pub(super) fn fadt(length: usize, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut t = vec![0u8; length.max(FADT_PARSED_LEN)];
    t[..4].copy_from_slice(b"FACP");
    put32(&mut t, 4, length as u32);
    put32(&mut t, 40, DSDT_AT as u32);
    put16(&mut t, 46, 9);
    put32(&mut t, 48, 0xb2);
    t[52] = 0x02;
    put32(&mut t, 56, 0x600);
    put32(&mut t, 64, 0x604);
    put32(&mut t, 76, 0x608);
    put32(&mut t, 80, 0x620);
    t[88] = 4;
    t[92] = 16;
    put32(&mut t, 112, FADT_TMR_VAL_EXT | FADT_RESET_REG_SUP);
    gas(&mut t, 116, GAS_SYSTEM_IO, 0xcf9);
    t[128] = 6;
    put64(&mut t, 140, DSDT_AT);
    gas(&mut t, 148, GAS_SYSTEM_IO, 0x600);
    gas(&mut t, 172, GAS_SYSTEM_IO, 0x604);
    gas(&mut t, 208, GAS_SYSTEM_IO, 0x608);
    gas(&mut t, 220, GAS_SYSTEM_IO, 0x620);
    edit(&mut t);
    t.truncate(length);
    fix_checksum(&mut t, 9, length);
    t
}

/// `Name (_S5, Package (4) {Zero, Zero, Zero, Zero})` as QEMU emits it.
pub(super) const QEMU_S5: &[u8] = &[
    0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
];

/// Low memory with an EBDA pointer, the BIOS area with a revision-0
/// RSDP, and an RSDT listing `madt` and `fadt`; the DSDT holds `aml`.
pub(super) fn machine(madt_table: Vec<u8>, fadt_table: Vec<u8>, aml: &[u8]) -> FakeMemory {
    let mut mem = FakeMemory::default();
    mem.put(0, &[0; 0xa0000]);
    mem.put(EBDA_SEGMENT_PTR, &0x9fc0u16.to_le_bytes());
    mem.put(BIOS_AREA.0, &[0; BIOS_AREA.1 as usize]);
    mem.put(RSDP_AT, &rsdp(0, RSDT_AT as u32, 0));
    mem.put(RSDT_AT, &root(b"RSDT", &[FADT_AT, MADT_AT]));
    mem.put(MADT_AT, &madt_table);
    mem.put(FADT_AT, &fadt_table);
    mem.put(DSDT_AT, &sdt(b"DSDT", aml));
    mem
}

pub(super) fn qemu_madt() -> Vec<u8> {
    madt(
        0xfee0_0000,
        &[
            lapic_entry(0, 0, 1),
            ioapic_entry(0, 0xfec0_0000, 0),
            override_entry(0, 2, 0),
            override_entry(9, 9, 0x000d),
            override_entry(11, 11, 0x000f),
        ],
    )
}

pub(super) fn qemu_machine() -> FakeMemory {
    machine(qemu_madt(), fadt(276, |_| {}), QEMU_S5)
}
