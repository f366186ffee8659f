//! Boot information: the start info the kernel booted with, and the parser
//! fed with good and malformed start infos built in memory.

use crate::boot::CmdLine;
use crate::boot::pvh;
use crate::harness::{Test, TestError, TestResult};
use crate::mem::PhysMemory;
use crate::mem::RegionKind;
use crate::{check, check_eq};
use alloc::vec::Vec;

pub const TESTS: &[Test] = &[
    Test {
        name: "boot_info_sane",
        run: boot_info_sane,
    },
    Test {
        name: "boot_cmdline_parsing",
        run: cmdline_parsing,
    },
    Test {
        name: "boot_start_info_good",
        run: start_info_good,
    },
    Test {
        name: "boot_start_info_bad_magic",
        run: start_info_bad_magic,
    },
    Test {
        name: "boot_start_info_malformed_map",
        run: start_info_malformed_map,
    },
    Test {
        name: "boot_start_info_unterminated_cmdline",
        run: start_info_unterminated_cmdline,
    },
    Test {
        name: "boot_ramdisk_kept_and_readable",
        run: ramdisk_kept_and_readable,
    },
];

/// The ramdisk (if the loader passed one) is identity-mapped read/write
/// NX, none of its frames is free in the allocator, and it is the cpio
/// archive the ABI promises.
fn ramdisk_kept_and_readable() -> TestResult {
    let Some(bytes) = crate::boot::ramdisk() else {
        crate::skip!("no ramdisk: the loader passed no boot module");
    };
    let start = bytes.as_ptr() as u64;
    let end = start + bytes.len() as u64;
    let mut page = start;
    while page < end {
        let mapped = crate::mem::translate(page);
        check!(
            mapped.is_some_and(|(phys, _)| phys == page),
            "ramdisk page {page:#x} is not identity-mapped: {mapped:?}"
        );
        check!(
            !crate::mem::frame_is_free(page),
            "ramdisk frame {page:#x} is free in the frame allocator"
        );
        page += crate::mem::PAGE_SIZE;
    }
    let archive = crate::proc::archive::Archive::parse(bytes)
        .map_err(|e| TestError::Fail(alloc::format!("ramdisk: {e}")))?;
    crate::kprintln!(
        "# ramdisk: {} bytes at {start:#x}, {} files",
        bytes.len(),
        archive.len()
    );
    Ok(())
}

fn boot_info_sane() -> TestResult {
    let info = crate::platform().boot_info();
    let Some(map) = &info.memory_map else {
        return Err(TestError::Fail("no memory map".into()));
    };
    check!(
        // The image itself sits at 1 MiB (virtus-pv) or 4 MiB (virtus-native),
        // and needs room above it: any map that booted us has 2 MiB or more.
        map.total_usable() >= 2 << 20,
        "only {} bytes usable",
        map.total_usable()
    );
    let regions = map.regions();
    check!(
        regions.windows(2).all(|w| w[0].end <= w[1].start),
        "regions overlap or are unsorted"
    );
    // The kernel image must lie in RAM the firmware reported.
    let img = crate::mem::layout::image();
    check!(
        regions
            .iter()
            .any(|r| r.kind == RegionKind::Usable && r.start <= img.start && r.end >= img.end),
        "image {:#x}..{:#x} is not inside usable RAM",
        img.start,
        img.end
    );
    // No check of the command line's length here: `CmdLine` refuses a
    // longer one, so the booted one cannot be, and that refusal is tested
    // against an over-long input in `boot_cmdline_parsing`.
    Ok(())
}

fn cmdline_parsing() -> TestResult {
    let c = CmdLine::new("loglevel=debug test=mem_ quiet loglevel=warn")
        .map_err(|e| TestError::Fail(alloc::format!("{e:?}")))?;
    check_eq!(c.get("loglevel"), Some("warn"));
    check_eq!(c.get("test"), Some("mem_"));
    check!(c.flag("quiet"));
    check_eq!(c.get("missing"), None);
    let long = "x".repeat(CmdLine::MAX + 1);
    check!(
        CmdLine::new(&long).is_err(),
        "an over-long command line was accepted"
    );
    Ok(())
}

/// A fake physical memory: one buffer at a base address.
struct FakeMemory {
    base: u64,
    bytes: Vec<u8>,
}

impl PhysMemory for FakeMemory {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> bool {
        let Some(off) = paddr.checked_sub(self.base) else {
            return false;
        };
        let Some(end) = (off as usize).checked_add(buf.len()) else {
            return false;
        };
        match self.bytes.get(off as usize..end) {
            Some(src) => {
                buf.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

const BASE: u64 = 0x10_0000;

/// Build a start info at BASE with its cmdline at +0x100 and memory map at
/// +0x200.
fn build(magic: u32, cmdline: &[u8], entries: &[(u64, u64, u32)]) -> FakeMemory {
    let mut b = alloc::vec![0u8; 0x1000];
    b[0..4].copy_from_slice(&magic.to_le_bytes());
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    b[24..32].copy_from_slice(&(BASE + 0x100).to_le_bytes());
    b[0x100..0x100 + cmdline.len()].copy_from_slice(cmdline);
    b[40..48].copy_from_slice(&(BASE + 0x200).to_le_bytes());
    b[48..52].copy_from_slice(&(entries.len() as u32).to_le_bytes());
    for (i, &(addr, size, kind)) in entries.iter().enumerate() {
        let o = 0x200 + i * 24;
        b[o..o + 8].copy_from_slice(&addr.to_le_bytes());
        b[o + 8..o + 16].copy_from_slice(&size.to_le_bytes());
        b[o + 16..o + 20].copy_from_slice(&kind.to_le_bytes());
    }
    FakeMemory {
        base: BASE,
        bytes: b,
    }
}

const MAGIC: u32 = 0x336e_c578;

fn start_info_good() -> TestResult {
    let mem = build(
        MAGIC,
        b"test=all\0",
        &[
            (0x10_0000, 0x700_0000, 1),
            (0, 0x9_f000, 1),
            (0xfec0_0000, 0x1000, 2),
        ],
    );
    let info =
        pvh::parse_start_info(&mem, BASE).map_err(|e| TestError::Fail(alloc::format!("{e}")))?;
    check_eq!(info.cmdline.get("test"), Some("all"));
    let map = info
        .memory_map
        .ok_or_else(|| TestError::Fail("no map".into()))?;
    check_eq!(map.regions().len(), 3);
    check_eq!(map.regions()[0].start, 0);
    check_eq!(map.total_usable(), 0x9_f000 + 0x700_0000);
    Ok(())
}

fn start_info_bad_magic() -> TestResult {
    let mem = build(0x1234_5678, b"\0", &[(0, 0x100_0000, 1)]);
    let err = pvh::parse_start_info(&mem, BASE);
    check!(err.is_err(), "bad magic accepted");
    let msg = err.err().map(|e| alloc::format!("{e}")).unwrap_or_default();
    check!(
        msg.contains("magic"),
        "error does not name the magic: {msg}"
    );
    Ok(())
}

fn start_info_malformed_map() -> TestResult {
    // An entry whose end overflows the address space.
    let mem = build(
        MAGIC,
        b"\0",
        &[(0x10_0000, 0x100_0000, 1), (u64::MAX - 0xfff, 0x2000, 1)],
    );
    check!(
        pvh::parse_start_info(&mem, BASE).is_err(),
        "overflowing entry accepted"
    );
    // Overlapping RAM and reserved: reserved wins, nothing overlaps.
    let mem = build(
        MAGIC,
        b"\0",
        &[(0, 0x800_0000, 1), (0x400_0000, 0x10_0000, 2)],
    );
    let info =
        pvh::parse_start_info(&mem, BASE).map_err(|e| TestError::Fail(alloc::format!("{e}")))?;
    let map = info
        .memory_map
        .ok_or_else(|| TestError::Fail("no map".into()))?;
    check!(map.regions().windows(2).all(|w| w[0].end <= w[1].start));
    check_eq!(map.total_usable(), 0x800_0000 - 0x10_0000);
    // A table that lies outside readable memory.
    let mut mem = build(MAGIC, b"\0", &[(0, 0x100_0000, 1)]);
    mem.bytes[48..52].copy_from_slice(&1000u32.to_le_bytes());
    check!(
        pvh::parse_start_info(&mem, BASE).is_err(),
        "oversized entry count accepted"
    );
    Ok(())
}

fn start_info_unterminated_cmdline() -> TestResult {
    let mut mem = build(MAGIC, b"", &[(0, 0x100_0000, 1)]);
    for b in &mut mem.bytes[0x100..] {
        *b = b'a';
    }
    check!(
        pvh::parse_start_info(&mem, BASE).is_err(),
        "unterminated command line accepted"
    );
    Ok(())
}
