//! `boot::pvh::parse_start_info` with the module list, then the ramdisk's
//! selection against the map it carried: on acceptance the command line
//! and list are bounded, and a chosen ramdisk is whole pages of usable RAM
//! clear of the image, the start info and the module table.

use std::ops::Range;

use virtus_kernel::boot::CmdLine;
use virtus_kernel::boot::modules::MAX_MODULES;
use virtus_kernel::boot::pvh::{XEN_HVM_START_MAGIC_VALUE, parse_start_info};
use virtus_kernel::boot::ramdisk;
use virtus_kernel::mem::{MemoryMap, PAGE_SIZE, PhysMemory};

use super::{Outcome, Target};
use crate::mutate::Hints;

/// The input is physical memory from `BASE` up, the start info at `BASE`.
pub const BASE: u64 = 0x1000;
const CMDLINE: u64 = 0x100;
const MEMMAP: u64 = 0x200;
const MODLIST: u64 = 0x300;
const IMAGE: Range<u64> = 0x10_0000..0x20_0000;
const MIB: u64 = 1 << 20;

pub struct StartInfoTarget;

struct Window<'a>(&'a [u8]);

impl PhysMemory for Window<'_> {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> bool {
        let Some(at) = paddr
            .checked_sub(BASE)
            .and_then(|a| usize::try_from(a).ok())
        else {
            return false;
        };
        match at
            .checked_add(buf.len())
            .and_then(|end| self.0.get(at..end))
        {
            Some(src) => {
                buf.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

const FIELDS: [(usize, usize); 24] = [
    (0, 4),
    (4, 4),
    (8, 4),
    (12, 4),
    (16, 8),
    (24, 8),
    (32, 8),
    (40, 8),
    (48, 4),
    (MEMMAP as usize, 8),
    (MEMMAP as usize + 8, 8),
    (MEMMAP as usize + 16, 4),
    (MEMMAP as usize + 24, 8),
    (MEMMAP as usize + 32, 8),
    (MEMMAP as usize + 40, 4),
    (MEMMAP as usize + 48, 8),
    (MEMMAP as usize + 56, 8),
    (MODLIST as usize, 8),
    (MODLIST as usize + 8, 8),
    (MODLIST as usize + 16, 8),
    (MODLIST as usize + 32, 8),
    (MODLIST as usize + 40, 8),
    (CMDLINE as usize, 8),
    (MODLIST as usize + 24, 8),
];

const VALUES: [u64; 12] = [
    BASE,
    BASE + CMDLINE,
    BASE + MEMMAP,
    BASE + MODLIST,
    XEN_HVM_START_MAGIC_VALUE as u64,
    MIB,
    2 * MIB,
    8 * MIB,
    64 * MIB,
    0x9_fc00,
    0xfc00_0000,
    4 << 30,
];

/// A version 1 start info with a command line, a three-entry memory map
/// and `modules` (paddr, size) in its module table.
pub fn start_info(version: u32, modules: &[(u64, u64)]) -> Vec<u8> {
    // A whole page: the command line is read up to the end of its page.
    let mut mem = vec![0u8; PAGE_SIZE as usize];
    let mut put = |at: u64, bytes: &[u8]| {
        mem[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    };
    put(0, &XEN_HVM_START_MAGIC_VALUE.to_le_bytes());
    put(4, &version.to_le_bytes());
    put(12, &(modules.len() as u32).to_le_bytes());
    put(16, &(BASE + MODLIST).to_le_bytes());
    put(24, &(BASE + CMDLINE).to_le_bytes());
    put(CMDLINE, b"test=all loglevel=debug\0");
    put(40, &(BASE + MEMMAP).to_le_bytes());
    put(48, &3u32.to_le_bytes());
    for (i, (addr, size, kind)) in [
        (0, 0x9_fc00, 1u32),
        (0x9_fc00, 0x400, 2),
        (MIB, 63 * MIB, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let at = MEMMAP + 24 * i as u64;
        put(at, &addr.to_le_bytes());
        put(at + 8, &size.to_le_bytes());
        put(at + 16, &kind.to_le_bytes());
    }
    for (i, &(paddr, size)) in modules.iter().enumerate() {
        let at = MODLIST + 32 * i as u64;
        put(at, &paddr.to_le_bytes());
        put(at + 8, &size.to_le_bytes());
    }
    mem
}

impl Target for StartInfoTarget {
    fn name(&self) -> &'static str {
        "start-info"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        vec![
            start_info(1, &[(8 * MIB, 123_456)]),
            start_info(1, &[(8 * MIB, 5000), (16 * MIB, 1)]),
            start_info(1, &[]),
            start_info(0, &[(8 * MIB, 5000)]),
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
        let info = match parse_start_info(&Window(input), BASE) {
            Ok(info) => info,
            Err(e) => return Ok(Outcome::refused(false, &e)),
        };
        if info.cmdline.as_str().len() > CmdLine::MAX {
            return Err("command line too long".into());
        }
        let table = match &info.modules {
            Ok(list) if list.modules().len() > MAX_MODULES => {
                return Err(format!("{} modules", list.modules().len()));
            }
            Ok(list) => list.table.clone(),
            Err(e) => return Ok(Outcome::refused(true, e)),
        };
        let Some(map) = info.memory_map.as_ref() else {
            return Ok(Outcome::ACCEPTED);
        };
        match ramdisk::select(&info, map, IMAGE) {
            Ok(Some(r)) => check_ramdisk(&r, map, &table).map(|()| Outcome::ACCEPTED),
            Ok(None) => Ok(Outcome::ACCEPTED),
            Err(e) => Ok(Outcome::refused(true, &e)),
        }
    }
}

fn check_ramdisk(r: &ramdisk::Ramdisk, map: &MemoryMap, table: &Range<u64>) -> Result<(), String> {
    let frames = &r.frames;
    if frames.start != r.paddr
        || !frames.start.is_multiple_of(PAGE_SIZE)
        || !frames.end.is_multiple_of(PAGE_SIZE)
        || frames.end - frames.start < r.size
        || frames.end - frames.start >= r.size + PAGE_SIZE
        || r.size == 0
    {
        return Err(format!("ramdisk {r:?}: frames do not match"));
    }
    let overlaps = |o: &Range<u64>| o.start < frames.end && frames.start < o.end;
    if overlaps(&IMAGE) || overlaps(table) || overlaps(&(BASE..BASE + 56)) {
        return Err(format!("ramdisk {r:?} overlaps data in use"));
    }
    // Every page in some usable region, checked page by page (bounded:
    // the seeds' maps hold at most a few GiB, sampled at 64 points).
    let pages = (frames.end - frames.start) / PAGE_SIZE;
    let step = (pages / 64).max(1);
    let mut page = 0;
    while page < pages {
        let at = frames.start + page * PAGE_SIZE;
        if !map
            .usable()
            .any(|u| u.start <= at && at + PAGE_SIZE <= u.end)
        {
            return Err(format!("ramdisk page {at:#x} is not usable RAM"));
        }
        page += step;
    }
    let last = frames.end - PAGE_SIZE;
    if !map.usable().any(|u| u.start <= last && frames.end <= u.end) {
        return Err(format!("ramdisk page {last:#x} is not usable RAM"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_accepted_and_chooses_its_ramdisk() {
        for (i, seed) in StartInfoTarget.seeds().iter().enumerate() {
            assert_eq!(StartInfoTarget.run(seed), Ok(Outcome::ACCEPTED), "seed {i}");
        }
        let info = parse_start_info(&Window(&start_info(1, &[(8 * MIB, 5000)])), BASE).unwrap();
        let map = info.memory_map.as_ref().unwrap();
        let r = ramdisk::select(&info, map, IMAGE).unwrap().unwrap();
        assert_eq!(r.frames, 8 * MIB..8 * MIB + 0x2000);
    }
}
