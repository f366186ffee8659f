//! The persistent-grant side of [`Front`]: requests whose segments are
//! all pool pages (see [`crate::blkfront::pool`]).

use alloc::vec::Vec;

use super::{Bell, Front, Grants, Shadow};
use crate::blkfront::pool::SharedPage;
use crate::blkfront::wire::{
    self, IndirectRequest, MAX_SEGMENTS_PER_REQUEST, Request as WireRequest,
    SEGMENTS_PER_INDIRECT_PAGE, Segment,
};
use virtus_kernel::block::{BlockBuffer, Request};

impl<G: Grants, N: Bell> Front<G, N> {
    /// Puts `request` on the ring in `slot` with `pooled` (from
    /// [`Self::take_pool_pages`]) as its segments.
    pub(super) fn submit_pooled(
        &mut self,
        slot: usize,
        wire_id: u64,
        operation: u8,
        request: Request,
        mut pooled: Vec<SharedPage>,
    ) {
        let bytes = self.pooled_request(operation, wire_id, &request, &mut pooled);
        let sent_op = if bytes[0] == wire::OP_INDIRECT {
            self.stats.indirect += 1;
            wire::OP_INDIRECT
        } else {
            operation
        };
        self.stats.pooled += 1;
        let shadow = Shadow {
            id: request.id,
            operation: sent_op,
            inner_op: operation,
            buffer: request.buffer,
            grefs: Vec::new(),
            indirect_pages: None,
            pooled,
        };
        self.push(slot, &bytes, shadow);
    }

    /// Pool pages for `buffer` (and its segment list if it goes indirect),
    /// a write's data copied in; None if the pool cannot give them all.
    pub(super) fn take_pool_pages(
        &mut self,
        buffer: &BlockBuffer,
        op: u8,
    ) -> Option<Vec<SharedPage>> {
        let n = buffer.page_count();
        let lists = if n > MAX_SEGMENTS_PER_REQUEST {
            n.div_ceil(SEGMENTS_PER_INDIRECT_PAGE)
        } else {
            0
        };
        let pool = self.pool.as_mut()?;
        let mut pages = pool.take_n(n + lists, &mut self.grants)?;
        if op == wire::OP_WRITE {
            for (i, page) in pages.iter_mut().take(n).enumerate() {
                page.fill(buffer.page(i));
            }
        }
        Some(pages)
    }

    /// The ring slot of a request whose segments are `pages` (from
    /// [`Self::take_pool_pages`]): direct, or indirect with the list
    /// written into the trailing pool page(s).
    fn pooled_request(
        &self,
        op: u8,
        id: u64,
        request: &Request,
        pages: &mut [SharedPage],
    ) -> [u8; wire::SLOT_LEN] {
        let n = request.buffer.page_count();
        let segs: Vec<Segment> = (0..n)
            .map(|i| Segment::leading(pages[i].gref(), request.buffer.page(i).len()))
            .collect();
        if n <= MAX_SEGMENTS_PER_REQUEST {
            let req = WireRequest {
                operation: op,
                handle: self.handle,
                id,
                sector_number: request.lba,
                segments: segs,
            };
            return req.encode();
        }
        // The core never sends more than max_sectors: this is a bug guard.
        assert!(n <= self.features.indirect_segments as usize);
        let lists = &mut pages[n..];
        for (list, chunk) in lists
            .iter_mut()
            .zip(segs.chunks(SEGMENTS_PER_INDIRECT_PAGE))
        {
            let bytes: Vec<u8> = chunk.iter().flat_map(|s| s.encode()).collect();
            list.fill(&bytes);
        }
        IndirectRequest {
            indirect_op: op,
            nr_segments: n as u16,
            handle: self.handle,
            id,
            sector_number: request.lba,
            indirect_grefs: lists.iter().map(SharedPage::gref).collect(),
        }
        .encode()
    }
}
