//! The driver against a fake blkback on the same ring memory, with a fake
//! grant table that remembers which page each reference grants, so the
//! backend moves real bytes between a disk image and the granted pages.

use super::*;
use crate::blkfront::pool::SharedPage;
use crate::blkfront::ring::must_notify;
use crate::blkfront::wire::{OP_FLUSH_DISKCACHE, OP_INDIRECT, OP_READ, OP_WRITE, RSP_EOPNOTSUPP};
use core::ptr::NonNull;
use std::boxed::Box;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

#[repr(C, align(4096))]
struct Page([u8; 4096]);

#[derive(Default)]
struct Table {
    /// gref -> (page address, readonly, mapped by the backend).
    live: BTreeMap<u32, (u64, bool, bool)>,
    next: u32,
    limit: usize,
    /// Pages `shared_page` may still give.
    pages_left: usize,
}

#[derive(Clone, Default)]
struct FakeGrants(Rc<RefCell<Table>>);

impl Grants for FakeGrants {
    fn grant(&mut self, page: u64, readonly: bool) -> Option<u32> {
        let mut t = self.0.borrow_mut();
        if t.limit != 0 && t.live.len() >= t.limit {
            return None;
        }
        t.next += 1;
        let g = t.next;
        t.live.insert(g, (page, readonly, false));
        Some(g)
    }
    fn end(&mut self, gref: u32) -> bool {
        let mut t = self.0.borrow_mut();
        match t.live.get(&gref) {
            Some((_, _, true)) => false,
            Some(_) => {
                t.live.remove(&gref);
                true
            }
            None => panic!("end of a grant never made: {gref}"),
        }
    }
    fn shared_page(&mut self) -> Option<SharedPage> {
        let mut t = self.0.borrow_mut();
        if t.pages_left == 0 {
            return None;
        }
        t.pages_left -= 1;
        let page = NonNull::new(Box::into_raw(Box::new(Page([0; 4096]))).cast())?;
        // SAFETY: a leaked page, used by nothing else, never freed.
        Some(unsafe { SharedPage::new(page) })
    }
}

#[derive(Clone, Default)]
struct Doorbell(Rc<RefCell<u64>>);
impl Bell for Doorbell {
    fn notify(&mut self) {
        *self.0.borrow_mut() += 1;
    }
}

/// The disk's byte `i`: a pattern the driver does not compute.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(2654435761) >> 13) as u8
}

struct Blkback {
    base: *mut u8,
    grants: FakeGrants,
    disk: Vec<u8>,
    req_cons: u32,
    rsp_prod_pvt: u32,
    ops: Vec<u8>,
    /// The data grefs of each request taken, in order.
    seen: Vec<Vec<u32>>,
}

impl Blkback {
    fn word(&self, off: usize) -> u32 {
        // SAFETY: inside the leaked ring page.
        unsafe { self.base.add(off).cast::<u32>().read_volatile() }
    }
    fn set_word(&self, off: usize, v: u32) {
        // SAFETY: as in `word`.
        unsafe { self.base.add(off).cast::<u32>().write_volatile(v) }
    }
    fn page(&self, gref: u32, write: bool) -> *mut u8 {
        let t = self.grants.0.borrow();
        let (addr, ro, _) = t.live[&gref];
        assert!(!(write && ro), "the backend wrote a read-only grant");
        addr as *mut u8
    }
    fn segments_of(&self, slot: &[u8]) -> (u8, u64, Vec<(u32, u8, u8)>) {
        let sector = u64::from_le_bytes(slot[16..24].try_into().unwrap());
        let seg = |b: &[u8]| (u32::from_le_bytes(b[0..4].try_into().unwrap()), b[4], b[5]);
        if slot[0] != OP_INDIRECT {
            let n = slot[1] as usize;
            return (
                slot[0],
                sector,
                (0..n).map(|i| seg(&slot[24 + 8 * i..])).collect(),
            );
        }
        let n = u16::from_le_bytes([slot[2], slot[3]]) as usize;
        let mut segs = Vec::new();
        for i in 0..n {
            let gref = u32::from_le_bytes(slot[28 + 4 * (i / 512)..][..4].try_into().unwrap());
            let list = self.page(gref, false);
            let mut b = [0u8; 8];
            // SAFETY: the granted indirect page, 512 segments of 8 bytes.
            unsafe { core::ptr::copy_nonoverlapping(list.add(8 * (i % 512)), b.as_mut_ptr(), 8) };
            segs.push(seg(&b));
        }
        (slot[1], sector, segs)
    }
    fn respond(&mut self, id: u64, op: u8, status: i16) {
        let rsp = Response {
            id,
            operation: op,
            status,
        }
        .encode();
        let at = 64 + (self.rsp_prod_pvt % 32) as usize * 112;
        // SAFETY: a slot of the ring page.
        unsafe { core::ptr::copy_nonoverlapping(rsp.as_ptr(), self.base.add(at), 16) };
        self.rsp_prod_pvt += 1;
    }
    /// Takes the next request, does it, and returns its id and op (no
    /// response yet).
    fn next(&mut self) -> Option<(u64, u8)> {
        if self.req_cons == self.word(0) {
            return None;
        }
        let at = 64 + (self.req_cons % 32) as usize * 112;
        let mut slot = [0u8; 112];
        // SAFETY: a slot of the ring page.
        unsafe { core::ptr::copy_nonoverlapping(self.base.add(at), slot.as_mut_ptr(), 112) };
        self.req_cons += 1;
        let id = u64::from_le_bytes(slot[8..16].try_into().unwrap());
        let (op, sector, segs) = self.segments_of(&slot);
        self.ops.push(op);
        self.seen.push(segs.iter().map(|s| s.0).collect());
        let mut pos = sector as usize * 512;
        for (gref, first, last) in segs {
            let page = self.page(gref, op == OP_READ);
            for s in first..=last {
                for b in 0..512 {
                    let p = s as usize * 512 + b;
                    // SAFETY: within the granted page.
                    unsafe {
                        if op == OP_READ {
                            *page.add(p) = self.disk[pos];
                        } else if op == OP_WRITE {
                            self.disk[pos] = *page.add(p);
                        }
                    }
                    pos += 1;
                }
            }
        }
        Some((id, slot[0]))
    }
    /// Answers everything pushed, then idles asking for a notify.
    fn serve(&mut self) {
        while let Some((id, op)) = self.next() {
            self.respond(id, op, 0);
        }
        self.publish();
    }
    fn publish(&mut self) {
        let old = self.word(8);
        self.set_word(8, self.rsp_prod_pvt);
        self.set_word(4, self.req_cons + 1);
        let _ = must_notify(old, self.rsp_prod_pvt, self.word(12));
    }
}

fn setup(features: Features) -> (Front<FakeGrants, Doorbell>, Blkback, Doorbell) {
    let base = NonNull::new(Box::into_raw(Box::new(Page([0; 4096]))).cast()).unwrap();
    // SAFETY: a leaked page; the fake backend touches it only volatilely.
    let ring = unsafe { FrontRing::init(base, 4096) };
    let grants = FakeGrants::default();
    grants.0.borrow_mut().pages_left = 1 << 20;
    let bell = Doorbell::default();
    let back = Blkback {
        base: base.as_ptr(),
        grants: grants.clone(),
        disk: (0..1 << 20).map(pattern).collect(),
        req_cons: 0,
        rsp_prod_pvt: 0,
        ops: Vec::new(),
        seen: Vec::new(),
    };
    (
        Front::new(ring, grants, bell.clone(), 51712, features),
        back,
        bell,
    )
}

const DIRECT: Features = Features {
    indirect_segments: 0,
    flush: FlushKind::FlushCache,
    persistent: false,
};
const INDIRECT: Features = Features {
    indirect_segments: 256,
    flush: FlushKind::FlushCache,
    persistent: false,
};

fn req(id: u64, op: Operation, lba: u64, sectors: usize) -> Request {
    Request {
        id: RequestId(id),
        op,
        lba,
        buffer: BlockBuffer::zeroed(sectors * 512),
    }
}

fn all(front: &mut Front<FakeGrants, Doorbell>) -> Vec<Completion> {
    core::iter::from_fn(|| front.poll()).collect()
}

#[test]
fn reads_bring_the_disks_bytes_and_end_their_grants() {
    let (mut f, mut b, _) = setup(DIRECT);
    assert!(f.submit(req(1, Operation::Read, 3, 17)).is_ok());
    assert_eq!(b.grants.0.borrow().live.len(), 3, "one grant per page");
    b.serve();
    let c = all(&mut f);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].status, Ok(()));
    let mut got = vec![0; 17 * 512];
    c[0].buffer.read_at(0, &mut got);
    let want: Vec<u8> = (3 * 512..20 * 512).map(pattern).collect();
    assert_eq!(got, want);
    assert!(b.grants.0.borrow().live.is_empty(), "grants ended");
}

#[test]
fn writes_are_granted_read_only_and_land_on_the_disk() {
    let (mut f, mut b, _) = setup(DIRECT);
    let data: Vec<u8> = (0..8192).map(|i| (i % 251) as u8).collect();
    let r = Request {
        id: RequestId(2),
        op: Operation::Write,
        lba: 100,
        buffer: BlockBuffer::from_bytes(&data),
    };
    f.submit(r).ok().unwrap();
    assert!(b.grants.0.borrow().live.values().all(|(_, ro, _)| *ro));
    b.serve();
    assert_eq!(all(&mut f)[0].status, Ok(()));
    assert_eq!(&b.disk[100 * 512..100 * 512 + 8192], &data[..]);
}

#[test]
fn a_request_above_eleven_pages_goes_indirect() {
    let (mut f, mut b, _) = setup(INDIRECT);
    assert_eq!(max_sectors(&f.features()), 2048);
    f.submit(req(3, Operation::Read, 0, 2048)).ok().unwrap();
    assert_eq!(
        b.grants.0.borrow().live.len(),
        257,
        "256 data pages + 1 list"
    );
    b.serve();
    let c = all(&mut f);
    assert_eq!(c[0].status, Ok(()));
    let mut got = vec![0; 1 << 20];
    c[0].buffer.read_at(0, &mut got);
    assert!(got.iter().enumerate().all(|(i, x)| *x == pattern(i)));
    assert_eq!((b.ops[0], f.stats.indirect), (OP_READ, 1));
    assert!(b.grants.0.borrow().live.is_empty());
    assert_eq!(max_sectors(&DIRECT), 88);
}

#[test]
fn a_full_queue_costs_one_notification() {
    let (mut f, mut b, bell) = setup(DIRECT);
    for id in 0..32 {
        assert!(f.submit(req(id, Operation::Read, id, 1)).is_ok());
    }
    assert!(
        f.submit(req(99, Operation::Read, 0, 1)).is_err(),
        "32 slots busy"
    );
    assert_eq!(
        (f.stats.requests, f.stats.notifications, *bell.0.borrow()),
        (32, 1, 1)
    );
    b.serve();
    let c = all(&mut f);
    assert_eq!(c.len(), 32);
    for done in &c {
        let mut first = [0u8; 1];
        done.buffer.read_at(0, &mut first);
        assert_eq!(
            first[0],
            pattern(done.id.0 as usize * 512),
            "each its own data"
        );
    }
    // The backend idles with req_event = 33: the next request notifies.
    f.submit(req(40, Operation::Read, 0, 1)).ok().unwrap();
    assert_eq!(f.stats.notifications, 2);
}

#[test]
fn bad_and_repeated_ids_are_counted_not_believed() {
    let (mut f, mut b, _) = setup(DIRECT);
    f.submit(req(1, Operation::Read, 0, 1)).ok().unwrap();
    f.submit(req(2, Operation::Read, 0, 1)).ok().unwrap();
    let (id1, op) = b.next().unwrap();
    let _ = b.next().unwrap();
    b.respond(id1, op, 0);
    b.respond(id1, op, 0); // a repeat instead of the second answer
    b.publish();
    let c = all(&mut f);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].id, RequestId(1));
    assert_eq!(f.stats.bad_responses, 1);
    assert_eq!(f.in_flight(), 1, "request 2 is still waiting");
    // An id out of range, and one whose slot is right but generation wrong.
    f.submit(req(3, Operation::Read, 0, 1)).ok().unwrap();
    let _ = b.next().unwrap();
    b.respond(0xffff_ffff, OP_READ, 0);
    b.publish();
    assert!(f.poll().is_none());
    assert_eq!(f.stats.bad_responses, 2);
}

#[test]
fn a_wrong_operation_or_status_fails_that_request() {
    let (mut f, mut b, _) = setup(DIRECT);
    f.submit(req(1, Operation::Read, 0, 1)).ok().unwrap();
    f.submit(req(2, Operation::Flush, 0, 0)).ok().unwrap();
    let (id1, _) = b.next().unwrap();
    let (id2, op2) = b.next().unwrap();
    assert_eq!(op2, OP_FLUSH_DISKCACHE);
    b.respond(id1, OP_WRITE, 0);
    b.respond(id2, op2, RSP_EOPNOTSUPP);
    b.publish();
    let c = all(&mut f);
    assert!(matches!(c[0].status, Err(BlockError::Io(m)) if m.contains("another operation")));
    assert!(matches!(c[1].status, Err(BlockError::Io(m)) if m.contains("EOPNOTSUPP")));
}

#[test]
fn without_flush_or_barrier_a_flush_fails_clearly() {
    let (mut f, _, _) = setup(Features {
        indirect_segments: 0,
        flush: FlushKind::None,
        persistent: false,
    });
    f.submit(req(1, Operation::Flush, 0, 0)).ok().unwrap();
    let c = f.poll().unwrap();
    assert!(matches!(c.status, Err(BlockError::Io(m)) if m.contains("neither")));
}

#[test]
fn a_corrupt_ring_fails_everything_outstanding_and_later() {
    let (mut f, b, _) = setup(DIRECT);
    f.submit(req(1, Operation::Read, 0, 1)).ok().unwrap();
    f.submit(req(2, Operation::Read, 0, 1)).ok().unwrap();
    b.set_word(8, 40);
    let c = all(&mut f);
    assert_eq!(c.len(), 2);
    assert!(
        c.iter()
            .all(|c| matches!(c.status, Err(BlockError::Io(m)) if m.contains("corrupt")))
    );
    assert!(b.grants.0.borrow().live.is_empty());
    f.submit(req(3, Operation::Read, 0, 1)).ok().unwrap();
    assert!(f.poll().unwrap().status.is_err());
}

#[test]
fn a_disconnect_fails_outstanding_requests() {
    let (mut f, _, _) = setup(DIRECT);
    f.submit(req(1, Operation::Write, 0, 1)).ok().unwrap();
    f.stop(BlockError::Disconnected);
    assert_eq!(f.poll().unwrap().status, Err(BlockError::Disconnected));
    f.submit(req(2, Operation::Read, 0, 1)).ok().unwrap();
    assert_eq!(f.poll().unwrap().status, Err(BlockError::Disconnected));
}

#[test]
fn a_page_the_backend_still_maps_is_withheld() {
    let (mut f, mut b, _) = setup(DIRECT);
    f.submit(req(1, Operation::Read, 0, 8)).ok().unwrap();
    for v in b.grants.0.borrow_mut().live.values_mut() {
        v.2 = true;
    }
    b.serve();
    let c = f.poll().unwrap();
    assert!(matches!(c.status, Err(BlockError::Io(m)) if m.contains("withheld")));
    assert_eq!(c.buffer.len(), 4096, "a fresh buffer of the same length");
    assert_eq!(f.stats.withheld, 1);
}

#[test]
fn out_of_grants_waits_while_others_are_in_flight() {
    let (mut f, mut b, _) = setup(DIRECT);
    b.grants.0.borrow_mut().limit = 3;
    f.submit(req(1, Operation::Read, 0, 16)).ok().unwrap();
    let back = f.submit(req(2, Operation::Read, 0, 16)).unwrap_err();
    assert_eq!(
        b.grants.0.borrow().live.len(),
        2,
        "the refused one left nothing granted"
    );
    b.serve();
    assert_eq!(all(&mut f).len(), 1);
    f.submit(back).ok().unwrap();
    b.serve();
    assert_eq!(all(&mut f)[0].status, Ok(()));
    // Four pages can never fit three grants: with nothing in flight to
    // wait for, the request fails instead of spinning.
    f.submit(req(3, Operation::Read, 0, 32)).ok().unwrap();
    let c = f.poll().unwrap();
    assert!(matches!(c.status, Err(BlockError::Io(m)) if m.contains("grant")));
}

const PERSIST: Features = Features {
    indirect_segments: 256,
    flush: FlushKind::FlushCache,
    persistent: true,
};

/// A persistent backend: it keeps every grant it saw mapped.
fn map_all(b: &Blkback) {
    for v in b.grants.0.borrow_mut().live.values_mut() {
        v.2 = true;
    }
}

#[test]
fn persistent_grants_are_the_same_pages_request_after_request() {
    let (mut f, mut b, _) = setup(PERSIST);
    assert_eq!(max_sectors(&f.features()), 128, "16 segments of 4 KiB");
    f.submit(req(1, Operation::Read, 0, 16)).ok().unwrap();
    b.serve();
    map_all(&b);
    assert_eq!(all(&mut f)[0].status, Ok(()));
    let first = b.seen[0].clone();
    assert_eq!(f.pool().unwrap().granted(), 2);
    for lba in [8, 40, 0] {
        f.submit(req(2, Operation::Read, lba, 16)).ok().unwrap();
        b.serve();
        map_all(&b);
        let c = all(&mut f);
        assert_eq!(c[0].status, Ok(()));
        let mut got = vec![0; 2 * 4096];
        c[0].buffer.read_at(0, &mut got);
        let want: Vec<u8> = (lba as usize * 512..lba as usize * 512 + 8192)
            .map(pattern)
            .collect();
        assert_eq!(got, want, "the pool's pages copied out at lba {lba}");
    }
    let mut sets: Vec<Vec<u32>> = b
        .seen
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.sort();
            s
        })
        .collect();
    sets.dedup();
    assert_eq!(
        sets.len(),
        1,
        "every request used the same grefs: {:?}",
        b.seen
    );
    assert!(first.iter().all(|g| f.pool().unwrap().refs().contains(g)));
    let t = b.grants.0.borrow();
    assert_eq!(t.live.len(), 2, "granted once, never ended while connected");
    assert!(
        t.live.values().all(|(_, ro, _)| !ro),
        "persistent grants are rw"
    );
    drop(t);
    assert_eq!(
        (f.stats.pooled, f.stats.withheld, f.stats.fallbacks),
        (4, 0, 0)
    );
}

#[test]
fn writes_and_indirect_reads_go_through_the_pool_intact() {
    let (mut f, mut b, _) = setup(PERSIST);
    let data: Vec<u8> = (0..16 * 4096).map(|i| (i % 253) as u8).collect();
    let w = Request {
        id: RequestId(1),
        op: Operation::Write,
        lba: 300,
        buffer: BlockBuffer::from_bytes(&data),
    };
    f.submit(w).ok().unwrap();
    b.serve();
    map_all(&b);
    assert_eq!(all(&mut f)[0].status, Ok(()));
    assert_eq!(b.ops[0], OP_WRITE, "16 segments: indirect, inner op write");
    assert_eq!(&b.disk[300 * 512..300 * 512 + data.len()], &data[..]);
    assert_eq!(f.pool().unwrap().granted(), 17, "16 data pages + the list");
    assert_eq!(f.stats.indirect, 1);
    // Read it back (and a short tail page) through the same pages.
    f.submit(req(2, Operation::Read, 300, 128)).ok().unwrap();
    f.submit(req(3, Operation::Read, 301, 3)).ok().unwrap();
    b.serve();
    let c = all(&mut f);
    let mut got = vec![0; data.len()];
    c[0].buffer.read_at(0, &mut got);
    assert_eq!(got, data);
    let mut tail = vec![0; 3 * 512];
    c[1].buffer.read_at(0, &mut tail);
    assert_eq!(&tail[..], &data[512..512 + 3 * 512]);
    assert_eq!(
        f.pool().unwrap().granted(),
        18,
        "the second request needed one more"
    );
    let refs = f.pool().unwrap().refs().to_vec();
    assert!(
        b.seen.iter().flatten().all(|g| refs.contains(g)),
        "all pool pages"
    );
    assert_eq!(b.grants.0.borrow().live.len(), 18, "no other grant made");
}

#[test]
fn an_exhausted_pool_waits_then_falls_back_to_per_request_grants() {
    let (mut f, mut b, _) = setup(PERSIST);
    f.set_pool_cap(2);
    f.submit(req(1, Operation::Read, 0, 8)).ok().unwrap();
    let back = f.submit(req(2, Operation::Read, 8, 16)).unwrap_err();
    assert_eq!(f.stats.pool_waits, 1, "waits while a request holds pages");
    b.serve();
    map_all(&b);
    assert_eq!(all(&mut f)[0].status, Ok(()));
    f.submit(back).ok().unwrap();
    b.serve();
    let c = all(&mut f);
    assert_eq!(c[0].status, Ok(()), "fits the two pages");
    // Four pages with nothing in flight: per-request grants of the buffer.
    let data: Vec<u8> = (0..4 * 4096).map(|i| (i % 241) as u8).collect();
    let w = Request {
        id: RequestId(3),
        op: Operation::Write,
        lba: 50,
        buffer: BlockBuffer::from_bytes(&data),
    };
    f.submit(w).ok().unwrap();
    assert_eq!(f.stats.fallbacks, 1);
    {
        let t = b.grants.0.borrow();
        assert_eq!(t.live.len(), 6, "2 pool pages + 4 per-request grants");
        assert!(
            t.live.values().all(|(_, ro, _)| !ro),
            "rw for a persistent backend"
        );
    }
    b.serve();
    assert_eq!(all(&mut f)[0].status, Ok(()));
    assert_eq!(&b.disk[50 * 512..50 * 512 + data.len()], &data[..]);
    f.submit(req(4, Operation::Read, 50, 32)).ok().unwrap();
    b.serve();
    let c = all(&mut f);
    let mut got = vec![0; data.len()];
    c[0].buffer.read_at(0, &mut got);
    assert_eq!(got, data);
    assert_eq!(f.stats.fallbacks, 2);
    assert_eq!(
        b.grants.0.borrow().live.len(),
        2,
        "per-request grants ended"
    );
}

#[test]
fn a_pool_without_memory_falls_back_at_once() {
    let (mut f, mut b, _) = setup(PERSIST);
    b.grants.0.borrow_mut().pages_left = 0;
    f.submit(req(1, Operation::Read, 5, 8)).ok().unwrap();
    b.serve();
    let c = all(&mut f);
    assert_eq!(c[0].status, Ok(()));
    let mut got = vec![0; 4096];
    c[0].buffer.read_at(0, &mut got);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, x)| *x == pattern(5 * 512 + i))
    );
    assert_eq!((f.stats.fallbacks, f.pool().unwrap().granted()), (1, 0));
}

#[test]
fn persistent_off_grants_per_request_as_before() {
    let (mut f, mut b, _) = setup(INDIRECT);
    assert!(f.pool().is_none());
    f.submit(req(1, Operation::Read, 0, 8)).ok().unwrap();
    f.submit(req(2, Operation::Read, 0, 8)).ok().unwrap();
    b.serve();
    assert_eq!(all(&mut f).len(), 2);
    assert_ne!(b.seen[0], b.seen[1], "fresh grants per request");
    assert!(b.grants.0.borrow().live.is_empty());
    assert_eq!(f.stats.pooled, 0);
    // And the handshake does not offer them.
    let keys = crate::blkfront::handshake::ring_keys(&crate::blkfront::handshake::RingSetup {
        refs: vec![1],
        port: 2,
        persistent: false,
    });
    assert!(keys.iter().all(|(k, _)| k != "feature-persistent"));
}

#[test]
fn a_bad_response_to_a_pooled_request_is_as_strict_and_keeps_the_pool() {
    let (mut f, mut b, _) = setup(PERSIST);
    f.submit(req(1, Operation::Read, 0, 8)).ok().unwrap();
    f.submit(req(9, Operation::Read, 0, 8)).ok().unwrap();
    let (id, _) = b.next().unwrap();
    let _ = b.next().unwrap(); // answered by the bad one below
    b.respond(id ^ (1 << 16), OP_READ, 0); // wrong generation
    b.respond(id, OP_WRITE, 0); // wrong operation
    b.publish();
    let c = all(&mut f);
    assert_eq!(c.len(), 1);
    assert!(
        matches!(c[0].status, Err(BlockError::Io(m)) if m.contains("another operation")),
        "{:?}",
        c[0].status
    );
    assert_eq!(f.stats.bad_responses, 1);
    let mut got = vec![1; 4096];
    c[0].buffer.read_at(0, &mut got);
    assert!(
        got.iter().all(|x| *x == 0),
        "a failed read copies nothing out"
    );
    assert_eq!(f.in_flight(), 1, "request 9 still waits");
    f.submit(req(2, Operation::Read, 0, 8)).ok().unwrap();
    assert_eq!(f.pool().unwrap().granted(), 2, "request 1's page came back");
}

#[test]
fn a_disconnect_ends_the_pools_grants_unless_still_mapped() {
    let (mut f, mut b, _) = setup(PERSIST);
    f.submit(req(1, Operation::Read, 0, 16)).ok().unwrap();
    b.serve();
    all(&mut f);
    f.submit(req(2, Operation::Read, 0, 8)).ok().unwrap();
    // One page the backend still maps; the other it has unmapped.
    let keep = b.seen[0][0];
    b.grants.0.borrow_mut().live.get_mut(&keep).unwrap().2 = true;
    f.stop(BlockError::Disconnected);
    assert_eq!(f.poll().unwrap().status, Err(BlockError::Disconnected));
    let t = b.grants.0.borrow();
    assert_eq!(t.live.keys().copied().collect::<Vec<_>>(), [keep]);
    drop(t);
    assert_eq!(f.pool().unwrap().lingering, 1);
    f.submit(req(3, Operation::Read, 0, 8)).ok().unwrap();
    assert_eq!(f.poll().unwrap().status, Err(BlockError::Disconnected));
}

#[test]
fn after_a_restore_the_new_connection_grants_the_old_pools_pages_again() {
    let (mut old, b, _) = setup(PERSIST);
    let mut b = b;
    old.submit(req(1, Operation::Read, 0, 16)).ok().unwrap();
    b.serve();
    map_all(&b);
    assert_eq!(all(&mut old)[0].status, Ok(()));
    assert_eq!(old.pool().unwrap().granted(), 2);
    // The restore: the old domain's grant table is gone, nothing maps the
    // old references any more.
    for v in b.grants.0.borrow_mut().live.values_mut() {
        v.2 = false;
    }
    // The new connection may allocate no page: the old ones must do.
    let (mut new, mut b2, _) = setup(PERSIST);
    b2.grants.0.borrow_mut().pages_left = 0;
    new.take_over(&mut old);
    assert!(b.grants.0.borrow().live.is_empty(), "old references ended");
    assert_eq!(new.stats.pooled, 1, "counters carried over");
    assert_eq!(new.pool().unwrap().granted(), 0, "nothing granted yet");
    new.submit(req(2, Operation::Read, 40, 16)).ok().unwrap();
    b2.serve();
    let c = all(&mut new);
    assert_eq!(c[0].status, Ok(()));
    let mut got = vec![0; 2 * 4096];
    c[0].buffer.read_at(0, &mut got);
    let want: Vec<u8> = (40 * 512..40 * 512 + 8192).map(pattern).collect();
    assert_eq!(got, want);
    assert_eq!(
        new.pool().unwrap().granted(),
        2,
        "the old pages, granted again"
    );
    assert_eq!((new.stats.pooled, new.stats.fallbacks), (2, 0));
    assert_eq!(b2.grants.0.borrow().live.len(), 2);
}
