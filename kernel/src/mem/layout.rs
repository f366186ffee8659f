//! The kernel's address space and the code that builds it.
//!
//! ```text
//! 0 .. top of RAM               identity map of RAM only, NX (see identity.rs)
//!   page 0                      unmapped: null dereferences fault
//!   kernel image (1 or 4 MiB..) 4 KiB pages: text RX, rodata R, data RW
//!   stack guard pages           unmapped: overflows fault
//!   shared frames               RW, NX: pages another domain writes
//!   holes, device space, firmware tables: unmapped
//! HEAP_BASE                     kernel heap
//! STACKS_BASE                   guarded kernel stacks
//! PHYS_WINDOW                   one read-only uncached page for reading
//!                               firmware tables outside RAM (mem::phys)
//! MMIO_BASE                     device registers, uncached
//! ```

pub use super::identity::ImageLayout;
use super::identity::{IdentityPlan, PageUse, Size};
use super::paging::{Flags, MapError, PageSize, PageTables};

/// Start of user space: a process's own mappings live in PML4 slots
/// [`USER_SLOTS`], apart from the kernel's identity map (slot 0) and its
/// windows in the upper half.
pub const USER_BASE: u64 = virtus_abi::USER_BASE;
/// End of user space (exclusive).
pub const USER_END: u64 = virtus_abi::USER_END;
/// The PML4 slots of user space.
pub const USER_SLOTS: core::ops::Range<usize> = 32..256;
const _: () = assert!(USER_BASE >> 39 == USER_SLOTS.start as u64);
const _: () = assert!((USER_END - 1) >> 39 == USER_SLOTS.end as u64 - 1);

/// Start of the kernel heap.
pub const HEAP_BASE: u64 = 0xffff_9000_0000_0000;
/// Start of the window where guarded stacks are allocated.
pub const STACKS_BASE: u64 = 0xffff_a000_0000_0000;
/// The page through which physical memory outside RAM is read.
pub const PHYS_WINDOW: u64 = 0xffff_b000_0000_0000;
/// Start of the window for device register mappings.
pub const MMIO_BASE: u64 = 0xffff_c000_0000_0000;
/// Start of the window the page-mapping tests play in.
pub const SCRATCH_BASE: u64 = 0xffff_d000_0000_0000;

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __kernel_end: u8;
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

/// Page-table flags for a page of the identity map used as `page_use`.
pub fn flags_for(page_use: PageUse) -> Flags {
    let rw_nx = Flags::WRITABLE | Flags::NO_EXECUTE;
    match page_use {
        PageUse::Text => Flags::GLOBAL,
        PageUse::Rodata => Flags::GLOBAL | Flags::NO_EXECUTE,
        PageUse::Data => Flags::GLOBAL | rw_nx,
        PageUse::Ram | PageUse::Shared => rw_nx,
    }
}

/// Build the kernel's page tables: the identity map of `plan` (RAM, the
/// image with its permissions, shared frames; nothing else).
pub fn build(
    plan: &IdentityPlan<'_>,
    nx: bool,
    alloc: &mut dyn FnMut() -> Option<u64>,
) -> Result<PageTables, MapError> {
    // SAFETY: the allocator hands out free frames below 4 GiB during boot,
    // which the boot tables identity-map.
    let mut tables = unsafe { PageTables::new(alloc, nx)? };
    plan.for_each(|addr, size, page_use| {
        let size = match size {
            Size::Small => PageSize::Small,
            Size::Large => PageSize::Large,
        };
        tables.map(addr, addr, size, flags_for(page_use), alloc)
    })?;
    Ok(tables)
}
