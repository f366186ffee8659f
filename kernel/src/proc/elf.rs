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
use core::fmt;
use core::ops::Range;

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

const EHDR_LEN: usize = 64;
const PHDR_LEN: u16 = 56;

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

/// Why a file was refused. `index` is the program header's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than the 64-byte ELF header.
    TooShort { len: usize },
    /// Does not start with `\x7fELF`.
    BadMagic { found: [u8; 4] },
    /// `EI_CLASS` is not ELFCLASS64 (2).
    NotElf64 { class: u8 },
    /// `EI_DATA` is not little endian (1).
    NotLittleEndian { data: u8 },
    /// `EI_VERSION` or `e_version` is not 1.
    BadVersion { ident: u8, version: u32 },
    /// `e_machine` is not x86_64 (62).
    WrongMachine { machine: u16 },
    /// `e_type` is ET_DYN: a position-independent file needs relocation,
    /// which the loader does not do.
    PositionIndependent,
    /// `e_type` is something other than ET_EXEC (2).
    NotExecutable { e_type: u16 },
    /// `e_phentsize` is not 56.
    BadProgramHeaderSize { size: u16 },
    /// `e_phnum` is above [`MAX_PROGRAM_HEADERS`].
    TooManyProgramHeaders { count: u16 },
    /// `e_phoff` is not 8-byte aligned.
    ProgramHeadersMisaligned { offset: u64 },
    /// The program header table runs past the end of the file.
    ProgramHeadersTruncated { offset: u64, count: u16, len: usize },
    /// More than [`MAX_LOAD_SEGMENTS`] `PT_LOAD` headers.
    TooManyLoadSegments { count: usize },
    /// A `PT_INTERP`: the file wants a dynamic loader.
    Interpreter { index: u16 },
    /// A `PT_DYNAMIC`: the file wants dynamic linking.
    Dynamic { index: u16 },
    /// `p_filesz` is above `p_memsz`.
    FileSizeAboveMemSize {
        index: u16,
        file_size: u64,
        mem_size: u64,
    },
    /// `p_offset + p_filesz` overflows or lies past the end of the file.
    FileRangeOutside {
        index: u16,
        offset: u64,
        file_size: u64,
        len: usize,
    },
    /// `p_vaddr + p_memsz` overflows or leaves the user range.
    OutsideUser {
        index: u16,
        vaddr: u64,
        mem_size: u64,
    },
    /// `p_vaddr` and `p_offset` differ modulo the page size, so the
    /// file's pages cannot be mapped at the segment's pages.
    Misaligned { index: u16, vaddr: u64, offset: u64 },
    /// Two segments share a page.
    Overlap { index: u16, other: u16 },
    /// Writable and executable at once (W^X).
    WritableAndExecutable { index: u16 },
    /// The segments ask for more than [`MAX_TOTAL_MEMORY`] bytes of pages.
    TooLarge { total: u64 },
    /// No `PT_LOAD` segment with memory.
    NoLoadSegment,
    /// `e_entry` is not inside an executable segment.
    EntryNotExecutable { entry: u64 },
    /// `xmas-elf` refused the header after the checks above (not expected).
    Parser(&'static str),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooShort { len } => write!(
                f,
                "file is {len} bytes, shorter than the {EHDR_LEN}-byte ELF header"
            ),
            Self::BadMagic { found } => {
                write!(f, "not an ELF file (magic {:02x?})", found)
            }
            Self::NotElf64 { class } => {
                write!(f, "EI_CLASS is {class}, expected 2 (ELFCLASS64)")
            }
            Self::NotLittleEndian { data } => {
                write!(f, "EI_DATA is {data}, expected 1 (little endian)")
            }
            Self::BadVersion { ident, version } => write!(
                f,
                "EI_VERSION is {ident} and e_version {version}, expected 1 and 1"
            ),
            Self::WrongMachine { machine } => {
                write!(f, "e_machine is {machine}, expected 62 (x86_64)")
            }
            Self::PositionIndependent => f.write_str(
                "e_type is ET_DYN (position-independent): relocation is not supported, link a static ET_EXEC",
            ),
            Self::NotExecutable { e_type } => {
                write!(f, "e_type is {e_type}, expected 2 (ET_EXEC)")
            }
            Self::BadProgramHeaderSize { size } => {
                write!(f, "e_phentsize is {size}, expected {PHDR_LEN}")
            }
            Self::TooManyProgramHeaders { count } => write!(
                f,
                "e_phnum is {count}, at most {MAX_PROGRAM_HEADERS} are supported"
            ),
            Self::ProgramHeadersMisaligned { offset } => {
                write!(f, "e_phoff {offset:#x} is not 8-byte aligned")
            }
            Self::ProgramHeadersTruncated { offset, count, len } => write!(
                f,
                "program header table ({count} entries at e_phoff {offset:#x}) runs past the end of the {len}-byte file"
            ),
            Self::TooManyLoadSegments { count } => write!(
                f,
                "{count} PT_LOAD segments, at most {MAX_LOAD_SEGMENTS} are supported"
            ),
            Self::Interpreter { index } => write!(
                f,
                "program header {index} is PT_INTERP: only static executables are supported"
            ),
            Self::Dynamic { index } => write!(
                f,
                "program header {index} is PT_DYNAMIC: only static executables are supported"
            ),
            Self::FileSizeAboveMemSize {
                index,
                file_size,
                mem_size,
            } => write!(
                f,
                "segment {index}: p_filesz {file_size:#x} is above p_memsz {mem_size:#x}"
            ),
            Self::FileRangeOutside {
                index,
                offset,
                file_size,
                len,
            } => write!(
                f,
                "segment {index}: p_offset {offset:#x} + p_filesz {file_size:#x} is past the end of the {len}-byte file"
            ),
            Self::OutsideUser {
                index,
                vaddr,
                mem_size,
            } => write!(
                f,
                "segment {index}: p_vaddr {vaddr:#x} + p_memsz {mem_size:#x} is outside user space"
            ),
            Self::Misaligned {
                index,
                vaddr,
                offset,
            } => write!(
                f,
                "segment {index}: p_vaddr {vaddr:#x} and p_offset {offset:#x} differ modulo the page size"
            ),
            Self::Overlap { index, other } => {
                write!(f, "segment {index} shares a page with segment {other}")
            }
            Self::WritableAndExecutable { index } => {
                write!(f, "segment {index} is writable and executable (W^X)")
            }
            Self::TooLarge { total } => write!(
                f,
                "segments need {total:#x} bytes, more than the {MAX_TOTAL_MEMORY:#x} allowed"
            ),
            Self::NoLoadSegment => f.write_str("no PT_LOAD segment with memory"),
            Self::EntryNotExecutable { entry } => {
                write!(f, "e_entry {entry:#x} is not inside an executable segment")
            }
            Self::Parser(e) => write!(f, "xmas-elf: {e}"),
        }
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
