//! Xen's PVH start of day: the `struct hvm_start_info` a PVH loader (Xen,
//! QEMU, Firecracker, cloud-hypervisor) leaves in memory and points %ebx at,
//! as laid out in xen/include/public/arch-x86/hvm/start_info.h.
//!
//! Everything in it is untrusted: addresses may be 0 ("not present", per
//! the header), point at memory we cannot read, or describe tables of
//! absurd size. [`parse_start_info`] checks each field before using it and
//! copies what the kernel keeps, so the loader's memory can be reused.

use crate::mem::PhysMemory;
use core::cell::Cell;
use core::fmt;

use super::cmdline::CmdLine;
use super::modules::{self, ModuleError, ModuleList};
use crate::mem::PAGE_SIZE;
use crate::mem::memmap::{MemoryMap, MemoryMapError};

/// `hvm_start_info.magic`: "xEn3" with the 0x80 bit of the "E" set.
pub const XEN_HVM_START_MAGIC_VALUE: u32 = 0x336e_c578;

/// Byte offsets of the `hvm_start_info` fields, from the header's diagram.
mod start_info {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 4;
    pub const FLAGS: usize = 8;
    pub const NR_MODULES: usize = 12;
    pub const MODLIST_PADDR: usize = 16;
    pub const CMDLINE_PADDR: usize = 24;
    pub const RSDP_PADDR: usize = 32;
    /// Version 0 ends here.
    pub const SIZE_V0: usize = 40;
    pub const MEMMAP_PADDR: usize = 40;
    pub const MEMMAP_ENTRIES: usize = 48;
    pub const RESERVED: usize = 52;
    /// Version 1 adds the memory map (and 4 bytes of padding).
    pub const SIZE_V1: usize = 56;
}

/// Byte offsets of `hvm_memmap_table_entry`.
mod memmap_entry {
    pub const ADDR: usize = 0;
    pub const SIZE: usize = 8;
    pub const TYPE: usize = 16;
    /// Then a `uint32_t reserved`, ignored: only "must be zero" for version
    /// 1, and a future loader may give it a meaning we can safely skip.
    pub const SIZE_OF: usize = 24;
}

const _: () = assert!(start_info::RESERVED + 4 == start_info::SIZE_V1);
const _: () = assert!(start_info::RSDP_PADDR + 8 == start_info::SIZE_V0);
const _: () = assert!(memmap_entry::TYPE + 8 == memmap_entry::SIZE_OF);

/// What the kernel keeps of the start info.
#[derive(Clone, Debug)]
pub struct BootInfo {
    /// Where the loader put `hvm_start_info`, so it can be reserved.
    pub start_info_paddr: u64,
    /// Version as given; newer than 1 was read as 1.
    pub version: u32,
    /// `SIF_*` flags.
    pub flags: u32,
    pub cmdline: CmdLine,
    /// `None` when the structure is version 0 or carries no map: a backend
    /// may then ask the hypervisor (`XENMEM_memory_map`) instead.
    pub memory_map: Option<MemoryMap>,
    /// Physical address of the ACPI RSDP, 0 if absent.
    pub rsdp_paddr: u64,
    pub nr_modules: u32,
    /// The module table as read; an error here is not fatal (the kernel
    /// boots without a ramdisk and says why).
    pub modules: Result<ModuleList, ModuleError>,
}

/// Size of the structure as read for `version`, for keeping boot modules
/// off it.
pub fn start_info_size(version: u32) -> u64 {
    if version == 0 {
        start_info::SIZE_V0 as u64
    } else {
        start_info::SIZE_V1 as u64
    }
}

/// Why the start info was rejected; each variant names the field and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartInfoError {
    /// %ebx was 0: the kernel was not entered through PVH.
    NullAddress,
    /// The structure address is not 8-byte aligned.
    Misaligned(u64),
    /// `len` bytes at `paddr` could not be read.
    Unreadable { paddr: u64, len: usize },
    /// `magic` holds this instead of [`XEN_HVM_START_MAGIC_VALUE`].
    BadMagic(u32),
    /// The command line at `paddr` could not be read at `at`, before a NUL.
    CmdlineUnreadable { paddr: u64, at: u64 },
    /// No NUL within [`CmdLine::MAX`] bytes of the command line at `paddr`.
    CmdlineTooLong { paddr: u64 },
    /// The command line at `paddr` has a byte that is not UTF-8 at `offset`.
    CmdlineNotUtf8 { paddr: u64, offset: usize },
    /// `memmap_entries` is above [`MemoryMap::CAPACITY`].
    TooManyMemmapEntries { count: u32 },
    /// Entry `index` of the memory map table at `paddr` is not readable.
    MemmapUnreadable { paddr: u64, index: usize },
    /// The memory map's entries are malformed.
    MemoryMap(MemoryMapError),
}

impl fmt::Display for StartInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NullAddress => {
                f.write_str("hvm_start_info address is 0 (not entered through PVH?)")
            }
            Self::Misaligned(paddr) => {
                write!(f, "hvm_start_info at {paddr:#x} is not 8-byte aligned")
            }
            Self::Unreadable { paddr, len } => {
                write!(
                    f,
                    "hvm_start_info at {paddr:#x} ({len} bytes) is not readable"
                )
            }
            Self::BadMagic(magic) => write!(
                f,
                "hvm_start_info magic is {magic:#010x}, expected {XEN_HVM_START_MAGIC_VALUE:#010x}"
            ),
            Self::CmdlineUnreadable { paddr, at } => write!(
                f,
                "command line at {paddr:#x} (cmdline_paddr) is not readable at {at:#x}"
            ),
            Self::CmdlineTooLong { paddr } => write!(
                f,
                "command line at {paddr:#x} is longer than {} bytes or not NUL-terminated",
                CmdLine::MAX
            ),
            Self::CmdlineNotUtf8 { paddr, offset } => write!(
                f,
                "command line at {paddr:#x} is not valid UTF-8 (bad byte at offset {offset})"
            ),
            Self::TooManyMemmapEntries { count } => write!(
                f,
                "memmap_entries is {count}, at most {} are supported",
                MemoryMap::CAPACITY
            ),
            Self::MemmapUnreadable { paddr, index } => write!(
                f,
                "memory map table at {paddr:#x} (memmap_paddr): entry {index} is not readable"
            ),
            Self::MemoryMap(e) => write!(f, "hvm_start_info memory map: {e}"),
        }
    }
}

/// Parses and checks the `hvm_start_info` at physical address `paddr`.
pub fn parse_start_info(mem: &dyn PhysMemory, paddr: u64) -> Result<BootInfo, StartInfoError> {
    if paddr == 0 {
        return Err(StartInfoError::NullAddress);
    }
    if !paddr.is_multiple_of(8) {
        return Err(StartInfoError::Misaligned(paddr));
    }

    // Magic and version first: a version 0 structure is only 40 bytes, and
    // the 16 after it may not be readable at all.
    let mut raw = [0u8; start_info::SIZE_V1];
    read_exact(mem, paddr, &mut raw[..start_info::VERSION + 4])?;
    let magic = le_u32(&raw, start_info::MAGIC);
    if magic != XEN_HVM_START_MAGIC_VALUE {
        return Err(StartInfoError::BadMagic(magic));
    }
    let version = le_u32(&raw, start_info::VERSION);
    if version > 1 {
        // The header promises new versions are backwards-compatible: fields
        // are only ever added at the end, so a newer structure starts with
        // a valid version 1 one.
        log::warn!("hvm_start_info version {version} is newer than 1; reading it as version 1");
    }
    let size = if version == 0 {
        start_info::SIZE_V0
    } else {
        start_info::SIZE_V1
    };
    read_exact(mem, paddr, &mut raw[..size])?;

    // Filled in place rather than assembled from returned parts: at -O0
    // each move of the 3 KiB memory map is another copy on the boot stack.
    let mut info = BootInfo {
        start_info_paddr: paddr,
        version,
        flags: le_u32(&raw, start_info::FLAGS),
        cmdline: CmdLine::default(),
        memory_map: None,
        rsdp_paddr: le_u64(&raw, start_info::RSDP_PADDR),
        nr_modules: le_u32(&raw, start_info::NR_MODULES),
        modules: Ok(ModuleList::default()),
    };
    info.modules = modules::read_modlist(
        mem,
        le_u64(&raw, start_info::MODLIST_PADDR),
        info.nr_modules,
    );
    info.cmdline = read_cmdline(mem, le_u64(&raw, start_info::CMDLINE_PADDR))?;
    if version >= 1 {
        read_memory_map(
            mem,
            le_u64(&raw, start_info::MEMMAP_PADDR),
            le_u32(&raw, start_info::MEMMAP_ENTRIES),
            &mut info.memory_map,
        )?;
    }
    Ok(info)
}

fn read_exact(mem: &dyn PhysMemory, paddr: u64, buf: &mut [u8]) -> Result<(), StartInfoError> {
    if mem.read(paddr, buf) {
        Ok(())
    } else {
        Err(StartInfoError::Unreadable {
            paddr,
            len: buf.len(),
        })
    }
}

/// Copies the NUL-terminated command line at `paddr` (0: none).
fn read_cmdline(mem: &dyn PhysMemory, paddr: u64) -> Result<CmdLine, StartInfoError> {
    if paddr == 0 {
        return Ok(CmdLine::default());
    }
    // Room for a full-length line and its NUL.
    let mut buf = [0u8; CmdLine::MAX + 1];
    let mut len = 0;
    while len < buf.len() {
        // Page by page: a short line may sit just below memory that is not
        // readable, where one read of the maximum length would fail.
        let at = paddr
            .checked_add(len as u64)
            .ok_or(StartInfoError::CmdlineUnreadable {
                paddr,
                at: u64::MAX,
            })?;
        let to_page_end = (PAGE_SIZE - at % PAGE_SIZE) as usize;
        let chunk = &mut buf[len..(len + to_page_end).min(CmdLine::MAX + 1)];
        if !mem.read(at, chunk) {
            return Err(StartInfoError::CmdlineUnreadable { paddr, at });
        }
        if let Some(nul) = chunk.iter().position(|&b| b == 0) {
            let text = &buf[..len + nul];
            let text = core::str::from_utf8(text).map_err(|e| StartInfoError::CmdlineNotUtf8 {
                paddr,
                offset: e.valid_up_to(),
            })?;
            // Cannot fail: `text` is at most MAX bytes by the size of `buf`.
            return CmdLine::new(text).map_err(|_| StartInfoError::CmdlineTooLong { paddr });
        }
        len += chunk.len();
    }
    Err(StartInfoError::CmdlineTooLong { paddr })
}

/// Reads the `hvm_memmap_table_entry` array into `out`, which stays `None`
/// if there is no table.
fn read_memory_map(
    mem: &dyn PhysMemory,
    paddr: u64,
    entries: u32,
    out: &mut Option<MemoryMap>,
) -> Result<(), StartInfoError> {
    if entries == 0 {
        return Ok(());
    }
    if paddr == 0 {
        // The header: "a 0 value in any of the address fields should be
        // treated as not present". The count is then meaningless.
        log::warn!("hvm_start_info: memmap_entries is {entries} but memmap_paddr is 0; no map");
        return Ok(());
    }
    if entries as usize > MemoryMap::CAPACITY {
        return Err(StartInfoError::TooManyMemmapEntries { count: entries });
    }

    // Entries are streamed into the map one by one rather than copied as a
    // table first, to keep a few KiB off the boot stack. A read failure
    // ends the stream and is reported afterwards.
    let unreadable = Cell::new(None);
    let stream = (0..entries as usize).map_while(|index| {
        let mut raw = [0u8; memmap_entry::SIZE_OF];
        let at = (index * memmap_entry::SIZE_OF) as u64;
        if !paddr
            .checked_add(at)
            .is_some_and(|entry| mem.read(entry, &mut raw))
        {
            unreadable.set(Some(index));
            return None;
        }
        Some((
            le_u64(&raw, memmap_entry::ADDR),
            le_u64(&raw, memmap_entry::SIZE),
            le_u32(&raw, memmap_entry::TYPE),
        ))
    });
    let result = out.insert(MemoryMap::new()).load_entries(stream);
    let error = match (unreadable.get(), result) {
        (Some(index), _) => StartInfoError::MemmapUnreadable { paddr, index },
        (None, Err(e)) => StartInfoError::MemoryMap(e),
        (None, Ok(())) => return Ok(()),
    };
    *out = None;
    Err(error)
}

/// Little-endian field of `N` bytes at `offset`, as the header specifies;
/// offsets are the constants above, always inside `raw`.
fn field<const N: usize>(raw: &[u8], offset: usize) -> [u8; N] {
    raw.get(offset..offset + N)
        .and_then(|bytes| bytes.try_into().ok())
        .unwrap_or([0; N])
}

fn le_u32(raw: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(field(raw, offset))
}

fn le_u64(raw: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(field(raw, offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::RegionKind;

    const RAM: u32 = 1;
    const RESERVED: u32 = 2;
    const GIB: u64 = 1 << 30;

    /// Where the fake loader puts things, all inside `FakeMemory`.
    const START_INFO: u64 = 0x1000;
    const CMDLINE: u64 = 0x2000;
    const MEMMAP: u64 = 0x3000;

    /// Physical memory `0..bytes.len()`; everything above is unreadable.
    struct FakeMemory {
        bytes: Vec<u8>,
    }

    impl PhysMemory for FakeMemory {
        fn read(&self, paddr: u64, buf: &mut [u8]) -> bool {
            let Ok(start) = usize::try_from(paddr) else {
                return false;
            };
            match start
                .checked_add(buf.len())
                .and_then(|end| self.bytes.get(start..end))
            {
                Some(src) => {
                    buf.copy_from_slice(src);
                    true
                }
                None => false,
            }
        }
    }

    impl FakeMemory {
        fn new(size: usize) -> Self {
            Self {
                bytes: vec![0; size],
            }
        }

        fn put(&mut self, paddr: u64, data: &[u8]) {
            let at = paddr as usize;
            self.bytes[at..at + data.len()].copy_from_slice(data);
        }

        fn put_u32(&mut self, paddr: u64, value: u32) {
            self.put(paddr, &value.to_le_bytes());
        }

        fn put_u64(&mut self, paddr: u64, value: u64) {
            self.put(paddr, &value.to_le_bytes());
        }

        /// A version 1 start info at `START_INFO` with `cmdline` at
        /// `CMDLINE` and `entries` at `MEMMAP`.
        fn with_start_info(cmdline: &str, entries: &[(u64, u64, u32)]) -> Self {
            let mut mem = Self::new(0x8000);
            mem.put_u32(START_INFO, XEN_HVM_START_MAGIC_VALUE);
            mem.put_u32(START_INFO + 4, 1);
            mem.put_u32(START_INFO + 8, 0x5);
            mem.put_u32(START_INFO + 12, 2);
            mem.put_u64(START_INFO + 24, CMDLINE);
            mem.put_u64(START_INFO + 32, 0xf_5a40);
            mem.put(CMDLINE, cmdline.as_bytes());
            mem.put_u64(START_INFO + 40, MEMMAP);
            mem.put_u32(START_INFO + 48, entries.len() as u32);
            for (i, &(addr, size, ty)) in entries.iter().enumerate() {
                let at = MEMMAP + 24 * i as u64;
                mem.put_u64(at, addr);
                mem.put_u64(at + 8, size);
                mem.put_u32(at + 16, ty);
                // Non-zero reserved field: ignored.
                mem.put_u32(at + 20, 0xdead);
            }
            mem
        }
    }

    fn qemu_map() -> Vec<(u64, u64, u32)> {
        vec![
            (0, 0x9fc00, RAM),
            (0x9fc00, 0x400, RESERVED),
            (0x100000, 0xbff0_0000, RAM),
            (4 * GIB, 4 * GIB, RAM),
        ]
    }

    fn parse(mem: &FakeMemory) -> Result<BootInfo, StartInfoError> {
        parse_start_info(mem, START_INFO)
    }

    #[test]
    fn parses_a_version_1_start_info() {
        let mem = FakeMemory::with_start_info("console=hvc0 test=all", &qemu_map());
        let info = parse(&mem).unwrap();
        assert_eq!(info.start_info_paddr, START_INFO);
        assert_eq!((info.version, info.flags, info.nr_modules), (1, 0x5, 2));
        assert_eq!(info.rsdp_paddr, 0xf_5a40);
        assert_eq!(info.cmdline.as_str(), "console=hvc0 test=all");
        assert_eq!(info.cmdline.get("test"), Some("all"));
        let map = info.memory_map.expect("version 1 with entries has a map");
        assert_eq!(map.regions().len(), 4);
        assert_eq!(map.highest_usable_end(), 8 * GIB);
        assert_eq!(map.regions()[3].kind, RegionKind::Usable);
    }

    #[test]
    fn rejects_null_and_misaligned_addresses() {
        let mem = FakeMemory::with_start_info("", &[]);
        assert_eq!(
            parse_start_info(&mem, 0).unwrap_err(),
            StartInfoError::NullAddress
        );
        let err = parse_start_info(&mem, START_INFO + 4).unwrap_err();
        assert_eq!(err, StartInfoError::Misaligned(START_INFO + 4));
        assert_eq!(
            err.to_string(),
            "hvm_start_info at 0x1004 is not 8-byte aligned"
        );
    }

    #[test]
    fn rejects_unreadable_start_info() {
        let mem = FakeMemory::new(0x1000);
        let err = parse_start_info(&mem, 0x10_0000).unwrap_err();
        assert_eq!(
            err,
            StartInfoError::Unreadable {
                paddr: 0x10_0000,
                len: 8
            }
        );
        assert!(parse_start_info(&mem, u64::MAX - 7).is_err());
        // Version 1 header cut off by the end of readable memory.
        let mut mem = FakeMemory::new(0x1030);
        mem.put_u32(0x1000, XEN_HVM_START_MAGIC_VALUE);
        mem.put_u32(0x1004, 1);
        assert_eq!(
            parse_start_info(&mem, 0x1000).unwrap_err(),
            StartInfoError::Unreadable {
                paddr: 0x1000,
                len: 56
            }
        );
    }

    #[test]
    fn rejects_bad_magic_showing_the_value() {
        let mut mem = FakeMemory::with_start_info("", &[]);
        mem.put_u32(START_INFO, 0x1bad_b002);
        let err = parse(&mem).unwrap_err();
        assert_eq!(err, StartInfoError::BadMagic(0x1bad_b002));
        assert_eq!(
            err.to_string(),
            "hvm_start_info magic is 0x1badb002, expected 0x336ec578"
        );
    }

    #[test]
    fn version_0_has_no_memory_map_and_reads_only_40_bytes() {
        // The structure sits in the last 40 readable bytes: reading 56
        // would fail.
        let mut mem = FakeMemory::new(0x1028);
        mem.put_u32(0x1000, XEN_HVM_START_MAGIC_VALUE);
        mem.put_u32(0x1004, 0);
        mem.put_u64(0x1000 + 32, 0xe0000);
        let info = parse_start_info(&mem, 0x1000).unwrap();
        assert_eq!(info.version, 0);
        assert!(info.memory_map.is_none());
        assert_eq!(info.cmdline.as_str(), "");
        assert_eq!(info.rsdp_paddr, 0xe0000);
    }

    #[test]
    fn version_1_without_entries_or_table_has_no_memory_map() {
        let mem = FakeMemory::with_start_info("quiet", &[]);
        assert!(parse(&mem).unwrap().memory_map.is_none());
        // Entries but a 0 address: "not present", per the header.
        let mut mem = FakeMemory::with_start_info("quiet", &qemu_map());
        mem.put_u64(START_INFO + 40, 0);
        assert!(parse(&mem).unwrap().memory_map.is_none());
    }

    #[test]
    fn newer_versions_are_read_as_version_1() {
        let mut mem = FakeMemory::with_start_info("", &qemu_map());
        mem.put_u32(START_INFO + 4, 7);
        let info = parse(&mem).unwrap();
        assert_eq!(info.version, 7);
        assert_eq!(info.memory_map.map(|m| m.regions().len()), Some(4));
    }

    #[test]
    fn absent_command_line_is_empty() {
        let mut mem = FakeMemory::with_start_info("ignored", &[]);
        mem.put_u64(START_INFO + 24, 0);
        assert_eq!(parse(&mem).unwrap().cmdline, CmdLine::default());
    }

    #[test]
    fn command_line_without_nul_is_an_error() {
        let mut mem = FakeMemory::with_start_info("", &[]);
        mem.put(CMDLINE, &[b'x'; CmdLine::MAX + 1]);
        let err = parse(&mem).unwrap_err();
        assert_eq!(err, StartInfoError::CmdlineTooLong { paddr: CMDLINE });
        assert_eq!(
            err.to_string(),
            "command line at 0x2000 is longer than 1024 bytes or not NUL-terminated"
        );
        // Exactly MAX bytes followed by NUL is accepted.
        mem.put(CMDLINE + CmdLine::MAX as u64, &[0]);
        assert_eq!(parse(&mem).unwrap().cmdline.as_str().len(), CmdLine::MAX);
    }

    #[test]
    fn command_line_running_into_unreadable_memory_is_an_error() {
        let mut mem = FakeMemory::with_start_info("", &[]);
        let at = mem.bytes.len() as u64 - 16;
        mem.put_u64(START_INFO + 24, at);
        mem.put(at, &[b'a'; 16]);
        let err = parse(&mem).unwrap_err();
        assert_eq!(
            err,
            StartInfoError::CmdlineUnreadable {
                paddr: at,
                at: at + 16
            }
        );
        // The same line, NUL-terminated just before the end, is fine: the
        // reader does not overshoot into the unreadable page.
        mem.put(at + 15, &[0]);
        assert_eq!(parse(&mem).unwrap().cmdline.as_str(), "a".repeat(15));
    }

    #[test]
    fn command_line_crossing_a_page_boundary_is_read_whole() {
        let mut mem = FakeMemory::with_start_info("", &[]);
        let at = 0x4ff0;
        mem.put_u64(START_INFO + 24, at);
        mem.put(at, b"console=hvc0 loglevel=debug\0");
        assert_eq!(parse(&mem).unwrap().cmdline.get("loglevel"), Some("debug"));
    }

    #[test]
    fn non_utf8_command_line_is_an_error() {
        let mut mem = FakeMemory::with_start_info("", &[]);
        mem.put(CMDLINE, b"ok \xff\xfe\0");
        let err = parse(&mem).unwrap_err();
        assert_eq!(
            err,
            StartInfoError::CmdlineNotUtf8 {
                paddr: CMDLINE,
                offset: 3
            }
        );
        assert!(err.to_string().contains("offset 3"));
    }

    #[test]
    fn too_many_memmap_entries_is_an_error_naming_the_count() {
        let mut mem = FakeMemory::with_start_info("", &qemu_map());
        mem.put_u32(START_INFO + 48, 129);
        let err = parse(&mem).unwrap_err();
        assert_eq!(err, StartInfoError::TooManyMemmapEntries { count: 129 });
        assert_eq!(
            err.to_string(),
            "memmap_entries is 129, at most 128 are supported"
        );
        mem.put_u32(START_INFO + 48, u32::MAX);
        assert_eq!(
            parse(&mem).unwrap_err(),
            StartInfoError::TooManyMemmapEntries { count: u32::MAX }
        );
    }

    #[test]
    fn unreadable_memmap_table_is_an_error() {
        let mut mem = FakeMemory::with_start_info("", &qemu_map());
        // Four entries from 24 bytes below the end: entry 1 is past it.
        let at = mem.bytes.len() as u64 - 24;
        mem.put_u64(START_INFO + 40, at);
        let err = parse(&mem).unwrap_err();
        assert_eq!(
            err,
            StartInfoError::MemmapUnreadable {
                paddr: at,
                index: 1
            }
        );
        assert!(err.to_string().contains("entry 1 is not readable"));
        mem.put_u64(START_INFO + 40, u64::MAX - 8);
        assert_eq!(
            parse(&mem).unwrap_err(),
            StartInfoError::MemmapUnreadable {
                paddr: u64::MAX - 8,
                index: 0
            }
        );
    }

    #[test]
    fn malformed_memmap_entries_are_reported() {
        let mem = FakeMemory::with_start_info("", &[(0, 0x1000, RAM), (u64::MAX, 2, RAM)]);
        let err = parse(&mem).unwrap_err();
        assert_eq!(
            err,
            StartInfoError::MemoryMap(MemoryMapError::EntryOverflows {
                index: 1,
                addr: u64::MAX,
                size: 2
            })
        );
        assert!(
            err.to_string()
                .starts_with("hvm_start_info memory map: memory map entry 1")
        );
    }

    #[test]
    fn overlapping_unsorted_memmap_is_cleaned_up() {
        let mem = FakeMemory::with_start_info(
            "",
            &[
                (4 * GIB, 60 * GIB, RAM),
                (0x100000, 0x100000, RAM),
                (0x180000, 0x1000, RESERVED),
                (0x100000, 0, RAM),
            ],
        );
        let map = parse(&mem).unwrap().memory_map.unwrap();
        assert_eq!(map.regions().len(), 4);
        assert_eq!(map.regions()[1].kind, RegionKind::Reserved);
        assert_eq!(map.highest_usable_end(), 64 * GIB);
    }
}
