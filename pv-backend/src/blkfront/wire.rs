//! The blkif wire format (`xen/include/public/io/blkif.h`, Xen 4.17): the
//! request and response layouts a ring slot holds, the opcodes, statuses
//! and `info` bits. Pure: requests are encoded into a slot's bytes and
//! responses decoded from bytes copied out of the ring, little-endian at
//! the header's offsets, so nothing here ever holds a reference into
//! memory the backend writes.

/// `BLKIF_OP_READ`.
pub const OP_READ: u8 = 0;
/// `BLKIF_OP_WRITE`.
pub const OP_WRITE: u8 = 1;
/// `BLKIF_OP_WRITE_BARRIER`: all earlier writes reach the disk before it.
pub const OP_WRITE_BARRIER: u8 = 2;
/// `BLKIF_OP_FLUSH_DISKCACHE`: the disk's write cache is flushed.
pub const OP_FLUSH_DISKCACHE: u8 = 3;
/// `BLKIF_OP_INDIRECT`: the segments are in granted pages of their own.
pub const OP_INDIRECT: u8 = 6;

/// `BLKIF_MAX_SEGMENTS_PER_REQUEST`: segments a direct request carries.
pub const MAX_SEGMENTS_PER_REQUEST: usize = 11;
/// `BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST`.
pub const MAX_INDIRECT_PAGES_PER_REQUEST: usize = 8;
/// Segments one indirect page holds: 4096 / 8-byte `blkif_request_segment`.
pub const SEGMENTS_PER_INDIRECT_PAGE: usize = 4096 / SEGMENT_LEN;

/// `BLKIF_RSP_OKAY`, `BLKIF_RSP_ERROR`, `BLKIF_RSP_EOPNOTSUPP`.
pub const RSP_OKAY: i16 = 0;
pub const RSP_ERROR: i16 = -1;
pub const RSP_EOPNOTSUPP: i16 = -2;

/// `info` bits: `VDISK_CDROM`, `VDISK_REMOVABLE`, `VDISK_READONLY`.
pub const VDISK_CDROM: u64 = 1;
pub const VDISK_REMOVABLE: u64 = 2;
pub const VDISK_READONLY: u64 = 4;

/// `sector_number`, `first_sect`/`last_sect` and `sectors` are in these
/// units whatever `sector-size` says (without `feature-large-sector-size`).
pub const WIRE_SECTOR: u32 = 512;
/// 512-byte sectors in one granted frame: `last_sect` is at most 7.
pub const SECTORS_PER_PAGE: u8 = 8;

/// `sizeof(struct blkif_request_segment)`: gref u32 @0, first_sect u8 @4,
/// last_sect u8 @5, 2 bytes of padding.
pub const SEGMENT_LEN: usize = 8;
/// A ring slot: the union of `blkif_request` (112 bytes: op @0,
/// nr_segments @1, handle u16 @2, id u64 @8, sector_number u64 @16,
/// seg[11] @24) and the 16-byte `blkif_response`.
pub const SLOT_LEN: usize = 112;
/// `sizeof(struct blkif_response)`: id u64 @0, operation u8 @8, status i16 @10.
pub const RESPONSE_LEN: usize = 16;
const SEG_OFFSET: usize = 24;
const _: () = assert!(SEG_OFFSET + MAX_SEGMENTS_PER_REQUEST * SEGMENT_LEN == SLOT_LEN);

/// One `blkif_request_segment`: which 512-byte sectors of a granted frame
/// the transfer covers, both ends inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub gref: u32,
    pub first_sect: u8,
    pub last_sect: u8,
}

impl Segment {
    /// The segment for the first `bytes` bytes of the frame granted as
    /// `gref` (a whole number of 512-byte sectors, 512..=4096).
    pub fn leading(gref: u32, bytes: usize) -> Self {
        debug_assert!((512..=4096).contains(&bytes) && bytes.is_multiple_of(512));
        Self {
            gref,
            first_sect: 0,
            last_sect: (bytes / 512 - 1) as u8,
        }
    }

    /// Its 8 bytes, as the backend reads them.
    pub fn encode(&self) -> [u8; SEGMENT_LEN] {
        let mut out = [0; SEGMENT_LEN];
        out[0..4].copy_from_slice(&self.gref.to_le_bytes());
        out[4] = self.first_sect;
        out[5] = self.last_sect;
        out
    }
}

/// A `blkif_request` (read, write, flush, barrier: up to 11 segments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub operation: u8,
    /// The vdev number (conventional; blkback ignores it).
    pub handle: u16,
    pub id: u64,
    pub sector_number: u64,
    pub segments: alloc::vec::Vec<Segment>,
}

impl Request {
    /// The slot's bytes. Panics if there are more than 11 segments (the
    /// driver's bug, not the backend's data).
    pub fn encode(&self) -> [u8; SLOT_LEN] {
        assert!(self.segments.len() <= MAX_SEGMENTS_PER_REQUEST);
        let mut out = [0; SLOT_LEN];
        out[0] = self.operation;
        out[1] = self.segments.len() as u8;
        out[2..4].copy_from_slice(&self.handle.to_le_bytes());
        out[8..16].copy_from_slice(&self.id.to_le_bytes());
        out[16..24].copy_from_slice(&self.sector_number.to_le_bytes());
        for (i, seg) in self.segments.iter().enumerate() {
            let at = SEG_OFFSET + i * SEGMENT_LEN;
            out[at..at + SEGMENT_LEN].copy_from_slice(&seg.encode());
        }
        out
    }
}

/// A `blkif_request_indirect` (64 bytes on x86_64): op=6 @0, indirect_op
/// @1, nr_segments u16 @2, id @8, sector_number @16, handle u16 @24,
/// indirect_grefs[8] u32 @28. The segments themselves are in the pages
/// `indirect_grefs` name, 512 to a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndirectRequest {
    /// `OP_READ` or `OP_WRITE`.
    pub indirect_op: u8,
    pub nr_segments: u16,
    pub handle: u16,
    pub id: u64,
    pub sector_number: u64,
    pub indirect_grefs: alloc::vec::Vec<u32>,
}

impl IndirectRequest {
    /// The slot's bytes (the rest of the 112 stays zero).
    pub fn encode(&self) -> [u8; SLOT_LEN] {
        assert!(self.indirect_grefs.len() <= MAX_INDIRECT_PAGES_PER_REQUEST);
        let mut out = [0; SLOT_LEN];
        out[0] = OP_INDIRECT;
        out[1] = self.indirect_op;
        out[2..4].copy_from_slice(&self.nr_segments.to_le_bytes());
        out[8..16].copy_from_slice(&self.id.to_le_bytes());
        out[16..24].copy_from_slice(&self.sector_number.to_le_bytes());
        out[24..26].copy_from_slice(&self.handle.to_le_bytes());
        for (i, gref) in self.indirect_grefs.iter().enumerate() {
            out[28 + 4 * i..32 + 4 * i].copy_from_slice(&gref.to_le_bytes());
        }
        out
    }
}

/// A `blkif_response`, decoded from bytes already copied out of the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    pub id: u64,
    pub operation: u8,
    pub status: i16,
}

impl Response {
    pub fn decode(bytes: &[u8; RESPONSE_LEN]) -> Self {
        let mut id = [0; 8];
        id.copy_from_slice(&bytes[0..8]);
        Self {
            id: u64::from_le_bytes(id),
            operation: bytes[8],
            status: i16::from_le_bytes([bytes[10], bytes[11]]),
        }
    }

    /// The 16 bytes a backend writes (for the fake backend of the tests).
    pub fn encode(&self) -> [u8; RESPONSE_LEN] {
        let mut out = [0; RESPONSE_LEN];
        out[0..8].copy_from_slice(&self.id.to_le_bytes());
        out[8] = self.operation;
        out[10..12].copy_from_slice(&self.status.to_le_bytes());
        out
    }

    /// What the status means, as the error a caller sees.
    pub fn result(&self) -> Result<(), &'static str> {
        match self.status {
            RSP_OKAY => Ok(()),
            RSP_ERROR => Err("the backend failed the request (BLKIF_RSP_ERROR)"),
            RSP_EOPNOTSUPP => Err("the backend does not support the operation (EOPNOTSUPP)"),
            _ => Err("the backend answered with an unknown status"),
        }
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
