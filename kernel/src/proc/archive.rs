//! The ramdisk's archive format: cpio "newc" (what `cpio -H newc` and
//! Linux's initramfs use), read in place.
//!
//! Each entry is a 110-byte ASCII header (the magic `070701` and thirteen
//! 8-digit hex fields), the name (its size counts the NUL), padding to a
//! multiple of 4 bytes from the start of the archive, the data, and padding
//! again. The entry named `TRAILER!!!` ends the archive.
//!
//! The bytes come from the boot loader and are untrusted: [`Archive::parse`]
//! walks the whole archive once and checks every header before anything
//! looks at an entry, so [`Archive::entries`] and [`Archive::find`] work on
//! an archive known to be well formed and never fail.

use core::fmt;

/// Header size: 6 bytes of magic, 13 fields of 8 hex digits.
const HEADER_LEN: usize = 6 + 13 * 8;
const MAGIC: &[u8; 6] = b"070701";
const TRAILER: &str = "TRAILER!!!";

/// Most entries (directories included) in one archive: far more than the
/// handful of programs the build packs, few enough that lookups can be
/// linear.
pub const MAX_ENTRIES: usize = 256;
/// Longest name, NUL included (Linux's `PATH_MAX`).
pub const MAX_NAME: usize = 4096;

/// `st_mode` file type bits and the types the reader tells apart.
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;

/// Field order of the header, after the magic.
const FIELDS: [&str; 13] = [
    "c_ino",
    "c_mode",
    "c_uid",
    "c_gid",
    "c_nlink",
    "c_mtime",
    "c_filesize",
    "c_devmajor",
    "c_devminor",
    "c_rdevmajor",
    "c_rdevminor",
    "c_namesize",
    "c_check",
];
const MODE: usize = 1;
const FILESIZE: usize = 6;
const NAMESIZE: usize = 11;

/// Why an archive was refused; `offset` is where the offending entry's
/// header starts in the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveError {
    /// Fewer than 110 bytes left for the header at `offset`.
    HeaderTruncated { offset: usize, available: usize },
    /// The header at `offset` does not start with `070701`.
    BadMagic { offset: usize, found: [u8; 6] },
    /// Field `field` of the header at `offset` is not 8 hex digits.
    BadHexField { offset: usize, field: &'static str },
    /// `c_namesize` is 0 (no room for the NUL) or above [`MAX_NAME`].
    BadNameSize { offset: usize, namesize: u32 },
    /// The name or the data runs past the end of the archive.
    PastEnd {
        offset: usize,
        field: &'static str,
        size: u32,
        len: usize,
    },
    /// The name's last byte (inside `c_namesize`) is not NUL.
    NameNotTerminated { offset: usize },
    /// The name has a NUL before its end.
    NameHasNul { offset: usize },
    /// The name is not UTF-8.
    NameNotUtf8 { offset: usize },
    /// A regular file with the same program name came earlier (at
    /// `first`): which one runs would be ambiguous.
    DuplicateName { offset: usize, first: usize },
    /// More than [`MAX_ENTRIES`] entries before the trailer.
    TooManyEntries { offset: usize },
    /// The archive ends at `offset` without a `TRAILER!!!` entry.
    NoTrailer { offset: usize },
}

impl fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::HeaderTruncated { offset, available } => write!(
                f,
                "cpio header at offset {offset} is truncated ({available} of {HEADER_LEN} bytes)"
            ),
            Self::BadMagic { offset, found } => write!(
                f,
                "cpio header at offset {offset}: magic is \"{}\", expected \"070701\" (newc)",
                found.escape_ascii()
            ),
            Self::BadHexField { offset, field } => write!(
                f,
                "cpio header at offset {offset}: field {field} is not 8 hex digits"
            ),
            Self::BadNameSize { offset, namesize } => write!(
                f,
                "cpio header at offset {offset}: c_namesize {namesize} is not in 1..={MAX_NAME}"
            ),
            Self::PastEnd {
                offset,
                field,
                size,
                len,
            } => write!(
                f,
                "cpio entry at offset {offset}: {field} {size} runs past the end of the {len}-byte archive"
            ),
            Self::NameNotTerminated { offset } => write!(
                f,
                "cpio entry at offset {offset}: name is not NUL-terminated"
            ),
            Self::NameHasNul { offset } => {
                write!(f, "cpio entry at offset {offset}: name contains a NUL")
            }
            Self::NameNotUtf8 { offset } => {
                write!(f, "cpio entry at offset {offset}: name is not UTF-8")
            }
            Self::DuplicateName { offset, first } => write!(
                f,
                "cpio entry at offset {offset}: same program name as the entry at offset {first}"
            ),
            Self::TooManyEntries { offset } => write!(
                f,
                "cpio entry at offset {offset}: more than {MAX_ENTRIES} entries"
            ),
            Self::NoTrailer { offset } => write!(
                f,
                "cpio archive ends at offset {offset} without a TRAILER!!! entry"
            ),
        }
    }
}

/// A regular file of the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The path as stored, e.g. `bin/hello`.
    pub name: &'a str,
    pub data: &'a [u8],
    /// `st_mode`, type bits included.
    pub mode: u32,
}

impl<'a> Entry<'a> {
    /// The name a program is run by: the path without a leading `/`, `./`
    /// or `bin/` (user/ABI.md), so `bin/hello` runs as `hello`.
    pub fn program_name(&self) -> &'a str {
        program_name(self.name)
    }
}

/// See [`Entry::program_name`].
pub fn program_name(path: &str) -> &str {
    let path = path
        .strip_prefix("./")
        .or_else(|| path.strip_prefix('/'))
        .unwrap_or(path);
    path.strip_prefix("bin/").unwrap_or(path)
}

/// A validated archive.
#[derive(Clone, Copy, Debug)]
pub struct Archive<'a> {
    bytes: &'a [u8],
    /// Regular files, for callers that size a listing.
    files: usize,
}

/// One header as read, before its type is looked at.
struct Raw<'a> {
    name: &'a str,
    data: &'a [u8],
    mode: u32,
    /// Where the next header starts (may be past the end for the last).
    next: usize,
}

impl<'a> Archive<'a> {
    /// Check the whole archive and return it.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ArchiveError> {
        let mut offset = 0;
        let mut files = 0;
        let mut count = 0;
        loop {
            if offset >= bytes.len() {
                return Err(ArchiveError::NoTrailer { offset });
            }
            let raw = read_entry(bytes, offset)?;
            if raw.name == TRAILER {
                return Ok(Self { bytes, files });
            }
            if count == MAX_ENTRIES {
                return Err(ArchiveError::TooManyEntries { offset });
            }
            if is_regular(raw.mode) {
                // Quadratic, but bounded by MAX_ENTRIES squared header reads.
                let archive = Self { bytes, files };
                if let Some(first) = archive.offset_of(program_name(raw.name), offset) {
                    return Err(ArchiveError::DuplicateName { offset, first });
                }
                files += 1;
            }
            count += 1;
            offset = raw.next;
        }
    }

    /// The regular files, in archive order (directories and other types
    /// are skipped).
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + use<'a> {
        self.raw_entries()
            .map(|(_, raw)| raw)
            .filter(|raw| is_regular(raw.mode))
            .map(|raw| Entry {
                name: raw.name,
                data: raw.data,
                mode: raw.mode,
            })
    }

    /// Number of regular files.
    pub fn len(&self) -> usize {
        self.files
    }

    pub fn is_empty(&self) -> bool {
        self.files == 0
    }

    /// The contents of the regular file whose program name (see
    /// [`Entry::program_name`]) is `program`.
    pub fn find(&self, program: &str) -> Option<&'a [u8]> {
        if program.is_empty() {
            return None;
        }
        self.entries()
            .find(|e| e.program_name() == program)
            .map(|e| e.data)
    }

    /// Offset of the first regular file named `program` before `limit`.
    fn offset_of(&self, program: &str, limit: usize) -> Option<usize> {
        self.raw_entries()
            .take_while(|&(offset, _)| offset < limit)
            .find(|(_, raw)| is_regular(raw.mode) && program_name(raw.name) == program)
            .map(|(offset, _)| offset)
    }

    /// Every entry before the trailer with its offset. Only used on bytes
    /// [`Self::parse`] walked already (or up to where it got), so a read
    /// error cannot happen here; it would just end the walk.
    fn raw_entries(&self) -> impl Iterator<Item = (usize, Raw<'a>)> + use<'a> {
        let bytes = self.bytes;
        let mut offset = 0;
        core::iter::from_fn(move || {
            let raw = read_entry(bytes, offset).ok()?;
            if raw.name == TRAILER {
                return None;
            }
            let at = offset;
            offset = raw.next;
            Some((at, raw))
        })
    }
}

fn is_regular(mode: u32) -> bool {
    mode & S_IFMT == S_IFREG
}

/// Read and check the entry whose header starts at `offset`.
fn read_entry(bytes: &[u8], offset: usize) -> Result<Raw<'_>, ArchiveError> {
    let available = bytes.len().saturating_sub(offset);
    let header = bytes
        .get(offset..)
        .and_then(|rest| rest.get(..HEADER_LEN))
        .ok_or(ArchiveError::HeaderTruncated { offset, available })?;
    if &header[..6] != MAGIC {
        let mut found = [0; 6];
        found.copy_from_slice(&header[..6]);
        return Err(ArchiveError::BadMagic { offset, found });
    }
    let mut fields = [0u32; 13];
    for (i, value) in fields.iter_mut().enumerate() {
        let digits = &header[6 + 8 * i..6 + 8 * (i + 1)];
        *value = parse_hex(digits).ok_or(ArchiveError::BadHexField {
            offset,
            field: FIELDS[i],
        })?;
    }
    let namesize = fields[NAMESIZE];
    if namesize == 0 || namesize as usize > MAX_NAME {
        return Err(ArchiveError::BadNameSize { offset, namesize });
    }
    let past_end = |field, size| ArchiveError::PastEnd {
        offset,
        field,
        size,
        len: bytes.len(),
    };
    // offset + HEADER_LEN <= len, and namesize <= MAX_NAME: no overflow.
    let name_start = offset + HEADER_LEN;
    let name_end = name_start + namesize as usize;
    let raw_name = bytes
        .get(name_start..name_end)
        .ok_or(past_end("c_namesize", namesize))?;
    let Some((&0, name)) = raw_name.split_last() else {
        return Err(ArchiveError::NameNotTerminated { offset });
    };
    if name.contains(&0) {
        return Err(ArchiveError::NameHasNul { offset });
    }
    let name = core::str::from_utf8(name).map_err(|_| ArchiveError::NameNotUtf8 { offset })?;

    let filesize = fields[FILESIZE];
    let data_start = name_end.next_multiple_of(4);
    let data = data_start
        .checked_add(filesize as usize)
        .and_then(|end| bytes.get(data_start..end))
        .ok_or(past_end("c_filesize", filesize))?;
    // data_start + filesize <= len here, so this cannot overflow.
    let next = (data_start + data.len()).next_multiple_of(4);
    Ok(Raw {
        name,
        data,
        mode: fields[MODE],
        next,
    })
}

/// Eight ASCII hex digits (either case), nothing else.
fn parse_hex(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, &d| {
        let nibble = (d as char).to_digit(16)?;
        Some(acc << 4 | nibble)
    })
}

#[cfg(test)]
#[path = "archive_tests.rs"]
mod tests;
