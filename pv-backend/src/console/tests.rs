//! Host tests of the console rings against a simulated xenconsoled: the
//! test plays the backend through a raw pointer to a leaked ring.

use super::*;
extern crate std;
use std::boxed::Box;
use std::vec::Vec;

/// A leaked, zeroed ring (tests are short-lived); the test plays the
/// backend through the raw pointer.
fn fake(out_start: u32, in_start: u32) -> (*mut XenconsInterface, Console) {
    // SAFETY: all-zero bytes are a valid `xencons_interface`.
    let ring = Box::into_raw(Box::new(unsafe { core::mem::zeroed::<XenconsInterface>() }));
    // SAFETY: `ring` is a fresh allocation; the field writes are in it.
    unsafe {
        (*ring).out_prod = out_start;
        (*ring).out_cons = out_start;
        (*ring).in_prod = in_start;
        (*ring).in_cons = in_start;
    }
    // SAFETY: the leaked ring lives forever.
    (ring, unsafe {
        Console::from_raw(NonNull::new(ring).unwrap(), 7)
    })
}

/// A backend that consumes up to `per_wait` bytes each time it is
/// waited for, and a clock that each wait moves on by `tick_ns` (`None`:
/// no clock).
struct Backend {
    ring: *mut XenconsInterface,
    per_wait: u32,
    received: Vec<u8>,
    notifies: usize,
    waits: usize,
    clock: Option<u64>,
    tick_ns: u64,
}

impl Backend {
    fn new(ring: *mut XenconsInterface, per_wait: u32) -> Backend {
        Backend {
            ring,
            per_wait,
            received: Vec::new(),
            notifies: 0,
            waits: 0,
            clock: Some(1_000),
            tick_ns: FULL_RING_WAIT_NS,
        }
    }

    fn drain(&mut self, max: u32) {
        // SAFETY: the test ring is valid; the backend owns `out_cons`.
        unsafe {
            let prod = (*self.ring).out_prod;
            let mut cons = (*self.ring).out_cons;
            let mut taken = 0;
            while cons != prod && taken < max {
                self.received
                    .push((*self.ring).output[(cons & (OUT_SIZE - 1)) as usize]);
                cons = cons.wrapping_add(1);
                taken += 1;
            }
            (*self.ring).out_cons = cons;
        }
    }
}

impl Signal for Backend {
    fn notify(&mut self) {
        self.notifies += 1;
    }
    fn arm(&mut self) {}
    fn wait(&mut self) {
        self.waits += 1;
        if let Some(t) = self.clock.as_mut() {
            *t += self.tick_ns;
        }
        self.drain(self.per_wait);
    }
    fn now_ns(&mut self) -> Option<u64> {
        self.clock
    }
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn ring_used_validates_indices() {
    assert_eq!(ring_used(10, 10, 2048), Some(0));
    assert_eq!(ring_used(2058, 10, 2048), Some(2048));
    assert_eq!(ring_used(2059, 10, 2048), None);
    assert_eq!(ring_used(9, 10, 2048), None);
    assert_eq!(ring_used(5, u32::MAX - 4, 1024), Some(10));
}

#[test]
fn writes_bytes_and_publishes_the_index() {
    let (ring, con) = fake(0, 0);
    let mut be = Backend::new(ring, 0);
    con.write_with(b"hello\n", &mut be).unwrap();
    assert_eq!(con.out_indices(), (6, 0));
    assert_eq!(be.notifies, 1);
    be.drain(u32::MAX);
    assert_eq!(be.received, b"hello\n");
}

#[test]
fn wraps_around_the_ring_and_the_u32_indices() {
    for start in [2040, u32::MAX - 3] {
        let (ring, con) = fake(start, 0);
        let mut be = Backend::new(ring, 0);
        con.write_with(&pattern(20), &mut be).unwrap();
        assert_eq!(con.out_indices().0, start.wrapping_add(20));
        be.drain(u32::MAX);
        assert_eq!(be.received, pattern(20));
    }
}

#[test]
fn full_ring_waits_for_the_backend_without_losing_bytes() {
    let (ring, con) = fake(100, 0);
    let mut be = Backend::new(ring, 300);
    let data = pattern(5000);
    con.write_with(&data, &mut be).unwrap();
    assert!(be.waits >= 9, "waits: {}", be.waits);
    // Each wait took one tick of the fake clock before space appeared.
    assert_eq!(con.longest_full_wait_ns(), FULL_RING_WAIT_NS);
    be.drain(u32::MAX);
    assert_eq!(be.received, data);
    assert_eq!(con.ring_errors(), 0);
}

#[test]
fn corrupt_out_cons_abandons_the_ring() {
    let (ring, con) = fake(50, 0);
    // SAFETY: playing a broken backend on the test ring.
    unsafe { (*ring).out_cons = 51 };
    let mut be = Backend::new(ring, 0);
    let fault = con.write_with(b"x", &mut be).unwrap_err();
    assert_eq!(
        fault,
        RingFault::Corrupt {
            ring: Ring::Output,
            prod: 50,
            cons: 51
        }
    );
    assert!(
        fault
            .to_string()
            .starts_with("output ring corrupt (prod 0x32, cons 0x33")
    );
    // Reported once; after that the ring is known to be gone.
    assert_eq!(con.write_with(b"y", &mut be), Err(RingFault::Abandoned));
    assert_eq!(con.out_indices(), (50, 51));
    assert_eq!(con.ring_errors(), 1);
    assert_eq!(be.notifies, 0);
    // An empty write of an abandoned ring has nothing to lose.
    assert_eq!(con.write_with(b"", &mut be), Ok(()));
}

#[test]
fn a_backend_that_takes_nothing_ends_the_wait_with_a_stall() {
    let (ring, con) = fake(0, 0);
    let mut be = Backend::new(ring, 0);
    let data = pattern(3000);
    let fault = con.write_with(&data, &mut be).unwrap_err();
    // The first ring's worth went in; the wait for more was bounded.
    assert_eq!(con.out_indices(), (OUT_SIZE, 0));
    let waits = (STALL_NS / FULL_RING_WAIT_NS) as u32;
    assert_eq!(
        fault,
        RingFault::Stalled {
            waited_ns: STALL_NS,
            waits,
            prod: OUT_SIZE,
            cons: 0
        }
    );
    assert_eq!(be.waits, waits as usize);
    assert!(
        fault.to_string().contains("not drained for 10000 ms"),
        "{fault}"
    );
    assert_eq!(con.ring_errors(), 1);
    // Later writes return at once instead of waiting again.
    assert_eq!(con.write_with(b"z", &mut be), Err(RingFault::Abandoned));
    assert_eq!(be.waits, waits as usize);
}

#[test]
fn a_slow_backend_that_keeps_taking_bytes_is_not_a_stall() {
    let (ring, con) = fake(0, 0);
    // One byte per wait, each wait a whole second: far slower than the
    // stall bound in total, but never stuck.
    let mut be = Backend::new(ring, 1);
    be.tick_ns = 1_000_000_000;
    let data = pattern(OUT_SIZE as usize + 40);
    con.write_with(&data, &mut be).unwrap();
    assert!(be.waits >= 40);
    assert_eq!(con.ring_errors(), 0);
    be.drain(u32::MAX);
    assert_eq!(be.received, data);
}

#[test]
fn without_a_clock_the_stall_is_bounded_by_waits() {
    let (ring, con) = fake(7, 0);
    let mut be = Backend::new(ring, 0);
    be.clock = None;
    let fault = con.write_with(&pattern(OUT_SIZE as usize + 1), &mut be);
    assert_eq!(
        fault,
        Err(RingFault::Stalled {
            waited_ns: 0,
            waits: STALL_WAITS_WITHOUT_CLOCK,
            prod: 7 + OUT_SIZE,
            cons: 7
        })
    );
    assert_eq!(be.waits, STALL_WAITS_WITHOUT_CLOCK as usize);
}

#[test]
fn reads_input_and_rejects_an_impossible_producer() {
    let (ring, con) = fake(0, 1020);
    let text = b"0123456789";
    // SAFETY: playing the backend: data first, then the index.
    unsafe {
        for (i, &b) in text.iter().enumerate() {
            (*ring).input[(1020 + i) & 1023] = b;
        }
        (*ring).in_prod = 1030;
    }
    let mut be = Backend::new(ring, 0);
    let mut buf = [0u8; 4];
    assert_eq!(con.read_with(&mut buf, &mut be), Ok(4));
    assert_eq!(&buf, b"0123");
    let mut buf = [0u8; 64];
    assert_eq!(con.read_with(&mut buf, &mut be), Ok(6));
    assert_eq!(&buf[..6], b"456789");
    assert_eq!(con.read_with(&mut buf, &mut be), Ok(0));
    assert_eq!(be.notifies, 2);
    // SAFETY: a backend claiming more than the ring holds.
    unsafe { (*ring).in_prod = 1030 + 1025 };
    assert_eq!(
        con.read_with(&mut buf, &mut be),
        Err(RingFault::Corrupt {
            ring: Ring::Input,
            prod: 1030 + 1025,
            cons: 1030
        })
    );
    assert_eq!(con.read_with(&mut buf, &mut be), Err(RingFault::Abandoned));
    assert_eq!(con.ring_errors(), 1);
    // Output is a ring of its own and still works.
    con.write_with(b"still here", &mut be).unwrap();
}
