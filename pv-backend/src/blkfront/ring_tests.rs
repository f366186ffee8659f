//! The ring against a fake backend that works on the same memory, as
//! blkback would: its own req_cons and rsp_prod_pvt, responses pushed with
//! the notify rule on rsp_event, and req_event set when it goes idle.

use super::*;
use crate::blkfront::wire::{OP_READ, Request, Response};
use alloc::vec::Vec;
use std::boxed::Box;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// One leaked page of 0x55 bytes (init must overwrite what it owns).
fn page() -> NonNull<u8> {
    NonNull::new(Box::into_raw(Box::new(Page([0x55; 4096]))).cast()).unwrap()
}

fn ring() -> (FrontRing, Backend) {
    let base = page();
    // SAFETY: a leaked page; the fake backend touches it only volatilely.
    (unsafe { FrontRing::init(base, 4096) }, Backend::new(base))
}

struct Backend {
    base: *mut u8,
    req_cons: u32,
    rsp_prod_pvt: u32,
    /// Notifications the frontend owes per the rule, counted by the test.
    notifies_sent: u32,
}

impl Backend {
    fn new(base: NonNull<u8>) -> Self {
        Self {
            base: base.as_ptr(),
            req_cons: 0,
            rsp_prod_pvt: 0,
            notifies_sent: 0,
        }
    }
    fn word(&self, offset: usize) -> u32 {
        // SAFETY: inside the leaked page, 4-aligned.
        unsafe { self.base.add(offset).cast::<u32>().read_volatile() }
    }
    fn set_word(&self, offset: usize, v: u32) {
        // SAFETY: as in `word`.
        unsafe { self.base.add(offset).cast::<u32>().write_volatile(v) }
    }
    /// Consume every pushed request and answer each (status 0, id echoed);
    /// then go idle asking for a notification (req_event = req_cons + 1).
    /// Returns whether the frontend must be notified of the responses.
    fn serve(&mut self) -> bool {
        let old = self.rsp_prod_pvt;
        while self.req_cons != self.word(0) {
            let at = 64 + (self.req_cons % 32) as usize * 112;
            let mut slot = [0u8; 112];
            // SAFETY: slot `at` is inside the page.
            unsafe { core::ptr::copy_nonoverlapping(self.base.add(at), slot.as_mut_ptr(), 112) };
            self.req_cons += 1;
            let id = u64::from_le_bytes(slot[8..16].try_into().unwrap());
            let rsp = Response {
                id,
                operation: slot[0],
                status: 0,
            }
            .encode();
            let out = 64 + (self.rsp_prod_pvt % 32) as usize * 112;
            // SAFETY: as above.
            unsafe { core::ptr::copy_nonoverlapping(rsp.as_ptr(), self.base.add(out), 16) };
            self.rsp_prod_pvt += 1;
        }
        self.set_word(8, self.rsp_prod_pvt);
        self.set_word(4, self.req_cons.wrapping_add(1));
        must_notify(old, self.rsp_prod_pvt, self.word(12))
    }
}

fn request(id: u64) -> [u8; SLOT_LEN] {
    Request {
        operation: OP_READ,
        handle: 0,
        id,
        sector_number: 0,
        segments: Vec::new(),
    }
    .encode()
}

#[test]
fn sizes_are_the_headers() {
    // __CONST_RING_SIZE for 112-byte slots after a 64-byte header.
    assert_eq!(entries_in(4096), 32);
    assert_eq!(entries_in(2 * 4096), 64);
    assert_eq!(entries_in(4 * 4096), 128);
    assert_eq!(entries_in(16 * 4096), 512);
}

#[test]
fn init_writes_the_header_as_shared_ring_init() {
    let (_r, b) = ring();
    assert_eq!((b.word(0), b.word(4), b.word(8), b.word(12)), (0, 1, 0, 1));
    for off in (16..64).step_by(4) {
        assert_eq!(b.word(off), 0, "padding @{off}");
    }
    assert_eq!(b.word(64), 0x5555_5555, "slots are not the header's");
}

#[test]
fn the_notify_rule_is_the_event_index_in_old_new() {
    assert!(must_notify(0, 1, 1));
    assert!(
        !must_notify(1, 2, 1),
        "event behind old: the backend is busy"
    );
    assert!(must_notify(0, 5, 3));
    assert!(!must_notify(0, 5, 6));
    // Across the u32 wrap.
    assert!(must_notify(u32::MAX - 1, 2, 0));
    assert!(must_notify(u32::MAX - 1, 2, u32::MAX));
    assert!(!must_notify(u32::MAX - 1, 2, 3));
    assert!(!must_notify(u32::MAX - 1, 2, u32::MAX - 1));
}

#[test]
fn a_batch_costs_one_notify_and_a_busy_backend_none() {
    let (mut r, mut b) = ring();
    for id in 0..4 {
        assert!(r.put(&request(id)));
    }
    assert!(
        r.push(),
        "req_event 1: the idle backend wants the first one"
    );
    assert!(!r.push(), "nothing new: no notify");
    assert!(b.serve(), "rsp_event 1: the frontend asked");
    assert!(r.put(&request(4)));
    assert!(r.push(), "backend idle again at req_event = 5");
    // The backend has not looked since: one more push is not announced.
    assert!(r.put(&request(5)));
    assert!(!r.push());
    let _ = b.serve();
    let mut ids = Vec::new();
    while let Some(raw) = r.take().unwrap() {
        ids.push(Response::decode(&raw).id);
    }
    assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
    assert_eq!(r.outstanding(), 0);
}

#[test]
fn final_check_asks_for_the_next_response_and_sees_a_late_one() {
    let (mut r, mut b) = ring();
    assert!(!r.final_check().unwrap());
    assert_eq!(b.word(12), 1, "rsp_event = rsp_cons + 1");
    r.put(&request(9));
    r.push();
    assert!(b.serve(), "the event set by final_check asks for it");
    assert!(r.final_check().unwrap(), "a response is waiting");
    assert!(r.take().unwrap().is_some());
    assert!(!r.final_check().unwrap());
    assert_eq!(b.word(12), 2);
}

#[test]
fn the_ring_fills_and_wraps_many_times() {
    let (mut r, mut b) = ring();
    let mut next = 0u64;
    let mut seen = 0u64;
    for _round in 0..100 {
        while r.put(&request(next)) {
            next += 1;
        }
        assert_eq!(r.free(), 0);
        if r.push() {
            b.notifies_sent += 1;
        }
        b.serve();
        while let Some(raw) = r.take().unwrap() {
            assert_eq!(Response::decode(&raw).id, seen, "in order, none lost");
            seen += 1;
        }
    }
    assert_eq!((next, seen), (3200, 3200));
    assert_eq!(b.notifies_sent, 100, "one per batch");
}

#[test]
fn a_rsp_prod_beyond_the_requests_kills_the_ring() {
    let (mut r, b) = ring();
    r.put(&request(1));
    r.push();
    b.set_word(8, 2);
    let fault = r.take().unwrap_err();
    assert_eq!(
        fault,
        RingFault::Corrupt {
            rsp_prod: 2,
            rsp_cons: 0,
            req_prod: 1
        }
    );
    assert!(std::format!("{fault}").contains("corrupt"));
    b.set_word(8, 1);
    assert_eq!(r.take(), Err(fault), "dead for good");
    assert!(!r.put(&request(2)));
    assert!(r.final_check().is_err());
}

#[test]
fn a_rsp_prod_behind_rsp_cons_is_corrupt_too() {
    let (mut r, b) = ring();
    b.set_word(8, u32::MAX);
    assert!(matches!(
        r.take(),
        Err(RingFault::Corrupt {
            rsp_prod: u32::MAX,
            ..
        })
    ));
}

#[test]
fn a_response_is_a_copy_the_backend_cannot_change_later() {
    let (mut r, mut b) = ring();
    r.put(&request(77));
    r.push();
    b.serve();
    let raw = r.take().unwrap().unwrap();
    b.set_word(64, 0xdead); // rewrites the slot's id afterwards
    assert_eq!(Response::decode(&raw).id, 77);
}
