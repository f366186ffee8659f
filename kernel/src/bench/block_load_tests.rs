//! Host tests of the block load against an in-memory device that completes
//! requests only when the (fake) CPU sleeps, newest first.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::block::{BlockDevice, BlockError, Completion, DeviceInfo, Request};

const SECTOR: usize = 512;

/// Sector `s` holds `s` as a little-endian u32 in every word, so data read
/// back names where it came from.
fn sector_bytes(s: u64) -> Vec<u8> {
    (0..SECTOR / 4)
        .flat_map(|_| (s as u32).to_le_bytes())
        .collect()
}

struct Ram {
    info: DeviceInfo,
    data: spin::Mutex<Vec<u8>>,
    pending: spin::Mutex<Vec<Request>>,
    done: spin::Mutex<Vec<Completion>>,
    /// Most requests it held at once.
    peak: AtomicUsize,
    /// Every request's (op, lba, bytes), in submission order.
    log: spin::Mutex<Vec<(Operation, u64, usize)>>,
    /// Fail requests at this lba with an I/O error.
    bad_lba: Option<u64>,
}

impl Ram {
    fn new(sectors: u64, depth: u16, max_sectors: u32) -> Arc<Self> {
        Arc::new(Self {
            info: DeviceInfo {
                capacity_sectors: sectors,
                sector_size: SECTOR as u32,
                read_only: false,
                queue_depth: depth,
                max_sectors,
                driver: "ram",
            },
            data: spin::Mutex::new((0..sectors).flat_map(sector_bytes).collect()),
            pending: spin::Mutex::new(Vec::new()),
            done: spin::Mutex::new(Vec::new()),
            peak: AtomicUsize::new(0),
            log: spin::Mutex::new(Vec::new()),
            bad_lba: None,
        })
    }

    /// Carry out everything pending, newest first.
    fn interrupt(&self) {
        let mut pending = core::mem::take(&mut *self.pending.lock());
        while let Some(mut r) = pending.pop() {
            let start = r.lba as usize * SECTOR;
            let len = r.buffer.len();
            let mut data = self.data.lock();
            match r.op {
                Operation::Read => r.buffer.write_at(0, &data[start..start + len]),
                Operation::Write => r.buffer.read_at(0, &mut data[start..start + len]),
                Operation::Flush => {}
            }
            let status = if Some(r.lba) == self.bad_lba && r.op != Operation::Flush {
                Err(BlockError::Io("bad sector"))
            } else {
                Ok(())
            };
            self.done.lock().push(Completion {
                id: r.id,
                status,
                buffer: r.buffer,
            });
        }
    }
}

struct Handle(Arc<Ram>);

impl BlockDevice for Handle {
    fn info(&self) -> DeviceInfo {
        self.0.info
    }
    fn submit(&self, request: Request) -> Result<(), Request> {
        self.0
            .log
            .lock()
            .push((request.op, request.lba, request.buffer.len()));
        let mut pending = self.0.pending.lock();
        pending.push(request);
        self.0.peak.fetch_max(pending.len(), Ordering::Relaxed);
        Ok(())
    }
    fn poll(&self) -> Option<Completion> {
        let mut done = self.0.done.lock();
        (!done.is_empty()).then(|| done.remove(0))
    }
}

/// Time moves `tick` (1000 unless set) per wake-up, in which the device
/// (if it answers) finishes everything it holds.
struct Sleeper<'a> {
    ram: Option<&'a Ram>,
    now: Cell<u64>,
    sleeps: Cell<u32>,
    tick: u64,
}

impl Waiter for Sleeper<'_> {
    fn now_ns(&self) -> u64 {
        self.now.get()
    }
    fn wait_unless(&self, deadline_ns: u64, ready: &mut dyn FnMut() -> bool) {
        // As `time::wait_until`: sleep until ready or the deadline, one call.
        self.sleeps.set(self.sleeps.get() + 1);
        while !ready() && self.now.get() < deadline_ns {
            self.now.set(self.now.get() + self.tick);
            if let Some(ram) = self.ram {
                ram.interrupt();
            }
        }
    }
}

fn setup(ram: &Arc<Ram>) -> (Disk, Sleeper<'_>) {
    let disk = Disk::new("ram0".into(), Box::new(Handle(ram.clone()))).unwrap();
    let w = Sleeper {
        ram: Some(ram),
        now: Cell::new(0),
        sleeps: Cell::new(0),
        tick: 1000,
    };
    (disk, w)
}

fn shared(n: usize, len: usize) -> Buffers {
    Buffers::Shared((0..n).map(|_| BlockBuffer::zeroed(len)).collect())
}

#[test]
fn queue_depth_one_times_each_request_from_submission_to_completion() {
    let ram = Ram::new(64, 32, 8);
    let (disk, w) = setup(&ram);
    let clock = || w.now.get();
    let mut rng = Prng::new(1);
    let mut lba_of = |_| rng.aligned_lba(64, 512, 4096).unwrap();
    let load = Load {
        op: Operation::Read,
        depth: 1,
        ops_per_iter: 1,
        overlap: false,
        lba_of: &mut lba_of,
    };
    let (samples, _) = run_load(&disk, &w, &clock, load, shared(1, 4096), 5, 1_000_000).unwrap();
    assert_eq!(samples, [1000; 5], "one sleep per request");
    assert_eq!(ram.peak.load(Ordering::Relaxed), 1);
    assert_eq!(w.sleeps.get(), 1, "one wait (one deadline) for the batch");
    let log = ram.log.lock();
    assert_eq!(log.len(), 5);
    for &(op, lba, len) in log.iter() {
        assert_eq!((op, len), (Operation::Read, 4096));
        assert!(lba % 8 == 0 && lba + 8 <= 64, "lba {lba}");
    }
    assert_eq!(disk.in_flight(), 0);
}

#[test]
fn a_full_queue_is_kept_full_across_iterations() {
    // Depth 4, 8 requests an iteration: each sleep completes 4, so an
    // iteration is two sleeps, and the next iteration's requests are
    // already out when one ends.
    let ram = Ram::new(256, 32, 8);
    let (disk, w) = setup(&ram);
    let clock = || w.now.get();
    let mut lba_of = |i: u64| (i * 8) % 256;
    let load = Load {
        op: Operation::Read,
        depth: 4,
        ops_per_iter: 8,
        overlap: true,
        lba_of: &mut lba_of,
    };
    let (samples, buffers) =
        run_load(&disk, &w, &clock, load, shared(4, 4096), 3, 1_000_000).unwrap();
    assert_eq!(samples, [2000; 3]);
    assert_eq!(ram.peak.load(Ordering::Relaxed), 4);
    assert_eq!(ram.log.lock().len(), 24);
    // Each buffer came back, holding what its last read found.
    let slots = buffers.into_slots();
    assert_eq!(slots.len(), 4);
    for buffer in slots.iter().flatten() {
        let mut word = [0u8; 4];
        buffer.read_at(0, &mut word);
        assert_eq!(u32::from_le_bytes(word) % 8, 0);
    }
}

#[test]
fn sequential_pieces_stay_within_their_iteration_and_write_back_what_was_read() {
    // 1 iteration = 10 sectors in pieces of at most 4 sectors (4, 4, 2).
    let ram = Ram::new(64, 8, 4);
    let (disk, w) = setup(&ram);
    let clock = || w.now.get();
    let cut = pieces(10 * SECTOR, 4 * SECTOR);
    assert_eq!(cut, [(0, 2048), (2048, 2048), (4096, 1024)]);
    let slots = || {
        Buffers::PerSlot(
            cut.iter()
                .map(|&(_, len)| Some(BlockBuffer::zeroed(len)))
                .collect(),
        )
    };
    let k = cut.len() as u64;
    let mut lba_of = |i: u64| 32 + (cut[(i % k) as usize].0 / SECTOR) as u64;
    let read = Load {
        op: Operation::Read,
        depth: 8,
        ops_per_iter: 3,
        overlap: false,
        lba_of: &mut lba_of,
    };
    let (_, region) = run_load(&disk, &w, &clock, read, slots(), 1, 1_000_000).unwrap();
    let region = region.into_slots();
    let mut first = [0u8; 4];
    region[2].as_ref().unwrap().read_at(0, &mut first);
    assert_eq!(u32::from_le_bytes(first), 32 + 8, "the third piece");
    // Scribble on the disk's copy, then write the region back twice: the
    // disk holds what was read, and no iteration overlapped the next.
    ram.data.lock()[32 * SECTOR..42 * SECTOR].fill(0xee);
    ram.peak.store(0, Ordering::Relaxed);
    let mut lba_of = |i: u64| 32 + (cut[(i % k) as usize].0 / SECTOR) as u64;
    let write = Load {
        op: Operation::Write,
        depth: 8,
        ops_per_iter: 3,
        overlap: false,
        lba_of: &mut lba_of,
    };
    let buffers = Buffers::PerSlot(region);
    let (samples, _) = run_load(&disk, &w, &clock, write, buffers, 2, 1_000_000).unwrap();
    assert_eq!(samples, [1000, 1000]);
    assert_eq!(
        ram.peak.load(Ordering::Relaxed),
        3,
        "at most one iteration's pieces out"
    );
    let expected: Vec<u8> = (32..42).flat_map(sector_bytes).collect();
    assert_eq!(&ram.data.lock()[32 * SECTOR..42 * SECTOR], &expected[..]);
}

#[test]
fn a_device_that_never_answers_times_out_and_its_requests_are_abandoned() {
    let ram = Ram::new(64, 4, 8);
    let disk = Disk::new("ram0".into(), Box::new(Handle(ram.clone()))).unwrap();
    let silent = Sleeper {
        ram: None,
        now: Cell::new(0),
        sleeps: Cell::new(0),
        tick: 1000,
    };
    let clock = || silent.now.get();
    let mut lba_of = |_| 0;
    let load = Load {
        op: Operation::Flush,
        depth: 2,
        ops_per_iter: 1,
        overlap: false,
        lba_of: &mut lba_of,
    };
    let error = run_load(&disk, &silent, &clock, load, shared(2, 0), 3, 5_000_000)
        .err()
        .unwrap();
    assert_eq!(
        error,
        "timed out after 5 ms: 0 of 3 requests done, 1 in flight"
    );
    // The device answers at last: the completion frees its slot.
    ram.interrupt();
    assert_eq!(disk.poll(), Ok(1));
    assert_eq!(disk.in_flight(), 0);
}

/// A device that finishes its work but never wakes the CPU: each sleep
/// lasts until its deadline.
struct NoWakeUps<'a> {
    ram: &'a Ram,
    now: Cell<u64>,
}

impl Waiter for NoWakeUps<'_> {
    fn now_ns(&self) -> u64 {
        self.now.get()
    }
    fn wait_unless(&self, deadline_ns: u64, ready: &mut dyn FnMut() -> bool) {
        if !ready() {
            self.ram.interrupt();
            self.now.set(self.now.get().max(deadline_ns));
        }
    }
}

#[test]
fn a_stall_is_diagnosed_before_the_deadline_as_lost_wake_up_or_stuck_device() {
    let ram = Ram::new(64, 4, 8);
    let disk = Disk::new("ram0".into(), Box::new(Handle(ram.clone()))).unwrap();
    let clock = || 0;
    let load = |lba_of: &'static mut dyn FnMut(u64) -> u64| Load {
        op: Operation::Read,
        depth: 2,
        ops_per_iter: 1,
        overlap: true,
        lba_of,
    };
    let lost = NoWakeUps {
        ram: &ram,
        now: Cell::new(0),
    };
    let lba_of = Box::leak(Box::new(|_| 0));
    let error = run_load(
        &disk,
        &lost,
        &clock,
        load(lba_of),
        shared(2, 4096),
        3,
        60 * STALL_NS,
    );
    assert_eq!(
        error.err().unwrap(),
        "2 of 2 requests in flight had completed, but nothing woke the CPU for 1500 ms \
         (a lost interrupt or event)"
    );
    let stuck = Sleeper {
        ram: None,
        now: Cell::new(0),
        sleeps: Cell::new(0),
        tick: 1000,
    };
    let lba_of = Box::leak(Box::new(|_| 0));
    let error = run_load(
        &disk,
        &stuck,
        &clock,
        load(lba_of),
        shared(2, 4096),
        3,
        60 * STALL_NS,
    );
    assert_eq!(
        error.err().unwrap(),
        "no completion for 1500 ms with 2 requests in flight"
    );
    assert_eq!(
        stuck.now.get(),
        STALL_NS,
        "given up at the stall, not the deadline"
    );
}

#[test]
fn a_batch_longer_than_the_stall_window_goes_on_while_requests_complete() {
    // A completion every quarter window, 20 of them: five windows.
    let ram = Ram::new(64, 4, 8);
    let disk = Disk::new("ram0".into(), Box::new(Handle(ram.clone()))).unwrap();
    let w = Sleeper {
        ram: Some(&ram),
        now: Cell::new(0),
        sleeps: Cell::new(0),
        tick: STALL_NS / 4,
    };
    let clock = || w.now.get();
    let mut lba_of = |_| 0;
    let load = Load {
        op: Operation::Flush,
        depth: 1,
        ops_per_iter: 1,
        overlap: false,
        lba_of: &mut lba_of,
    };
    let (samples, _) = run_load(&disk, &w, &clock, load, shared(1, 0), 20, 10 * STALL_NS).unwrap();
    assert_eq!(samples, [STALL_NS / 4; 20]);
    // One wait (one timer) a window; the completion due just as a window
    // ends is collected in the next one.
    assert!(
        (5..=6).contains(&w.sleeps.get()),
        "{} waits",
        w.sleeps.get()
    );
}

#[test]
fn a_failed_request_fails_the_batch_by_its_index() {
    let ram = Arc::new(Ram {
        bad_lba: Some(16),
        ..Arc::into_inner(Ram::new(64, 4, 8)).unwrap()
    });
    let (disk, w) = setup(&ram);
    let clock = || w.now.get();
    let mut lba_of = |i: u64| i * 8;
    let load = Load {
        op: Operation::Read,
        depth: 1,
        ops_per_iter: 1,
        overlap: false,
        lba_of: &mut lba_of,
    };
    let error = run_load(&disk, &w, &clock, load, shared(1, 4096), 4, 1_000_000);
    assert_eq!(
        error.err().unwrap(),
        "request 2 failed: I/O error: bad sector"
    );
}

#[test]
fn a_refused_request_fails_the_batch_with_the_layers_reason() {
    let ram = Ram::new(64, 4, 8);
    let (disk, w) = setup(&ram);
    let clock = || w.now.get();
    let mut lba_of = |_| 60;
    let load = Load {
        op: Operation::Read,
        depth: 1,
        ops_per_iter: 1,
        overlap: false,
        lba_of: &mut lba_of,
    };
    let error = run_load(&disk, &w, &clock, load, shared(1, 4096), 1, 1_000_000)
        .err()
        .unwrap();
    assert!(error.starts_with("request 0 refused: "), "{error}");
}

#[test]
fn the_disk_is_the_named_one_or_the_first_and_none_is_said() {
    let disks = Registry::new();
    assert_eq!(choose(&disks, None).err().unwrap(), "no disk");
    for name in ["sda", "xvda"] {
        disks
            .register(name, Box::new(Handle(Ram::new(8, 1, 1))))
            .unwrap();
    }
    assert_eq!(choose(&disks, None).map(Disk::name), Ok("sda"));
    assert_eq!(choose(&disks, Some("xvda")).map(Disk::name), Ok("xvda"));
    assert_eq!(
        choose(&disks, Some("sdb")).err().unwrap(),
        "no disk: block.disk=sdb is not registered (registered: sda, xvda)"
    );
    assert_eq!(
        choose(&disks, Some("none")).err().unwrap(),
        "no disk (block.disk=none)"
    );
}

#[test]
fn random_blocks_are_aligned_in_range_and_repeatable() {
    let (mut a, mut b) = (Prng::new(7), Prng::new(7));
    let lbas: Vec<u64> = (0..1000)
        .map(|_| a.aligned_lba(32768, 512, 4096).unwrap())
        .collect();
    assert!(lbas.iter().all(|l| l % 8 == 0 && l + 8 <= 32768));
    // Spread over the disk, not stuck in a corner.
    assert!(lbas.iter().any(|l| *l < 8192) && lbas.iter().any(|l| *l > 24576));
    let again: Vec<u64> = (0..1000)
        .map(|_| b.aligned_lba(32768, 512, 4096).unwrap())
        .collect();
    assert_eq!(lbas, again);
    assert_eq!(Prng::new(1).aligned_lba(7, 512, 4096), None);
    assert_eq!(
        Prng::new(1).aligned_lba(8, 4096, 4096),
        Some(Prng::new(1).next_u64() % 8)
    );
    assert_ne!(Prng::new(0).next_u64(), 0);
    // A sequence carried on through its state goes on where it was.
    let mut whole = Prng::new(3);
    let mut first = Prng::new(3);
    let _ = (whole.next_u64(), first.next_u64());
    let mut rest = Prng::new(first.state());
    assert_eq!(whole.next_u64(), rest.next_u64());
}

#[test]
fn pieces_cover_the_transfer() {
    assert_eq!(pieces(1 << 20, 1 << 20), [(0, 1 << 20)]);
    let cut = pieces(1 << 20, 44 * 1024);
    assert_eq!(cut.len(), 24);
    assert_eq!(cut.iter().map(|p| p.1).sum::<usize>(), 1 << 20);
    assert_eq!(cut[23], (23 * 44 * 1024, (1 << 20) - 23 * 44 * 1024));
    let empty: Vec<u64> = vec![];
    assert_eq!(pieces(0, 4096).len(), empty.len());
}
