//! The xenstore page itself: the one place that reads and writes memory
//! xenstored shares with us, volatilely, at the offsets of
//! `struct xenstore_domain_interface` (public/io/xs_wire.h).

use core::ptr::NonNull;

use super::ring::{RING_SIZE, RingPage};

/// Offsets in `struct xenstore_domain_interface`.
const REQ: usize = 0;
const RSP: usize = 1024;
const REQ_CONS: usize = 2048;
const REQ_PROD: usize = 2052;
const RSP_CONS: usize = 2056;
const RSP_PROD: usize = 2060;

/// The shared page, read and written volatilely: xenstored writes it.
pub struct StorePage(NonNull<u8>);

// SAFETY: the page is reached only through `&mut StorePage` (the client
// sits behind one lock), so moving it between contexts is sound.
unsafe impl Send for StorePage {}

impl StorePage {
    /// # Safety
    /// `page` must be the mapped 4 KiB xenstore page, used by nothing else
    /// in this program for as long as the `StorePage` lives.
    pub unsafe fn new(page: NonNull<u8>) -> Self {
        StorePage(page)
    }
}

impl StorePage {
    fn word(&self, offset: usize) -> u32 {
        // SAFETY: the page is mapped and ours to read for the client's
        // life (`StorePage::new`); `offset` is one of the four aligned
        // index fields, inside the page.
        unsafe { self.0.as_ptr().add(offset).cast::<u32>().read_volatile() }
    }

    fn set_word(&mut self, offset: usize, value: u32) {
        // SAFETY: as in `word`; the client owns the fields it writes.
        unsafe {
            self.0
                .as_ptr()
                .add(offset)
                .cast::<u32>()
                .write_volatile(value)
        }
    }
}

impl RingPage for StorePage {
    fn req_cons(&self) -> u32 {
        self.word(REQ_CONS)
    }
    fn req_prod(&self) -> u32 {
        self.word(REQ_PROD)
    }
    fn set_req_prod(&mut self, value: u32) {
        self.set_word(REQ_PROD, value);
    }
    fn rsp_cons(&self) -> u32 {
        self.word(RSP_CONS)
    }
    fn set_rsp_cons(&mut self, value: u32) {
        self.set_word(RSP_CONS, value);
    }
    fn rsp_prod(&self) -> u32 {
        self.word(RSP_PROD)
    }
    fn write_req(&mut self, at: usize, byte: u8) {
        debug_assert!(at < RING_SIZE as usize);
        // SAFETY: `at` < 1024 (the ring logic masks it): inside `req`.
        unsafe { self.0.as_ptr().add(REQ + at).write_volatile(byte) }
    }
    fn read_rsp(&self, at: usize) -> u8 {
        debug_assert!(at < RING_SIZE as usize);
        // SAFETY: `at` < 1024: inside `rsp`.
        unsafe { self.0.as_ptr().add(RSP + at).read_volatile() }
    }
}
