//! blkfront's ring consumer and response handling (`virtus_pv::blkfront`:
//! the kernel's `Front` over the kernel's `FrontRing` on a real page)
//! against a fake blkback run by a script from the input: the guest
//! submits reads, writes and flushes; the backend answers the requests it
//! takes honestly, or writes responses with ids never issued, already
//! completed or of another generation, with other operations and
//! statuses, publishes `rsp_prod` honestly, or writes a hostile one
//! (behind, beyond `req_prod`, far ahead).
//!
//! A model replays the driver's view of the ring from the page itself:
//! the responses it will consume, in order, decoded independently; which
//! in-flight request each names (by the id the driver wrote into its
//! request slot); when the ring must be declared corrupt. Checked: every
//! completion is for a request submitted and comes once; its status is the
//! model's (a good response is success, a bad status or an echo of another
//! operation is its named error, a corrupt ring fails every outstanding
//! request with the ring's error); ignored responses are counted exactly;
//! the driver's in-flight count is the model's; no grant is ended twice or
//! ended unmade, and none is left once nothing is in flight.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use virtus_kernel::block::{BlockBuffer, BlockError, Completion, Operation, Request, RequestId};
use virtus_pv::blkfront::device::{Bell, Features, Front, Grants, max_sectors};
use virtus_pv::blkfront::handshake::FlushKind;
use virtus_pv::blkfront::pool;
use virtus_pv::blkfront::ring::FrontRing;

use super::shared_page::{Fields, SharedPage};
use super::{Outcome, Target};
use crate::mutate::{Hints, script_fields};

pub struct BlkifTarget;

/// The ring: 64-byte header (req_prod @0, req_event @4, rsp_prod @8,
/// rsp_event @12), then slots of 112 bytes: 32 in one page, 128 in the
/// four pages of `ring-page-order` 2 (flag 0x10).
const REQ_PROD: usize = 0;
const REQ_EVENT: usize = 4;
const RSP_PROD: usize = 8;
const SLOT_LEN: usize = 112;
const OP_INDIRECT: u8 = 6;
const CORRUPT: &str = "the backend corrupted the ring";

const HEADER: usize = 8;
const STEP: usize = 8;
const MAX_STEPS: usize = 320;

/// Each step: kind u8, a u8, b u16, v u32.
const FIELDS: [(usize, usize); 1 + 4 * 16] =
    script_fields(&[(0, 1)], HEADER, STEP, &[(0, 1), (1, 1), (2, 2), (4, 4)]);

const VALUES: [u64; 10] = [
    0x1_0000,
    0x2_0000,
    0x1_0001,
    32,
    33,
    0xffff,
    0xfffe, // status -2
    0x8000_0000,
    u32::MAX as u64,
    6,
];

/// The fake grant table (and the pool pages' memory, freed with it).
#[derive(Default)]
struct Table {
    live: BTreeSet<u32>,
    next: u32,
    /// Ends of grants not live (a driver bug).
    bad_ends: Vec<u32>,
    pages: Vec<SharedPage>,
}

#[derive(Clone, Default)]
struct FakeGrants(Rc<RefCell<Table>>);

impl Grants for FakeGrants {
    fn grant(&mut self, _page: u64, _readonly: bool) -> Option<u32> {
        let mut t = self.0.borrow_mut();
        t.next += 1;
        let g = t.next;
        t.live.insert(g);
        Some(g)
    }
    fn end(&mut self, gref: u32) -> bool {
        let mut t = self.0.borrow_mut();
        if !t.live.remove(&gref) {
            t.bad_ends.push(gref);
        }
        true
    }
    fn shared_page(&mut self) -> Option<pool::SharedPage> {
        let mut t = self.0.borrow_mut();
        let page = SharedPage::new(4096);
        let ptr = page.ptr();
        t.pages.push(page);
        // SAFETY: a page-aligned page used by nothing else, freed only
        // with the table, after the driver (and its pool) is gone.
        Some(unsafe { pool::SharedPage::new(ptr) })
    }
}

struct NoBell;
impl Bell for NoBell {
    fn notify(&mut self) {}
}

/// A request the driver put on the ring.
#[derive(Clone, Copy)]
struct Sent {
    id: RequestId,
    op: u8,
    inner: u8,
}

struct Model {
    slots: u32,
    /// Wire id -> the request it names, while in flight.
    wire: BTreeMap<u64, Sent>,
    /// Requests that must complete, with the status they must bring.
    expect: BTreeMap<RequestId, Result<(), BlockError>>,
    /// Requests submitted and not completed.
    open: BTreeSet<RequestId>,
    done: BTreeSet<RequestId>,
    rsp_cons: u32,
    /// The backend's own indices.
    req_cons: u32,
    rsp_prod_pvt: u32,
    bad: u64,
    responses: u64,
    dead: bool,
    hostile: bool,
}

fn status_of(status: i16) -> Result<(), BlockError> {
    match status {
        0 => Ok(()),
        -1 => Err(BlockError::Io(
            "the backend failed the request (BLKIF_RSP_ERROR)",
        )),
        -2 => Err(BlockError::Io(
            "the backend does not support the operation (EOPNOTSUPP)",
        )),
        _ => Err(BlockError::Io(
            "the backend answered with an unknown status",
        )),
    }
}

impl Model {
    /// What the driver's poll must do, read from the page as it is.
    fn poll(&mut self, page: &SharedPage) {
        if self.dead {
            return;
        }
        loop {
            let (rsp_prod, req_prod) = (page.read_u32(RSP_PROD), page.read_u32(REQ_PROD));
            let ready = rsp_prod.wrapping_sub(self.rsp_cons);
            if ready > req_prod.wrapping_sub(self.rsp_cons) || ready > self.slots {
                self.dead = true;
                for (_, sent) in std::mem::take(&mut self.wire) {
                    self.expect.insert(sent.id, Err(BlockError::Io(CORRUPT)));
                }
                return;
            }
            if ready == 0 {
                return;
            }
            let at = 64 + (self.rsp_cons % self.slots) as usize * SLOT_LEN;
            let f = |i| page.read_u8(at + i);
            let id = (0..8).fold(0u64, |v, i| v | u64::from(f(i)) << (8 * i));
            let (op, status) = (f(8), i16::from_le_bytes([f(10), f(11)]));
            self.rsp_cons = self.rsp_cons.wrapping_add(1);
            match self.wire.remove(&id) {
                None => self.bad += 1,
                Some(sent) => {
                    self.responses += 1;
                    let status = if op == sent.op || op == sent.inner {
                        status_of(status)
                    } else {
                        Err(BlockError::Io("the response names another operation"))
                    };
                    self.expect.insert(sent.id, status);
                }
            }
        }
    }
}

fn seed(flags: u8, steps: &[(u8, u8, u16, u32)]) -> Vec<u8> {
    let mut out = vec![flags, 0, 0, 0, 0, 0, 0, 0];
    for &(kind, a, b, v) in steps {
        out.extend_from_slice(&[kind, a]);
        out.extend_from_slice(&b.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

impl Target for BlkifTarget {
    fn name(&self) -> &'static str {
        "blkif"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let (submit, answer, respond, publish, poll) = (0, 1, 2, 3, 6);
        vec![
            // Reads and a write answered honestly.
            seed(
                0,
                &[
                    (submit, 0, 3, 10),
                    (submit, 1, 7, 20),
                    (submit, 0, 0, 0),
                    (answer, 0, 0, 0),
                    (answer, 0, 0, 0),
                    (publish, 0, 0, 0),
                    (poll, 0, 0, 0),
                    (answer, 0, 0, 0),
                    (publish, 0, 0, 0),
                    (poll, 0, 0, 0),
                ],
            ),
            // Indirect requests, a flush, a repeated and a foreign id.
            seed(
                2,
                &[
                    (submit, 0, 0x8000 | 90, 0),
                    (submit, 2, 0, 0),
                    (answer, 0, 0, 0),
                    (respond, 0, 0, 0),
                    (respond, 2, 0, 0x3_0005),
                    (answer, 0, 0, 0),
                    (publish, 0, 0, 0),
                    (poll, 0, 0, 0),
                ],
            ),
            // Persistent grants, an error status, a wrong operation.
            seed(
                1 | 2,
                &[
                    (submit, 1, 40, 8),
                    (submit, 0, 1, 9),
                    (submit, 0, 2, 9),
                    (respond, 0x40, 0, 0xffff),
                    (respond, 0x81, 1, 0x0300),
                    (answer, 0, 0, 0),
                    (publish, 0, 0, 0),
                    (poll, 0, 0, 0),
                    (submit, 1, 5, 1),
                    (answer, 0, 0, 0),
                    (publish, 0, 0, 0),
                    (poll, 0, 0, 0),
                ],
            ),
            // A four-page ring (128 slots), past its first wrap.
            seed(0x10, &{
                let mut s = Vec::new();
                for _ in 0..2 {
                    s.extend([(submit, 0, 0, 0); 70]);
                    s.extend([(answer, 0, 0, 0); 70]);
                    s.push((publish, 0, 0, 0));
                    s.push((poll, 0, 0, 0));
                }
                s
            }),
            // A full ring, answered in two halves.
            seed(0, &{
                let mut s = vec![(submit, 0, 0, 0); 33];
                s.extend([(answer, 0, 0, 0); 16]);
                s.push((publish, 0, 0, 0));
                s.push((poll, 0, 0, 0));
                s.extend([(answer, 0, 0, 0); 17]);
                s.push((publish, 0, 0, 0));
                s.push((poll, 0, 0, 0));
                s
            }),
        ]
    }

    fn hints(&self) -> Hints<'static> {
        Hints {
            fields: &FIELDS,
            values: &VALUES,
            hex: false,
        }
    }

    fn run(&self, input: &[u8]) -> Result<Outcome, String> {
        let f = Fields(input);
        let flags = f.u8(0);
        let features = Features {
            indirect_segments: if flags & 2 != 0 { 256 } else { 0 },
            flush: [FlushKind::FlushCache, FlushKind::Barrier, FlushKind::None]
                [usize::from(flags >> 2) % 3],
            persistent: flags & 1 != 0,
        };
        let bytes = if flags & 0x10 != 0 { 4 * 4096 } else { 4096 };
        let page = SharedPage::new(bytes);
        let table = FakeGrants::default();
        // SAFETY: a page-aligned 4 KiB allocation, alive until after
        // `front` (declared after it); the fake backend touches it only
        // volatilely.
        let ring = unsafe { FrontRing::init(page.ptr(), bytes) };
        // __CONST_RING_SIZE: the largest power of two of slots that fit.
        let fit = (bytes as u32 - 64) / SLOT_LEN as u32;
        if ring.size() != 1 << (31 - fit.leading_zeros()) {
            return Err(format!("{} slots in {bytes} bytes", ring.size()));
        }
        let front_slots = ring.size();
        let mut front = Front::new(ring, table.clone(), NoBell, 51712, features);
        let mut m = Model {
            slots: front_slots,
            wire: BTreeMap::new(),
            expect: BTreeMap::new(),
            open: BTreeSet::new(),
            done: BTreeSet::new(),
            rsp_cons: 0,
            req_cons: 0,
            rsp_prod_pvt: 0,
            bad: 0,
            responses: 0,
            dead: false,
            hostile: false,
        };
        let most = max_sectors(&features).min(96) as usize;
        let mut next_id = 0u64;
        // Ids the backend has seen, for responses that repeat them.
        let mut seen: Vec<u64> = Vec::new();
        let steps = input
            .len()
            .saturating_sub(HEADER)
            .div_ceil(STEP)
            .min(MAX_STEPS);
        for k in 0..steps {
            let at = HEADER + STEP * k;
            let (kind, a, b, v) = (f.u8(at), f.u8(at + 1), f.u16(at + 2), f.u32(at + 4));
            let r = match kind % 7 {
                0 => {
                    next_id += 1;
                    let op =
                        [Operation::Read, Operation::Write, Operation::Flush][usize::from(a) % 3];
                    let sectors = if op == Operation::Flush {
                        0
                    } else {
                        // Mostly small; big ones (indirect) one time in two.
                        let most = if b & 0x8000 != 0 { most } else { most.min(16) };
                        1 + usize::from(b) % most
                    };
                    let request = Request {
                        id: RequestId(next_id),
                        op,
                        lba: u64::from(v),
                        buffer: BlockBuffer::zeroed(sectors * 512),
                    };
                    submit(&page, &mut front, &mut m, request)
                }
                1 => {
                    // Take the next request and answer it as blkback would.
                    if m.req_cons != page.read_u32(REQ_PROD) {
                        let at = 64 + (m.req_cons % m.slots) as usize * SLOT_LEN;
                        let mut slot = [0u8; 16];
                        page.read(at, &mut slot);
                        m.req_cons = m.req_cons.wrapping_add(1);
                        let id = u64::from_le_bytes(slot[8..16].try_into().unwrap_or_default());
                        seen.push(id);
                        respond(&page, &mut m, id, slot[0], 0);
                    }
                    Ok(())
                }
                2 => {
                    let id = match a % 4 {
                        0 | 1 if !seen.is_empty() => seen[usize::from(b) % seen.len()],
                        2 => u64::from(v) | (u64::from(b) << 32),
                        _ => seen.last().map_or(u64::from(v), |id| id + (1 << 16)),
                    };
                    let op = if a & 0x80 != 0 { (v >> 8) as u8 } else { a & 1 };
                    let status = if a & 0x40 != 0 { v as i16 } else { 0 };
                    respond(&page, &mut m, id, op, status);
                    Ok(())
                }
                3 => {
                    page.write_u32(RSP_PROD, m.rsp_prod_pvt);
                    page.write_u32(REQ_EVENT, m.req_cons.wrapping_add(1));
                    Ok(())
                }
                4 => {
                    m.hostile = true;
                    page.write_u32(RSP_PROD, v);
                    Ok(())
                }
                5 => {
                    // Beyond what was pushed, by a little or a lot.
                    m.hostile = true;
                    let req_prod = page.read_u32(REQ_PROD);
                    page.write_u32(RSP_PROD, req_prod.wrapping_add(1 + v % 64));
                    Ok(())
                }
                _ => poll(&page, &mut front, &mut m),
            };
            r.map_err(|e| format!("step {k}: {e}"))?;
        }
        poll(&page, &mut front, &mut m)?;
        let t = table.0.borrow();
        if !t.bad_ends.is_empty() {
            return Err(format!("grants {:?} ended but not live", t.bad_ends));
        }
        if front.in_flight() == 0 && !features.persistent && !t.live.is_empty() {
            return Err(format!(
                "{} grants left with nothing in flight",
                t.live.len()
            ));
        }
        drop(t);
        if front.stats.bad_responses != m.bad || front.stats.responses != m.responses {
            return Err(format!(
                "{} responses, {} ignored; the model: {}, {}",
                front.stats.responses, front.stats.bad_responses, m.responses, m.bad
            ));
        }
        let dead = front.dead();
        drop(front);
        Ok(match dead {
            // Ignored responses are handled, not refused: only a ring the
            // driver gave up on is a refusal.
            Some(e) => Outcome::refused(true, &e),
            None => Outcome::ACCEPTED,
        })
    }
}

fn respond(page: &SharedPage, m: &mut Model, id: u64, op: u8, status: i16) {
    let at = 64 + (m.rsp_prod_pvt % m.slots) as usize * SLOT_LEN;
    let mut rsp = [0u8; 16];
    rsp[0..8].copy_from_slice(&id.to_le_bytes());
    rsp[8] = op;
    rsp[10..12].copy_from_slice(&status.to_le_bytes());
    page.write(at, &rsp);
    m.rsp_prod_pvt = m.rsp_prod_pvt.wrapping_add(1);
}

type Driver = Front<FakeGrants, NoBell>;

fn submit(
    page: &SharedPage,
    front: &mut Driver,
    m: &mut Model,
    request: Request,
) -> Result<(), String> {
    let id = request.id;
    let (op, empty) = (request.op, request.buffer.is_empty());
    let before = page.read_u32(REQ_PROD);
    let in_flight = front.in_flight();
    if front.submit(request).is_err() {
        // Handed back: the ring (or the pool) is full; nothing changed.
        if page.read_u32(REQ_PROD) != before || front.in_flight() != in_flight {
            return Err(format!("{id:?} handed back but put on the ring"));
        }
        return Ok(());
    }
    m.open.insert(id);
    let after = page.read_u32(REQ_PROD);
    match after.wrapping_sub(before) {
        0 => {
            // Failed at once: a dead ring, or a flush with no way to flush.
            let flush_none = op == Operation::Flush && front.features().flush == FlushKind::None;
            let want = match front.dead() {
                Some(e) => Err(e),
                None if flush_none => Err(BlockError::Io(
                    "the backend offers neither flush-cache nor barrier",
                )),
                None => return Err(format!("{id:?} accepted but not put on the ring")),
            };
            m.expect.insert(id, want);
        }
        1 => {
            let at = 64 + (before % m.slots) as usize * SLOT_LEN;
            let mut slot = [0u8; 16];
            page.read(at, &mut slot);
            let wire = u64::from_le_bytes(slot[8..16].try_into().unwrap_or_default());
            let inner = if slot[0] == OP_INDIRECT {
                slot[1]
            } else {
                slot[0]
            };
            if m.wire.contains_key(&wire) {
                return Err(format!("wire id {wire:#x} given to two requests in flight"));
            }
            if empty != (op == Operation::Flush) {
                return Err("a flush with data, or data without".into());
            }
            m.wire.insert(
                wire,
                Sent {
                    id,
                    op: slot[0],
                    inner,
                },
            );
        }
        n => return Err(format!("one submit pushed {n} slots")),
    }
    Ok(())
}

fn poll(page: &SharedPage, front: &mut Driver, m: &mut Model) -> Result<(), String> {
    m.poll(page);
    let done: Vec<Completion> = std::iter::from_fn(|| front.poll()).collect();
    for c in done {
        if !m.open.remove(&c.id) {
            return Err(if m.done.contains(&c.id) {
                format!("{:?} completed twice", c.id)
            } else {
                format!("{:?} completed but never submitted", c.id)
            });
        }
        m.done.insert(c.id);
        let want = m.expect.remove(&c.id);
        if want.as_ref() != Some(&c.status) {
            return Err(format!(
                "{:?} completed {:?}, the model says {want:?}",
                c.id, c.status
            ));
        }
        if let Err(e) = c.status {
            let _ = e.to_string();
        }
    }
    if !m.expect.is_empty() {
        return Err(format!(
            "{} requests the model completed did not complete",
            m.expect.len()
        ));
    }
    if front.in_flight() != m.wire.len() {
        return Err(format!(
            "{} in flight, the model has {}",
            front.in_flight(),
            m.wire.len()
        ));
    }
    if m.dead != front.dead().is_some() {
        return Err(format!(
            "dead: {:?}, the model says {}",
            front.dead(),
            m.dead
        ));
    }
    if m.dead && !m.hostile {
        // An honest backend can still kill the ring by answering more than
        // was asked (repeats): only then is the model's death allowed.
        let pushed = page.read_u32(REQ_PROD);
        if m.rsp_prod_pvt.wrapping_sub(m.rsp_cons) <= pushed.wrapping_sub(m.rsp_cons)
            && m.rsp_prod_pvt.wrapping_sub(m.rsp_cons) <= m.slots
        {
            return Err("the ring died with honest indices".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_accepted() {
        for (i, seed) in BlkifTarget.seeds().iter().enumerate() {
            let out = BlkifTarget.run(seed);
            assert!(
                matches!(out, Ok(Outcome { accepted: true, .. })),
                "seed {i}: {out:?}"
            );
        }
        assert_eq!(
            BlkifTarget.run(&BlkifTarget.seeds()[0]),
            Ok(Outcome::ACCEPTED)
        );
    }

    #[test]
    fn a_response_past_req_prod_kills_the_ring() {
        let s = seed(0, &[(0, 0, 1, 0), (0, 0, 1, 0), (5, 0, 0, 3), (6, 0, 0, 0)]);
        let out = BlkifTarget.run(&s).unwrap();
        assert_eq!(out.refusal.as_deref(), Some("Io"));
    }
}
