//! Host tests of the synchronous helpers, the registry and buffers.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::Cell;

use super::test_double::{Double, Handle, Interrupts, SECOND, disk};
use super::*;

#[test]
fn synchronous_write_flush_read_round_trips_through_several_requests() {
    // 3 sectors a request, 2 in flight: 20 sectors need 7 requests, and the
    // double completes each pair newest first.
    let double = Double::new(64, 512, 2, 3);
    let disk = disk(&double);
    let w = Interrupts {
        double: Some(&double),
        now: Cell::new(0),
    };
    let data: Vec<u8> = (0..20 * 512).map(|i| (i * 7 % 251) as u8).collect();
    disk.write(5, &data, &w, SECOND).expect("write");
    disk.flush(&w, SECOND).expect("flush");
    // The double's own bytes are the reference, not the layer's buffers.
    assert_eq!(&double.state.lock().data[5 * 512..25 * 512], &data[..]);
    let mut back = vec![0u8; data.len()];
    disk.read(5, &mut back, &w, SECOND).expect("read");
    assert_eq!(back, data);
    // Around the write, the pattern is untouched.
    let mut edge = [0u8; 1024];
    disk.read(4, &mut edge[..512], &w, SECOND)
        .expect("read before");
    disk.read(25, &mut edge[512..], &w, SECOND)
        .expect("read after");
    assert_eq!([edge[0], edge[512]], [4, 25]);
    assert_eq!(disk.in_flight(), 0);
}

#[test]
fn synchronous_requests_are_validated_whole() {
    let double = Double::new(64, 512, 2, 3);
    let disk = disk(&double);
    let w = Interrupts {
        double: Some(&double),
        now: Cell::new(0),
    };
    let error = disk.read(60, &mut [0u8; 8 * 512], &w, SECOND);
    assert_eq!(
        error,
        Err(BlockError::OutOfRange {
            lba: 60,
            sectors: 8,
            capacity: 64
        })
    );
    assert!(double.pending_ids().is_empty(), "no piece went out");
}

#[test]
fn a_request_that_never_completes_times_out_and_its_late_completion_is_dropped() {
    let double = Double::new(16, 512, 4, 8);
    let disk = disk(&double);
    let silent = Interrupts {
        double: None,
        now: Cell::new(0),
    };
    let error = disk.read(1, &mut [0u8; 512], &silent, 10_000_000);
    let [id] = double.pending_ids()[..] else {
        panic!("one request out")
    };
    assert_eq!(error, Err(BlockError::Timeout { id: id.0 }));
    // The device answers at last: its buffer is freed, the slot is free again,
    // and nothing is left for anyone to take.
    double.finish(id);
    assert_eq!(disk.poll(), Ok(1), "it was in flight: a good completion");
    assert_eq!(disk.in_flight(), 0);
    assert!(disk.take(id).is_none());
}

#[test]
fn the_registry_takes_good_names_once_and_a_bounded_number_of_disks() {
    let registry = Registry::new();
    let add = |name: &str| {
        registry
            .register(name, Box::new(Handle(Double::new(8, 512, 1, 1))))
            .err()
    };
    for bad in ["", "XVDA", "sd a", "xvd/", "abcdefghijklmnop"] {
        assert_eq!(add(bad), Some(BlockError::BadName), "{bad:?}");
    }
    assert_eq!(add("xvda"), None);
    assert_eq!(add("xvda"), Some(BlockError::BadName));
    for i in 1..MAX_DISKS {
        assert_eq!(add(&alloc::format!("sd{i}")), None);
    }
    assert_eq!(
        add("sdz"),
        Some(BlockError::RegistryFull { max: MAX_DISKS })
    );
    assert_eq!(registry.iter().count(), MAX_DISKS);
    assert_eq!(registry.get("xvda").map(|d| d.info().driver), Ok("double"));
    assert_eq!(registry.get("sda").err(), Some(BlockError::NoSuchDevice));
}

#[test]
fn buffers_are_page_aligned_and_copy_across_pages() {
    let mut buffer = BlockBuffer::zeroed(PAGE_SIZE + 1024);
    assert_eq!(buffer.page_count(), 2);
    assert_eq!(buffer.page(1).len(), 1024);
    assert_eq!(buffer.page(0).as_ptr() as usize % PAGE_SIZE, 0);
    assert_eq!(buffer.page(1).as_ptr() as usize % PAGE_SIZE, 0);
    buffer.write_at(PAGE_SIZE - 2, &[1, 2, 3, 4]);
    assert_eq!(&buffer.page(0)[PAGE_SIZE - 2..], &[1, 2]);
    assert_eq!(&buffer.page_mut(1)[..2], &[3, 4]);
    let mut out = [0u8; 4];
    buffer.read_at(PAGE_SIZE - 2, &mut out);
    assert_eq!(out, [1, 2, 3, 4]);
}
