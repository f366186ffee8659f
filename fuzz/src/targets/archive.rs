//! `proc::archive::Archive::parse`: on acceptance every entry's name and
//! data lie inside the input, names carry no NUL, the count is bounded, and
//! `find` returns each file by its program name.

use virtus_kernel::proc::archive::{Archive, MAX_ENTRIES};
use virtus_kernel::proc::fixtures::{ElfBuilder, MODE_DIR, NewcBuilder};

use super::{Outcome, Target};
use crate::mutate::Hints;

pub struct ArchiveTarget;

/// The thirteen hex fields of the first header (the others move with the
/// names and sizes before them; splicing and random overwrites reach them).
const FIELDS: [(usize, usize); 13] = {
    let mut out = [(0, 0); 13];
    let mut i = 0;
    while i < 13 {
        out[i] = (6 + 8 * i, 8);
        i += 1;
    }
    out
};

const VALUES: [u64; 8] = [
    0o100_755,
    MODE_DIR as u64,
    0o120_777,
    11, // "TRAILER!!!" and its NUL
    4096,
    4097,
    0x7fff_ffff,
    110, // a header's length
];

impl Target for ArchiveTarget {
    fn name(&self) -> &'static str {
        "archive"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let elf = ElfBuilder::hello().build();
        let mut many = NewcBuilder::new();
        for i in 0..40 {
            many = many.file(&format!("f{i}"), &[i as u8; 3]);
        }
        let mut full = NewcBuilder::new();
        for i in 0..MAX_ENTRIES {
            full = full.file(&format!("{i:03}"), b"");
        }
        vec![
            NewcBuilder::new().finish(),
            // Names one byte apart: a mutation away from a duplicate.
            NewcBuilder::new()
                .file("bin/a", b"1")
                .file("b", b"2")
                .finish(),
            full.finish(),
            NewcBuilder::new()
                .dir("bin")
                .file("bin/hello", &elf)
                .file("bin/sh", b"#!")
                .finish(),
            NewcBuilder::new()
                .file("/abs", b"x")
                .file("./dot", b"")
                .entry("link", 0o120_777, b"abs")
                .finish(),
            many.finish(),
        ]
    }

    fn hints(&self) -> Hints<'static> {
        Hints {
            fields: &FIELDS,
            values: &VALUES,
            hex: true,
        }
    }

    fn run(&self, input: &[u8]) -> Result<Outcome, String> {
        let archive = match Archive::parse(input) {
            Ok(archive) => archive,
            Err(e) => return Ok(Outcome::refused(false, &e)),
        };
        let inside = |bytes: &[u8]| {
            let range = input.as_ptr_range();
            let (start, end) = (bytes.as_ptr(), bytes.as_ptr().wrapping_add(bytes.len()));
            range.start <= start && end <= range.end
        };
        let mut count = 0;
        let total = archive.len();
        for entry in archive.entries() {
            count += 1;
            if !inside(entry.name.as_bytes()) || !inside(entry.data) {
                return Err(format!("entry {:?} points outside the input", entry.name));
            }
            if entry.name.contains('\0') {
                return Err(format!("name {:?} has a NUL", entry.name));
            }
            // `find` walks the archive: checked for the first and last few
            // entries only, or a 256-entry input costs 65536 header reads.
            let name = entry.program_name();
            let sampled = count <= 8 || count + 8 > total;
            if sampled
                && !name.is_empty()
                && archive.find(name).map(<[u8]>::as_ptr) != Some(entry.data.as_ptr())
            {
                return Err(format!("find({name:?}) does not return its entry"));
            }
        }
        if count > MAX_ENTRIES || count != archive.len() {
            return Err(format!("{count} entries, len() {}", archive.len()));
        }
        Ok(Outcome::ACCEPTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_accepted() {
        for (i, seed) in ArchiveTarget.seeds().iter().enumerate() {
            assert_eq!(ArchiveTarget.run(seed), Ok(Outcome::ACCEPTED), "seed {i}");
        }
    }
}
