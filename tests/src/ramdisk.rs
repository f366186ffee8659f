//! The ramdisk of user programs (user/ABI.md): a cpio "newc" archive with
//! each program under `bin/`, written by [`crate::xen::cpio::Archive`] (the
//! writer the runner already uses for dom0). `make build` packs it with
//! `virtus-run ramdisk`.
//!
//! Each program is checked first against the ABI's promises (a static
//! x86_64 ET_EXEC in user space, no segment both writable and executable),
//! so a build mistake stops here and not as a refusal in three columns.
//! Two deliberately malformed files made from `hello` go in too, for the
//! kernel's tests: the loader must refuse them with ENOEXEC and a message.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use object::Endianness;
use object::elf::{ET_EXEC, FileHeader64, PF_W, PF_X, PT_DYNAMIC, PT_INTERP, PT_LOAD};
use object::read::elf::{FileHeader, ProgramHeader};

use crate::cli::options::built;
use crate::xen::cpio::Archive;

/// The ramdisk's file name, next to the kernel images.
pub const RAMDISK: &str = "virtus-ramdisk.cpio";

/// Where programs go in the archive (`bin/hello` runs as `hello`).
pub const PROGRAM_DIR: &str = "bin";

/// The start and end of user space (user/ABI.md).
pub const USER_START: u64 = 0x0000_1000_0000_0000;
pub const USER_END: u64 = 0x0000_7fff_0000_0000;

/// The program the malformed files are made from.
pub const MALFORMED_SOURCE: &str = "hello";

/// `hello` cut after this many bytes: the ELF and program headers are
/// there, the segments they describe are not.
pub const TRUNCATED_LEN: usize = 200;

/// Offset of `e_machine` in the ELF header, and EM_386.
const E_MACHINE: usize = 18;
const EM_386: u16 = 3;

/// The default ramdisk: what `make build` writes.
pub fn default_path() -> PathBuf {
    built(RAMDISK)
}

/// `path`, or the default ramdisk; an error if that file is missing, which
/// says how to make the default one.
pub fn resolve(path: Option<&Path>) -> Result<PathBuf, String> {
    let ramdisk = path.map_or_else(default_path, Path::to_path_buf);
    if ramdisk.is_file() {
        Ok(ramdisk)
    } else if ramdisk != default_path() {
        Err(format!("ramdisk {} not found", ramdisk.display()))
    } else {
        Err(format!(
            "ramdisk {} not found: `make build` makes it (or pass --ramdisk)",
            ramdisk.display()
        ))
    }
}

/// A program for the archive: its name (the file name) and its bytes.
pub struct Program {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl Program {
    pub fn read(path: &Path) -> Result<Program, String> {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .ok_or_else(|| format!("{}: not a file name", path.display()))?;
        let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Program {
            name: name.to_string(),
            bytes,
        })
    }
}

/// The archive holding `programs` (each checked by [`check_program`]) and
/// the malformed files, in that order.
pub fn pack(programs: &[Program]) -> Result<Vec<u8>, String> {
    let mut archive = Archive::new(Vec::new());
    for program in programs {
        check_program(&program.bytes).map_err(|e| format!("{}: {e}", program.name))?;
        add(&mut archive, &program.name, &program.bytes)?;
    }
    let source = programs
        .iter()
        .find(|p| p.name == MALFORMED_SOURCE)
        .ok_or_else(|| {
            format!("the malformed samples are made from `{MALFORMED_SOURCE}`: pass it")
        })?;
    for (name, bytes) in malformed(&source.bytes) {
        add(&mut archive, name, &bytes)?;
    }
    archive.finish().map_err(|e| e.to_string())
}

fn add(archive: &mut Archive<Vec<u8>>, name: &str, bytes: &[u8]) -> Result<(), String> {
    let path = format!("{PROGRAM_DIR}/{name}");
    archive.file(&path, 0o755, bytes).map_err(|e| e.to_string())
}

/// `bad-truncated` (the file cut at [`TRUNCATED_LEN`]) and `bad-machine`
/// (`e_machine` EM_386), from a valid program.
pub fn malformed(valid: &[u8]) -> [(&'static str, Vec<u8>); 2] {
    let truncated = valid[..TRUNCATED_LEN.min(valid.len())].to_vec();
    let mut machine = valid.to_vec();
    if machine.len() >= E_MACHINE + 2 {
        machine[E_MACHINE..E_MACHINE + 2].copy_from_slice(&EM_386.to_le_bytes());
    }
    [("bad-truncated", truncated), ("bad-machine", machine)]
}

/// What user/ABI.md promises of a program: a static little-endian x86_64
/// ET_EXEC (no interpreter, nothing to relocate), every PT_LOAD page
/// aligned inside user space and inside the file, and none writable and
/// executable at once.
pub fn check_program(bytes: &[u8]) -> Result<(), String> {
    let header = FileHeader64::<Endianness>::parse(bytes).map_err(|e| e.to_string())?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    if endian != Endianness::Little || header.e_machine(endian) != object::elf::EM_X86_64 {
        return Err("not a little-endian x86_64 ELF".into());
    }
    if header.e_type(endian) != ET_EXEC {
        return Err("not ET_EXEC (a PIE or an object file?)".into());
    }
    let segments = header
        .program_headers(endian, bytes)
        .map_err(|e| e.to_string())?;
    let mut loads = 0;
    for segment in segments {
        let (kind, flags) = (segment.p_type(endian), segment.p_flags(endian));
        if kind == PT_INTERP || kind == PT_DYNAMIC {
            return Err("dynamically linked (PT_INTERP or PT_DYNAMIC)".into());
        }
        if kind != PT_LOAD {
            continue;
        }
        loads += 1;
        let (start, size) = (segment.p_vaddr(endian), segment.p_memsz(endian));
        let (offset, filesz) = (segment.p_offset(endian), segment.p_filesz(endian));
        let file_end = offset.saturating_add(filesz);
        if filesz > size || file_end > bytes.len() as u64 {
            return Err(format!(
                "segment at {start:#x} reaches past the end of the file"
            ));
        }
        if flags & PF_W != 0 && flags & PF_X != 0 {
            return Err(format!("segment at {start:#x} is writable and executable"));
        }
        let end = start.saturating_add(size);
        if start % 4096 != 0 || start < USER_START || end > USER_END {
            return Err(format!(
                "segment {start:#x}..{end:#x} not page aligned inside user space"
            ));
        }
    }
    let entry = header.e_entry(endian);
    if loads == 0 || !(USER_START..USER_END).contains(&entry) {
        return Err(format!(
            "no PT_LOAD, or entry {entry:#x} outside user space"
        ));
    }
    Ok(())
}

/// `virtus-run ramdisk --out PATH PROGRAM...`.
pub fn write(out: &Path, programs: &[PathBuf]) -> Result<(), String> {
    let programs = programs
        .iter()
        .map(|path| Program::read(path))
        .collect::<Result<Vec<_>, _>>()?;
    let archive = pack(&programs)?;
    // Written beside and renamed, so a failed pack never leaves half a file
    // for the next boot to load.
    let partial = out.with_extension("partial");
    fs::write(&partial, &archive)
        .and_then(|()| fs::rename(&partial, out))
        .map_err(|e: io::Error| format!("{}: {e}", out.display()))?;
    let names: Vec<&str> = programs.iter().map(|p| p.name.as_str()).collect();
    println!(
        "ramdisk {}: {} bytes, {} (+ bad-truncated, bad-machine)",
        out.display(),
        archive.len(),
        names.join(" ")
    );
    Ok(())
}

#[cfg(test)]
#[path = "ramdisk_tests.rs"]
mod tests;
