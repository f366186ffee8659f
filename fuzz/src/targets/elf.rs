//! `proc::elf::plan`: on acceptance every segment lies in the user range,
//! no two share a page, each copies bytes that exist, none is writable and
//! executable, and the entry point is in an executable segment.

use std::ops::Range;

use virtus_kernel::proc::elf::{self, LoadPlan, MAX_LOAD_SEGMENTS, MAX_TOTAL_MEMORY, PAGE};
use virtus_kernel::proc::fixtures::{ElfBuilder, HELLO_BASE, PF_R, PF_W, PF_X, PT_NOTE, Phdr};

use super::{Outcome, Target};
use crate::mutate::Hints;

/// The ABI's user range (user/ABI.md).
pub const USER: Range<u64> = 0x0000_1000_0000_0000..0x0000_7fff_0000_0000;

pub struct ElfTarget;

/// Header fields, the first four program headers' fields, and the type
/// of the next thirteen (the 17-header seed is one type away from too many
/// PT_LOADs).
const FIELDS: [(usize, usize); 52] = {
    let mut out = [(0, 0); 52];
    let header = [
        (4, 1),
        (5, 1),
        (6, 1),
        (16, 2),
        (18, 2),
        (20, 4),
        (24, 8),
        (32, 8),
        (54, 2),
        (56, 2),
        (52, 2),
    ];
    let mut i = 0;
    while i < header.len() {
        out[i] = header[i];
        i += 1;
    }
    let ph = [(0, 4), (4, 4), (8, 8), (16, 8), (32, 8), (40, 8), (48, 8)];
    let mut n = 0;
    while n < 4 {
        let mut j = 0;
        while j < ph.len() {
            out[i] = (64 + 56 * n + ph[j].0, ph[j].1);
            i += 1;
            j += 1;
        }
        n += 1;
    }
    while n < 17 {
        out[i] = (64 + 56 * n, 4);
        i += 1;
        n += 1;
    }
    assert!(i == 52);
    out
};

const VALUES: [u64; 12] = [
    USER.start,
    USER.end,
    USER.end - PAGE,
    HELLO_BASE + 0x1000,
    HELLO_BASE + 0x1010,
    MAX_TOTAL_MEMORY,
    0x2040,
    56,
    62,
    2,
    3,
    0x6474_e551,
];

impl Target for ElfTarget {
    fn name(&self) -> &'static str {
        "elf"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        seeds().iter().map(ElfBuilder::build).collect()
    }

    fn hints(&self) -> Hints<'static> {
        Hints {
            fields: &FIELDS,
            values: &VALUES,
            hex: false,
        }
    }

    fn run(&self, input: &[u8]) -> Result<Outcome, String> {
        // In the ramdisk a file is only 4-byte aligned: try both.
        let mut buf = vec![0u8; input.len() + 16];
        let aligned = buf.as_ptr().align_offset(8).min(8);
        let shift = aligned + if input.len().is_multiple_of(2) { 0 } else { 4 };
        buf[shift..shift + input.len()].copy_from_slice(input);
        let file = &buf[shift..shift + input.len()];
        match elf::plan(file, USER) {
            Ok(plan) => check_plan(file.len(), &plan).map(|()| Outcome::ACCEPTED),
            Err(e) => Ok(Outcome::refused(false, &e)),
        }
    }
}

/// The properties of an accepted plan for a file of `len` bytes.
pub fn check_plan(len: usize, plan: &LoadPlan) -> Result<(), String> {
    let segs = &plan.segments;
    if segs.is_empty() || segs.len() > MAX_LOAD_SEGMENTS {
        return Err(format!("{} segments", segs.len()));
    }
    let mut total = 0u64;
    for (i, s) in segs.iter().enumerate() {
        let end = s.vaddr.checked_add(s.mem_size).ok_or("vaddr overflows")?;
        if s.mem_size == 0 || s.vaddr < USER.start || end > USER.end {
            return Err(format!("segment {i} {s:?} is outside user space"));
        }
        let file_end = s.file_offset.checked_add(s.file_size);
        if s.file_size > s.mem_size || file_end.is_none_or(|e| e > len as u64) {
            return Err(format!("segment {i} {s:?} copies bytes the file lacks"));
        }
        if s.writable && s.executable {
            return Err(format!("segment {i} is W+X"));
        }
        if s.vaddr % PAGE != s.file_offset % PAGE {
            return Err(format!("segment {i} is not page-congruent"));
        }
        let first = s.vaddr / PAGE;
        let last = (end - 1) / PAGE;
        total += (last - first + 1) * PAGE;
        for (j, t) in segs.iter().enumerate().take(i) {
            let (t_first, t_last) = (t.vaddr / PAGE, (t.vaddr + t.mem_size - 1) / PAGE);
            if first <= t_last && t_first <= last {
                return Err(format!("segments {j} and {i} share a page"));
            }
        }
    }
    if total > MAX_TOTAL_MEMORY {
        return Err(format!("{total} bytes of pages"));
    }
    let entry = plan.entry;
    if !segs
        .iter()
        .any(|s| s.executable && entry >= s.vaddr && entry < s.vaddr + s.mem_size)
    {
        return Err(format!("entry {entry:#x} not in an executable segment"));
    }
    Ok(())
}

/// Valid files of several shapes.
pub fn seeds() -> Vec<ElfBuilder> {
    let hello = ElfBuilder::hello();
    let mut text_only = hello.clone();
    text_only.phdrs.truncate(1);
    let mut with_note = hello.clone();
    with_note.phdrs.insert(
        0,
        Phdr {
            p_type: PT_NOTE,
            flags: PF_R,
            offset: 0x200,
            vaddr: 0,
            file_size: 0x20,
            mem_size: 0x20,
            align: 4,
        },
    );
    let mut many = hello.clone();
    many.phdrs.clear();
    // All map the same file bytes (allowed: they are copied), so the file
    // stays small; only the pages differ.
    for i in 0..MAX_LOAD_SEGMENTS as u64 {
        let at = 0x1000 * (i + 1);
        let flags = match i % 3 {
            0 => PF_R | PF_X,
            1 => PF_R | PF_W,
            _ => PF_R,
        };
        many.phdrs
            .push(Phdr::load(flags, 0x1000, HELLO_BASE + at, 0x10, 0x10));
    }
    many.entry = HELLO_BASE + 0x1000;
    many.len = 0x1010;
    // The table at the end of the file, after the segments.
    let mut table_last = hello.clone();
    table_last.phoff = 0x2040;
    table_last.len = 0x2040 + 3 * 56;
    // BSS only, unaligned but congruent text.
    let mut odd = hello.clone();
    odd.phdrs[0] = Phdr::load(PF_R | PF_X, 0x1010, HELLO_BASE + 0x1010, 0x100, 0x100);
    odd.phdrs[1] = Phdr::load(PF_R | PF_W, 0, HELLO_BASE + 0x8000, 0, 0x10_0000);
    odd.entry = HELLO_BASE + 0x1010;
    // One more header than the loader takes PT_LOADs: a note, one
    // mutation away from the seventeenth.
    let mut many_and_note = many.clone();
    many_and_note.phdrs.push(Phdr {
        p_type: PT_NOTE,
        flags: PF_R | PF_X,
        offset: 0x1000,
        vaddr: HELLO_BASE + 0x1000 * 17,
        file_size: 0,
        mem_size: 0x10,
        align: 0x1000,
    });
    vec![
        hello,
        text_only,
        with_note,
        many,
        many_and_note,
        table_last,
        odd,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use virtus_kernel::proc::elf::Segment;

    #[test]
    fn every_seed_is_accepted() {
        for (i, seed) in ElfTarget.seeds().iter().enumerate() {
            assert_eq!(ElfTarget.run(seed), Ok(Outcome::ACCEPTED), "seed {i}");
        }
    }

    #[test]
    fn a_seed_is_one_field_away_from_too_many_load_segments() {
        let mut file = seeds()[4].build();
        let at = 64 + 56 * 16;
        assert_eq!(file[at..at + 4], PT_NOTE.to_le_bytes());
        file[at..at + 4].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(
            elf::plan(&file, USER),
            Err(elf::ElfError::TooManyLoadSegments { count: 17 })
        );
        assert!(FIELDS.contains(&(at, 4)));
    }

    #[test]
    fn the_property_check_catches_bad_plans() {
        let good = Segment {
            vaddr: USER.start,
            mem_size: 0x1000,
            file_offset: 0,
            file_size: 0x100,
            writable: false,
            executable: true,
        };
        let ok = LoadPlan {
            entry: USER.start,
            segments: vec![good],
        };
        assert_eq!(check_plan(0x100, &ok), Ok(()));
        let mut bad = ok.clone();
        bad.segments[0].writable = true;
        assert!(check_plan(0x100, &bad).is_err());
        assert!(check_plan(0xff, &ok).is_err(), "file too short");
        let mut bad = ok.clone();
        bad.segments.push(Segment {
            vaddr: USER.start + 0x800,
            executable: false,
            ..good
        });
        assert!(check_plan(0x100, &bad).is_err(), "shared page");
        let mut bad = ok.clone();
        bad.entry = USER.start + 0x1000;
        assert!(check_plan(0x100, &bad).is_err(), "entry outside");
        let mut bad = ok;
        bad.segments[0].vaddr = USER.end - 0x800;
        assert!(check_plan(0x100, &bad).is_err(), "past the user range");
    }
}
