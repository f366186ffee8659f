use super::*;

const RAM: u32 = 1;
const RESERVED: u32 = 2;
const MIB: u64 = 1 << 20;

/// Physical memory `0..bytes.len()`; everything above is unreadable.
struct FakeMemory(Vec<u8>);

impl PhysMemory for FakeMemory {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> bool {
        let Ok(start) = usize::try_from(paddr) else {
            return false;
        };
        match start
            .checked_add(buf.len())
            .and_then(|end| self.0.get(start..end))
        {
            Some(src) => {
                buf.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

const TABLE: u64 = 0x2000;

/// A table of `entries` at `TABLE`, written field by field from the
/// header's layout (paddr, size, cmdline_paddr, reserved).
fn memory_with(entries: &[(u64, u64, u64)]) -> FakeMemory {
    let mut bytes = vec![0u8; 0x3000];
    for (i, &(paddr, size, cmdline)) in entries.iter().enumerate() {
        let at = TABLE as usize + 32 * i;
        bytes[at..at + 8].copy_from_slice(&paddr.to_le_bytes());
        bytes[at + 8..at + 16].copy_from_slice(&size.to_le_bytes());
        bytes[at + 16..at + 24].copy_from_slice(&cmdline.to_le_bytes());
        bytes[at + 24..at + 32].copy_from_slice(&0xdead_beef_u64.to_le_bytes());
    }
    FakeMemory(bytes)
}

#[test]
fn reads_the_module_table() {
    let mem = memory_with(&[(0x80_0000, 123_456, 0x2800), (0x90_0000, 1, 0)]);
    let list = read_modlist(&mem, TABLE, 2).unwrap();
    assert_eq!(
        list.modules(),
        [
            BootModule {
                paddr: 0x80_0000,
                size: 123_456,
                cmdline_paddr: 0x2800
            },
            BootModule {
                paddr: 0x90_0000,
                size: 1,
                cmdline_paddr: 0
            }
        ]
    );
    assert_eq!(list.table, TABLE..TABLE + 64);
    assert_eq!(list.ramdisk().map(|m| m.size), Some(123_456));
}

#[test]
fn no_modules_is_an_empty_list_whatever_the_address() {
    let mem = memory_with(&[]);
    assert_eq!(read_modlist(&mem, 0, 0).unwrap().modules(), []);
    assert_eq!(read_modlist(&mem, 0x3, 0).unwrap().ramdisk(), None);
}

#[test]
fn table_errors_are_named() {
    let mem = memory_with(&[(0x80_0000, 1, 0)]);
    assert_eq!(
        read_modlist(&mem, 0, 1),
        Err(ModuleError::NoTable { count: 1 })
    );
    assert_eq!(
        read_modlist(&mem, TABLE, 9),
        Err(ModuleError::TooManyModules { count: 9 })
    );
    assert_eq!(
        read_modlist(&mem, TABLE, u32::MAX),
        Err(ModuleError::TooManyModules { count: u32::MAX })
    );
    assert_eq!(
        read_modlist(&mem, TABLE + 4, 1),
        Err(ModuleError::TableMisaligned { paddr: TABLE + 4 })
    );
    // Entry 1 runs past readable memory (which ends at 0x3000).
    assert_eq!(
        read_modlist(&mem, 0x3000 - 40, 2),
        Err(ModuleError::TableUnreadable {
            paddr: 0x3000 - 40,
            index: 1
        })
    );
    assert_eq!(
        read_modlist(&mem, u64::MAX - 7, 1),
        Err(ModuleError::TableUnreadable {
            paddr: u64::MAX - 7,
            index: 0
        })
    );
    let err = read_modlist(&mem, TABLE, 9).unwrap_err();
    assert_eq!(err.to_string(), "nr_modules is 9, at most 8 are read");
}

/// Low RAM, a reserved hole, RAM from 1 MiB to 64 MiB split into two
/// adjacent entries, and RAM above 4 GiB.
fn map() -> MemoryMap {
    MemoryMap::from_entries([
        (0, 0x9_fc00, RAM),
        (0x9_fc00, 0x400, RESERVED),
        (MIB, 31 * MIB, RAM),
        (32 * MIB, 32 * MIB, RAM),
        (0xfc00_0000, MIB, RESERVED),
        (4 << 30, 64 * MIB, RAM),
    ])
    .unwrap()
}

const IMAGE: Range<u64> = MIB..2 * MIB;

fn check(paddr: u64, size: u64) -> Result<Range<u64>, ModuleError> {
    let module = BootModule {
        paddr,
        size,
        cmdline_paddr: 0,
    };
    check_module(0, module, &map(), &[("the kernel image", IMAGE)])
}

#[test]
fn a_module_in_ram_is_kept_in_whole_pages() {
    assert_eq!(check(8 * MIB, 123_456), Ok(8 * MIB..8 * MIB + 0x1f000));
    assert_eq!(check(8 * MIB, 0x1000), Ok(8 * MIB..8 * MIB + 0x1000));
    // Across two adjacent RAM entries, and above 4 GiB.
    assert_eq!(check(31 * MIB, 2 * MIB), Ok(31 * MIB..33 * MIB));
    assert_eq!(check(4 << 30, MIB), Ok((4 << 30)..(4 << 30) + MIB));
}

#[test]
fn module_errors_are_named() {
    assert_eq!(check(8 * MIB, 0), Err(ModuleError::Empty { index: 0 }));
    assert_eq!(check(0, 10), Err(ModuleError::NullAddress { index: 0 }));
    assert_eq!(
        check(8 * MIB + 4, 10),
        Err(ModuleError::Misaligned {
            index: 0,
            paddr: 8 * MIB + 4
        })
    );
    for (paddr, size) in [(!0xfff, 0x1000), (0x1000, u64::MAX)] {
        assert_eq!(
            check(paddr, size),
            Err(ModuleError::Overflows {
                index: 0,
                paddr,
                size
            })
        );
    }
    // Past the end of RAM, into the hole, into reserved memory, and a
    // module whose last partial page is not RAM.
    for (paddr, size) in [
        (63 * MIB, 2 * MIB),
        (128 * MIB, 0x1000),
        (0xfc00_0000, 0x1000),
        (0x9_f000, 0x10),
        ((4 << 30) + 64 * MIB - 0x1000, 0x1001),
    ] {
        assert_eq!(
            check(paddr, size),
            Err(ModuleError::NotInRam {
                index: 0,
                paddr,
                size
            }),
            "{paddr:#x}"
        );
    }
    let err = check(MIB + 0x8000, 0x100).unwrap_err();
    assert_eq!(
        err,
        ModuleError::Overlaps {
            index: 0,
            paddr: MIB + 0x8000,
            size: 0x100,
            what: "the kernel image"
        }
    );
    assert_eq!(
        err.to_string(),
        "module 0 at 0x108000 (256 bytes) overlaps the kernel image"
    );
    // Starting just where the image ends is fine; a page earlier is not.
    assert!(check(2 * MIB, 0x1000).is_ok());
    assert!(check(2 * MIB - 0x1000, 0x1000).is_err());
}
