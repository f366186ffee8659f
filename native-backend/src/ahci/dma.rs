//! Memory the controller reads and writes by DMA: a port's command list
//! and received-FIS area, and its command tables. Frames come from the
//! frame allocator, which hands out identity-mapped RAM (so a frame's
//! address is both a pointer and what the device is told). Every access
//! is a `volatile` one: the device writes PRDBC and the received FISes
//! behind the compiler's back, and reads the tables after the CI write.

use core::ptr::NonNull;
use virtus_kernel::mem::{self, PAGE_SIZE};
use volatile::VolatilePtr;

/// A physically contiguous run of frames owned by the driver for good
/// (the device may hold its address at any time, so it is never freed).
pub struct DmaRegion {
    base: NonNull<u32>,
    phys: u64,
    len: usize,
}

// SAFETY: memory owned by this region alone; accessed only with volatile
// 32-bit operations by the owner (the port, behind its lock).
unsafe impl Send for DmaRegion {}
// SAFETY: as above.
unsafe impl Sync for DmaRegion {}

impl DmaRegion {
    /// One zeroed frame below `limit`.
    pub fn frame(limit: u64) -> Option<Self> {
        Self::frames(1, limit)
    }

    /// `count` (1 or 2) zeroed, physically contiguous frames below `limit`.
    /// The allocator has no contiguous call for the kernel's users, but it
    /// hands out the lowest free frame after its last one, so two calls in
    /// a row are usually neighbours; frames that are not are given back.
    pub fn frames(count: usize, limit: u64) -> Option<Self> {
        assert!(matches!(count, 1 | 2));
        let mut spare = [0u64; 8];
        let mut spares = 0;
        let mut found = None;
        let mut prev = mem::alloc_frame()?;
        if count == 1 {
            found = Some(prev);
        } else {
            for _ in 0..spare.len() {
                let Some(next) = mem::alloc_frame() else {
                    break;
                };
                if next == prev + PAGE_SIZE {
                    found = Some(prev);
                    break;
                }
                if prev == next + PAGE_SIZE {
                    found = Some(next);
                    break;
                }
                spare[spares] = prev;
                spares += 1;
                prev = next;
            }
            if found.is_none() {
                let _ = mem::free_frame(prev);
            }
        }
        for &frame in &spare[..spares] {
            let _ = mem::free_frame(frame);
        }
        let phys = found?;
        let len = count * PAGE_SIZE as usize;
        if phys + len as u64 > limit {
            for i in 0..count as u64 {
                let _ = mem::free_frame(phys + i * PAGE_SIZE);
            }
            return None;
        }
        Some(Self {
            base: NonNull::new(phys as *mut u32)?,
            phys,
            len,
        })
    }

    pub fn phys(&self) -> u64 {
        self.phys
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn at(&self, offset: usize) -> VolatilePtr<'_, u32> {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "DMA offset {offset:#x}"
        );
        // SAFETY: inside the region (checked), which is identity-mapped RAM
        // owned by this value; u32-aligned.
        unsafe { VolatilePtr::new(self.base.add(offset / 4)) }
    }

    pub fn read32(&self, offset: usize) -> u32 {
        self.at(offset).read()
    }

    pub fn write32(&self, offset: usize, value: u32) {
        self.at(offset).write(value);
    }

    /// Copy `bytes` (a multiple of 4 long) to `offset` on, dword by dword.
    pub fn write_bytes(&self, offset: usize, bytes: &[u8]) {
        for (i, chunk) in bytes.chunks(4).enumerate() {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write32(offset + 4 * i, u32::from_le_bytes(word));
        }
    }
}
