//! Builders of small, exactly known inputs for the loader's tests: static
//! x86_64 ELF executables assembled byte by byte, and cpio "newc" archives.
//!
//! They serve the host unit tests, the fuzzer's seed corpus (`fuzz/`) and
//! the kernel suite (which can feed a hostile file to the real loader), so
//! they are plain library code rather than `#[cfg(test)]`. Every field is
//! written from the ELF and cpio specifications directly, never through the
//! code under test, so a test compares the parser with an independent
//! encoder.

use alloc::vec::Vec;

/// ELF header and program header sizes for ELFCLASS64.
pub const EHDR_LEN: usize = 64;
pub const PHDR_LEN: usize = 56;

pub const PT_LOAD: u32 = 1;
pub const PT_DYNAMIC: u32 = 2;
pub const PT_INTERP: u32 = 3;
pub const PT_NOTE: u32 = 4;
pub const PT_GNU_STACK: u32 = 0x6474_e551;

pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

/// One program header as the builder writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phdr {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub file_size: u64,
    pub mem_size: u64,
    pub align: u64,
}

impl Phdr {
    /// A `PT_LOAD` segment with 4 KiB alignment.
    pub fn load(flags: u32, offset: u64, vaddr: u64, file_size: u64, mem_size: u64) -> Self {
        Self {
            p_type: PT_LOAD,
            flags,
            offset,
            vaddr,
            file_size,
            mem_size,
            align: 0x1000,
        }
    }
}

/// An ELF file under construction: header fields, program headers, and the
/// bytes after them. Fields are public so a test can break one at a time.
#[derive(Clone, Debug)]
pub struct ElfBuilder {
    pub class: u8,
    pub data: u8,
    pub ident_version: u8,
    pub e_type: u16,
    pub machine: u16,
    pub version: u32,
    pub entry: u64,
    pub phoff: u64,
    pub ehsize: u16,
    pub phentsize: u16,
    /// `e_phnum` as written; `None` writes `phdrs.len()`.
    pub phnum: Option<u16>,
    pub phdrs: Vec<Phdr>,
    /// Total file length; the bytes not covered by headers are `fill`.
    pub len: usize,
    pub fill: u8,
}

/// Where [`ElfBuilder::hello`] puts things.
pub const HELLO_BASE: u64 = 0x0000_1000_0000_0000;
pub const HELLO_TEXT_OFFSET: u64 = 0x1000;
pub const HELLO_DATA_OFFSET: u64 = 0x2000;

impl ElfBuilder {
    /// The shape of a real user program: a read-execute text segment, a
    /// read-write data segment with BSS after it, and a `PT_GNU_STACK`
    /// (which the loader ignores), linked at the ABI's base address.
    pub fn hello() -> Self {
        Self {
            class: 2,
            data: 1,
            ident_version: 1,
            e_type: 2,
            machine: 62,
            version: 1,
            entry: HELLO_BASE + HELLO_TEXT_OFFSET + 0x10,
            phoff: EHDR_LEN as u64,
            ehsize: EHDR_LEN as u16,
            phentsize: PHDR_LEN as u16,
            phnum: None,
            phdrs: alloc::vec![
                Phdr::load(
                    PF_R | PF_X,
                    HELLO_TEXT_OFFSET,
                    HELLO_BASE + HELLO_TEXT_OFFSET,
                    0x123,
                    0x123
                ),
                Phdr::load(
                    PF_R | PF_W,
                    HELLO_DATA_OFFSET,
                    HELLO_BASE + HELLO_DATA_OFFSET,
                    0x40,
                    0x3000
                ),
                Phdr {
                    p_type: PT_GNU_STACK,
                    flags: PF_R | PF_W,
                    offset: 0,
                    vaddr: 0,
                    file_size: 0,
                    mem_size: 0,
                    align: 16,
                },
            ],
            len: 0x2040,
            fill: 0xcc,
        }
    }

    /// The file's bytes.
    pub fn build(&self) -> Vec<u8> {
        let phnum = self.phnum.unwrap_or(self.phdrs.len() as u16);
        let table_end = (self.phoff as usize).saturating_add(self.phdrs.len() * PHDR_LEN);
        let mut out = alloc::vec![self.fill; self.len.max(EHDR_LEN).max(table_end)];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = self.class;
        out[5] = self.data;
        out[6] = self.ident_version;
        out[7..16].fill(0);
        put(&mut out, 16, &self.e_type.to_le_bytes());
        put(&mut out, 18, &self.machine.to_le_bytes());
        put(&mut out, 20, &self.version.to_le_bytes());
        put(&mut out, 24, &self.entry.to_le_bytes());
        put(&mut out, 32, &self.phoff.to_le_bytes());
        put(&mut out, 40, &0u64.to_le_bytes()); // e_shoff: no sections
        put(&mut out, 48, &0u32.to_le_bytes()); // e_flags
        put(&mut out, 52, &self.ehsize.to_le_bytes());
        put(&mut out, 54, &self.phentsize.to_le_bytes());
        put(&mut out, 56, &phnum.to_le_bytes());
        put(&mut out, 58, &64u16.to_le_bytes()); // e_shentsize
        put(&mut out, 60, &0u16.to_le_bytes()); // e_shnum
        put(&mut out, 62, &0u16.to_le_bytes()); // e_shstrndx
        for (i, ph) in self.phdrs.iter().enumerate() {
            let at = self.phoff as usize + i * PHDR_LEN;
            put(&mut out, at, &ph.p_type.to_le_bytes());
            put(&mut out, at + 4, &ph.flags.to_le_bytes());
            put(&mut out, at + 8, &ph.offset.to_le_bytes());
            put(&mut out, at + 16, &ph.vaddr.to_le_bytes());
            put(&mut out, at + 24, &ph.vaddr.to_le_bytes()); // p_paddr
            put(&mut out, at + 32, &ph.file_size.to_le_bytes());
            put(&mut out, at + 40, &ph.mem_size.to_le_bytes());
            put(&mut out, at + 48, &ph.align.to_le_bytes());
        }
        out.truncate(self.len.max(EHDR_LEN).max(table_end));
        out
    }
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    out[at..at + bytes.len()].copy_from_slice(bytes);
}

/// A cpio "newc" archive under construction.
#[derive(Clone, Debug, Default)]
pub struct NewcBuilder {
    out: Vec<u8>,
    ino: u32,
}

/// `st_mode` of a regular file (0755) and of a directory (0755).
pub const MODE_FILE: u32 = 0o100_755;
pub const MODE_DIR: u32 = 0o040_755;

impl NewcBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append an entry; `name` without its NUL.
    pub fn entry(mut self, name: &str, mode: u32, data: &[u8]) -> Self {
        self.ino += 1;
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        self.out.extend_from_slice(b"070701");
        for field in fields {
            self.out
                .extend_from_slice(alloc::format!("{field:08X}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
        self
    }

    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(name, MODE_FILE, data)
    }

    pub fn dir(self, name: &str) -> Self {
        self.entry(name, MODE_DIR, &[])
    }

    /// The archive without a trailer (for tests that need one missing).
    pub fn unterminated(self) -> Vec<u8> {
        self.out
    }

    /// The archive with its trailer, padded to 512 bytes as `cpio` does.
    pub fn finish(self) -> Vec<u8> {
        let mut out = self.entry("TRAILER!!!", 0, &[]).out;
        out.resize(out.len().next_multiple_of(512), 0);
        out
    }

    fn pad(&mut self) {
        let len = self.out.len().next_multiple_of(4);
        self.out.resize(len, 0);
    }
}
