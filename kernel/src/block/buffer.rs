//! The memory a block request reads into or writes from.
//!
//! A buffer is made of whole, page-aligned pages so that every driver can
//! hand it to its device without copying: blkfront grants each page to the
//! backend as one ring segment, AHCI points one PRD entry at each page. No
//! sector ever straddles two pages (sector sizes are at most a page, see
//! [`super::DeviceInfo::check`]), which is what both devices require.
//! The buffer is owned, not borrowed: a request moves it into the driver and
//! the completion moves it back, so a device that finishes late (or never)
//! can never write into memory that has meanwhile been reused.

use alloc::vec::Vec;

/// Bytes in one buffer page.
pub const PAGE_SIZE: usize = 4096;

/// One page of a buffer; the alignment makes its address a page frame.
#[derive(Clone)]
#[repr(C, align(4096))]
pub struct Page(pub [u8; PAGE_SIZE]);

/// A transfer buffer of `len` bytes held in whole pages.
pub struct BlockBuffer {
    pages: Vec<Page>,
    len: usize,
}

impl BlockBuffer {
    /// A zeroed buffer of `len` bytes (no pages for `len == 0`, as a flush has).
    pub fn zeroed(len: usize) -> Self {
        let mut pages = Vec::new();
        pages.resize_with(len.div_ceil(PAGE_SIZE), || Page([0; PAGE_SIZE]));
        Self { pages, len }
    }

    /// A buffer holding a copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut buffer = Self::zeroed(bytes.len());
        buffer.write_at(0, bytes);
        buffer
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many pages hold the bytes.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// The bytes of page `index` that belong to the buffer (the last page
    /// may be partly used). A driver takes the page's address from here.
    pub fn page(&self, index: usize) -> &[u8] {
        let used = self.used_in(index);
        &self.pages[index].0[..used]
    }

    /// The bytes of page `index`, writable (a read request's destination).
    pub fn page_mut(&mut self, index: usize) -> &mut [u8] {
        let used = self.used_in(index);
        &mut self.pages[index].0[..used]
    }

    fn used_in(&self, index: usize) -> usize {
        (self.len - index * PAGE_SIZE).min(PAGE_SIZE)
    }

    /// Copy `bytes` into the buffer from byte `offset` on.
    ///
    /// # Panics
    /// If the bytes do not fit (a caller's bug, not device data).
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.len, "write past the buffer");
        let mut at = 0;
        while at < bytes.len() {
            let (page, within) = ((offset + at) / PAGE_SIZE, (offset + at) % PAGE_SIZE);
            let n = (PAGE_SIZE - within).min(bytes.len() - at);
            self.pages[page].0[within..within + n].copy_from_slice(&bytes[at..at + n]);
            at += n;
        }
    }

    /// Copy bytes from `offset` on into `out`.
    ///
    /// # Panics
    /// If `out` reaches past the buffer's end.
    pub fn read_at(&self, offset: usize, out: &mut [u8]) {
        assert!(offset + out.len() <= self.len, "read past the buffer");
        let mut at = 0;
        while at < out.len() {
            let (page, within) = ((offset + at) / PAGE_SIZE, (offset + at) % PAGE_SIZE);
            let n = (PAGE_SIZE - within).min(out.len() - at);
            out[at..at + n].copy_from_slice(&self.pages[page].0[within..within + n]);
            at += n;
        }
    }
}
