//! An archive in the "newc" cpio format, the one the Linux initramfs
//! unpacker reads, for the files the runner hands to dom0.
//!
//! The bytes (headers, padding, the trailer) are the `cpio` crate's. What
//! the unpacker needs beyond them is here: relative names, as `cpio -o`
//! writes them; each parent directory before its first child, because the
//! unpacker does not create missing ones; each path once; a distinct inode
//! per entry. Files are streamed, not held in memory.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};

use cpio::NewcBuilder;
use cpio::newc::{ModeFileType, trailer};

/// Writes a newc archive to `out`; [`Archive::finish`] ends it.
pub struct Archive<W: Write> {
    out: W,
    /// Paths already in the archive (files, links and directories).
    written: BTreeSet<String>,
    /// The last inode given out; 0 is left to the trailer.
    inode: u32,
}

impl<W: Write> Archive<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            written: BTreeSet::new(),
            inode: 0,
        }
    }

    /// A regular file holding `data`; `mode` is its permission bits.
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        self.file_from(path, mode, data.len() as u64, data)
    }

    /// A regular file of `len` bytes, copied from `data`, which must have
    /// that many.
    pub fn file_from(
        &mut self,
        path: &str,
        mode: u32,
        len: u64,
        data: impl Read,
    ) -> io::Result<()> {
        self.entry(path, ModeFileType::Regular, mode, len, data)
    }

    /// A symbolic link at `path` to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        let target = target.as_bytes();
        self.entry(
            path,
            ModeFileType::Symlink,
            0o777,
            target.len() as u64,
            target,
        )
    }

    /// Writes the trailer and hands back the output.
    pub fn finish(self) -> io::Result<W> {
        let mut out = trailer(self.out)?;
        out.flush()?;
        Ok(out)
    }

    fn entry(
        &mut self,
        path: &str,
        kind: ModeFileType,
        mode: u32,
        len: u64,
        data: impl Read,
    ) -> io::Result<()> {
        let path = relative(path)?;
        let size = u32::try_from(len).map_err(|_| invalid(&path, "is over 4 GiB"))?;
        let mut end = 0;
        while let Some(slash) = path[end..].find('/') {
            end += slash + 1;
            let parent = &path[..end - 1];
            if !self.written.contains(parent) {
                self.entry(parent, ModeFileType::Directory, 0o755, 0, io::empty())?;
            }
        }
        if !self.written.insert(path.clone()) {
            return Err(invalid(&path, "is added twice"));
        }
        self.inode += 1;
        let mut entry = NewcBuilder::new(&path)
            .ino(self.inode)
            .mode(mode & 0o7777)
            .set_mode_file_type(kind)
            .write(&mut self.out, size);
        let copied = io::copy(&mut data.take(len), &mut entry)?;
        if copied != len {
            return Err(invalid(
                &path,
                &format!("ended after {copied} of {len} bytes"),
            ));
        }
        entry.finish()?;
        Ok(())
    }
}

fn invalid(path: &str, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("cpio: `{path}` {what}"),
    )
}

/// `path` without its leading `/`; refused if empty, or with `.`, `..` or
/// empty components.
fn relative(path: &str) -> io::Result<String> {
    let trimmed = path.trim_start_matches('/').trim_end_matches('/');
    let bad = trimmed.is_empty()
        || trimmed == "TRAILER!!!"
        || trimmed.contains('\0')
        || trimmed
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if bad {
        Err(invalid(path, "is not a relative path"))
    } else {
        Ok(trimmed.to_string())
    }
}

#[cfg(test)]
#[path = "cpio_tests.rs"]
pub(crate) mod tests;
