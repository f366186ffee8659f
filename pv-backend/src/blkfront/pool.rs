//! Persistent grants (blkif.h, `feature-persistent`): pages the driver
//! owns, each granted read-write to the backend once and reused for every
//! segment, so the backend maps each of them once and keeps it mapped.
//!
//! A write copies the caller's data into pool pages before the request
//! goes out; a read copies out of them when the response has come. Pages
//! come from the frame allocator (through [`super::device::Grants`]), stay
//! allocated for good, and are taken only
//! when the free list is empty and fewer than `cap` exist: the pool grows
//! with the depth and size of what is actually asked, never beyond `cap`.
//! The free list is LIFO, as blkif.h recommends, so that a backend that
//! keeps only some grants mapped keeps the ones used most.

use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{Ordering, fence};

use super::device::Grants;
use virtus_kernel::block::PAGE_SIZE;

/// One page of the pool: its memory and (once granted) its reference.
pub struct SharedPage {
    ptr: NonNull<u8>,
    gref: u32,
}

// SAFETY: a SharedPage is the only handle to its page (see `new`), so
// moving it to another CPU moves the page's only user with it.
unsafe impl Send for SharedPage {}

impl SharedPage {
    /// # Safety
    /// `ptr` must be a mapped, 4 KiB-aligned page that nothing else uses,
    /// for ever: the pool never gives it back (a page the backend may still
    /// map must not be reused), so it must not be freed either.
    pub unsafe fn new(ptr: NonNull<u8>) -> Self {
        Self { ptr, gref: 0 }
    }

    /// The page's virtual address (what `Grants::grant` takes).
    pub fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    pub fn gref(&self) -> u32 {
        self.gref
    }

    /// Copies `bytes` (at most a page) to the start of the page.
    pub fn fill(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(PAGE_SIZE);
        // SAFETY: the page is ours (see `new`) and n <= 4096 bytes; the
        // backend reads it only after the request is pushed, which the
        // ring's release barrier orders after this copy.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.as_ptr(), n) };
    }

    /// Copies the start of the page into `out` (at most a page).
    pub fn copy_out(&self, out: &mut [u8]) {
        let n = out.len().min(PAGE_SIZE);
        // The backend's writes came before its response, which was read
        // before this: the fence keeps the copy after that read.
        fence(Ordering::Acquire);
        // SAFETY: as in `fill`; the page is not a Rust object, so the
        // compiler assumes nothing about what the backend wrote into it.
        unsafe { core::ptr::copy_nonoverlapping(self.ptr.as_ptr(), out.as_mut_ptr(), n) };
    }
}

/// The pool of one disk.
pub struct Pool {
    free: Vec<SharedPage>,
    /// Pages allocated but not granted (the grant table was full).
    spare: Vec<SharedPage>,
    /// Granted pages, free or in use.
    granted: usize,
    cap: usize,
    /// Pages whose grant the backend still mapped when the pool was ended
    /// (kept, never reused).
    pub lingering: usize,
    /// The grants of the pool as they were made (for `info` and tests).
    refs: Vec<u32>,
}

impl Pool {
    pub fn new(cap: usize) -> Self {
        Self {
            free: Vec::new(),
            spare: Vec::new(),
            granted: 0,
            cap,
            lingering: 0,
            refs: Vec::new(),
        }
    }

    /// Granted pages so far (free or in use).
    pub fn granted(&self) -> usize {
        self.granted
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Every reference the pool has granted, in the order made.
    pub fn refs(&self) -> &[u32] {
        &self.refs
    }

    fn take<G: Grants>(&mut self, grants: &mut G) -> Option<SharedPage> {
        if let Some(p) = self.free.pop() {
            return Some(p);
        }
        if self.granted >= self.cap {
            return None;
        }
        let mut page = match self.spare.pop() {
            Some(p) => p,
            None => grants.shared_page()?,
        };
        match grants.grant(page.addr(), false) {
            Some(g) => {
                page.gref = g;
                self.granted += 1;
                self.refs.push(g);
                Some(page)
            }
            None => {
                self.spare.push(page);
                None
            }
        }
    }

    /// `n` pages, or None (and nothing taken) if the pool cannot give them.
    pub fn take_n<G: Grants>(&mut self, n: usize, grants: &mut G) -> Option<Vec<SharedPage>> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            match self.take(grants) {
                Some(p) => got.push(p),
                None => {
                    self.free.append(&mut got);
                    return None;
                }
            }
        }
        Some(got)
    }

    /// Gives pages back once their request has completed.
    pub fn put(&mut self, pages: Vec<SharedPage>) {
        self.free.extend(pages);
    }

    /// After a restore into a new domain, where every grant is void: end
    /// the old references (their entries are unused now, so this only
    /// returns them to the free list) and hand the pages over, ungranted,
    /// to `to`, the new connection's pool, which grants them again as it
    /// takes them. Every page must be free (nothing was in flight).
    pub fn hand_over<G: Grants>(&mut self, grants: &mut G, to: &mut Pool) {
        for mut page in self.free.drain(..).chain(self.spare.drain(..)) {
            if page.gref != 0 {
                let _ = grants.end(page.gref);
                page.gref = 0;
            }
            to.spare.push(page);
        }
        self.granted = 0;
        self.refs.clear();
    }

    /// Ends the grants of the free pages (on disconnect; in-flight pages
    /// must have been put back first). A page the backend still maps keeps
    /// its grant and is counted in `lingering`; none is reused.
    pub fn end<G: Grants>(&mut self, grants: &mut G) {
        for page in self.free.drain(..) {
            if !grants.end(page.gref) {
                self.lingering += 1;
            }
            self.granted -= 1;
        }
        // Nothing more is granted from a pool that was ended.
        self.cap = 0;
    }
}
