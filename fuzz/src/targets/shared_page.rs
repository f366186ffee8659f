//! Memory shared with a fake other domain: the code under test gets a raw
//! pointer to it, as the kernel gets the frame Xen or the backend shares,
//! and the target plays the other end through the accessors here, each a
//! volatile access at a checked offset (the other end never holds a Rust
//! reference into the page either).

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;

/// `len` zeroed bytes, page-aligned, freed on drop: whatever was built on
/// the pointer must be dropped first (declare it after the page).
pub struct SharedPage {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl SharedPage {
    pub fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len.max(1), 4096).expect("a page layout");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).expect("out of memory");
        Self { ptr, layout }
    }

    pub fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    pub fn len(&self) -> usize {
        self.layout.size()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    fn at(&self, offset: usize, width: usize) -> *mut u8 {
        assert!(
            offset + width <= self.len(),
            "offset {offset} past the page"
        );
        // SAFETY: inside the allocation (checked above).
        unsafe { self.ptr.as_ptr().add(offset) }
    }

    pub fn read_u8(&self, offset: usize) -> u8 {
        // SAFETY: a byte inside the allocation (`at` checks).
        unsafe { self.at(offset, 1).read_volatile() }
    }

    pub fn write_u8(&self, offset: usize, value: u8) {
        // SAFETY: as in `read_u8`.
        unsafe { self.at(offset, 1).write_volatile(value) }
    }

    pub fn read_u32(&self, offset: usize) -> u32 {
        let mut b = [0; 4];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = self.read_u8(offset + i);
        }
        u32::from_le_bytes(b)
    }

    pub fn write_u32(&self, offset: usize, value: u32) {
        for (i, byte) in value.to_le_bytes().into_iter().enumerate() {
            self.write_u8(offset + i, byte);
        }
    }

    pub fn read(&self, offset: usize, out: &mut [u8]) {
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = self.read_u8(offset + i);
        }
    }

    pub fn write(&self, offset: usize, bytes: &[u8]) {
        for (i, &byte) in bytes.iter().enumerate() {
            self.write_u8(offset + i, byte);
        }
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// Little-endian fields of a target's input, zero past its end (a
/// truncated input is still a script).
pub struct Fields<'a>(pub &'a [u8]);

impl Fields<'_> {
    pub fn u8(&self, at: usize) -> u8 {
        self.0.get(at).copied().unwrap_or(0)
    }
    pub fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.u8(at), self.u8(at + 1)])
    }
    pub fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes([
            self.u8(at),
            self.u8(at + 1),
            self.u8(at + 2),
            self.u8(at + 3),
        ])
    }
    pub fn u64(&self, at: usize) -> u64 {
        u64::from(self.u32(at)) | (u64::from(self.u32(at + 4)) << 32)
    }
}
