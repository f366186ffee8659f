//! Names the functions behind the addresses of a kernel crash report.
//!
//! The kernel prints raw addresses (it carries no symbol table of its own):
//! `RIP 0x…` for where a CPU exception struck, and under `backtrace:` one
//! return address a line. The runner looks each up in the image's DWARF
//! with `addr2line`, inlined frames included, and shows the function and
//! source line next to the address, in every column: the native image,
//! the same image as a Xen HVM guest, and virtus-pv as a PVH guest.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// One function at an address: innermost (inlined) first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub function: String,
    /// `file:line`, the path relative to the workspace where it lies in it.
    pub location: Option<String>,
}

/// The debug information of one kernel image.
pub struct Symbols {
    loader: Mutex<addr2line::Loader>,
}

impl std::fmt::Debug for Symbols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Symbols")
    }
}

/// The address a console line asks about, and what kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Site {
    /// Where an exception struck: the faulting instruction itself.
    Fault(u64),
    /// A return address: the call that led here is the instruction before.
    Return(u64),
}

impl Symbols {
    /// Reads the image's debug information. The ELF32 copy that an HVM
    /// guest boots is made by `objcopy` from the ELF64 image beside it, at
    /// the same addresses: that one is read, as it keeps the DWARF whole.
    pub fn open(image: &Path) -> Result<Symbols, String> {
        let source = debug_source(image);
        let loader = addr2line::Loader::new(&source)
            .map_err(|error| format!("no symbols from {}: {error}", source.display()))?;
        Ok(Symbols {
            loader: Mutex::new(loader),
        })
    }

    /// The functions at `address`, innermost first; empty if the image
    /// has nothing there.
    pub fn frames(&self, address: u64) -> Vec<Frame> {
        let loader = self.loader.lock().unwrap_or_else(|e| e.into_inner());
        let mut frames = Vec::new();
        if let Ok(mut iter) = loader.find_frames(address) {
            while let Ok(Some(frame)) = iter.next() {
                let Some(function) = frame.function.as_ref().and_then(|f| f.demangle().ok()) else {
                    continue;
                };
                let location = frame
                    .location
                    .as_ref()
                    .and_then(|l| Some(format!("{}:{}", workspace_relative(l.file?), l.line?)));
                frames.push(Frame {
                    function: without_hash(&function).to_string(),
                    location,
                });
            }
        }
        if frames.is_empty()
            && let Some(name) = loader.find_symbol(address)
        {
            let name = addr2line::demangle_auto(name.into(), None);
            frames.push(Frame {
                function: without_hash(&name).to_string(),
                location: None,
            });
        }
        frames
    }

    /// The functions at the address a crash-report line names; `None`
    /// for any other line, or an address the image has nothing at.
    pub fn frames_of_line(&self, line: &str) -> Option<Vec<Frame>> {
        let probe = match site(line)? {
            Site::Fault(address) => address,
            // The return address may already belong to the next line or
            // function; the call instruction ends just before it.
            Site::Return(address) => address.checked_sub(1)?,
        };
        let frames = self.frames(probe);
        (!frames.is_empty()).then_some(frames)
    }

    /// What to show after a crash-report line: the function (with where
    /// it was inlined) at its address, or `None` for any other line.
    pub fn annotate(&self, line: &str) -> Option<String> {
        self.frames_of_line(line).map(|frames| describe(&frames))
    }

    /// Where the first CPU exception of `lines` struck (its `RIP` line),
    /// innermost function first.
    pub fn fault_site<'a>(
        &self,
        lines: impl IntoIterator<Item = &'a String>,
    ) -> Option<Vec<Frame>> {
        let rip = lines
            .into_iter()
            .find(|line| matches!(site(line), Some(Site::Fault(_))))?;
        self.frames_of_line(rip)
    }
}

/// The innermost function of `frames` that is the kernel's own, not the
/// standard library's (`core::ptr::read_volatile` inlined into it), by its
/// last path segment: `read_address`.
pub fn own_function(frames: &[Frame]) -> Option<&str> {
    let library = ["core::", "alloc::", "<core::", "<alloc::"];
    let own = frames
        .iter()
        .find(|frame| !library.iter().any(|l| frame.function.starts_with(l)))?;
    own.function.rsplit("::").next()
}

/// The symbols of `image`, read once per run however many boots use it;
/// `None` (and a note, once) if the image has none to read.
pub fn for_image(image: &Path) -> Option<Arc<Symbols>> {
    static OPENED: OnceLock<Mutex<HashMap<PathBuf, Option<Arc<Symbols>>>>> = OnceLock::new();
    let mut opened = OPENED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    opened
        .entry(image.to_path_buf())
        .or_insert_with(|| match Symbols::open(image) {
            Ok(symbols) => Some(Arc::new(symbols)),
            Err(error) => {
                crate::console::say(&format!(
                    "virtus-run: crash reports will show bare addresses: {error}"
                ));
                None
            }
        })
        .clone()
}

/// `a (file:line) inlined into b (file:line)`.
pub fn describe(frames: &[Frame]) -> String {
    let each = frames.iter().map(|frame| match &frame.location {
        Some(location) => format!("{} ({location})", frame.function),
        None => frame.function.clone(),
    });
    each.collect::<Vec<_>>().join(" inlined into ")
}

/// The image whose DWARF describes `image` (see [`Symbols::open`]).
fn debug_source(image: &Path) -> PathBuf {
    let elf64 = image.with_extension("");
    if image.extension().is_some_and(|e| e == "elf32") && elf64.is_file() {
        elf64
    } else {
        image.to_path_buf()
    }
}

/// The address a kernel crash-report line names, if it is one: `RIP 0x…`
/// (the kernel's register dump) or a backtrace line, which is an address
/// alone.
fn site(line: &str) -> Option<Site> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("RIP ") {
        let word = rest.split_whitespace().next()?;
        return hex(word).map(Site::Fault);
    }
    // A backtrace line is the address alone, zero-padded to 16 digits:
    // anything else (a log line that starts with a number) is not one.
    if line.len() == 18 {
        return hex(line).map(Site::Return);
    }
    None
}

fn hex(word: &str) -> Option<u64> {
    u64::from_str_radix(word.strip_prefix("0x")?, 16).ok()
}

/// Rust's legacy mangling ends a path with `::h<16 hex digits>`.
fn without_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((path, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            path
        }
        _ => name,
    }
}

/// A source path shortened to the workspace (`kernel/src/…`) or, for the
/// standard library, to its place in it (`core/src/…`, not
/// `/rustc/<commit>/library/core/src/…`); other paths stay as they are.
fn workspace_relative(file: &str) -> String {
    if let Some((_, library)) = file.split_once("/library/")
        && file.starts_with("/rustc/")
    {
        return library.to_string();
    }
    Path::new(file)
        .strip_prefix(crate::workspace())
        .map_or_else(|_| file.to_string(), |p| p.display().to_string())
}

#[cfg(test)]
#[path = "symbols_tests.rs"]
mod tests;
