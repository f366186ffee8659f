//! The kernel heap: a linked-list allocator (crate `linked_list_allocator`,
//! the allocator blog_os teaches with) over pages mapped at `HEAP_BASE`.
//!
//! The lock is taken with interrupts disabled, so an interrupt handler that
//! allocates, or a watchdog that abandons a test mid-allocation, cannot
//! leave the heap locked forever.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use linked_list_allocator::Heap;
use spin::Mutex;

/// The global allocator: a heap behind an interrupt-safe lock.
pub struct KernelHeap {
    /// `pub(crate)` for the abort audit (`harness::abort`) only.
    pub(crate) heap: Mutex<Heap>,
    size: AtomicU64,
}

impl KernelHeap {
    /// An empty heap; every allocation fails until [`KernelHeap::init`].
    pub const fn empty() -> Self {
        Self {
            heap: Mutex::new(Heap::empty()),
            size: AtomicU64::new(0),
        }
    }

    /// Hand the heap its memory.
    ///
    /// # Safety
    /// `[start, start + size)` must be mapped, writable, and used by nothing
    /// else for the rest of the kernel's life. Call once.
    pub unsafe fn init(&self, start: u64, size: u64) {
        crate::arch::irq::without_interrupts(|| {
            // SAFETY: the caller hands over exclusive, mapped memory.
            unsafe { self.heap.lock().init(start as *mut u8, size as usize) };
        });
        self.size.store(size, Ordering::Relaxed);
    }

    /// (used bytes, total bytes).
    pub fn usage(&self) -> (u64, u64) {
        crate::arch::irq::without_interrupts(|| {
            let heap = self.heap.lock();
            (heap.used() as u64, heap.size() as u64)
        })
    }
}

// SAFETY: allocation is delegated to `linked_list_allocator::Heap`, which
// returns blocks of at least the requested size and alignment from memory
// it owns; the mutex serialises access.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        crate::arch::irq::without_interrupts(|| {
            self.heap
                .lock()
                .allocate_first_fit(layout)
                .map_or(core::ptr::null_mut(), NonNull::as_ptr)
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(ptr) = NonNull::new(ptr) {
            crate::arch::irq::without_interrupts(|| {
                // SAFETY: the caller passes a block this allocator returned,
                // with the layout it was allocated with.
                unsafe { self.heap.lock().deallocate(ptr, layout) };
            });
        }
    }
}

/// The kernel's heap (the global allocator on bare metal).
#[cfg_attr(target_os = "none", global_allocator)]
pub static HEAP: KernelHeap = KernelHeap::empty();
