//! Why an ELF file was refused: one variant per check of `elf::plan`,
//! each carrying the values that failed, and a message that names the
//! field (it is what the kernel prints when a spawn fails with ENOEXEC).

use core::fmt;

use super::{EHDR_LEN, MAX_LOAD_SEGMENTS, MAX_PROGRAM_HEADERS, MAX_TOTAL_MEMORY, PHDR_LEN};

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
