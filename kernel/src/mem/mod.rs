//! Physical and virtual memory: the memory map, the frame allocator, the
//! kernel's page tables, stacks and the heap.

pub mod frame;
#[cfg(target_os = "none")]
pub mod heap;
#[cfg(target_os = "none")]
pub mod layout;
pub mod memmap;
#[cfg(target_os = "none")]
pub mod paging;
#[cfg(target_os = "none")]
pub mod stack;

pub use frame::{BitmapFrameAllocator, FrameError};
pub use memmap::{MemoryMap, MemoryRegion, RegionKind};

/// Size of a small page / physical frame.
pub const PAGE_SIZE: u64 = 4096;

#[cfg(target_os = "none")]
pub use kernel_memory::*;

#[cfg(target_os = "none")]
mod kernel_memory {
    use super::layout::{self, HEAP_BASE, MMIO_BASE};
    pub use super::paging::MapError;
    use super::paging::{self, Flags, PageSize, PageTables};
    use super::{BitmapFrameAllocator, MemoryMap, PAGE_SIZE};
    use crate::boot::pvh::PhysMemory;
    use crate::interrupts::without_interrupts;
    use core::ptr::NonNull;
    use core::sync::atomic::{AtomicU64, Ordering};
    use spin::Mutex;

    static FRAMES: Mutex<Option<BitmapFrameAllocator>> = Mutex::new(None);
    static TABLES: Mutex<Option<PageTables>> = Mutex::new(None);
    static NEXT_MMIO: AtomicU64 = AtomicU64::new(MMIO_BASE);
    /// End of the kernel's identity map (0 while the boot tables are active).
    static MEMMAP_TOP: AtomicU64 = AtomicU64::new(0);

    /// Errors of memory initialisation, each naming what went wrong.
    #[derive(Debug)]
    pub enum MemInitError {
        /// The memory map was unusable.
        Map(super::memmap::MemoryMapError),
        /// No room for the frame bitmap of this many bytes below 4 GiB.
        NoRoomForBitmap(u64),
        /// The frame allocator refused its storage.
        Frames(super::FrameError),
        /// Building the page tables failed.
        Paging(MapError),
    }

    impl core::fmt::Display for MemInitError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                Self::Map(e) => write!(f, "memory map: {e}"),
                Self::NoRoomForBitmap(n) => write!(
                    f,
                    "no usable memory below 4 GiB for a {n}-byte frame bitmap"
                ),
                Self::Frames(e) => write!(f, "frame allocator: {e}"),
                Self::Paging(e) => write!(f, "page tables: {e}"),
            }
        }
    }

    /// Reads physical memory through the identity map. The kernel's tables
    /// leave page 0 unmapped on purpose (null pointers fault), so once they
    /// are active page 0 reads as absent; the boot tables still map it, and
    /// loaders do put boot data there (QEMU's PVH memory map, for one).
    struct IdentityPhysMemory;

    impl PhysMemory for IdentityPhysMemory {
        fn read(&self, paddr: u64, buf: &mut [u8]) -> bool {
            let Some(end) = paddr.checked_add(buf.len() as u64) else {
                return false;
            };
            let identity_end = MEMMAP_TOP.load(Ordering::Relaxed);
            let kernel_tables = identity_end != 0;
            if (kernel_tables && paddr < PAGE_SIZE) || end > (4u64 << 30).max(identity_end) {
                return false;
            }
            // SAFETY: the range lies inside the identity map (checked above:
            // both the boot tables and the kernel's map the first 4 GiB and
            // all RAM), and byte copies have no alignment requirement.
            unsafe {
                core::ptr::copy_nonoverlapping(paddr as *const u8, buf.as_mut_ptr(), buf.len())
            };
            true
        }
    }

    /// Physical memory as seen through the kernel's identity map.
    pub fn phys_memory() -> &'static dyn PhysMemory {
        &IdentityPhysMemory
    }

    /// Allocate one zeroed physical frame.
    pub fn alloc_frame() -> Option<u64> {
        let frame = without_interrupts(|| FRAMES.lock().as_mut()?.alloc())?;
        // SAFETY: a free frame, identity-mapped, owned by the caller now.
        unsafe { core::ptr::write_bytes(frame as *mut u8, 0, PAGE_SIZE as usize) };
        Some(frame)
    }

    /// Allocate a frame at or above `min`, zeroed (tests use it to prove
    /// that memory above 4 GiB works).
    pub fn alloc_frame_at_or_above(min: u64) -> Option<u64> {
        let frame = without_interrupts(|| FRAMES.lock().as_mut()?.alloc_at_or_above(min))?;
        // SAFETY: as in `alloc_frame`.
        unsafe { core::ptr::write_bytes(frame as *mut u8, 0, PAGE_SIZE as usize) };
        Some(frame)
    }

    /// Give a frame back.
    pub fn free_frame(frame: u64) -> Result<(), super::FrameError> {
        without_interrupts(|| match FRAMES.lock().as_mut() {
            Some(frames) => frames.free(frame),
            None => Ok(()),
        })
    }

    /// (free frames, usable frames).
    pub fn frame_stats() -> (u64, u64) {
        without_interrupts(|| {
            FRAMES
                .lock()
                .as_ref()
                .map_or((0, 0), |f| (f.free_frames(), f.total_frames()))
        })
    }

    /// Map `virt` to `phys` (4 KiB) in the kernel's tables.
    pub fn map_page(virt: u64, phys: u64, flags: Flags) -> Result<(), MapError> {
        without_interrupts(|| {
            let mut tables = TABLES.lock();
            let tables = tables.as_mut().ok_or(MapError::NotReady)?;
            tables.map(virt, phys, PageSize::Small, flags, &mut || alloc_frame())?;
            paging::flush(virt);
            Ok(())
        })
    }

    /// Map a fresh zeroed frame at `virt`.
    pub fn map_new_page(virt: u64, flags: Flags) -> Result<(), MapError> {
        let frame = alloc_frame().ok_or(MapError::OutOfFrames)?;
        map_page(virt, frame, flags).inspect_err(|_| {
            let _ = free_frame(frame);
        })
    }

    /// Unmap the 4 KiB page at `virt`, returning the frame it mapped.
    pub fn unmap_page(virt: u64) -> Result<u64, MapError> {
        without_interrupts(|| {
            let mut tables = TABLES.lock();
            let phys = tables.as_mut().ok_or(MapError::NotReady)?.unmap(virt)?;
            paging::flush(virt);
            Ok(phys)
        })
    }

    /// Physical address and flags behind `virt`, if mapped.
    pub fn translate(virt: u64) -> Option<(u64, Flags)> {
        without_interrupts(|| TABLES.lock().as_ref()?.translate(virt))
    }

    /// Map `size` bytes of device registers at `paddr`, uncached.
    pub fn map_mmio(paddr: u64, size: u64) -> Result<NonNull<u8>, MapError> {
        let first = paddr & !(PAGE_SIZE - 1);
        let end = paddr.checked_add(size).ok_or(MapError::Misaligned(paddr))?;
        let pages = (end - first).div_ceil(PAGE_SIZE).max(1);
        let virt = NEXT_MMIO.fetch_add(pages * PAGE_SIZE, Ordering::Relaxed);
        let flags = Flags::WRITABLE | Flags::NO_CACHE | Flags::WRITE_THROUGH | Flags::NO_EXECUTE;
        for i in 0..pages {
            map_page(virt + i * PAGE_SIZE, first + i * PAGE_SIZE, flags)?;
        }
        NonNull::new((virt + (paddr - first)) as *mut u8).ok_or(MapError::NotReady)
    }

    /// Bring up physical and virtual memory from the boot memory map:
    /// protect the image and boot data, build the frame allocator, switch to
    /// the kernel's page tables and create the heap.
    pub fn init(map: &MemoryMap, guards: &[u64]) -> Result<(), MemInitError> {
        let mut map = map.clone();
        let img = layout::image();
        // The first MiB holds firmware data (EBDA, BIOS tables); the image
        // is in use.
        map.reserve(0, 1 << 20).map_err(MemInitError::Map)?;
        map.reserve(img.start, img.end).map_err(MemInitError::Map)?;
        MEMMAP_TOP.store(layout::identity_limit(&map), Ordering::Relaxed);

        let words = BitmapFrameAllocator::storage_words(&map) as u64;
        let bytes = (words * 8).next_multiple_of(PAGE_SIZE);
        let at = map
            .find_usable(bytes, PAGE_SIZE, 1 << 20)
            .filter(|&a| a + bytes <= 4 << 30)
            .ok_or(MemInitError::NoRoomForBitmap(bytes))?;
        map.reserve(at, at + bytes).map_err(MemInitError::Map)?;
        // SAFETY: `[at, at + bytes)` is usable RAM below 4 GiB (identity-mapped
        // by the boot tables), now reserved so nothing else will use it.
        let storage = unsafe { core::slice::from_raw_parts_mut(at as *mut u64, words as usize) };
        let frames = BitmapFrameAllocator::new(storage, &map).map_err(MemInitError::Frames)?;
        *FRAMES.lock() = Some(frames);

        let nx = paging::nx_enabled();
        let tables = layout::build(&map, guards, nx, &mut || {
            // Page tables must be reachable through the boot tables too.
            without_interrupts(|| FRAMES.lock().as_mut()?.alloc()).filter(|&f| f < 4 << 30)
        })
        .map_err(MemInitError::Paging)?;
        // SAFETY: the new tables identity-map all RAM with the image mapped
        // at the same addresses and permissions that let it run; the boot
        // stack stays mapped (only its guard page is left out).
        unsafe { tables.activate() };
        *TABLES.lock() = Some(tables);

        // Heap: an eighth of usable memory, between 1 and 16 MiB.
        let (_, total) = frame_stats();
        let heap_size = (total * PAGE_SIZE / 8).clamp(1 << 20, 16 << 20) & !(PAGE_SIZE - 1);
        for page in (0..heap_size).step_by(PAGE_SIZE as usize) {
            map_new_page(HEAP_BASE + page, Flags::WRITABLE | Flags::NO_EXECUTE)
                .map_err(MemInitError::Paging)?;
        }
        // SAFETY: the range was just mapped and nothing else uses it.
        unsafe { super::heap::HEAP.init(HEAP_BASE, heap_size) };
        Ok(())
    }
}
