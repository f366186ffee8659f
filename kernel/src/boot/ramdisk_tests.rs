use super::*;
use crate::boot::CmdLine;
use crate::boot::modules::{BootModule, ModuleList};
use crate::mem::PhysMemory;

const MIB: u64 = 1 << 20;
const START_INFO: u64 = 0x7000;
const TABLE: u64 = 0x2000;

/// A fake loader's memory holding a module table.
struct Table(Vec<u8>);

impl PhysMemory for Table {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> bool {
        let Some(at) = paddr.checked_sub(TABLE).map(|a| a as usize) else {
            return false;
        };
        match self.0.get(at..at + buf.len()) {
            Some(src) => {
                buf.copy_from_slice(src);
                true
            }
            None => false,
        }
    }
}

fn list(modules: &[(u64, u64)]) -> Result<ModuleList, ModuleError> {
    let mut table = Vec::new();
    for &(paddr, size) in modules {
        for field in [paddr, size, 0, 0] {
            table.extend_from_slice(&field.to_le_bytes());
        }
    }
    modules::read_modlist(&Table(table), TABLE, modules.len() as u32)
}

fn info(modules: Result<ModuleList, ModuleError>) -> BootInfo {
    BootInfo {
        start_info_paddr: START_INFO,
        version: 1,
        flags: 0,
        cmdline: CmdLine::default(),
        memory_map: None,
        rsdp_paddr: 0,
        nr_modules: 1,
        modules,
    }
}

fn map() -> MemoryMap {
    MemoryMap::from_entries([(0, 0x9_f000, 1), (MIB, 63 * MIB, 1)]).unwrap()
}

const IMAGE: Range<u64> = MIB..3 * MIB;

#[test]
fn the_first_module_is_the_ramdisk() {
    let info = info(list(&[(16 * MIB, 5000), (20 * MIB, 1)]));
    assert_eq!(
        select(&info, &map(), IMAGE),
        Ok(Some(Ramdisk {
            paddr: 16 * MIB,
            size: 5000,
            frames: 16 * MIB..16 * MIB + 0x2000
        }))
    );
}

#[test]
fn no_module_no_ramdisk() {
    assert_eq!(select(&info(list(&[])), &map(), IMAGE), Ok(None));
}

#[test]
fn a_bad_table_or_module_is_an_error_not_a_ramdisk() {
    let bad = info(Err(ModuleError::NoTable { count: 1 }));
    assert_eq!(
        select(&bad, &map(), IMAGE),
        Err(ModuleError::NoTable { count: 1 })
    );
    let in_image = info(list(&[(2 * MIB, 10)]));
    assert!(matches!(
        select(&in_image, &map(), IMAGE),
        Err(ModuleError::Overlaps {
            what: "the kernel image",
            ..
        })
    ));
}

#[test]
fn the_module_may_not_cover_the_start_info_or_its_own_table() {
    let over_start_info = info(list(&[(START_INFO & !0xfff, 0x1000)]));
    assert!(matches!(
        select(&over_start_info, &map(), IMAGE),
        Err(ModuleError::Overlaps {
            what: "hvm_start_info",
            ..
        })
    ));
    let over_table = info(list(&[(TABLE, 0x100)]));
    assert!(matches!(
        select(&over_table, &map(), IMAGE),
        Err(ModuleError::Overlaps {
            what: "the module table",
            ..
        })
    ));
    // Sanity: the helper builds what the table says.
    assert_eq!(
        list(&[(TABLE, 0x100)]).unwrap().ramdisk(),
        Some(BootModule {
            paddr: TABLE,
            size: 0x100,
            cmdline_paddr: 0
        })
    );
}
