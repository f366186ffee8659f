//! Host tests of request validation and completion bookkeeping.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::test_double::{Double, Handle, disk};
use super::*;

#[test]
fn every_bad_request_is_refused_naming_what_was_wrong() {
    let double = Double::new(100, 512, 4, 8);
    let disk = disk(&double);
    let refuse = |op, lba, len| {
        disk.submit(op, lba, BlockBuffer::zeroed(len))
            .err()
            .map(|r| r.error)
    };
    assert_eq!(refuse(Operation::Read, 0, 0), Some(BlockError::ZeroLength));
    assert_eq!(
        refuse(Operation::Read, 0, 513),
        Some(BlockError::Misaligned {
            len: 513,
            sector_size: 512
        })
    );
    let out = |lba, sectors| {
        Some(BlockError::OutOfRange {
            lba,
            sectors,
            capacity: 100,
        })
    };
    assert_eq!(refuse(Operation::Read, 99, 1024), out(99, 2));
    assert_eq!(refuse(Operation::Write, 100, 512), out(100, 1));
    // lba + sectors wraps to 0 in 64 bits: still out of range.
    assert_eq!(refuse(Operation::Read, u64::MAX, 512), out(u64::MAX, 1));
    assert_eq!(
        refuse(Operation::Read, 0, 9 * 512),
        Some(BlockError::TooLarge { sectors: 9, max: 8 })
    );
    assert_eq!(
        refuse(Operation::Flush, 0, 512),
        Some(BlockError::FlushWithData { len: 512 })
    );
    // None of them reached the driver, and the last sector is reachable.
    assert!(double.pending_ids().is_empty());
    assert!(
        disk.submit(Operation::Read, 99, BlockBuffer::zeroed(512))
            .is_ok()
    );
}

#[test]
fn a_read_only_device_refuses_writes_and_serves_reads() {
    let double = Double::new(8, 512, 4, 8).with_info(|i| i.read_only = true);
    let disk = disk(&double);
    let write = disk.submit(Operation::Write, 0, BlockBuffer::zeroed(512));
    assert_eq!(write.err().map(|r| r.error), Some(BlockError::ReadOnly));
    assert!(
        double.pending_ids().is_empty(),
        "the write never reached the driver"
    );
    assert!(
        disk.submit(Operation::Read, 0, BlockBuffer::zeroed(512))
            .is_ok()
    );
    assert!(
        disk.submit(Operation::Flush, 0, BlockBuffer::zeroed(0))
            .is_ok()
    );
}

#[test]
fn unusable_device_descriptions_are_refused_at_registration() {
    let registry = Registry::new();
    for (size, depth, max) in [
        (256, 4, 8),
        (768, 4, 8),
        (8192, 4, 8),
        (512, 0, 8),
        (512, 4, 0),
    ] {
        let bad = Double::new(8, 512, depth, max).with_info(|i| i.sector_size = size);
        let error = registry.register("bad", Box::new(Handle(bad))).err();
        assert!(
            matches!(error, Some(BlockError::BadDevice(_))),
            "{size} {depth} {max}: {error:?}"
        );
    }
    assert_eq!(registry.iter().count(), 0);
}

#[test]
fn requests_in_flight_complete_out_of_order_each_with_its_own_data() {
    let double = Double::new(64, 512, 4, 8);
    let disk = disk(&double);
    let ids: Vec<RequestId> = (0..4)
        .map(|i| {
            disk.submit(Operation::Read, 10 * i, BlockBuffer::zeroed(1024))
                .ok()
                .expect("accepted")
        })
        .collect();
    // The queue is full: a fifth request comes back with its buffer.
    let refused = disk
        .submit(Operation::Read, 0, BlockBuffer::zeroed(512))
        .expect_err("refused");
    assert_eq!(refused.error, BlockError::QueueFull { depth: 4 });
    assert_eq!(refused.buffer.len(), 512);
    for &i in &[2, 0, 3, 1] {
        double.finish(ids[i]);
    }
    assert_eq!(disk.poll(), Ok(4));
    assert_eq!(disk.in_flight(), 0);
    for (i, id) in ids.iter().enumerate() {
        let buffer = disk.take(*id).expect("completed").expect("succeeded");
        let mut bytes = [0u8; 1024];
        buffer.read_at(0, &mut bytes);
        // Sector 10*i, then 10*i+1: the data of the request's own sectors.
        assert_eq!(u16::from_le_bytes([bytes[0], bytes[1]]), 10 * i as u16);
        assert_eq!(
            u16::from_le_bytes([bytes[1022], bytes[1023]]),
            10 * i as u16 + 1
        );
        assert!(disk.take(*id).is_none(), "an outcome is taken once");
    }
}

#[test]
fn completions_for_requests_not_in_flight_are_errors_and_change_nothing() {
    let double = Double::new(16, 512, 4, 8);
    let disk = disk(&double);
    let id = disk
        .submit(Operation::Read, 3, BlockBuffer::zeroed(512))
        .ok()
        .expect("accepted");
    // A completion for an id never issued (0 never is), then the real one twice.
    double.inject(Completion {
        id: RequestId(0),
        status: Ok(()),
        buffer: BlockBuffer::zeroed(512),
    });
    double.finish(id);
    double.inject(Completion {
        id,
        status: Ok(()),
        buffer: BlockBuffer::from_bytes(&[0xee; 512]),
    });
    assert_eq!(disk.poll(), Err(BlockError::UnknownCompletion { id: id.0 }));
    // The genuine completion still counted, with the device's data, not the forger's.
    let buffer = disk.take(id).expect("completed").expect("succeeded");
    let mut bytes = [0u8; 2];
    buffer.read_at(0, &mut bytes);
    assert_eq!(u16::from_le_bytes(bytes), 3);
    assert!(disk.take(id).is_none());
    assert_eq!(disk.in_flight(), 0);
}

#[test]
fn a_completion_with_the_wrong_buffer_fails_its_request() {
    let double = Double::new(16, 512, 4, 8);
    let disk = disk(&double);
    let id = disk
        .submit(Operation::Read, 0, BlockBuffer::zeroed(1024))
        .ok()
        .expect("accepted");
    double.state.lock().pending.clear();
    double.inject(Completion {
        id,
        status: Ok(()),
        buffer: BlockBuffer::zeroed(512),
    });
    let error = BlockError::WrongBufferLength {
        id: id.0,
        expected: 1024,
        got: 512,
    };
    assert_eq!(disk.poll(), Err(error));
    assert_eq!(disk.take(id).map(|o| o.err()), Some(Some(error)));
}

#[test]
fn a_failed_request_reports_the_device_error() {
    let double = Double::new(16, 512, 4, 8);
    let disk = disk(&double);
    let id = disk
        .submit(Operation::Flush, 0, BlockBuffer::zeroed(0))
        .ok()
        .expect("accepted");
    double.state.lock().pending.clear();
    double.inject(Completion {
        id,
        status: Err(BlockError::Disconnected),
        buffer: BlockBuffer::zeroed(0),
    });
    assert_eq!(disk.poll(), Ok(1));
    assert_eq!(
        disk.take(id).map(|o| o.err()),
        Some(Some(BlockError::Disconnected))
    );
}
