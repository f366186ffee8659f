//! From an ELF file to a [`LoadPlan`]: which pages to map where, with
//! which permissions, filled from which bytes of the file.
//!
//! The file is untrusted (it comes from the ramdisk, or later a disk), so
//! every field is checked here before anything is mapped, and each refusal
//! names the field and its value. Only static x86_64 executables are taken
//! (user/ABI.md): no interpreter, no dynamic section, no relocation.
//!
//! Parsing goes through `xmas-elf` (the design's crate), but only after
//! the checks that keep it from panicking: it slices without bounds checks
//! of its own and `zero::read` asserts both length and alignment. So:
//! - `ElfFile::new` reads the 64-byte header through a `&HeaderPt2_<u64>`
//!   (alignment 8): it is only ever handed an 8-byte-aligned copy, since a
//!   file inside a cpio archive is only 4-byte aligned.
//! - `ElfFile::program_header(i)` computes `e_phoff + i * e_phentsize`
//!   unchecked and slices `input[start..end]`, then `read`s a 56-byte,
//!   8-aligned struct: it is called only once `e_phentsize == 56`,
//!   `e_phoff % 8 == 0` and the whole table is known to lie inside the
//!   (aligned) copy.
//! - `ProgramHeader::get_data`/`raw_data` (unchecked `offset + file_size`
//!   slicing, `unimplemented!` for 32-bit notes) and the section and
//!   string helpers (`read_str` panics on bad UTF-8) are never called:
//!   the plan only needs the program headers' numbers.

use alloc::vec::Vec;
use core::ops::Range;

#[path = "elf_error.rs"]
mod error;
pub use error::ElfError;
use xmas_elf::ElfFile;
use xmas_elf::header::{Class, Data, Machine, Type as FileType, Version};
use xmas_elf::program::{ProgramHeader, Type as SegmentType};

/// Pages are mapped whole, so segments are checked at this granularity.
pub const PAGE: u64 = 4096;
/// Most program headers of any type.
pub const MAX_PROGRAM_HEADERS: u16 = 64;
/// Most `PT_LOAD` segments.
pub const MAX_LOAD_SEGMENTS: usize = 16;
/// Most memory (whole pages) all segments together may ask for.
pub const MAX_TOTAL_MEMORY: u64 = 64 << 20;

pub(super) const EHDR_LEN: usize = 64;
pub(super) const PHDR_LEN: u16 = 56;

/// What to map: the entry point and the non-empty `PT_LOAD` segments in
/// file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    pub entry: u64,
    pub segments: Vec<Segment>,
}

/// One `PT_LOAD` segment: `mem_size` bytes at `vaddr`, the first
/// `file_size` of them copied from `file_offset` in the file, the rest
/// zero (the BSS). Always readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub mem_size: u64,
    pub file_offset: u64,
    pub file_size: u64,
    pub writable: bool,
    pub executable: bool,
}

impl Segment {
    /// The pages the segment touches: `[vaddr` rounded down, `vaddr +
    /// mem_size` rounded up`)`. Cannot overflow for a planned segment (it
    /// lies inside the user range).
    pub fn pages(&self) -> Range<u64> {
        let start = self.vaddr & !(PAGE - 1);
        let end = (self.vaddr + self.mem_size).next_multiple_of(PAGE);
        start..end
    }

    /// The bytes of the file the segment copies.
    pub fn file_range(&self) -> Range<u64> {
        self.file_offset..self.file_offset + self.file_size
    }
}

/// Check `file` and plan its loading into `user` (the user part of an
/// address space).
pub fn plan(file: &[u8], user: Range<u64>) -> Result<LoadPlan, ElfError> {
    let ident = file
        .get(..EHDR_LEN)
        .ok_or(ElfError::TooShort { len: file.len() })?;
    check_ident(ident)?;
    let (phoff, phnum) = check_table_fields(ident, file.len())?;
    // The header and the table, copied to 8-byte-aligned storage (see the
    // module's introduction); bounded by the file's length.
    let table_end = phoff as usize + usize::from(phnum) * usize::from(PHDR_LEN);
    let aligned = AlignedCopy::new(&file[..table_end]);
    let bytes = aligned
        .bytes()
        .ok_or(ElfError::Parser("cannot align a copy of the header"))?;
    let elf = ElfFile::new(bytes).map_err(ElfError::Parser)?;
    check_header(&elf)?;

    let mut segments = Vec::new();
    let mut indices = Vec::new();
    let mut loads = 0;
    let mut total: u64 = 0;
    for index in 0..phnum {
        let ph = elf.program_header(index).map_err(ElfError::Parser)?;
        match ph.get_type() {
            Ok(SegmentType::Load) => {}
            Ok(SegmentType::Interp) => return Err(ElfError::Interpreter { index }),
            Ok(SegmentType::Dynamic) => return Err(ElfError::Dynamic { index }),
            // Notes, PT_PHDR, PT_GNU_STACK and the like describe rather
            // than load; an unknown type is ignored as Linux does.
            _ => continue,
        }
        loads += 1;
        if loads > MAX_LOAD_SEGMENTS {
            return Err(ElfError::TooManyLoadSegments { count: loads });
        }
        let Some(segment) = check_segment(index, &ph, file.len(), &user)? else {
            continue;
        };
        for (other, prior) in indices.iter().zip(&segments) {
            if overlaps(&segment, prior) {
                return Err(ElfError::Overlap {
                    index,
                    other: *other,
                });
            }
        }
        let pages = segment.pages();
        total = total.saturating_add(pages.end - pages.start);
        if total > MAX_TOTAL_MEMORY {
            return Err(ElfError::TooLarge { total });
        }
        segments.push(segment);
        indices.push(index);
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadSegment);
    }
    let entry = elf.header.pt2.entry_point();
    let in_text = |s: &Segment| s.executable && entry >= s.vaddr && entry - s.vaddr < s.mem_size;
    if !segments.iter().any(in_text) {
        return Err(ElfError::EntryNotExecutable { entry });
    }
    Ok(LoadPlan { entry, segments })
}

/// `e_ident` beyond the magic, read by hand so the errors carry the byte.
fn check_ident(ehdr: &[u8]) -> Result<(), ElfError> {
    let mut found = [0; 4];
    found.copy_from_slice(&ehdr[..4]);
    if &found != b"\x7fELF" {
        return Err(ElfError::BadMagic { found });
    }
    if ehdr[4] != 2 {
        return Err(ElfError::NotElf64 { class: ehdr[4] });
    }
    if ehdr[5] != 1 {
        return Err(ElfError::NotLittleEndian { data: ehdr[5] });
    }
    Ok(())
}

/// `e_phoff`, `e_phentsize` and `e_phnum`: the fields that decide whether
/// `xmas-elf` may look at the table at all.
fn check_table_fields(ehdr: &[u8], len: usize) -> Result<(u64, u16), ElfError> {
    let u16_at = |at: usize| u16::from_le_bytes([ehdr[at], ehdr[at + 1]]);
    let mut phoff = [0; 8];
    phoff.copy_from_slice(&ehdr[32..40]);
    let phoff = u64::from_le_bytes(phoff);
    let (entsize, count) = (u16_at(54), u16_at(56));
    if count == 0 {
        return Err(ElfError::NoLoadSegment);
    }
    if entsize != PHDR_LEN {
        return Err(ElfError::BadProgramHeaderSize { size: entsize });
    }
    if count > MAX_PROGRAM_HEADERS {
        return Err(ElfError::TooManyProgramHeaders { count });
    }
    if !phoff.is_multiple_of(8) {
        return Err(ElfError::ProgramHeadersMisaligned { offset: phoff });
    }
    let table = u64::from(count) * u64::from(PHDR_LEN);
    // phoff >= 64 keeps the table off the header (and non-zero, which
    // xmas-elf takes for "no table").
    if phoff < EHDR_LEN as u64 || phoff.checked_add(table).is_none_or(|end| end > len as u64) {
        return Err(ElfError::ProgramHeadersTruncated {
            offset: phoff,
            count,
            len,
        });
    }
    Ok((phoff, count))
}

fn check_header(elf: &ElfFile<'_>) -> Result<(), ElfError> {
    let (pt1, pt2) = (elf.header.pt1, elf.header.pt2);
    // Defensive: the bytes were checked by hand already.
    if !matches!(pt1.class(), Class::SixtyFour) || !matches!(pt1.data(), Data::LittleEndian) {
        return Err(ElfError::Parser("class or data changed"));
    }
    // xmas-elf keeps the raw bytes of `EI_VERSION` and `e_machine`
    // private; they are read from the (checked) header bytes.
    if !matches!(pt1.version(), Version::Current) || pt2.version() != 1 {
        return Err(ElfError::BadVersion {
            ident: elf.input[6],
            version: pt2.version(),
        });
    }
    if !matches!(pt2.machine().as_machine(), Machine::X86_64) {
        return Err(ElfError::WrongMachine {
            machine: u16::from_le_bytes([elf.input[18], elf.input[19]]),
        });
    }
    match pt2.type_().as_type() {
        FileType::Executable => Ok(()),
        FileType::SharedObject => Err(ElfError::PositionIndependent),
        _ => Err(ElfError::NotExecutable {
            e_type: pt2.type_().0,
        }),
    }
}

/// One `PT_LOAD` header to a [`Segment`], or `None` if it has no memory.
fn check_segment(
    index: u16,
    ph: &ProgramHeader<'_>,
    len: usize,
    user: &Range<u64>,
) -> Result<Option<Segment>, ElfError> {
    let (offset, file_size) = (ph.offset(), ph.file_size());
    let (vaddr, mem_size) = (ph.virtual_addr(), ph.mem_size());
    if file_size > mem_size {
        return Err(ElfError::FileSizeAboveMemSize {
            index,
            file_size,
            mem_size,
        });
    }
    if mem_size == 0 {
        return Ok(None);
    }
    if offset
        .checked_add(file_size)
        .is_none_or(|end| end > len as u64)
    {
        return Err(ElfError::FileRangeOutside {
            index,
            offset,
            file_size,
            len,
        });
    }
    let inside = vaddr
        .checked_add(mem_size)
        .is_some_and(|end| vaddr >= user.start && end <= user.end);
    if !inside {
        return Err(ElfError::OutsideUser {
            index,
            vaddr,
            mem_size,
        });
    }
    if vaddr % PAGE != offset % PAGE {
        return Err(ElfError::Misaligned {
            index,
            vaddr,
            offset,
        });
    }
    let flags = ph.flags();
    if flags.is_write() && flags.is_execute() {
        return Err(ElfError::WritableAndExecutable { index });
    }
    Ok(Some(Segment {
        vaddr,
        mem_size,
        file_offset: offset,
        file_size,
        writable: flags.is_write(),
        executable: flags.is_execute(),
    }))
}

fn overlaps(a: &Segment, b: &Segment) -> bool {
    let (a, b) = (a.pages(), b.pages());
    a.start < b.end && b.start < a.end
}

/// A copy of some bytes whose start is 8-byte aligned. Safe code cannot
/// view `u64` storage as bytes, so the copy sits at the first aligned
/// position of a slightly larger byte buffer instead.
struct AlignedCopy {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedCopy {
    fn new(bytes: &[u8]) -> Self {
        let mut buf = alloc::vec![0u8; bytes.len() + 7];
        // For a `u8` pointer at run time this is always below 8.
        let start = buf.as_ptr().align_offset(8).min(7);
        buf[start..start + bytes.len()].copy_from_slice(bytes);
        Self {
            buf,
            start,
            len: bytes.len(),
        }
    }

    /// The copy; `None` if the buffer could not be aligned after all.
    fn bytes(&self) -> Option<&[u8]> {
        let bytes = &self.buf[self.start..self.start + self.len];
        bytes.as_ptr().cast::<u64>().is_aligned().then_some(bytes)
    }
}

#[cfg(test)]
#[path = "elf_tests.rs"]
mod tests;
