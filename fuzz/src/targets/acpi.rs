//! ACPI discovery as the native backend runs it: `acpi::discover` over
//! firmware memory (RSDP by hint or by the EBDA/BIOS-area scan, RSDT or
//! XSDT, MADT, FADT and its event blocks, `\_S5_` in the DSDT's AML).
//!
//! Input: the RSDP hint (u64) at 0, the EBDA segment (u16, read at 0x40e)
//! at 8, a flag byte at 10, then physical memory from `BASE` (the BIOS
//! area, so a scan finds an RSDP there) from byte 16 on. With flag bit 0
//! set the harness first makes the checksums of the tables at the seeds'
//! places right again, so that mutated MADT entries, FADT fields and AML
//! reach the code behind the checksum check (most mutants would
//! otherwise stop at it).
//!
//! Properties of an accepted input, checked against the memory itself: the
//! RSDP and every table the result came from (root, MADT, FADT; the DSDT
//! when `\_S5_` was found) has its signature, a length inside the memory
//! given and a byte sum of zero; the processors are exactly the usable
//! local APIC entries, at most `MAX_LOCAL_APICS` kept, their IDs unique,
//! none the broadcast one; lists bounded; sleep types 3 bits; event ports that
//! do not wrap. Each accepted input is also run again with each used
//! table's checksum byte broken, and whatever is then accepted must pass
//! the same checks: a table is never used before its checksum is.

use virtus_native::acpi::{AcpiInfo, MAX_IOAPICS, MAX_LOCAL_APICS, MAX_OVERRIDES, discover};

use super::cmdline::Regions;
use super::{Outcome, Target};
use crate::mutate::Hints;

/// Where the input's memory starts: the BIOS area the RSDP scan covers.
const BASE: u64 = 0xe_0000;
const MEMORY: usize = 16;
const EBDA_SEGMENT_PTR: u64 = 0x40e;
/// The flag byte of the input header, and its bit.
const FLAGS: usize = 10;
const FIX_CHECKSUMS: u8 = 1;

/// Offsets in the memory of the seeds' tables.
const RSDP: u64 = 0x40;
const RSDT: u64 = 0x100;
const XSDT: u64 = 0x180;
const MADT: u64 = 0x200;
const FADT: u64 = 0x600;
const DSDT: u64 = 0x800;

pub struct AcpiTarget;

fn put(t: &mut [u8], at: usize, bytes: &[u8]) {
    t[at..at + bytes.len()].copy_from_slice(bytes);
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

/// Make `t[..len]` sum to zero through `t[at]`.
fn fix(t: &mut [u8], at: usize, len: usize) {
    t[at] = 0;
    t[at] = 0u8.wrapping_sub(checksum(&t[..len]));
}

fn sdt(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 36];
    put(&mut t, 0, sig);
    put(&mut t, 4, &(36 + body.len() as u32).to_le_bytes());
    t[8] = 2;
    put(&mut t, 10, b"VIRTUS");
    t.extend_from_slice(body);
    let len = t.len();
    fix(&mut t, 9, len);
    t
}

fn rsdp(revision: u8, rsdt: u32, xsdt: u64) -> Vec<u8> {
    let mut t = vec![0u8; 36];
    put(&mut t, 0, b"RSD PTR ");
    put(&mut t, 9, b"VIRTUS");
    t[15] = revision;
    put(&mut t, 16, &rsdt.to_le_bytes());
    put(&mut t, 20, &36u32.to_le_bytes());
    put(&mut t, 24, &xsdt.to_le_bytes());
    fix(&mut t, 8, 20);
    fix(&mut t, 32, 36);
    t
}

/// A MADT with QEMU's entries, `cpus` processors (every third only
/// online-capable, one disabled entry after them) and one x2APIC.
fn madt(cpus: u8) -> Vec<u8> {
    let mut body = vec![0u8; 8];
    put(&mut body, 0, &0xfee0_0000u32.to_le_bytes());
    put(&mut body, 4, &1u32.to_le_bytes());
    for cpu in 0..cpus {
        let flags: u32 = if cpu % 3 == 2 { 2 } else { 1 };
        body.extend_from_slice(&[0, 8, cpu, cpu]);
        body.extend_from_slice(&flags.to_le_bytes());
    }
    body.extend_from_slice(&[0, 8, 0xfe, 0xfe, 0, 0, 0, 0]);
    let mut x2 = vec![9, 16, 0, 0];
    x2.extend_from_slice(&0x100u32.to_le_bytes());
    x2.extend_from_slice(&1u32.to_le_bytes());
    x2.extend_from_slice(&0x100u32.to_le_bytes());
    body.extend_from_slice(&x2);
    let mut ioapic = vec![1, 12, 0, 0];
    ioapic.extend_from_slice(&0xfec0_0000u32.to_le_bytes());
    ioapic.extend_from_slice(&0u32.to_le_bytes());
    body.extend_from_slice(&ioapic);
    for (irq, gsi, flags) in [(0u8, 2u32, 0u16), (9, 9, 0xd), (11, 11, 0xf)] {
        body.extend_from_slice(&[2, 10, 0, irq]);
        body.extend_from_slice(&gsi.to_le_bytes());
        body.extend_from_slice(&flags.to_le_bytes());
    }
    // Local APIC address override, and an NMI entry (ignored).
    body.extend_from_slice(&[5, 12, 0, 0]);
    body.extend_from_slice(&0xfee0_0000u64.to_le_bytes());
    body.extend_from_slice(&[4, 6, 0xff, 0, 0, 1]);
    sdt(b"APIC", &body)
}

/// A FADT like QEMU q35's (see the backend's acpi::testing): PM block at
/// 0x600, GPE0 at 0x620, SMI_CMD 0xB2, SCI 9, RESET_REG port 0xCF9.
fn fadt(dsdt: u64) -> Vec<u8> {
    let mut t = vec![0u8; 276];
    put(&mut t, 0, b"FACP");
    put(&mut t, 4, &276u32.to_le_bytes());
    put(&mut t, 40, &(dsdt as u32).to_le_bytes());
    put(&mut t, 46, &9u16.to_le_bytes());
    put(&mut t, 48, &0xb2u32.to_le_bytes());
    t[52] = 2;
    put(&mut t, 56, &0x600u32.to_le_bytes());
    put(&mut t, 64, &0x604u32.to_le_bytes());
    put(&mut t, 76, &0x608u32.to_le_bytes());
    put(&mut t, 80, &0x620u32.to_le_bytes());
    t[88] = 4;
    t[92] = 16;
    put(&mut t, 112, &(1u32 << 8 | 1 << 10).to_le_bytes());
    let gas = |t: &mut [u8], at: usize, address: u64| {
        t[at] = 1;
        t[at + 1] = 8;
        put(t, at + 4, &address.to_le_bytes());
    };
    gas(&mut t, 116, 0xcf9);
    t[128] = 6;
    put(&mut t, 140, &dsdt.to_le_bytes());
    gas(&mut t, 148, 0x600);
    gas(&mut t, 172, 0x604);
    gas(&mut t, 208, 0x608);
    gas(&mut t, 220, 0x620);
    fix(&mut t, 9, 276);
    t
}

/// `Name (\_S5, Package (4) {0x07, 0x05, Zero, Zero})` after some AML.
const S5: &[u8] = &[
    0x14, 0x08, b'_', b'P', b'T', b'S', 0x01, 0x70, 0x00, 0x60, 0x08, b'\\', b'_', b'S', b'5',
    b'_', 0x12, 0x08, 0x04, 0x0a, 0x07, 0x0a, 0x05, 0x00, 0x00,
];

/// An input: `hint`, EBDA segment 0, and memory holding `tables`.
fn input(hint: u64, tables: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0u8; MEMORY];
    put(&mut out, 0, &hint.to_le_bytes());
    for (at, t) in tables {
        let at = MEMORY + *at as usize;
        if out.len() < at + t.len() {
            out.resize(at + t.len(), 0);
        }
        put(&mut out, at, t);
    }
    out
}

/// Where the seeds' `\_S5_` package starts in the DSDT (after `_PTS`).
const S5_PACKAGE: usize = DSDT as usize + 36 + 16;

const FIELDS: [(usize, usize); 27] = {
    const M: usize = MEMORY;
    [
        (0, 8),
        (8, 2),
        (FLAGS, 1),
        (M + RSDP as usize + 15, 1),
        (M + RSDP as usize + 16, 4),
        (M + RSDP as usize + 20, 4),
        (M + RSDP as usize + 24, 8),
        (M + RSDT as usize + 4, 4),
        (M + RSDT as usize + 36, 4),
        (M + RSDT as usize + 40, 4),
        (M + XSDT as usize + 36, 8),
        (M + MADT as usize + 4, 4),
        (M + MADT as usize + 44, 1),
        (M + MADT as usize + 45, 1),
        (M + MADT as usize + 48, 4),
        (M + FADT as usize + 4, 4),
        (M + FADT as usize + 40, 4),
        (M + FADT as usize + 88, 1),
        (M + FADT as usize + 92, 1),
        (M + FADT as usize + 112, 4),
        (M + FADT as usize + 140, 8),
        (M + FADT as usize + 176, 8),
        (M + DSDT as usize + 4, 4),
        // PackageOp's PkgLength, NumElements, the first element's prefix
        // and value: what `parse_s5_package` decodes.
        (M + S5_PACKAGE + 1, 1),
        (M + S5_PACKAGE + 2, 1),
        (M + S5_PACKAGE + 3, 1),
        (M + S5_PACKAGE + 4, 4),
    ]
};

const VALUES: [u64; 12] = [
    BASE + RSDP,
    BASE + RSDT,
    BASE + XSDT,
    BASE + MADT,
    BASE + FADT,
    BASE + DSDT,
    0x9fc0,
    36,
    276,
    0xffff,
    0x1_0000,
    0xfee0_0000,
];

impl Target for AcpiTarget {
    fn name(&self) -> &'static str {
        "acpi"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let root32 = |entries: &[u64]| {
            let body: Vec<u8> = entries
                .iter()
                .flat_map(|&e| (BASE + e).to_le_bytes()[..4].to_vec())
                .collect();
            sdt(b"RSDT", &body)
        };
        let root64 = |entries: &[u64]| {
            let body: Vec<u8> = entries
                .iter()
                .flat_map(|&e| (BASE + e).to_le_bytes())
                .collect();
            sdt(b"XSDT", &body)
        };
        let dsdt = sdt(b"DSDT", S5);
        let v0 = |cpus| {
            vec![
                (RSDP, rsdp(0, (BASE + RSDT) as u32, 0)[..20].to_vec()),
                (RSDT, root32(&[FADT, 0, MADT])),
                (MADT, madt(cpus)),
                (FADT, fadt(BASE + DSDT)),
                (DSDT, dsdt.clone()),
            ]
        };
        let v2 = vec![
            (RSDP, rsdp(2, 0, BASE + XSDT)),
            (XSDT, root64(&[MADT, FADT, DSDT])),
            (MADT, madt(2)),
            (FADT, fadt(BASE + DSDT)),
            (DSDT, dsdt.clone()),
        ];
        // No DSDT: only `\_S5_` is lost.
        let no_dsdt = vec![
            (RSDP, rsdp(0, (BASE + RSDT) as u32, 0)[..20].to_vec()),
            (RSDT, root32(&[MADT, FADT])),
            (MADT, madt(1)),
            (FADT, fadt(0)),
        ];
        let fixing = |mut input: Vec<u8>| {
            input[FLAGS] = FIX_CHECKSUMS;
            input
        };
        vec![
            input(0, &v0(4)),
            input(BASE + RSDP, &v0(70)),
            input(BASE + RSDP, &v2),
            input(0, &v2),
            input(0, &no_dsdt),
            fixing(input(BASE + RSDP, &v0(3))),
            fixing(input(0, &v2)),
        ]
    }

    fn hints(&self) -> Hints<'static> {
        Hints {
            fields: &FIELDS,
            values: &VALUES,
            hex: false,
        }
    }

    fn run(&self, input: &[u8]) -> Result<Outcome, String> {
        let Some((header, memory)) = input.split_at_checked(MEMORY) else {
            return Ok(Outcome {
                accepted: false,
                refusal: Some("Short".into()),
            });
        };
        let hint = u64::from_le_bytes(header[..8].try_into().unwrap_or_default());
        let fixed;
        let memory = if header[FLAGS] & FIX_CHECKSUMS != 0 {
            fixed = fix_checksums(memory);
            &fixed[..]
        } else {
            memory
        };
        let info = match run_on(header, memory) {
            Ok(info) => info,
            Err(e) => return Ok(Outcome::refused(false, &e)),
        };
        let used = check(&info, memory, hint)?;
        // Break each used table's checksum in turn.
        let mut broken = memory.to_vec();
        for at in used {
            broken[at] ^= 0x5a;
            if let Ok(info) = run_on(header, &broken) {
                check(&info, &broken, hint)
                    .map_err(|e| format!("checksum at {at:#x} broken: {e}"))?;
            }
            broken[at] ^= 0x5a;
        }
        let s5 = info.s5();
        Ok(match s5 {
            Ok(_) => Outcome::ACCEPTED,
            Err(e) => Outcome::refused(true, &e),
        })
    }
}

/// A copy of `memory` with the checksums of the RSDP and of the tables at
/// the seeds' places made right (where their lengths fit the memory).
fn fix_checksums(memory: &[u8]) -> Vec<u8> {
    let mut m = memory.to_vec();
    let length = |m: &[u8], at: usize| m.get(at..at + 4).map(|b| u32_at(b, 0) as usize);
    let rsdp = RSDP as usize;
    if m.len() >= rsdp + 20 {
        fix(&mut m[rsdp..], 8, 20);
        if let Some(len) = length(&m, rsdp + 20).filter(|l| (36..=4096).contains(l))
            && m[rsdp + 15] >= 2
            && m.len() >= rsdp + len
        {
            fix(&mut m[rsdp..], 32, len);
        }
    }
    for at in [RSDT, XSDT, MADT, FADT, DSDT].map(|a| a as usize) {
        if let Some(len) = length(&m, at + 4).filter(|l| (36..=4096).contains(l))
            && m.len() >= at + len
        {
            fix(&mut m[at..], 9, len);
        }
    }
    m
}

fn run_on(header: &[u8], memory: &[u8]) -> Result<AcpiInfo, virtus_native::acpi::AcpiError> {
    let hint = u64::from_le_bytes(header[..8].try_into().unwrap_or_default());
    let mem = Regions(vec![(EBDA_SEGMENT_PTR, &header[8..10]), (BASE, memory)]);
    discover(&mem, hint)
}

/// The memory as the oracle reads it: `len` bytes at physical `paddr`.
fn bytes(memory: &[u8], paddr: u64, len: u64) -> Option<&[u8]> {
    let at = usize::try_from(paddr.checked_sub(BASE)?).ok()?;
    memory.get(at..at.checked_add(usize::try_from(len).ok()?)?)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
}

/// A valid table `sig` at `paddr`: its bytes, or why not.
fn table<'a>(memory: &'a [u8], paddr: u64, sig: &[u8; 4]) -> Result<&'a [u8], String> {
    let name = String::from_utf8_lossy(sig);
    let header = bytes(memory, paddr, 36).ok_or(format!("{name} at {paddr:#x} outside memory"))?;
    let len = u32_at(header, 4);
    let t = bytes(memory, paddr, len.into())
        .ok_or(format!("{name} length {len} runs out of memory"))?;
    if &t[..4] != sig || checksum(t) != 0 {
        return Err(format!(
            "{name} at {paddr:#x} used with a bad signature or checksum"
        ));
    }
    Ok(t)
}

/// Check `info` against the memory; the offsets (in `memory`) of the
/// checksum bytes of the tables it came from.
fn check(info: &AcpiInfo, memory: &[u8], hint: u64) -> Result<Vec<usize>, String> {
    let at = info.rsdp_address();
    let offset = |paddr: u64| (paddr - BASE) as usize;
    if hint != 0 && at != hint {
        return Err(format!("RSDP at {at:#x}, hinted {hint:#x}"));
    }
    let v1 = bytes(memory, at, 20).ok_or("RSDP outside memory")?;
    if &v1[..8] != b"RSD PTR " || checksum(v1) != 0 || v1[15] != info.rsdp_revision() {
        return Err(format!("RSDP at {at:#x} used unchecked"));
    }
    let mut used = vec![offset(at) + 8];
    let xsdt = info.rsdp_revision() >= 2 && {
        let v2 = bytes(memory, at, 36).ok_or("RSDP v2 outside memory")?;
        let len = u32_at(v2, 20);
        let all = bytes(memory, at, len.into()).ok_or("RSDP length outside memory")?;
        if !(36..=4096).contains(&len) || checksum(all) != 0 {
            return Err(format!("RSDP length {len} or extended checksum unchecked"));
        }
        used.push(offset(at) + 32);
        u64::from_le_bytes(v2[24..32].try_into().unwrap_or_default()) != 0
    };
    let (root_at, sig, entry) = if xsdt {
        let v2 = bytes(memory, at, 36).unwrap_or_default();
        (
            u64::from_le_bytes(v2[24..32].try_into().unwrap_or_default()),
            b"XSDT",
            8,
        )
    } else {
        (u64::from(u32_at(v1, 16)), b"RSDT", 4)
    };
    let root = table(memory, root_at, sig)?;
    used.push(offset(root_at) + 9);
    // The first entry whose table carries the signature, as `find` does.
    let find = |want: &[u8; 4]| {
        root[36..].chunks_exact(entry).find_map(|e| {
            let mut p = [0u8; 8];
            p[..entry].copy_from_slice(e);
            let paddr = u64::from_le_bytes(p);
            (paddr != 0 && bytes(memory, paddr, 4) == Some(want)).then_some(paddr)
        })
    };
    let madt_at = find(b"APIC").ok_or("no MADT in the root table")?;
    let madt = table(memory, madt_at, b"APIC")?;
    let fadt_at = find(b"FACP").ok_or("no FADT in the root table")?;
    let fadt = table(memory, fadt_at, b"FACP")?;
    used.extend([offset(madt_at) + 9, offset(fadt_at) + 9]);
    if fadt.len() < 116 || madt.len() < 44 {
        return Err(format!(
            "FADT of {} or MADT of {} bytes",
            fadt.len(),
            madt.len()
        ));
    }
    check_cpus(info, madt)?;
    if info.ioapics().len() > MAX_IOAPICS
        || info.ioapics().iter().any(|i| i.address == 0)
        || info.interrupt_overrides().len() > MAX_OVERRIDES
    {
        return Err(format!(
            "{:?} {:?}",
            info.ioapics(),
            info.interrupt_overrides()
        ));
    }
    if let Ok(s5) = info.s5() {
        let dsdt = table(memory, info.dsdt_address(), b"DSDT")?;
        used.push(offset(info.dsdt_address()) + 9);
        if s5.slp_typ_a > 7 || s5.slp_typ_b > 7 || !dsdt.windows(4).any(|w| w == b"_S5_") {
            return Err(format!("{s5:?} from a DSDT without it"));
        }
    }
    check_ports(info)?;
    Ok(used)
}

/// The processors are the MADT's usable local APIC entries, in order.
fn check_cpus(info: &AcpiInfo, madt: &[u8]) -> Result<(), String> {
    let mut usable = Vec::new();
    let mut off = 44;
    while let Some(&[kind, len]) = madt
        .get(off..off + 2)
        .map(|h| h.try_into().unwrap_or([0, 0]))
        .as_ref()
    {
        let e = &madt[off..off + usize::from(len).max(2).min(madt.len() - off)];
        match kind {
            0 if e.len() >= 8 && u32_at(e, 4) & 3 != 0 => usable.push(u32::from(e[3])),
            9 if e.len() >= 16 && u32_at(e, 8) & 3 != 0 => usable.push(u32_at(e, 4)),
            _ => {}
        }
        off += usize::from(len).max(2);
    }
    let kept = info.local_apics();
    let ids: Vec<u32> = kept.iter().map(|l| l.apic_id).collect();
    if kept.len() > MAX_LOCAL_APICS
        || kept.len() + info.local_apics_beyond() != usable.len()
        || usable[..kept.len()] != ids[..]
    {
        return Err(format!(
            "{} CPUs kept and {} beyond, the MADT lists {usable:?}",
            kept.len(),
            info.local_apics_beyond()
        ));
    }
    // Unique among the processors kept (the ones the kernel starts); those
    // beyond are only counted for a log line, without their IDs kept to
    // compare against.
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != ids.len() || usable.iter().any(|&id| id == 0xff || id == u32::MAX) {
        return Err(format!(
            "duplicate or broadcast APIC IDs accepted: {usable:?}"
        ));
    }
    Ok(())
}

/// What the backend does with the answers: routing lookups and the event
/// registers' ports, none of which may wrap.
fn check_ports(info: &AcpiInfo) -> Result<(), String> {
    for irq in 0..16 {
        let _ = info.irq_to_gsi(irq);
    }
    let (gsi, _, _) = info.sci_routing();
    if let Some((_, base)) = info.ioapic_for_gsi(gsi)
        && base > gsi
    {
        return Err(format!("GSI {gsi} given to an I/O APIC based at {base}"));
    }
    if info.pm1a_control() == Some(0) || info.pm_timer().is_some_and(|t| t.port == 0) {
        return Err("a port 0 taken for present".into());
    }
    if let Ok(pm1) = info.pm1_events() {
        let _ = pm1.status_ports().chain(pm1.enable_ports()).count();
    }
    for gpe in info.gpe_blocks() {
        let _ = gpe.register_pairs().count();
    }
    let _ = (
        info.acpi_mode_switch(),
        info.reset_register(),
        info.has_mcfg(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_accepted_with_its_s5() {
        for (i, seed) in AcpiTarget.seeds().iter().enumerate() {
            let outcome = AcpiTarget.run(seed).unwrap();
            assert!(outcome.accepted, "seed {i}: {outcome:?}");
        }
        let info = run_on(&AcpiTarget.seeds()[1][..16], &AcpiTarget.seeds()[1][16..]).unwrap();
        // 70 listed, one disabled, one x2APIC: 64 kept, 7 counted beyond.
        assert_eq!(
            (info.local_apics().len(), info.local_apics_beyond()),
            (64, 7)
        );
        assert_eq!(info.s5().map(|s| (s.slp_typ_a, s.slp_typ_b)), Ok((7, 5)));
    }
}
