//! Host tests of the 2-level scan and the handler table (`evtchn.rs`).

use super::*;
extern crate std;
use core::cell::Cell;
use std::vec::Vec;

struct Bitmaps {
    pending: [Cell<u64>; 64],
    mask: [u64; 64],
}

impl Bitmaps {
    fn new(pending: &[Port], masked: &[Port]) -> Bitmaps {
        let mut b = Bitmaps {
            pending: [const { Cell::new(0) }; 64],
            mask: [0; 64],
        };
        for &p in pending {
            let w = &b.pending[p as usize / 64];
            w.set(w.get() | 1 << (p % 64));
        }
        for &p in masked {
            b.mask[p as usize / 64] |= 1 << (p % 64);
        }
        b
    }
    fn sel(&self) -> u64 {
        (0..64)
            .filter(|&w| self.pending[w].get() != 0)
            .fold(0, |s, w| s | 1 << w)
    }
}

impl EventBitmap for Bitmaps {
    fn pending_word(&self, w: usize) -> u64 {
        self.pending[w].get()
    }
    fn mask_word(&self, w: usize) -> u64 {
        self.mask[w]
    }
    fn test_and_clear_pending(&self, port: Port) -> bool {
        let w = &self.pending[port as usize / 64];
        let bit = 1 << (port % 64);
        let was = w.get() & bit != 0;
        w.set(w.get() & !bit);
        was
    }
}

#[test]
fn scans_several_words_in_order_and_clears_each_bit_once() {
    let b = Bitmaps::new(&[3, 64, 127, 4095, 0], &[]);
    let mut seen = Vec::new();
    assert_eq!(scan_pending(b.sel(), &b, |_| true, |p| seen.push(p)), 5);
    assert_eq!(seen, [0, 3, 64, 127, 4095]);
    assert_eq!(b.sel(), 0);
    assert_eq!(scan_pending(u64::MAX, &b, |_| true, |p| seen.push(p)), 0);
}

#[test]
fn masked_ports_stay_pending() {
    let b = Bitmaps::new(&[5, 6, 70], &[6, 70]);
    let mut seen = Vec::new();
    scan_pending(b.sel(), &b, |_| true, |p| seen.push(p));
    assert_eq!(seen, [5]);
    assert_eq!(b.pending_word(0), 1 << 6);
    assert_eq!(b.pending_word(1), 1 << 6);
}

#[test]
fn only_selected_words_are_scanned() {
    let b = Bitmaps::new(&[1, 65], &[]);
    let mut seen = Vec::new();
    scan_pending(0b10, &b, |_| true, |p| seen.push(p));
    assert_eq!(seen, [65]);
    assert!(b.test_and_clear_pending(1));
}

#[test]
fn events_arriving_mid_scan_wait_for_the_next_pass() {
    let b = Bitmaps::new(&[2], &[]);
    let mut seen = Vec::new();
    scan_pending(
        b.sel(),
        &b,
        |_| true,
        |p| {
            seen.push(p);
            if p == 2 {
                // Port 2 fires again while its handler runs.
                let w = &b.pending[0];
                w.set(w.get() | 1 << 2);
            }
        },
    );
    assert_eq!(seen, [2]);
    assert_eq!(b.pending_word(0), 1 << 2);
}

#[test]
fn a_vcpu_leaves_other_vcpus_ports_pending() {
    // Ports 3 (vCPU 0's) and 9 (an AP's) share word 0.
    let b = Bitmaps::new(&[3, 9], &[]);
    let mut seen = Vec::new();
    scan_pending(1, &b, |p| p == 9, |p| seen.push(p));
    assert_eq!(seen, [9]);
    assert_eq!(b.pending_word(0), 1 << 3);
    scan_pending(1, &b, |p| p != 9, |p| seen.push(p));
    assert_eq!(seen, [9, 3]);
    assert_eq!(b.sel(), 0);
}

#[test]
fn handler_table_refuses_ports_beyond_it() {
    fn h(_: Port) {}
    assert!(set_handler(4095, h));
    assert!(!set_handler(4096, h));
    dispatch(4095);
    let before = unhandled();
    dispatch(4094);
    assert_eq!(unhandled(), before + 1);
}
