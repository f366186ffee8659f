//! The PVH memory map as the kernel takes it: `hvm_memmap_table_entry`
//! records read by `boot::pvh::parse_start_info` and resolved by
//! `mem::memmap::MemoryMap` (the same `load_entries` the PVH backend's
//! `XENMEM_memory_map` E820 path goes through; the kernel takes no
//! multiboot map), then `reserve` as `mem::init` carves the image out, and
//! the queries the frame allocator and the ramdisk make.
//!
//! Input: `memmap_entries` (u32) at 0, a range to reserve (two u64) at 8,
//! the table from 24. Beyond `start-info` (three fixed entries, only the
//! ramdisk's frames checked), this checks the resolved map itself, at up to
//! and past 128 entries: regions sorted, disjoint and made only of what
//! the entries described, every non-usable entry winning where it overlaps,
//! usable ranges whole pages that no non-usable entry touches, and
//! `reserve` never leaving a reserved byte usable.

use std::collections::BTreeSet;

use virtus_kernel::boot::pvh::{StartInfoError, XEN_HVM_START_MAGIC_VALUE, parse_start_info};
use virtus_kernel::mem::memmap::MemoryMapError;
use virtus_kernel::mem::{MemoryMap, MemoryRegion, PAGE_SIZE, RegionKind};

use super::cmdline::Regions;
use super::{Outcome, Target};
use crate::mutate::Hints;

const START_INFO: u64 = 0x1000;
const TABLE_AT: u64 = 0x2000;
const TABLE: usize = 24;
const ENTRY: usize = 24;
const MIB: u64 = 1 << 20;

pub struct MemmapTarget;

/// One raw entry: (addr, size, type).
type Entry = (u64, u64, u32);

const FIELDS: [(usize, usize); 27] = {
    let mut out = [(0, 4); 27];
    out[1] = (8, 8);
    out[2] = (16, 8);
    let mut i = 0;
    while i < 8 {
        out[3 + 3 * i] = (TABLE + ENTRY * i, 8);
        out[4 + 3 * i] = (TABLE + ENTRY * i + 8, 8);
        out[5 + 3 * i] = (TABLE + ENTRY * i + 16, 4);
        i += 1;
    }
    out
};

const VALUES: [u64; 14] = [
    1,
    2,
    3,
    4,
    5,
    7,
    0xf000_0002,
    MIB,
    0x9_fc00,
    0xa_0000,
    0xfee0_0000,
    4 << 30,
    u64::MAX - 0xfff,
    128,
];

/// The input for `entries`, reserving `reserve`.
fn input(entries: &[Entry], reserve: (u64, u64)) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&reserve.0.to_le_bytes());
    out.extend_from_slice(&reserve.1.to_le_bytes());
    for &(addr, size, ty) in entries {
        out.extend_from_slice(&addr.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
    }
    out
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    let n = b.len().saturating_sub(at).min(8);
    v[..n].copy_from_slice(&b[at.min(b.len())..at.min(b.len()) + n]);
    u64::from_le_bytes(v)
}

impl Target for MemmapTarget {
    fn name(&self) -> &'static str {
        "memmap"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let qemu = [
            (0, 0x9_fc00, 1),
            (0x9_fc00, 0x400, 2),
            (0xf_0000, 0x1_0000, 2),
            (MIB, 127 * MIB, 1),
            (0xfeff_c000, 0x4000, 2),
            (0xfffc_0000, 0x4_0000, 2),
            (4 << 30, 2 << 30, 1),
        ];
        // Xen's PVH map: OEM types for its own pages, ACPI tables.
        let xen = [
            (0, 0xa_0000, 1),
            (MIB, 255 * MIB, 1),
            (0xfc00_0000, 0x100_0000, 2),
            (0xfeff_0000, 0x1000, 0xf000_0002),
            (0xfc00_9000, 0x1000, 3),
            (0xfc00_a000, 0x1000, 4),
        ];
        // Unsorted, overlapping, empty and unaligned entries.
        let messy = [
            (64 * MIB, 64 * MIB, 1),
            (0, 32 * MIB + 0x123, 1),
            (16 * MIB, 0x1800, 2),
            (100 * MIB, 0, 2),
            (96 * MIB, 8 * MIB, 5),
            (32 * MIB, 32 * MIB, 1),
            (30 * MIB, 4 * MIB, 6),
        ];
        let full: Vec<Entry> = (0..MemoryMap::CAPACITY as u64)
            .map(|i| (i * 2 * MIB, MIB + 0x800, (i % 7 + 1) as u32))
            .collect();
        vec![
            input(&qemu, (MIB, 2 * MIB + 0x10)),
            input(&xen, (0x9_f000, 0x10_1000)),
            input(&messy, (0, 0)),
            input(&full, (3 * MIB, 9 * MIB)),
            input(&[(u64::MAX - 0x2000, 0x2000, 1)], (u64::MAX - 1, u64::MAX)),
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
        let count = u64_at(input, 0) as u32;
        let reserve = (u64_at(input, 8), u64_at(input, 16));
        let table = input.get(TABLE..).unwrap_or_default();
        let mut header = [0u8; 56];
        header[0..4].copy_from_slice(&XEN_HVM_START_MAGIC_VALUE.to_le_bytes());
        header[4..8].copy_from_slice(&1u32.to_le_bytes());
        header[40..48].copy_from_slice(&TABLE_AT.to_le_bytes());
        header[48..52].copy_from_slice(&count.to_le_bytes());
        let mem = Regions(vec![(START_INFO, &header), (TABLE_AT, table)]);
        let entries: Vec<Entry> = table
            .chunks_exact(ENTRY)
            .take(count as usize)
            .map(|e| (u64_at(e, 0), u64_at(e, 8), u64_at(e, 16) as u32))
            .collect();
        let info = match parse_start_info(&mem, START_INFO) {
            Ok(info) => info,
            Err(e) => {
                check_refusal(&e, count, table.len() / ENTRY, &entries)?;
                return Ok(Outcome::refused(false, &e));
            }
        };
        let Some(mut map) = info.memory_map else {
            if count != 0 {
                return Err(format!("{count} entries and no map"));
            }
            return Ok(Outcome::ACCEPTED);
        };
        check_map(&map, &entries)?;
        check_queries(&map, reserve)?;
        let before = map.clone();
        match map.reserve(reserve.0, reserve.1) {
            Ok(()) => check_reserved(&before, &map, reserve)?,
            Err(e) => {
                if map != before {
                    return Err(format!("reserve failed ({e}) and changed the map"));
                }
                let expected = match e {
                    MemoryMapError::InvalidRange { .. } => reserve.0 > reserve.1,
                    MemoryMapError::ReserveWouldOverflow { .. } => reserve.0 <= reserve.1,
                    _ => false,
                };
                if !expected {
                    return Err(format!("reserve({reserve:x?}) refused with {e:?}"));
                }
                return Ok(Outcome::refused(true, &e));
            }
        }
        Ok(Outcome::ACCEPTED)
    }
}

/// Each refusal names the entry or count at fault, and is the first fault.
fn check_refusal(
    e: &StartInfoError,
    count: u32,
    whole: usize,
    entries: &[Entry],
) -> Result<(), String> {
    let overflows = entries
        .iter()
        .position(|&(a, s, _)| a.checked_add(s).is_none());
    let right = match *e {
        StartInfoError::TooManyMemmapEntries { count: c } => {
            c == count && count as usize > MemoryMap::CAPACITY
        }
        StartInfoError::MemmapUnreadable { index, .. } => {
            index == whole && index < count as usize && overflows.is_none_or(|o| o > index)
        }
        StartInfoError::MemoryMap(MemoryMapError::EntryOverflows { index, addr, size }) => {
            overflows == Some(index) && entries[index] == (addr, size, entries[index].2)
        }
        StartInfoError::MemoryMap(MemoryMapError::TooManyEntries { count: c }) => {
            c == entries.iter().filter(|e| e.1 != 0).count() && c > MemoryMap::CAPACITY
        }
        StartInfoError::MemoryMap(MemoryMapError::TooFragmented) => true,
        _ => false,
    };
    if right {
        Ok(())
    } else {
        Err(format!(
            "refused with {e:?} for {count} entries ({whole} in memory)"
        ))
    }
}

/// Sorted, disjoint, non-empty regions, adjacent ones of one kind merged.
fn check_sorted(map: &MemoryMap) -> Result<(), String> {
    let regions = map.regions();
    if regions.len() > MemoryMap::CAPACITY || regions.iter().any(|r| r.start >= r.end) {
        return Err(format!(
            "{} regions, or an empty one: {map:?}",
            regions.len()
        ));
    }
    for pair in regions.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        if a.end > b.start || (a.end == b.start && a.kind == b.kind) {
            return Err(format!("regions {a:x?} and {b:x?} overlap or are unmerged"));
        }
    }
    Ok(())
}

/// The region holding `at`, if any (regions are sorted).
fn region_at(map: &MemoryMap, at: u64) -> Option<MemoryRegion> {
    let regions = map.regions();
    let i = regions.partition_point(|r| r.end <= at);
    regions.get(i).filter(|r| r.start <= at).copied()
}

/// The map is what the entries say: at every boundary an entry or region
/// draws, a byte is in a region exactly when some non-empty entry covers
/// it, and the region is usable exactly when every such entry is usable,
/// else of the kind of one of them.
fn check_map(map: &MemoryMap, entries: &[Entry]) -> Result<(), String> {
    check_sorted(map)?;
    let live: Vec<(u64, u64, RegionKind)> = entries
        .iter()
        .filter(|e| e.1 != 0)
        .map(|&(a, s, t)| (a, a + s, RegionKind::from_e820(t)))
        .collect();
    let mut points: BTreeSet<u64> = live.iter().map(|e| e.0).collect();
    points.extend(live.iter().filter(|e| e.1 != u64::MAX).map(|e| e.1));
    points.extend(
        map.regions()
            .iter()
            .flat_map(|r| [r.start, r.end.wrapping_sub(1)]),
    );
    for p in points {
        let kinds: Vec<RegionKind> = live
            .iter()
            .filter(|e| e.0 <= p && p < e.1)
            .map(|e| e.2)
            .collect();
        let region = region_at(map, p);
        let right = match region {
            None => kinds.is_empty(),
            Some(r) if r.kind == RegionKind::Usable => {
                !kinds.is_empty() && kinds.iter().all(|&k| k == RegionKind::Usable)
            }
            Some(r) => kinds.contains(&r.kind),
        };
        if !right {
            return Err(format!(
                "at {p:#x}: region {region:x?}, entries of kinds {kinds:?}"
            ));
        }
    }
    // Usable ranges: whole pages, sorted, inside usable regions, and
    // untouched by any entry that is not usable.
    let mut last_end = 0;
    let mut total = 0u64;
    for u in map.usable() {
        let aligned = u.start.is_multiple_of(PAGE_SIZE) && u.end.is_multiple_of(PAGE_SIZE);
        let inside =
            region_at(map, u.start).is_some_and(|r| r.kind == RegionKind::Usable && u.end <= r.end);
        if !aligned || u.start >= u.end || u.start < last_end || !inside {
            return Err(format!("usable range {u:x?} (previous end {last_end:#x})"));
        }
        if let Some(e) = live
            .iter()
            .find(|e| e.2 != RegionKind::Usable && e.0 < u.end && u.start < e.1)
        {
            return Err(format!(
                "usable range {u:x?} overlaps the {:?} entry {e:x?}",
                e.2
            ));
        }
        last_end = u.end;
        total = total.saturating_add(u.size());
    }
    if map.total_usable() != total || map.highest_usable_end() != last_end {
        return Err(format!(
            "totals {:#x}/{:#x}, counted {total:#x}/{last_end:#x}",
            map.total_usable(),
            map.highest_usable_end()
        ));
    }
    let _ = map.to_string();
    Ok(())
}

/// What the frame allocator and the ramdisk ask of a map.
fn check_queries(map: &MemoryMap, (start, end): (u64, u64)) -> Result<(), String> {
    let size = end.wrapping_sub(start);
    for (size, align, min) in [
        (PAGE_SIZE, PAGE_SIZE, 0),
        (2 * MIB, 2 * MIB, MIB),
        (size, PAGE_SIZE, start),
        (size, 1 << (end % 40), 0),
    ] {
        let Some(at) = map.find_usable(size, align, min) else {
            continue;
        };
        let align = align.max(PAGE_SIZE);
        let end = at.checked_add(size.next_multiple_of(PAGE_SIZE));
        let fits = end.is_some_and(|end| map.usable().any(|u| u.start <= at && end <= u.end));
        if !fits || at < min || !at.is_multiple_of(align) {
            return Err(format!(
                "find_usable({size:#x}, {align:#x}, {min:#x}) = {at:#x}"
            ));
        }
    }
    if start <= end && map.usable_covers(start, end) && !map.covers(start, end) {
        return Err(format!("{start:#x}..{end:#x} usable but not covered"));
    }
    Ok(())
}

/// After `reserve`, nothing in the range is usable, nothing outside it
/// changed, and the map keeps its shape.
fn check_reserved(
    before: &MemoryMap,
    after: &MemoryMap,
    (start, end): (u64, u64),
) -> Result<(), String> {
    check_sorted(after)?;
    if let Some(u) = after
        .usable()
        .find(|u| start < end && u.start < end && start < u.end)
    {
        return Err(format!(
            "{u:x?} still usable after reserving {start:#x}..{end:#x}"
        ));
    }
    let points = before
        .regions()
        .iter()
        .chain(after.regions())
        .flat_map(|r| [r.start, r.end.wrapping_sub(1)]);
    for p in points {
        let (was, is) = (region_at(before, p), region_at(after, p));
        let same = match (was, is) {
            (Some(w), Some(i)) if start <= p && p < end && w.kind == RegionKind::Usable => {
                i.kind == RegionKind::Reserved
            }
            (Some(w), Some(i)) => w.kind == i.kind,
            (None, None) => true,
            _ => false,
        };
        if !same {
            return Err(format!(
                "at {p:#x}: {was:x?} became {is:x?} reserving {start:#x}..{end:#x}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_accepted() {
        for (i, seed) in MemmapTarget.seeds().iter().enumerate() {
            assert_eq!(MemmapTarget.run(seed), Ok(Outcome::ACCEPTED), "seed {i}");
        }
    }

    #[test]
    fn refusals_name_the_entry_at_fault() {
        let kind = |input: &[u8]| MemmapTarget.run(input).unwrap().refusal.unwrap();
        let over = input(&[(0, MIB, 1), (u64::MAX, 2, 1)], (0, 0));
        assert_eq!(kind(&over), "MemoryMap");
        let mut short = input(&[(0, MIB, 1)], (0, 0));
        short[0] = 2;
        assert_eq!(kind(&short), "MemmapUnreadable");
        let mut many = input(&[(0, MIB, 1)], (0, 0));
        many[0] = 129;
        assert_eq!(kind(&many), "TooManyMemmapEntries");
    }
}
