//! One blkfront disk as the core's `BlockDevice`: requests become ring
//! slots, completions come from responses.
//!
//! Each request takes a shadow entry (one per ring slot) that holds its
//! buffer and grant references until the response comes; the wire id is
//! the entry's index plus a generation that changes on every use, so a
//! response with an id out of range, for a free entry, or repeating an
//! answered request is recognized and counted, never believed. Grants
//! end when a request completes; a page the backend still maps is never
//! handed back (its buffer is withheld and the request fails).
//!
//! With persistent grants (see [`super::pool`]) every segment, data and
//! indirect list, is a page of the pool, granted read-write once; the
//! caller's buffer is copied in (write) or out (read) and never granted.
//! When the pool can give no more pages a request waits while others are
//! in flight (they give pages back), else it falls back to per-request
//! grants of its own buffer, read-write (a persistent backend maps every
//! grant so), ended on completion as without the pool (blkback may keep
//! such a grant mapped too: then the buffer is withheld as above, which
//! is why the fallback is the last resort, not the overflow path).
//!
//! Generic over the grant table and the event channel ([`Grants`],
//! [`Bell`]) so that it runs on the host against a fake backend.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::handshake::FlushKind;
use super::pool::{Pool, SharedPage};
use super::ring::FrontRing;
use super::wire::{
    self, IndirectRequest, MAX_SEGMENTS_PER_REQUEST, Request as WireRequest, Response,
    SEGMENTS_PER_INDIRECT_PAGE, Segment,
};
use virtus_kernel::block::{
    BlockBuffer, BlockError, Completion, DeviceInfo, Operation, PAGE_SIZE, Request, RequestId,
};

/// Grants pages to the backend domain.
pub trait Grants {
    /// Lets the backend map the page at (virtual) address `page`.
    fn grant(&mut self, page: u64, readonly: bool) -> Option<u32>;
    /// Ends the grant; false while the backend still maps the page.
    fn end(&mut self, gref: u32) -> bool;
    /// A page of the driver's own for the persistent-grant pool, never
    /// given back; None when there is none to spare.
    fn shared_page(&mut self) -> Option<SharedPage>;
}

/// Tells the backend the ring has new requests.
pub trait Bell {
    fn notify(&mut self);
}

/// What the driver counted, for `info`, the tests and the benchmark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests put on the ring.
    pub requests: u64,
    /// Event-channel notifications sent (the backend asked for them).
    pub notifications: u64,
    /// Responses that completed a request.
    pub responses: u64,
    /// Responses ignored: id out of range, for no request, or a repeat.
    pub bad_responses: u64,
    /// Buffers withheld because the backend still mapped a page.
    pub withheld: u64,
    /// Requests that went indirect.
    pub indirect: u64,
    /// Requests whose segments were all pool pages (persistent grants).
    pub pooled: u64,
    /// Requests refused for a while: the pool was in use by others.
    pub pool_waits: u64,
    /// Requests that fell back to per-request grants (pool exhausted).
    pub fallbacks: u64,
}

/// What the backend offered and the driver uses.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    /// Segments per indirect request (0: direct requests only).
    pub indirect_segments: u32,
    pub flush: FlushKind,
    /// Persistent grants: both ends wrote `feature-persistent = 1`.
    pub persistent: bool,
}

/// Segments per request with persistent grants: 16 x 4 KiB = 64 KiB, so
/// that one request needs at most 17 pool pages (16 + its list).
pub const PERSISTENT_SEGMENTS: u32 = 16;
/// Most pool pages per disk: 128 x 4 KiB = 512 KiB and 128 grant refs.
/// The pool grows only as far as the load asks (QD1 4 KiB reads use one
/// page, QD32 4 KiB reads 32; the full suite's transfers fill it); two
/// disks' pools then leave most of the grant table's 504 free refs, and
/// 7 requests of 64 KiB in flight still keep blkback busy. Beyond that,
/// requests wait for pool pages.
pub const POOL_PAGES: usize = 128;

struct Shadow {
    id: RequestId,
    /// The operation the response must echo (for an indirect one, either
    /// `BLKIF_OP_INDIRECT` or the inner read/write is accepted).
    operation: u8,
    inner_op: u8,
    buffer: BlockBuffer,
    grefs: Vec<u32>,
    /// Indirect segment pages, kept until the response.
    indirect_pages: Option<BlockBuffer>,
    /// Pool pages: one per buffer page, then the list page if indirect.
    pooled: Vec<SharedPage>,
}

const SLOT_BITS: u32 = 16;

/// The driver's state behind the device's lock.
pub struct Front<G: Grants, N: Bell> {
    ring: FrontRing,
    grants: G,
    bell: N,
    handle: u16,
    features: Features,
    shadows: Vec<Option<Shadow>>,
    generations: Vec<u64>,
    done: VecDeque<Completion>,
    /// Why the device stopped (ring corrupt, backend closed), if it did.
    dead: Option<BlockError>,
    /// The persistent-grant pool (None: persistent grants not in use).
    pool: Option<Pool>,
    pub stats: Stats,
}

/// Most sectors one request carries.
pub fn max_sectors(features: &Features) -> u32 {
    let mut segs = if features.indirect_segments as usize > MAX_SEGMENTS_PER_REQUEST {
        features.indirect_segments
    } else {
        MAX_SEGMENTS_PER_REQUEST as u32
    };
    if features.persistent {
        segs = segs.min(PERSISTENT_SEGMENTS);
    }
    segs * u32::from(wire::SECTORS_PER_PAGE)
}

impl<G: Grants, N: Bell> Front<G, N> {
    pub fn new(ring: FrontRing, grants: G, bell: N, handle: u16, features: Features) -> Self {
        let n = ring.size() as usize;
        let mut shadows = Vec::new();
        shadows.resize_with(n, || None);
        Self {
            ring,
            grants,
            bell,
            handle,
            features,
            shadows,
            generations: alloc::vec![0; n],
            done: VecDeque::new(),
            dead: None,
            pool: features.persistent.then(|| Pool::new(POOL_PAGES)),
            stats: Stats::default(),
        }
    }

    pub fn features(&self) -> Features {
        self.features
    }

    /// The persistent-grant pool, if in use.
    pub fn pool(&self) -> Option<&Pool> {
        self.pool.as_ref()
    }

    /// Replaces the pool's cap (tests of an exhausted pool).
    #[cfg(test)]
    pub fn set_pool_cap(&mut self, cap: usize) {
        if self.pool.is_some() {
            self.pool = Some(Pool::new(cap));
        }
    }

    /// After a restore into a new domain, `self` being the new
    /// connection: carry over what the old one had that is still good, its
    /// counters and its persistent pool's pages (granted again as they are
    /// used), and end its void grants. Nothing may be in flight on `old`.
    pub fn take_over(&mut self, old: &mut Self) {
        self.stats = old.stats;
        if let Some(pool) = old.pool.as_mut() {
            match self.pool.as_mut() {
                Some(to) => pool.hand_over(&mut old.grants, to),
                // The new backend does not do persistent grants: the
                // pages are ended and left allocated (kept for good, as a
                // pool page always is).
                None => pool.end(&mut old.grants),
            }
        }
    }

    pub fn in_flight(&self) -> usize {
        self.shadows.iter().filter(|s| s.is_some()).count()
    }

    fn fail(&mut self, request: Request, error: BlockError) {
        self.done.push_back(Completion {
            id: request.id,
            status: Err(error),
            buffer: request.buffer,
        });
    }

    /// Ends `grefs`; false if any page is still mapped by the backend
    /// (those grants stay: the page must not be reused).
    fn end_all(&mut self, grefs: &[u32]) -> bool {
        let mut all = true;
        for &g in grefs {
            all &= self.grants.end(g);
        }
        all
    }

    /// Grants each page of `buffer`; the segments, or None (nothing left
    /// granted) if the table ran out.
    fn grant_pages(&mut self, buffer: &BlockBuffer, readonly: bool) -> Option<Vec<Segment>> {
        let mut segs = Vec::with_capacity(buffer.page_count());
        for i in 0..buffer.page_count() {
            let page = buffer.page(i);
            match self.grants.grant(page.as_ptr() as u64, readonly) {
                Some(g) => segs.push(Segment::leading(g, page.len())),
                None => {
                    let grefs: Vec<u32> = segs.iter().map(|s| s.gref).collect();
                    self.end_all(&grefs);
                    return None;
                }
            }
        }
        Some(segs)
    }

    /// Starts `request`; `Err` hands it back when the ring (or, with
    /// requests in flight, the grant table) is full.
    pub fn submit(&mut self, request: Request) -> Result<(), Request> {
        if let Some(e) = self.dead {
            self.fail(request, e);
            return Ok(());
        }
        if self.ring.free() == 0 {
            return Err(request);
        }
        let Some(slot) = self.shadows.iter().position(Option::is_none) else {
            return Err(request);
        };
        let (operation, readonly) = match request.op {
            Operation::Read => (wire::OP_READ, false),
            Operation::Write => (wire::OP_WRITE, true),
            Operation::Flush => match self.features.flush {
                FlushKind::FlushCache => (wire::OP_FLUSH_DISKCACHE, true),
                FlushKind::Barrier => (wire::OP_WRITE_BARRIER, true),
                FlushKind::None => {
                    let e = BlockError::Io("the backend offers neither flush-cache nor barrier");
                    self.fail(request, e);
                    return Ok(());
                }
            },
        };
        // A persistent backend maps every grant read-write.
        let readonly = readonly && self.pool.is_none();
        let mut pooled = Vec::new();
        if self.pool.is_some() && !request.buffer.is_empty() {
            match self.take_pool_pages(&request.buffer, operation) {
                Some(pages) => pooled = pages,
                None if self.in_flight() > 0 => {
                    self.stats.pool_waits += 1;
                    return Err(request);
                }
                None => self.stats.fallbacks += 1,
            }
        }
        self.generations[slot] = (self.generations[slot] + 1) & ((1 << (64 - SLOT_BITS)) - 1);
        let wire_id = (self.generations[slot] << SLOT_BITS) | slot as u64;
        if !pooled.is_empty() {
            self.submit_pooled(slot, wire_id, operation, request, pooled);
            return Ok(());
        }
        let Some(segs) = self.grant_pages(&request.buffer, readonly) else {
            if self.in_flight() > 0 {
                return Err(request);
            }
            self.fail(request, BlockError::Io("no free grant reference"));
            return Ok(());
        };
        let mut grefs: Vec<u32> = segs.iter().map(|s| s.gref).collect();
        let (bytes, indirect, sent_op) = if segs.len() <= MAX_SEGMENTS_PER_REQUEST {
            let req = WireRequest {
                operation,
                handle: self.handle,
                id: wire_id,
                sector_number: request.lba,
                segments: segs,
            };
            (req.encode(), None, operation)
        } else {
            match self.indirect(operation, wire_id, request.lba, &segs, readonly) {
                Some((bytes, pages, page_refs)) => {
                    grefs.extend(page_refs);
                    self.stats.indirect += 1;
                    (bytes, Some(pages), wire::OP_INDIRECT)
                }
                None => {
                    self.end_all(&grefs);
                    if self.in_flight() > 0 {
                        return Err(request);
                    }
                    self.fail(request, BlockError::Io("no free grant reference"));
                    return Ok(());
                }
            }
        };
        let shadow = Shadow {
            id: request.id,
            operation: sent_op,
            inner_op: operation,
            buffer: request.buffer,
            grefs,
            indirect_pages: indirect,
            pooled: Vec::new(),
        };
        self.push(slot, &bytes, shadow);
        Ok(())
    }

    /// Puts `bytes` on the ring for `shadow` in `slot` and rings the bell
    /// if the backend asked.
    fn push(&mut self, slot: usize, bytes: &[u8; wire::SLOT_LEN], shadow: Shadow) {
        let put = self.ring.put(bytes);
        debug_assert!(put, "a free slot was checked above");
        self.shadows[slot] = Some(shadow);
        self.stats.requests += 1;
        if self.ring.push() {
            self.stats.notifications += 1;
            self.bell.notify();
        }
    }

    /// An indirect request for `segs`: the segments written into pages of
    /// their own, granted read-only. None if grants ran out (nothing left
    /// granted then).
    fn indirect(
        &mut self,
        op: u8,
        id: u64,
        lba: u64,
        segs: &[Segment],
        readonly: bool,
    ) -> Option<([u8; wire::SLOT_LEN], BlockBuffer, Vec<u32>)> {
        let limit = self.features.indirect_segments as usize;
        let pages = segs.len().div_ceil(SEGMENTS_PER_INDIRECT_PAGE);
        // The core never sends more than max_sectors: this is a bug guard.
        assert!(segs.len() <= limit && pages <= wire::MAX_INDIRECT_PAGES_PER_REQUEST);
        let mut list = BlockBuffer::zeroed(pages * PAGE_SIZE);
        for (i, s) in segs.iter().enumerate() {
            list.write_at(i * wire::SEGMENT_LEN, &s.encode());
        }
        let refs: Vec<u32> = self
            .grant_pages(&list, readonly)?
            .iter()
            .map(|s| s.gref)
            .collect();
        let req = IndirectRequest {
            indirect_op: op,
            nr_segments: segs.len() as u16,
            handle: self.handle,
            id,
            sector_number: lba,
            indirect_grefs: refs.clone(),
        };
        Some((req.encode(), list, refs))
    }

    /// The next completion, if any: from the queue, else from the ring.
    pub fn poll(&mut self) -> Option<Completion> {
        loop {
            if let Some(c) = self.done.pop_front() {
                return Some(c);
            }
            if self.dead.is_some() {
                return None;
            }
            match self.ring.take() {
                Ok(Some(raw)) => self.complete(Response::decode(&raw)),
                Ok(None) => match self.ring.final_check() {
                    Ok(true) => continue,
                    Ok(false) => return None,
                    Err(_) => self.stop(BlockError::Io("the backend corrupted the ring")),
                },
                Err(fault) => {
                    log::error!("blkfront: {fault}; failing every outstanding request");
                    self.stop(BlockError::Io("the backend corrupted the ring"));
                }
            }
        }
    }

    fn complete(&mut self, rsp: Response) {
        let slot = (rsp.id & ((1 << SLOT_BITS) - 1)) as usize;
        let generation = rsp.id >> SLOT_BITS;
        let known = slot < self.shadows.len()
            && self.shadows[slot].is_some()
            && self.generations[slot] == generation;
        if !known {
            self.stats.bad_responses += 1;
            log::warn!(
                "blkfront: response id {:#x} names no request in flight; ignored",
                rsp.id
            );
            return;
        }
        let shadow = self.shadows[slot].take().expect("checked above");
        self.stats.responses += 1;
        let echoed = rsp.operation == shadow.operation || rsp.operation == shadow.inner_op;
        let status = if echoed {
            rsp.result().map_err(BlockError::Io)
        } else {
            Err(BlockError::Io("the response names another operation"))
        };
        self.finish(shadow, status);
    }

    /// Ends a request's grants and queues its completion; a buffer whose
    /// page the backend still maps is withheld (leaked) and the request
    /// fails, so the core never reuses memory the backend may write.
    fn finish(&mut self, shadow: Shadow, status: Result<(), BlockError>) {
        let Shadow {
            id,
            mut buffer,
            grefs,
            indirect_pages,
            pooled,
            inner_op,
            ..
        } = shadow;
        if !pooled.is_empty() {
            // The backend keeps pool pages mapped: nothing to end. A read's
            // data is copied out only when it succeeded.
            if status.is_ok() && inner_op == wire::OP_READ {
                for (i, page) in pooled.iter().take(buffer.page_count()).enumerate() {
                    page.copy_out(buffer.page_mut(i));
                }
            }
            if let Some(pool) = self.pool.as_mut() {
                pool.put(pooled);
            }
            self.done.push_back(Completion { id, status, buffer });
            return;
        }
        if self.end_all(&grefs) {
            self.done.push_back(Completion { id, status, buffer });
            return;
        }
        self.stats.withheld += 1;
        let len = buffer.len();
        core::mem::forget(buffer);
        core::mem::forget(indirect_pages);
        self.done.push_back(Completion {
            id,
            status: Err(BlockError::Io(
                "the backend still maps the buffer; withheld",
            )),
            buffer: BlockBuffer::zeroed(len),
        });
    }

    /// The device is gone (`error` for every outstanding and later
    /// request): the backend closed, or the ring is corrupt.
    pub fn stop(&mut self, error: BlockError) {
        if self.dead.is_some() {
            return;
        }
        self.dead = Some(error);
        for i in 0..self.shadows.len() {
            if let Some(shadow) = self.shadows[i].take() {
                self.finish(shadow, Err(error));
            }
        }
        // Every pool page is free now; a disconnected backend unmaps them.
        if let Some(pool) = self.pool.as_mut() {
            pool.end(&mut self.grants);
            if pool.lingering > 0 {
                log::warn!(
                    "blkfront: {} pool pages still mapped by the backend; kept",
                    pool.lingering
                );
            }
        }
    }

    pub fn dead(&self) -> Option<BlockError> {
        self.dead
    }
}

/// The core's description of the disk.
pub fn device_info(capacity: u64, read_only: bool, ring_size: u32, f: &Features) -> DeviceInfo {
    DeviceInfo {
        capacity_sectors: capacity,
        sector_size: wire::WIRE_SECTOR,
        read_only,
        queue_depth: ring_size as u16,
        max_sectors: max_sectors(f),
        driver: "blkfront",
    }
}

#[path = "device_pooled.rs"]
mod pooled;

#[cfg(test)]
#[path = "device_tests.rs"]
mod tests;
