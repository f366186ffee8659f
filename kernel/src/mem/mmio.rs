//! Device registers: mapped uncached in their own window, never through
//! the identity map (which holds RAM only), and recorded so that tests can
//! compare what is mapped with what the backend says it uses.

use super::layout::MMIO_BASE;
use super::paging::{Flags, MapError};
use super::{PAGE_SIZE, boot_map, map_page};
use crate::arch::irq::without_interrupts;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;

/// One `map_mmio` mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioMapping {
    /// Physical address of the first register, as asked for.
    pub paddr: u64,
    /// Bytes asked for.
    pub size: u64,
    /// Virtual address of the page that maps `paddr`'s page.
    pub virt_page: u64,
}

const MAX_MAPPINGS: usize = 16;
static NEXT_MMIO: AtomicU64 = AtomicU64::new(MMIO_BASE);
/// `pub(crate)` for the abort audit (`harness::abort`) only.
pub(crate) static MAPPINGS: Mutex<[Option<MmioMapping>; MAX_MAPPINGS]> =
    Mutex::new([None; MAX_MAPPINGS]);

/// Map `size` bytes of device registers at `paddr`, uncached (PCD and PWT
/// set, PAT clear: IA32_PAT entry 3, UC at reset, which the kernel never
/// reprograms), not executable. Refuses usable RAM, which the identity map
/// already maps write-back: two mappings of one page with different memory
/// types are undefined behaviour on x86.
pub fn map_mmio(paddr: u64, size: u64) -> Result<NonNull<u8>, MapError> {
    let first = paddr & !(PAGE_SIZE - 1);
    let end = paddr.checked_add(size).ok_or(MapError::Misaligned(paddr))?;
    let pages = (end - first).div_ceil(PAGE_SIZE).max(1);
    let is_ram = boot_map().is_some_and(|map| {
        map.usable()
            .any(|r| r.start < first + pages * PAGE_SIZE && first < r.end)
    });
    if is_ram {
        return Err(MapError::RamNotMmio(paddr));
    }
    without_interrupts(|| {
        let mut mappings = MAPPINGS.lock();
        let slot = mappings
            .iter_mut()
            .find(|m| m.is_none())
            .ok_or(MapError::MmioTableFull)?;
        let virt = NEXT_MMIO.fetch_add(pages * PAGE_SIZE, Ordering::Relaxed);
        let flags = Flags::WRITABLE | Flags::NO_CACHE | Flags::WRITE_THROUGH | Flags::NO_EXECUTE;
        for i in 0..pages {
            map_page(virt + i * PAGE_SIZE, first + i * PAGE_SIZE, flags)?;
        }
        *slot = Some(MmioMapping {
            paddr,
            size,
            virt_page: virt,
        });
        NonNull::new((virt + (paddr - first)) as *mut u8).ok_or(MapError::NotReady)
    })
}

/// Every mapping [`map_mmio`] has made, in order.
pub fn mmio_mappings() -> impl Iterator<Item = MmioMapping> {
    let copy = without_interrupts(|| *MAPPINGS.lock());
    copy.into_iter().flatten()
}
