//! Physical and virtual memory: the memory map, the frame allocator, the
//! kernel's page tables, stacks and the heap, and the frames shared with
//! another domain.

pub mod balloon;
pub mod frame;
#[cfg(target_os = "none")]
pub mod heap;
pub mod identity;
#[cfg(target_os = "none")]
pub mod layout;
pub mod memmap;
#[cfg(target_os = "none")]
pub(crate) mod mmio;
#[cfg(target_os = "none")]
pub mod paging;
#[cfg(target_os = "none")]
mod phys;
mod phys_access;
pub mod shared;
#[cfg(target_os = "none")]
pub mod stack;

pub use frame::{BitmapFrameAllocator, FrameError};
pub use memmap::{MemoryMap, MemoryRegion, RegionKind};
pub use phys_access::PhysMemory;
pub use shared::SharedFrameError;

/// Size of a small page / physical frame.
pub const PAGE_SIZE: u64 = 4096;

#[cfg(target_os = "none")]
pub use kernel_memory::*;
#[cfg(target_os = "none")]
pub use mmio::{MmioMapping, map_mmio, mmio_mappings};
#[cfg(target_os = "none")]
pub use phys::phys_memory;

#[cfg(target_os = "none")]
mod kernel_memory {
    use super::identity::IdentityPlan;
    use super::layout::{self, HEAP_BASE};
    pub use super::paging::MapError;
    use super::paging::{self, Flags, PageSize, PageTables};
    use super::shared::{self, SharedFrames, SharedKind};
    use super::{BitmapFrameAllocator, MemoryMap, PAGE_SIZE, SharedFrameError};
    use crate::arch::irq::without_interrupts;
    use core::ops::Range;
    use core::sync::atomic::{AtomicBool, Ordering};
    use spin::{Mutex, Once};

    // The three locks are `pub(crate)` for the abort audit
    // (`harness::abort`) only.
    pub(crate) static FRAMES: Mutex<Option<BitmapFrameAllocator>> = Mutex::new(None);
    pub(crate) static TABLES: Mutex<Option<PageTables>> = Mutex::new(None);
    /// Frames shared with another domain. Lock order: SHARED, then TABLES,
    /// then FRAMES (`map_page` allocates page tables with TABLES held).
    pub(crate) static SHARED: Mutex<SharedFrames> = Mutex::new(SharedFrames::new());
    /// The memory map as the loader gave it, kept to check shared frames
    /// and physical reads against.
    static BOOT_MAP: Once<MemoryMap> = Once::new();
    /// Whether the kernel's tables replaced the boot tables (which map the
    /// first 4 GiB, everything in them, 2 MiB at a time).
    static KERNEL_TABLES: AtomicBool = AtomicBool::new(false);

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
        /// A frame shared before the memory map was known is not allowed
        /// by it.
        Shared(SharedFrameError),
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
                Self::Shared(e) => write!(f, "shared frame: {e}"),
            }
        }
    }

    /// Whether the kernel's own page tables are active.
    pub(super) fn kernel_tables_active() -> bool {
        KERNEL_TABLES.load(Ordering::Acquire)
    }

    /// The memory map as the loader gave it, once [`init`] has run.
    pub fn boot_map() -> Option<&'static MemoryMap> {
        BOOT_MAP.get()
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

    /// Whether the frame at `frame` is free in the allocator (false before
    /// [`init`], and for every frame the allocator does not own).
    pub fn frame_is_free(frame: u64) -> bool {
        without_interrupts(|| FRAMES.lock().as_ref().is_some_and(|f| f.is_free(frame)))
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

    /// Calls `f(virt, bytes, phys, flags)` for every leaf mapping of the
    /// kernel's tables in `[start, end)` of the lower half (where the
    /// identity map lives). `f` runs with the tables locked and interrupts
    /// off: it must not map or unmap pages (the heap, mapped already, is
    /// fine).
    pub fn for_each_mapping(start: u64, end: u64, f: &mut dyn FnMut(u64, u64, u64, Flags)) {
        without_interrupts(|| {
            if let Some(tables) = TABLES.lock().as_ref() {
                tables.for_each_leaf(start, end, f);
            }
        });
    }

    /// Take the frame at `frame` for sharing with another domain (a ring
    /// the other end writes), after checking it against the memory map:
    /// it must be memory the map sets aside, or usable RAM that the frame
    /// allocator still has free, which is then withheld from it in the
    /// same step. The frame is identity-mapped writable, not executable,
    /// on return (so `frame as *mut T` is valid).
    ///
    /// Before [`init`] (the console needs its ring at once) only what needs
    /// no map is checked here: alignment, page 0, the image, the 4 GiB the
    /// boot tables map. [`init`] then checks the frame against the map,
    /// fails (naming the frame) if the map does not allow it, and keeps it
    /// away from the allocator and mapped in the kernel's tables.
    pub fn reserve_shared(frame: u64) -> Result<(), SharedFrameError> {
        let image = layout::image();
        without_interrupts(|| {
            let mut shared = SHARED.lock();
            shared.can_insert(frame)?;
            let Some(map) = BOOT_MAP.get() else {
                shared::check_early(frame, &image)?;
                return shared.insert(frame);
            };
            match shared::check_against_map(frame, map, &image)? {
                SharedKind::Ram => {
                    // Already identity-mapped as RAM, writable and NX.
                    let mut frames = FRAMES.lock();
                    let frames = frames.as_mut().ok_or(SharedFrameError::InUse(frame))?;
                    frames.withhold(frame).map_err(|e| match e {
                        super::FrameError::Withheld(_) => SharedFrameError::AlreadyShared(frame),
                        _ => SharedFrameError::InUse(frame),
                    })?;
                }
                SharedKind::SetAside => {
                    map_page(
                        frame,
                        frame,
                        layout::flags_for(super::identity::PageUse::Shared),
                    )
                    .map_err(|e| {
                        log::error!("cannot map shared frame {frame:#x}: {e}");
                        SharedFrameError::MapFailed(frame)
                    })?;
                }
            }
            shared.insert(frame)
        })
    }

    /// Undo [`reserve_shared`] once the other end no longer writes the
    /// frame: RAM goes back to the allocator, set-aside memory is unmapped.
    /// A RAM frame shared before [`init`] stays out of the allocator.
    pub fn release_shared(frame: u64) -> Result<(), SharedFrameError> {
        without_interrupts(|| {
            let mut shared = SHARED.lock();
            if !shared.contains(frame) {
                return Err(SharedFrameError::NotShared(frame));
            }
            let map = BOOT_MAP.get().ok_or(SharedFrameError::NotShared(frame))?;
            let image = layout::image();
            if shared::check_against_map(frame, map, &image) == Ok(SharedKind::SetAside) {
                unmap_page(frame).map_err(|_| SharedFrameError::MapFailed(frame))?;
            } else if let Some(frames) = FRAMES.lock().as_mut()
                && frames.is_withheld(frame)
            {
                let _ = frames.release(frame);
            }
            shared.remove(frame);
            Ok(())
        })
    }

    /// The frames currently shared with another domain.
    pub fn shared_frames() -> SharedFrames {
        without_interrupts(|| SHARED.lock().clone())
    }

    /// Physical address of the kernel's PML4 (0 before [`init`]).
    pub fn kernel_root() -> u64 {
        without_interrupts(|| TABLES.lock().as_ref().map_or(0, PageTables::root))
    }

    /// Load the address space rooted at `root` (None: the kernel's alone),
    /// first giving it the kernel's current half so that every kernel
    /// mapping made since it was built is there. Interrupts off (the
    /// scheduler's switch).
    pub fn switch_address_space(root: Option<u64>) {
        // No thread sleeps or is preempted holding this lock (see `sched`),
        // so with interrupts off it is free or about to be.
        let kernel = TABLES.lock();
        let Some(kernel) = kernel.as_ref() else {
            return;
        };
        let target = match root {
            Some(root) => {
                // SAFETY: a process root is a PML4 built by `proc::space`,
                // written here only by the scheduler, with interrupts off.
                let mut space = unsafe { PageTables::adopt(root, paging::nx_enabled()) };
                space.share_slots_from(kernel, layout::USER_SLOTS);
                root
            }
            None => kernel.root(),
        };
        let (now, _) = x86_64::registers::control::Cr3::read_raw();
        if now.start_address().as_u64() != target {
            // SAFETY: `target` maps the whole kernel (its kernel half was
            // just copied from the live tables), so the code, stacks and
            // data in use stay mapped.
            unsafe {
                core::arch::asm!("mov cr3, {}", in(reg) target, options(nostack, preserves_flags));
            }
        }
    }

    /// Bring up physical and virtual memory from the boot memory map:
    /// check the frames shared so far against it, protect the image, boot
    /// data and shared frames, build the frame allocator, switch to the
    /// kernel's page tables (RAM only) and create the heap.
    ///
    /// `keep`: boot data in RAM the kernel goes on reading in place (the
    /// ramdisk), withheld from the frame allocator for good. It stays
    /// identity-mapped like all RAM.
    pub fn init(map: &MemoryMap, guards: &[u64], keep: &[Range<u64>]) -> Result<(), MemInitError> {
        let img = layout::image();
        let shared = shared_frames();
        for &frame in shared.frames() {
            shared::check_against_map(frame, map, &img).map_err(MemInitError::Shared)?;
        }
        let boot_map = BOOT_MAP.call_once(|| map.clone());
        let mut map = map.clone();
        // The first MiB holds firmware data (EBDA, BIOS tables); the image
        // is in use; shared frames belong to the other end.
        map.reserve(0, 1 << 20).map_err(MemInitError::Map)?;
        map.reserve(img.start, img.end).map_err(MemInitError::Map)?;
        for &frame in shared.frames() {
            map.reserve(frame, frame + PAGE_SIZE)
                .map_err(MemInitError::Map)?;
        }
        for range in keep {
            map.reserve(range.start, range.end)
                .map_err(MemInitError::Map)?;
        }

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

        let plan = IdentityPlan {
            map: boot_map,
            image: img,
            guards,
            shared: shared.frames(),
        };
        let tables = layout::build(&plan, paging::nx_enabled(), &mut || {
            // Page tables must be reachable through the boot tables too.
            without_interrupts(|| FRAMES.lock().as_mut()?.alloc()).filter(|&f| f < 4 << 30)
        })
        .map_err(MemInitError::Paging)?;
        // SAFETY: the new tables identity-map all RAM with the image mapped
        // at the same addresses and permissions that let it run; the boot
        // stack stays mapped (only its guard page is left out), and so do
        // the shared frames already in use (the console ring).
        unsafe { tables.activate() };
        *TABLES.lock() = Some(tables);
        KERNEL_TABLES.store(true, Ordering::Release);

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
