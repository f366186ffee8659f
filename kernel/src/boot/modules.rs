//! Boot modules: the files a PVH loader places in memory next to the kernel
//! (QEMU's `-initrd`, xl's `ramdisk =`), listed by `hvm_start_info`'s
//! `modlist_paddr`/`nr_modules` as `struct hvm_modlist_entry` (Xen's
//! xen/include/public/arch-x86/hvm/start_info.h):
//!
//! ```text
//!  0  paddr          physical address of the module
//!  8  size           its size in bytes
//! 16  cmdline_paddr  its command line (0: none)
//! 24  reserved
//! 32
//! ```
//!
//! The list and each entry are untrusted. Reading the list
//! ([`read_modlist`]) happens while the start info is parsed; checking a
//! module against the memory map and what the kernel already occupies
//! ([`check_module`]) happens once the map is final. Either failing only
//! costs the module: the kernel boots without a ramdisk and says why.

use core::fmt;
use core::ops::Range;

use crate::mem::memmap::MemoryMap;
use crate::mem::{PAGE_SIZE, PhysMemory};

/// Size of `struct hvm_modlist_entry`.
pub const MODLIST_ENTRY_SIZE: u64 = 32;
/// Most modules read: the kernel uses the first (the ramdisk); a loader
/// passing more than a handful is confused or hostile.
pub const MAX_MODULES: usize = 8;

/// One module as the loader described it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootModule {
    pub paddr: u64,
    pub size: u64,
    /// Read as given; the kernel does not use module command lines.
    pub cmdline_paddr: u64,
}

/// The module list, copied out of the loader's memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleList {
    /// Where the table was, so [`check_module`] can keep modules off it.
    pub table: Range<u64>,
    entries: [BootModule; MAX_MODULES],
    len: usize,
}

impl ModuleList {
    pub fn modules(&self) -> &[BootModule] {
        &self.entries[..self.len]
    }

    /// The ramdisk: the first module, as both QEMU and xl pass it.
    pub fn ramdisk(&self) -> Option<BootModule> {
        self.modules().first().copied()
    }
}

/// Why the module list or a module was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleError {
    /// `nr_modules` is above [`MAX_MODULES`].
    TooManyModules { count: u32 },
    /// `nr_modules` is non-zero but `modlist_paddr` is 0 ("not present").
    NoTable { count: u32 },
    /// `modlist_paddr` is not 8-byte aligned.
    TableMisaligned { paddr: u64 },
    /// Entry `index` of the table at `paddr` cannot be read.
    TableUnreadable { paddr: u64, index: usize },
    /// Module `index` has size 0.
    Empty { index: usize },
    /// Module `index` is at address 0 ("not present", per the header).
    NullAddress { index: usize },
    /// Module `index` does not start on a page: both loaders page-align
    /// modules, and the kernel keeps whole frames for it.
    Misaligned { index: usize, paddr: u64 },
    /// `paddr + size` (rounded up to a page) overflows.
    Overflows { index: usize, paddr: u64, size: u64 },
    /// Some page of the module is not usable RAM in the memory map.
    NotInRam { index: usize, paddr: u64, size: u64 },
    /// The module overlaps `what` (the kernel image, the start info, the
    /// module table), which the kernel is using.
    Overlaps {
        index: usize,
        paddr: u64,
        size: u64,
        what: &'static str,
    },
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooManyModules { count } => {
                write!(f, "nr_modules is {count}, at most {MAX_MODULES} are read")
            }
            Self::NoTable { count } => {
                write!(f, "nr_modules is {count} but modlist_paddr is 0")
            }
            Self::TableMisaligned { paddr } => {
                write!(f, "modlist_paddr {paddr:#x} is not 8-byte aligned")
            }
            Self::TableUnreadable { paddr, index } => write!(
                f,
                "module table at {paddr:#x} (modlist_paddr): entry {index} is not readable"
            ),
            Self::Empty { index } => write!(f, "module {index} is empty"),
            Self::NullAddress { index } => write!(f, "module {index} is at address 0"),
            Self::Misaligned { index, paddr } => write!(
                f,
                "module {index} at {paddr:#x} does not start on a page boundary"
            ),
            Self::Overflows { index, paddr, size } => write!(
                f,
                "module {index} at {paddr:#x} with size {size:#x} overflows"
            ),
            Self::NotInRam { index, paddr, size } => write!(
                f,
                "module {index} at {paddr:#x} ({size} bytes) is not inside usable RAM"
            ),
            Self::Overlaps {
                index,
                paddr,
                size,
                what,
            } => write!(
                f,
                "module {index} at {paddr:#x} ({size} bytes) overlaps {what}"
            ),
        }
    }
}

/// Byte offsets of `hvm_modlist_entry`.
mod entry {
    pub const PADDR: usize = 0;
    pub const SIZE: usize = 8;
    pub const CMDLINE_PADDR: usize = 16;
}

/// Read the `count` entries of the module table at `paddr`. An empty list
/// when there are none.
pub fn read_modlist(
    mem: &dyn PhysMemory,
    paddr: u64,
    count: u32,
) -> Result<ModuleList, ModuleError> {
    let mut list = ModuleList::default();
    if count == 0 {
        return Ok(list);
    }
    if paddr == 0 {
        return Err(ModuleError::NoTable { count });
    }
    if count as usize > MAX_MODULES {
        return Err(ModuleError::TooManyModules { count });
    }
    if !paddr.is_multiple_of(8) {
        return Err(ModuleError::TableMisaligned { paddr });
    }
    for index in 0..count as usize {
        let mut raw = [0u8; MODLIST_ENTRY_SIZE as usize];
        let read = paddr
            .checked_add(index as u64 * MODLIST_ENTRY_SIZE)
            .is_some_and(|at| {
                at.checked_add(MODLIST_ENTRY_SIZE).is_some() && mem.read(at, &mut raw)
            });
        if !read {
            return Err(ModuleError::TableUnreadable { paddr, index });
        }
        let u64_at = |at: usize| {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(&raw[at..at + 8]);
            u64::from_le_bytes(bytes)
        };
        list.entries[index] = BootModule {
            paddr: u64_at(entry::PADDR),
            size: u64_at(entry::SIZE),
            cmdline_paddr: u64_at(entry::CMDLINE_PADDR),
        };
    }
    list.len = count as usize;
    // Cannot overflow: every entry's end was checked above.
    list.table = paddr..paddr + u64::from(count) * MODLIST_ENTRY_SIZE;
    Ok(list)
}

/// Check module `index` against the memory map (the loader's, before the
/// kernel reserved anything in it) and the ranges the kernel already uses
/// (`(what, range)`: the image, the start info, the module table). On
/// success, the physical range to keep away from the frame allocator:
/// whole pages, since frames are handed out whole.
pub fn check_module(
    index: usize,
    module: BootModule,
    map: &MemoryMap,
    in_use: &[(&'static str, Range<u64>)],
) -> Result<Range<u64>, ModuleError> {
    let BootModule { paddr, size, .. } = module;
    if size == 0 {
        return Err(ModuleError::Empty { index });
    }
    if paddr == 0 {
        return Err(ModuleError::NullAddress { index });
    }
    if !paddr.is_multiple_of(PAGE_SIZE) {
        return Err(ModuleError::Misaligned { index, paddr });
    }
    let end = paddr
        .checked_add(size)
        .and_then(|end| end.checked_next_multiple_of(PAGE_SIZE))
        .ok_or(ModuleError::Overflows { index, paddr, size })?;
    if !map.usable_covers(paddr, end) {
        return Err(ModuleError::NotInRam { index, paddr, size });
    }
    for (what, range) in in_use {
        if range.start < end && paddr < range.end {
            return Err(ModuleError::Overlaps {
                index,
                paddr,
                size,
                what,
            });
        }
    }
    Ok(paddr..end)
}

#[cfg(test)]
#[path = "modules_tests.rs"]
mod tests;
