//! The xenstore page itself: the one place that reads and writes memory
//! xenstored shares with us. Every access goes through `volatile`'s
//! pointer types over `struct xenstore_domain_interface`
//! (public/io/xs_wire.h), so each read of a field the other domain writes
//! is visibly one, and none can be merged, cached or elided.

use core::ptr::NonNull;
use volatile::{VolatilePtr, map_field};

use super::ring::{RING_SIZE, RingPage};

/// `struct xenstore_domain_interface`, as far as a 4.17 guest uses it.
/// `server_features`, `connection` and `error` are declared for the
/// layout (and the size check) but not used: C xenstored 4.17 offers no
/// reconnection.
#[repr(C)]
pub struct XenstoreDomainInterface {
    req: [u8; RING_SIZE as usize],
    rsp: [u8; RING_SIZE as usize],
    req_cons: u32,
    req_prod: u32,
    rsp_cons: u32,
    rsp_prod: u32,
    server_features: u32,
    connection: u32,
    error: u32,
}

// Offsets from xs_wire.h: rsp at 1024, the indices from 2048, 2072 bytes.
const _: () = assert!(core::mem::offset_of!(XenstoreDomainInterface, rsp) == 1024);
const _: () = assert!(core::mem::offset_of!(XenstoreDomainInterface, req_cons) == 2048);
const _: () = assert!(core::mem::offset_of!(XenstoreDomainInterface, rsp_prod) == 2060);
const _: () = assert!(core::mem::offset_of!(XenstoreDomainInterface, error) == 2068 + 4);
const _: () = assert!(core::mem::size_of::<XenstoreDomainInterface>() == 2076);

/// The shared page: xenstored writes it while we read it.
pub struct StorePage(VolatilePtr<'static, XenstoreDomainInterface>);

// SAFETY: the page is reached only through `&mut StorePage` (the client
// sits behind one lock), so moving it between contexts is sound.
unsafe impl Send for StorePage {}

impl StorePage {
    /// # Safety
    /// `page` must be the mapped 4 KiB xenstore page, used by nothing else
    /// in this program for as long as the `StorePage` lives.
    pub unsafe fn new(page: NonNull<u8>) -> Self {
        // SAFETY: the caller hands over the mapped page for good; the
        // struct is 2076 bytes, inside it, and needs 4-byte alignment,
        // which a page has.
        StorePage(unsafe { VolatilePtr::new(page.cast()) })
    }

    /// Byte `at` of one of the two rings.
    fn ring_byte(
        ring: VolatilePtr<'static, [u8; RING_SIZE as usize]>,
        at: usize,
    ) -> VolatilePtr<'static, u8> {
        assert!(at < RING_SIZE as usize, "ring offset {at} past the ring");
        // SAFETY: `at` < RING_SIZE (checked above), so the byte lies inside
        // the array the pointer covers, with the same access rights.
        unsafe { ring.map(|array| array.cast::<u8>().add(at)) }
    }
}

impl RingPage for StorePage {
    fn req_cons(&self) -> u32 {
        let page = self.0;
        map_field!(page.req_cons).read()
    }
    fn req_prod(&self) -> u32 {
        let page = self.0;
        map_field!(page.req_prod).read()
    }
    fn set_req_prod(&mut self, value: u32) {
        let page = self.0;
        map_field!(page.req_prod).write(value);
    }
    fn rsp_cons(&self) -> u32 {
        let page = self.0;
        map_field!(page.rsp_cons).read()
    }
    fn set_rsp_cons(&mut self, value: u32) {
        let page = self.0;
        map_field!(page.rsp_cons).write(value);
    }
    fn rsp_prod(&self) -> u32 {
        let page = self.0;
        map_field!(page.rsp_prod).read()
    }
    fn write_req(&mut self, at: usize, byte: u8) {
        let page = self.0;
        Self::ring_byte(map_field!(page.req), at).write(byte);
    }
    fn read_rsp(&self, at: usize) -> u8 {
        let page = self.0;
        Self::ring_byte(map_field!(page.rsp), at).read()
    }
}
