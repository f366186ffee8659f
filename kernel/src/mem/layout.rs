//! The kernel's address space and the code that builds it.
//!
//! ```text
//! 0 .. top of RAM (>= 4 GiB)    identity map of physical memory, NX
//!   page 0                      unmapped: null dereferences fault
//!   kernel image (4 MiB..)      4 KiB pages: text RX, rodata R, data RW
//!   stack guard pages           unmapped: overflows fault
//! HEAP_BASE                     kernel heap
//! STACKS_BASE                   guarded kernel stacks
//! MMIO_BASE                     device registers, uncached
//! ```

use super::paging::{Flags, MapError, PageSize, PageTables};
use super::{MemoryMap, PAGE_SIZE};

/// Start of the kernel heap.
pub const HEAP_BASE: u64 = 0xffff_9000_0000_0000;
/// Start of the window where guarded stacks are allocated.
pub const STACKS_BASE: u64 = 0xffff_a000_0000_0000;
/// Start of the window for device register mappings.
pub const MMIO_BASE: u64 = 0xffff_c000_0000_0000;
/// Start of the window the page-mapping tests play in.
pub const SCRATCH_BASE: u64 = 0xffff_d000_0000_0000;

const LARGE: u64 = 2 << 20;

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __kernel_end: u8;
}

/// Addresses of the image's sections, from the linker script.
#[derive(Clone, Copy, Debug)]
pub struct ImageLayout {
    /// First byte of the image (text).
    pub start: u64,
    /// End of text.
    pub text_end: u64,
    /// Start of read-only data.
    pub rodata_start: u64,
    /// End of read-only data.
    pub rodata_end: u64,
    /// Start of data and bss.
    pub data_start: u64,
    /// End of the image, page-aligned.
    pub end: u64,
}

/// The running image's layout.
pub fn image() -> ImageLayout {
    // Only the addresses of linker-defined symbols are taken.
    ImageLayout {
        start: &raw const __kernel_start as u64,
        text_end: &raw const __text_end as u64,
        rodata_start: &raw const __rodata_start as u64,
        rodata_end: &raw const __rodata_end as u64,
        data_start: &raw const __data_start as u64,
        end: &raw const __kernel_end as u64,
    }
}

/// Flags for a 4 KiB page of the identity map at `addr`, or `None` to leave
/// it unmapped.
fn small_page_flags(addr: u64, img: &ImageLayout, guards: &[u64]) -> Option<Flags> {
    let rw_nx = Flags::WRITABLE | Flags::NO_EXECUTE;
    if addr == 0 || guards.contains(&addr) {
        return None;
    }
    Some(
        if addr >= img.start && addr < img.text_end.next_multiple_of(PAGE_SIZE) {
            Flags::GLOBAL
        } else if addr >= img.rodata_start && addr < img.rodata_end.next_multiple_of(PAGE_SIZE) {
            Flags::GLOBAL | Flags::NO_EXECUTE
        } else if addr >= img.data_start && addr < img.end {
            Flags::GLOBAL | rw_nx
        } else {
            rw_nx
        },
    )
}

/// End of the identity map: all of the first 4 GiB (firmware, devices)
/// and every region that holds memory above it. Reserved ranges above
/// 4 GiB (QEMU reports a 12 GiB HyperTransport hole below 1 TiB on AMD
/// CPUs) are not mapped: they are not memory, and mapping them would cost
/// megabytes of page tables.
pub fn identity_limit(map: &MemoryMap) -> u64 {
    use super::RegionKind::{AcpiNvs, AcpiReclaimable, Persistent, Usable};
    let top = map
        .regions()
        .iter()
        .filter(|r| matches!(r.kind, Usable | AcpiReclaimable | AcpiNvs | Persistent))
        .map(|r| r.end)
        .max()
        .unwrap_or(0);
    top.max(4 << 30).next_multiple_of(LARGE)
}

/// Build the kernel's page tables: the identity map of `[0, limit)` with
/// the image's permissions and the guard pages in `guards` left out.
pub fn build(
    map: &MemoryMap,
    guards: &[u64],
    nx: bool,
    alloc: &mut dyn FnMut() -> Option<u64>,
) -> Result<PageTables, MapError> {
    let img = image();
    let limit = identity_limit(map);
    // SAFETY: the allocator hands out free frames below 4 GiB during boot,
    // which the boot tables identity-map.
    let mut tables = unsafe { PageTables::new(alloc, nx)? };
    let mut chunk = 0;
    while chunk < limit {
        let needs_small = chunk == 0
            || (chunk < img.end && chunk + LARGE > img.start)
            || guards.iter().any(|&g| g >= chunk && g < chunk + LARGE);
        if needs_small {
            for addr in (chunk..chunk + LARGE).step_by(PAGE_SIZE as usize) {
                if let Some(flags) = small_page_flags(addr, &img, guards) {
                    tables.map(addr, addr, PageSize::Small, flags, alloc)?;
                }
            }
        } else {
            let flags = Flags::WRITABLE | Flags::NO_EXECUTE;
            tables.map(chunk, chunk, PageSize::Large, flags, alloc)?;
        }
        chunk += LARGE;
    }
    Ok(tables)
}
