//! The layouts against the offsets of blkif.h, written out by hand here
//! (not computed by the encoder under test).

use super::*;
use alloc::vec;

#[test]
fn numbers_are_the_headers() {
    assert_eq!((OP_READ, OP_WRITE, OP_WRITE_BARRIER), (0, 1, 2));
    assert_eq!((OP_FLUSH_DISKCACHE, OP_INDIRECT), (3, 6));
    assert_eq!(MAX_SEGMENTS_PER_REQUEST, 11);
    assert_eq!(MAX_INDIRECT_PAGES_PER_REQUEST, 8);
    assert_eq!(SEGMENTS_PER_INDIRECT_PAGE, 512);
    assert_eq!((RSP_OKAY, RSP_ERROR, RSP_EOPNOTSUPP), (0, -1, -2));
    assert_eq!((VDISK_CDROM, VDISK_REMOVABLE, VDISK_READONLY), (1, 2, 4));
}

#[test]
fn a_direct_request_sits_at_the_headers_offsets() {
    let r = Request {
        operation: OP_WRITE,
        handle: 51712,
        id: 0x1122_3344_5566_7788,
        sector_number: 0x0102_0304_0506_0708,
        segments: vec![
            Segment::leading(0xaabb_ccdd, 4096),
            Segment::leading(7, 1024),
        ],
    };
    let b = r.encode();
    assert_eq!(b[0], 1);
    assert_eq!(b[1], 2, "nr_segments");
    assert_eq!(&b[2..4], &[0x00, 0xca], "handle 51712 = 0xca00");
    assert_eq!(&b[4..8], &[0; 4], "padding before id");
    assert_eq!(&b[8..16], &[0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
    assert_eq!(&b[16..24], &[8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(
        &b[24..32],
        &[0xdd, 0xcc, 0xbb, 0xaa, 0, 7, 0, 0],
        "seg 0: 0..7"
    );
    assert_eq!(&b[32..40], &[7, 0, 0, 0, 0, 1, 0, 0], "seg 1: 0..1");
    assert!(b[40..].iter().all(|x| *x == 0));
}

#[test]
fn an_indirect_request_sits_at_the_headers_offsets() {
    let r = IndirectRequest {
        indirect_op: OP_READ,
        nr_segments: 256,
        handle: 51712,
        id: 5,
        sector_number: 9,
        indirect_grefs: vec![0x0102_0304],
    };
    let b = r.encode();
    assert_eq!((b[0], b[1]), (6, 0));
    assert_eq!(&b[2..4], &[0, 1], "nr_segments is a u16: 256");
    assert_eq!(b[8], 5);
    assert_eq!(b[16], 9);
    assert_eq!(&b[24..26], &[0x00, 0xca], "handle @24");
    assert_eq!(&b[28..32], &[4, 3, 2, 1], "indirect_grefs[0] @28");
    assert!(b[32..].iter().all(|x| *x == 0));
}

#[test]
fn a_response_is_read_at_the_headers_offsets() {
    let mut raw = [0u8; RESPONSE_LEN];
    raw[0] = 0x2a;
    raw[7] = 0x80;
    raw[8] = OP_READ;
    raw[9] = 0x55; // padding: ignored
    raw[10..12].copy_from_slice(&[0xff, 0xff]);
    let r = Response::decode(&raw);
    assert_eq!(r.id, 0x8000_0000_0000_002a);
    assert_eq!(r.operation, 0);
    assert_eq!(r.status, -1);
    assert!(r.result().is_err());
    let okay = Response {
        id: 1,
        operation: 1,
        status: 0,
    };
    assert_eq!(Response::decode(&okay.encode()), okay);
    assert_eq!(okay.result(), Ok(()));
    let odd = Response { status: 7, ..okay };
    assert!(odd.result().unwrap_err().contains("unknown status"));
}
