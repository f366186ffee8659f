//! A writer for the "newc" cpio format, the one the Linux initramfs
//! unpacker reads.
//!
//! The runner hands its files to dom0 by appending an uncompressed archive
//! to the bed's compressed one: the kernel unpacks concatenated archives in
//! order, so ours lands on top of the base initramfs. Each entry is a
//! 110-byte ASCII header (`070701` and thirteen 8-digit hex fields), the
//! NUL-terminated name padded to a multiple of four, then the data padded
//! the same way; the archive ends with an entry named `TRAILER!!!`.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, Write};

const MAGIC: &[u8; 6] = b"070701";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";

/// File type bits of `st_mode`.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;

/// Why an entry could not be added.
#[derive(Debug)]
pub enum CpioError {
    /// Empty, absolute after normalising, or with `.`/`..` components.
    BadPath(String),
    /// The same path added twice, or a file where a directory must be.
    Duplicate(String),
    /// newc sizes are 32-bit.
    TooLarge(String),
    Io(io::Error),
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadPath(path) => write!(f, "cpio: bad path `{path}`"),
            Self::Duplicate(path) => write!(f, "cpio: `{path}` added twice"),
            Self::TooLarge(path) => write!(f, "cpio: `{path}` is larger than 4 GiB"),
            Self::Io(error) => write!(f, "cpio: {error}"),
        }
    }
}

impl From<io::Error> for CpioError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// Writes a newc archive to `out`. Parent directories are implied by the
/// paths of files and written once, before their first child, because the
/// unpacker does not create missing directories itself.
pub struct CpioWriter<W: Write> {
    out: W,
    /// Paths already in the archive (files and directories).
    written: BTreeSet<String>,
    next_inode: u32,
}

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            written: BTreeSet::new(),
            // Inode 0 is avoided: some unpackers treat it as "no inode".
            next_inode: 1,
        }
    }

    /// Adds a directory (`mode` is the permission bits, e.g. `0o755`).
    pub fn add_dir(&mut self, path: &str, mode: u32) -> Result<(), CpioError> {
        let path = normalise(path)?;
        self.add_parents(&path)?;
        if !self.written.insert(path.clone()) {
            return Err(CpioError::Duplicate(path));
        }
        self.entry(&path, S_IFDIR | (mode & 0o7777), 2, &[])
    }

    /// Adds a regular file (`mode` is the permission bits, e.g. `0o644`).
    pub fn add_file(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<(), CpioError> {
        let path = normalise(path)?;
        if u32::try_from(data.len()).is_err() {
            return Err(CpioError::TooLarge(path));
        }
        self.add_parents(&path)?;
        if !self.written.insert(path.clone()) {
            return Err(CpioError::Duplicate(path));
        }
        self.entry(&path, S_IFREG | (mode & 0o7777), 1, data)
    }

    /// Writes the trailer and hands back the output.
    pub fn finish(mut self) -> Result<W, CpioError> {
        self.header(TRAILER, 0, 0, 1, 0)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn add_parents(&mut self, path: &str) -> Result<(), CpioError> {
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            let parent = &path[..end + slash];
            end += slash + 1;
            if self.written.insert(parent.to_string()) {
                self.entry(parent, S_IFDIR | 0o755, 2, &[])?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, path: &str, mode: u32, nlink: u32, data: &[u8]) -> Result<(), CpioError> {
        let inode = self.next_inode;
        self.next_inode += 1;
        // The size was checked against u32 by the caller.
        let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.header(path, inode, mode, nlink, size)?;
        self.out.write_all(data)?;
        self.out.write_all(&[0; 3][..padding(data.len())])?;
        Ok(())
    }

    fn header(
        &mut self,
        name: &str,
        inode: u32,
        mode: u32,
        nlink: u32,
        size: u32,
    ) -> Result<(), CpioError> {
        let name_size = name.len() + 1;
        let name_size = u32::try_from(name_size).map_err(|_| CpioError::BadPath(name.into()))?;
        // ino mode uid gid nlink mtime filesize devmajor devminor
        // rdevmajor rdevminor namesize check
        let fields = [inode, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, name_size, 0];
        let mut header = Vec::with_capacity(HEADER_LEN + name.len() + 4);
        header.extend_from_slice(MAGIC);
        for field in fields {
            header.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        header.extend_from_slice(name.as_bytes());
        header.push(0);
        header.resize(header.len() + padding(header.len()), 0);
        self.out.write_all(&header)?;
        Ok(())
    }
}

/// Bytes needed to bring `len` up to a multiple of four.
fn padding(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// Archive names are relative (`virtus-run/script.sh`), as `cpio -o`
/// writes them; a leading `/` is accepted and dropped.
fn normalise(path: &str) -> Result<String, CpioError> {
    let trimmed = path.trim_start_matches('/').trim_end_matches('/');
    let bad = trimmed.is_empty()
        || trimmed == TRAILER
        || trimmed.contains('\0')
        || trimmed
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if bad {
        Err(CpioError::BadPath(path.to_string()))
    } else {
        Ok(trimmed.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One parsed entry: (name, mode, nlink, data).
    type Entry = (String, u32, u32, Vec<u8>);

    /// A reader written from the format description, independent of the
    /// writer, that also checks every alignment rule.
    fn entries(archive: &[u8]) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            assert_eq!(at % 4, 0, "entry at {at} is not 4-aligned");
            let header = &archive[at..at + HEADER_LEN];
            assert_eq!(&header[..6], MAGIC);
            let field = |i: usize| {
                let text = std::str::from_utf8(&header[6 + 8 * i..14 + 8 * i]).unwrap();
                u32::from_str_radix(text, 16).unwrap()
            };
            let (mode, nlink, size, name_size) = (field(1), field(4), field(6), field(11));
            let name_start = at + HEADER_LEN;
            let name_end = name_start + name_size as usize;
            assert_eq!(archive[name_end - 1], 0, "name is NUL-terminated");
            let name = std::str::from_utf8(&archive[name_start..name_end - 1])
                .unwrap()
                .to_string();
            let data_start = name_end + padding(name_end);
            let data_end = data_start + size as usize;
            assert!(archive[name_end..data_start].iter().all(|b| *b == 0));
            at = data_end + padding(data_end);
            assert!(archive[data_end..at].iter().all(|b| *b == 0));
            if name == TRAILER {
                assert_eq!(at, archive.len(), "nothing after the trailer");
                return out;
            }
            out.push((name, mode, nlink, archive[data_start..data_end].to_vec()));
        }
    }

    fn archive(build: impl FnOnce(&mut CpioWriter<Vec<u8>>)) -> Vec<u8> {
        let mut writer = CpioWriter::new(Vec::new());
        build(&mut writer);
        writer.finish().unwrap()
    }

    #[test]
    fn header_layout_is_byte_exact() {
        let bytes = archive(|w| w.add_file("a", 0o644, b"xyz").unwrap());
        let expected = concat!(
            "070701", "00000001", // ino
            "000081a4", // mode: regular, 0644
            "00000000", // uid
            "00000000", // gid
            "00000001", // nlink
            "00000000", // mtime
            "00000003", // filesize
            "00000000", // devmajor
            "00000000", // devminor
            "00000000", // rdevmajor
            "00000000", // rdevminor
            "00000002", // namesize, with the NUL
            "00000000", // check
        );
        assert_eq!(&bytes[..HEADER_LEN], expected.as_bytes());
        // 110 + "a\0" = 112, already aligned; data "xyz" + 1 pad byte.
        assert_eq!(&bytes[HEADER_LEN..HEADER_LEN + 2], b"a\0");
        assert_eq!(&bytes[112..116], b"xyz\0");
        assert_eq!(&bytes[116..122], MAGIC);
    }

    #[test]
    fn names_and_data_are_padded_to_four() {
        for name_len in 1..=5 {
            for data_len in 0..=5 {
                let name = "n".repeat(name_len);
                let data = vec![0xa5; data_len];
                let bytes = archive(|w| w.add_file(&name, 0o600, &data).unwrap());
                assert_eq!(bytes.len() % 4, 0);
                assert_eq!(entries(&bytes), [(name, S_IFREG | 0o600, 1, data)]);
            }
        }
    }

    #[test]
    fn ends_with_the_trailer() {
        let bytes = archive(|_| {});
        assert!(entries(&bytes).is_empty());
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("070701"));
        assert!(text.contains("TRAILER!!!\0"));
        // 110 + 11 bytes of name, padded to 124.
        assert_eq!(bytes.len(), 124);
    }

    #[test]
    fn directories_are_implied_once_and_come_first() {
        let bytes = archive(|w| {
            w.add_file("/virtus-run/script.sh", 0o755, b"#!/bin/sh\n")
                .unwrap();
            w.add_file("/virtus-run/guests/a.cfg", 0o644, b"name = \"a\"\n")
                .unwrap();
            w.add_file("virtus-run/guests/a.elf", 0o644, b"\x7fELF")
                .unwrap();
        });
        let listing: Vec<_> = entries(&bytes)
            .into_iter()
            .map(|(name, mode, nlink, _)| (name, mode, nlink))
            .collect();
        assert_eq!(
            listing,
            [
                ("virtus-run".to_string(), 0o040755, 2),
                ("virtus-run/script.sh".to_string(), 0o100755, 1),
                ("virtus-run/guests".to_string(), 0o040755, 2),
                ("virtus-run/guests/a.cfg".to_string(), 0o100644, 1),
                ("virtus-run/guests/a.elf".to_string(), 0o100644, 1),
            ]
        );
    }

    #[test]
    fn explicit_directories_and_unique_inodes() {
        let bytes = archive(|w| {
            w.add_dir("d/e", 0o700).unwrap();
            w.add_file("d/e/f", 0o644, b"").unwrap();
        });
        let names: Vec<_> = entries(&bytes).into_iter().map(|e| (e.0, e.1)).collect();
        assert_eq!(
            names,
            [
                ("d".to_string(), 0o040755),
                ("d/e".to_string(), 0o040700),
                ("d/e/f".to_string(), 0o100644)
            ]
        );
        let inode = |i: usize| &bytes[i..i + 14];
        assert_ne!(inode(0), inode(HEADER_LEN + 4));
    }

    #[test]
    fn rejects_bad_and_duplicate_paths() {
        let mut writer = CpioWriter::new(Vec::new());
        for bad in ["", "/", "a/../b", "a//b", "./a", "TRAILER!!!"] {
            assert!(
                matches!(writer.add_file(bad, 0o644, b""), Err(CpioError::BadPath(_))),
                "{bad:?}"
            );
        }
        writer.add_file("x/y", 0o644, b"").unwrap();
        assert!(matches!(
            writer.add_file("/x/y", 0o644, b""),
            Err(CpioError::Duplicate(_))
        ));
        assert!(matches!(
            writer.add_dir("x", 0o755),
            Err(CpioError::Duplicate(_))
        ));
    }
}
