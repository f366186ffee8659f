//! Reading physical memory (boot data, firmware tables) for the parsers
//! that take a [`PhysMemory`].
//!
//! Before the kernel's tables exist the boot tables map the first 4 GiB,
//! and reads go straight through them. Afterwards the identity map holds
//! RAM only; anything else the memory map lists (ACPI tables in reserved
//! or ACPI regions, the BIOS area) is read through one page-sized window,
//! mapped read-only and uncached, one physical page at a time. Holes are
//! never read: they may be device registers, where even a read can have
//! side effects.

use super::PhysMemory;
use super::layout::PHYS_WINDOW;
use super::paging::Flags;
use super::{PAGE_SIZE, boot_map, kernel_tables_active, map_page, translate, unmap_page};
use crate::arch::irq::without_interrupts;
use spin::Mutex;

/// The physical page the window maps now, if any.
static WINDOW: Mutex<Option<u64>> = Mutex::new(None);

struct KernelPhysMemory;

impl PhysMemory for KernelPhysMemory {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> bool {
        let Some(end) = paddr.checked_add(buf.len() as u64) else {
            return false;
        };
        if !kernel_tables_active() {
            if end > 4 << 30 {
                return false;
            }
            // SAFETY: the boot tables identity-map the first 4 GiB and the
            // range lies below it; byte copies need no alignment.
            unsafe {
                core::ptr::copy_nonoverlapping(paddr as *const u8, buf.as_mut_ptr(), buf.len())
            };
            return true;
        }
        let (mut at, mut rest) = (paddr, buf);
        while !rest.is_empty() {
            // Page by page: each is reached its own way.
            let page = at & !(PAGE_SIZE - 1);
            let n = ((page + PAGE_SIZE - at) as usize).min(rest.len());
            let (head, tail) = rest.split_at_mut(n);
            if !read_page_part(page, at, head) {
                return false;
            }
            at += n as u64;
            rest = tail;
        }
        true
    }
}

/// Copy `out.len()` bytes at `at`, all inside the page at `page`.
fn read_page_part(page: u64, at: u64, out: &mut [u8]) -> bool {
    if translate(page).is_some_and(|(phys, _)| phys == page) {
        // SAFETY: identity-mapped RAM (or a shared frame), readable; byte
        // copies need no alignment.
        unsafe { core::ptr::copy_nonoverlapping(at as *const u8, out.as_mut_ptr(), out.len()) };
        return true;
    }
    let end = at + out.len() as u64;
    if !boot_map().is_some_and(|map| map.covers(at, end)) {
        return false;
    }
    without_interrupts(|| {
        // Never wait for the window: a reader interrupted by a fault
        // handler that reads too must not deadlock.
        let Some(mut window) = WINDOW.try_lock() else {
            return false;
        };
        if *window != Some(page) {
            if window.take().is_some() {
                let _ = unmap_page(PHYS_WINDOW);
            }
            if map_page(
                PHYS_WINDOW,
                page,
                Flags::NO_CACHE | Flags::WRITE_THROUGH | Flags::NO_EXECUTE,
            )
            .is_err()
            {
                return false;
            }
            *window = Some(page);
        }
        let offset = at - page;
        // SAFETY: the window maps `page` readable; `offset + out.len()`
        // stays inside it (the caller splits at page boundaries).
        unsafe {
            core::ptr::copy_nonoverlapping(
                (PHYS_WINDOW + offset) as *const u8,
                out.as_mut_ptr(),
                out.len(),
            )
        };
        true
    })
}

/// Physical memory as the kernel can read it.
pub fn phys_memory() -> &'static dyn PhysMemory {
    &KernelPhysMemory
}
