//! The ramdisk: the first boot module, read in place through the identity
//! map of RAM. It is chosen and checked before memory is brought up, so its
//! frames can be kept out of the frame allocator (`mem::init`'s `keep`),
//! and published once the kernel's page tables map it.

use core::ops::Range;

use spin::Once;

use super::modules::{self, ModuleError};
use super::pvh::{self, BootInfo};
use crate::mem::memmap::MemoryMap;

static RAMDISK: Once<&'static [u8]> = Once::new();

/// The ramdisk's bytes, if the loader passed a module that passed the
/// checks; `None` before boot has published it. Read-only: it is shared by
/// every reader and never changes.
pub fn ramdisk() -> Option<&'static [u8]> {
    RAMDISK.get().copied()
}

/// A module accepted as the ramdisk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ramdisk {
    pub paddr: u64,
    pub size: u64,
    /// The whole frames it occupies, to keep from the frame allocator.
    pub frames: Range<u64>,
}

/// The ramdisk among `info`'s modules, checked against `map` (the loader's
/// memory map) and the kernel image `image`. `Ok(None)`: no module.
pub fn select(
    info: &BootInfo,
    map: &MemoryMap,
    image: Range<u64>,
) -> Result<Option<Ramdisk>, ModuleError> {
    let list = info.modules.as_ref().map_err(|e| *e)?;
    let Some(module) = list.ramdisk() else {
        return Ok(None);
    };
    let start_info = info.start_info_paddr;
    let start_info = start_info..start_info.saturating_add(pvh::start_info_size(info.version));
    let in_use = [
        ("the kernel image", image),
        ("hvm_start_info", start_info),
        ("the module table", list.table.clone()),
    ];
    let frames = modules::check_module(0, module, map, &in_use)?;
    Ok(Some(Ramdisk {
        paddr: module.paddr,
        size: module.size,
        frames,
    }))
}

/// [`select`], saying on the console what was found: the one boot log line
/// about the ramdisk.
pub fn select_and_report(info: &BootInfo, map: &MemoryMap, image: Range<u64>) -> Option<Ramdisk> {
    match select(info, map, image) {
        Ok(Some(r)) => {
            let extra = info.modules.as_ref().map_or(0, |l| l.modules().len() - 1);
            if extra > 0 {
                log::warn!("boot: ignoring {extra} boot module(s) after the first");
            }
            log::info!("boot: ramdisk {} bytes at {:#x}", r.size, r.paddr);
            Some(r)
        }
        Ok(None) => {
            log::info!("boot: no ramdisk (the loader passed no module)");
            None
        }
        Err(e) => {
            log::error!("boot: ramdisk refused: {e}");
            None
        }
    }
}

/// Make the ramdisk readable through [`ramdisk`]. Call once memory is up:
/// `mem::init` must have kept `r.frames` from the frame allocator and
/// switched to the kernel's tables, which map all usable RAM.
#[cfg(target_os = "none")]
pub fn publish(r: &Ramdisk) {
    // Checked rather than assumed: a ramdisk that is not mapped would turn
    // every program load into a kernel page fault.
    let last = r.frames.end - crate::mem::PAGE_SIZE;
    for page in [r.frames.start, last] {
        if crate::mem::translate(page).is_none_or(|(phys, _)| phys != page) {
            log::error!("boot: ramdisk page {page:#x} is not identity-mapped; not using it");
            return;
        }
    }
    let Ok(len) = usize::try_from(r.size) else {
        return;
    };
    // SAFETY: `[paddr, paddr + size)` lies in usable RAM (checked by
    // `select` against the loader's map), which the kernel's tables
    // identity-map readable (checked above for its first and last page;
    // the identity map has no holes inside usable RAM). `mem::init`
    // reserved its frames for good, so the allocator never hands them out
    // and nothing writes them: a shared `'static` borrow is sound.
    let bytes = unsafe { core::slice::from_raw_parts(r.paddr as *const u8, len) };
    RAMDISK.call_once(|| bytes);
}

#[cfg(test)]
#[path = "ramdisk_tests.rs"]
mod tests;
