//! The blkif shared ring, frontend side (`xen/include/public/io/ring.h`):
//! a 64-byte header (req_prod @0, req_event @4, rsp_prod @8, rsp_event
//! @12, padding to 64) and then slots of 112 bytes, as many as fit,
//! rounded down to a power of two (32 in one page).
//!
//! The frontend owns req_prod_pvt and rsp_cons (private) and writes
//! req_prod and rsp_event; the backend writes req_event, rsp_prod and the
//! responses. Every byte of the ring is reached through `volatile`
//! pointers, and every index the backend writes is checked before it is
//! used: a rsp_prod that claims more responses than requests were pushed
//! (or than the ring holds) is a corrupt ring, which kills it for good.
//! Responses are copied out of their slot before anyone looks at them.

use core::ptr::NonNull;
use core::sync::atomic::{Ordering, fence};
use volatile::{VolatilePtr, map_field};

use super::wire::{RESPONSE_LEN, SLOT_LEN};

/// The shared ring's header (`struct blkif_sring` before `ring[]`).
#[repr(C)]
struct SringHeader {
    req_prod: u32,
    req_event: u32,
    rsp_prod: u32,
    rsp_event: u32,
    pvt: [u8; 4],
    pad: [u8; 44],
}
const HEADER_LEN: usize = 64;
const _: () = assert!(size_of::<SringHeader>() == HEADER_LEN);

/// Slots in a ring of `bytes` bytes: `__CONST_RING_SIZE`, the largest
/// power of two that fits (1 page: 32, 16 pages: 512).
pub const fn entries_in(bytes: usize) -> u32 {
    let fit = ((bytes - HEADER_LEN) / SLOT_LEN) as u32;
    if fit == 0 {
        0
    } else {
        1 << (31 - fit.leading_zeros())
    }
}

/// Whether the other end asked to be told of a move of its index from
/// `old` to `new`: it set its event index in (old, new], in wrapping u32
/// arithmetic (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`).
pub fn must_notify(old: u32, new: u32, event: u32) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

/// The ring is unusable; every outstanding request fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingFault {
    /// The backend's rsp_prod claims responses for requests never pushed.
    Corrupt {
        rsp_prod: u32,
        rsp_cons: u32,
        req_prod: u32,
    },
}

impl core::fmt::Display for RingFault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Corrupt {
                rsp_prod,
                rsp_cons,
                req_prod,
            } => write!(
                f,
                "corrupt blkif ring: backend rsp_prod {rsp_prod} with rsp_cons {rsp_cons} \
                 and req_prod {req_prod}"
            ),
        }
    }
}

/// The frontend's view of one shared ring.
pub struct FrontRing {
    base: NonNull<u8>,
    size: u32,
    req_prod_pvt: u32,
    /// What was last published in req_prod.
    req_prod: u32,
    rsp_cons: u32,
    fault: Option<RingFault>,
}

// SAFETY: the ring memory is reached only through volatile pointers from
// the owner of this value, which the driver keeps behind its lock.
unsafe impl Send for FrontRing {}

impl FrontRing {
    /// Initializes the ring in `bytes` bytes at `base` (SHARED_RING_INIT:
    /// both producers 0, both event indices 1, padding zeroed) and takes it.
    ///
    /// # Safety
    /// `base` must be `bytes` bytes of mapped, 8-aligned memory (at least
    /// 64 + 112), valid for the ring's life and reached by this program
    /// only through the returned value.
    pub unsafe fn init(base: NonNull<u8>, bytes: usize) -> Self {
        let ring = Self {
            base,
            size: entries_in(bytes),
            req_prod_pvt: 0,
            req_prod: 0,
            rsp_cons: 0,
            fault: None,
        };
        let h = ring.header();
        map_field!(h.req_prod).write(0);
        map_field!(h.rsp_prod).write(0);
        map_field!(h.req_event).write(1);
        map_field!(h.rsp_event).write(1);
        map_field!(h.pvt).write([0; 4]);
        map_field!(h.pad).write([0; 44]);
        fence(Ordering::SeqCst);
        ring
    }

    fn header(&self) -> VolatilePtr<'_, SringHeader> {
        // SAFETY: the header is the ring's first 64 bytes (init's contract),
        // accessed only volatilely.
        unsafe { VolatilePtr::new(self.base.cast()) }
    }

    fn slot<const N: usize>(&self, index: u32) -> VolatilePtr<'_, [u8; N]> {
        const { assert!(N <= SLOT_LEN) };
        let at = HEADER_LEN + (index & (self.size - 1)) as usize * SLOT_LEN;
        // SAFETY: the masked index is below `size`, whose slots all lie in
        // the ring's bytes (entries_in); volatile access only.
        unsafe { VolatilePtr::new(self.base.add(at).cast()) }
    }

    /// Slots in the ring.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Slots free for new requests.
    pub fn free(&self) -> u32 {
        self.size - self.req_prod_pvt.wrapping_sub(self.rsp_cons)
    }

    /// Requests pushed or queued whose responses were not consumed.
    pub fn outstanding(&self) -> u32 {
        self.req_prod_pvt.wrapping_sub(self.rsp_cons)
    }

    pub fn fault(&self) -> Option<RingFault> {
        self.fault
    }

    /// Writes a request into the next free slot (not yet visible to the
    /// backend: see [`Self::push`]); false if the ring is full or dead.
    pub fn put(&mut self, slot: &[u8; SLOT_LEN]) -> bool {
        if self.fault.is_some() || self.free() == 0 {
            return false;
        }
        self.slot::<SLOT_LEN>(self.req_prod_pvt).write(*slot);
        self.req_prod_pvt = self.req_prod_pvt.wrapping_add(1);
        true
    }

    /// Publishes the requests put so far; true if the backend asked to be
    /// notified of them (then the caller sends the event).
    pub fn push(&mut self) -> bool {
        let (old, new) = (self.req_prod, self.req_prod_pvt);
        if old == new {
            return false;
        }
        let h = self.header();
        // The slots before the index that makes them the backend's.
        fence(Ordering::Release);
        map_field!(h.req_prod).write(new);
        // The index before reading req_event: store then load needs a full
        // barrier, or we could miss a backend that just went to sleep.
        fence(Ordering::SeqCst);
        let event = map_field!(h.req_event).read();
        self.req_prod = new;
        must_notify(old, new, event)
    }

    /// The next response, copied out of the ring, or None if there is none
    /// yet. A rsp_prod out of range kills the ring ([`RingFault`]).
    pub fn take(&mut self) -> Result<Option<[u8; RESPONSE_LEN]>, RingFault> {
        if let Some(fault) = self.fault {
            return Err(fault);
        }
        let h = self.header();
        let rsp_prod = map_field!(h.rsp_prod).read();
        // The index before the slots it covers.
        fence(Ordering::Acquire);
        let ready = rsp_prod.wrapping_sub(self.rsp_cons);
        if ready > self.req_prod.wrapping_sub(self.rsp_cons) || ready > self.size {
            let fault = RingFault::Corrupt {
                rsp_prod,
                rsp_cons: self.rsp_cons,
                req_prod: self.req_prod,
            };
            self.fault = Some(fault);
            return Err(fault);
        }
        if ready == 0 {
            return Ok(None);
        }
        let bytes = self.slot::<RESPONSE_LEN>(self.rsp_cons).read();
        self.rsp_cons = self.rsp_cons.wrapping_add(1);
        Ok(Some(bytes))
    }

    /// RING_FINAL_CHECK_FOR_RESPONSES: with none left, ask the backend to
    /// notify the next one (rsp_event = rsp_cons + 1) and look once more,
    /// so a response that landed in between is not slept through. True if
    /// there is one to take.
    pub fn final_check(&mut self) -> Result<bool, RingFault> {
        if let Some(fault) = self.fault {
            return Err(fault);
        }
        let h = self.header();
        if map_field!(h.rsp_prod).read() != self.rsp_cons {
            return Ok(true);
        }
        map_field!(h.rsp_event).write(self.rsp_cons.wrapping_add(1));
        fence(Ordering::SeqCst);
        Ok(map_field!(h.rsp_prod).read() != self.rsp_cons)
    }
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;
