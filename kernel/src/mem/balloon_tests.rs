//! The balloon's policy against a real bitmap allocator and a simulated
//! host that keeps its own count (the reference the balloon's list is
//! checked against), refuses or does part of a batch on request.

use super::*;
use crate::mem::MemoryMap;
use crate::mem::frame::BitmapFrameAllocator;
use std::collections::BTreeSet;
use std::string::{String, ToString};

const MIB: u64 = 1 << 20;

/// 64 MiB of RAM from 1 MiB, and the floor the kernel would use.
struct Pool {
    frames: BitmapFrameAllocator,
    floor: u64,
}

impl Pool {
    fn new(mib: u64) -> Self {
        let map = MemoryMap::from_entries([(MIB, mib * MIB, 1)]).unwrap();
        let words = BitmapFrameAllocator::storage_words(&map);
        let storage = Box::leak(vec![0u64; words].into_boxed_slice());
        let frames = BitmapFrameAllocator::new(storage, &map).unwrap();
        let floor = floor_frames(frames.total_frames());
        Self { frames, floor }
    }
}

impl FramePool for Pool {
    fn take(&mut self, out: &mut [u64]) -> usize {
        self.frames.alloc_keeping(out, self.floor)
    }
    fn put_back(&mut self, frames: &[u64]) {
        for &f in frames {
            self.frames
                .free(f)
                .expect("the balloon returns only what it took");
        }
    }
    fn floor(&self) -> u64 {
        self.floor
    }
}

/// The host: which frames it holds (taken from the guest), how much it
/// does of the next batch, and every call in order.
#[derive(Default)]
struct FakeHost {
    taken: BTreeSet<u64>,
    /// Do at most this many of each batch (`None`: all).
    limit: Option<usize>,
    refuse: Option<PlatformError>,
    reclaim_order: Vec<u64>,
}

impl Host for FakeHost {
    fn release(&mut self, frames: &[u64]) -> Result<usize, PlatformError> {
        if let Some(e) = self.refuse {
            return Err(e);
        }
        let n = self.limit.map_or(frames.len(), |l| l.min(frames.len()));
        for &f in &frames[..n] {
            assert!(self.taken.insert(f), "frame {f:#x} released twice");
        }
        Ok(n)
    }
    fn reclaim(&mut self, frames: &[u64]) -> Result<usize, PlatformError> {
        if let Some(e) = self.refuse {
            return Err(e);
        }
        let n = self.limit.map_or(frames.len(), |l| l.min(frames.len()));
        for &f in &frames[..n] {
            assert!(
                self.taken.remove(&f),
                "frame {f:#x} reclaimed but not released"
            );
            self.reclaim_order.push(f);
        }
        Ok(n)
    }
}

#[test]
fn the_floor_is_an_eighth_and_at_least_8_mib() {
    assert_eq!(floor_frames(8 * 2048), 2048);
    assert_eq!(floor_frames(1 << 20), 1 << 17);
    // A 32 MiB domain: 8 MiB is more than an eighth.
    assert_eq!(floor_frames(8192), 2048);
    // Smaller than 32 MiB: a quarter.
    assert_eq!(floor_frames(4096), 1024);
    assert_eq!(floor_frames(512), 128);
    assert_eq!(floor_frames(0), 0);
}

#[test]
fn the_wanted_size_is_the_ceiling_less_the_target_in_whole_pages() {
    assert_eq!(wanted_frames(32768, 32768), 0);
    assert_eq!(wanted_frames(40000, 32768), 0, "above the ceiling: none");
    assert_eq!(wanted_frames(24576, 32768), 2048);
    // Linux shifts each value to pages on its own: 3 KiB is page 0.
    assert_eq!(wanted_frames(3, 9), 2);
    assert_eq!(wanted_frames(0, u64::MAX), u64::MAX / 4);
}

#[test]
fn released_frames_leave_the_allocator_and_come_back() {
    let mut pool = Pool::new(64);
    let mut host = FakeHost::default();
    let mut b = Balloon::new();
    let free = pool.frames.free_frames();
    let m = b.inflate(&mut pool, &mut host, 1000);
    assert_eq!(
        m,
        Moved {
            frames: 1000,
            stop: None
        }
    );
    // The host's own count, the allocator's and the list agree.
    assert_eq!(host.taken.len(), 1000);
    assert_eq!(pool.frames.free_frames(), free - 1000);
    assert_eq!(b.frames(), 1000);
    for &f in b.released() {
        assert!(host.taken.contains(&f) && !pool.frames.is_free(f));
    }
    let m = b.deflate(&mut pool, &mut host, 1000);
    assert_eq!(
        m,
        Moved {
            frames: 1000,
            stop: None
        }
    );
    assert!(host.taken.is_empty());
    assert_eq!(pool.frames.free_frames(), free);
    assert_eq!(b.frames(), 0);
}

#[test]
fn reclaim_takes_the_newest_first() {
    let mut pool = Pool::new(64);
    let mut host = FakeHost::default();
    let mut b = Balloon::new();
    b.inflate(&mut pool, &mut host, 600);
    let order: Vec<u64> = b.released().to_vec();
    b.deflate(&mut pool, &mut host, 300);
    let newest: Vec<u64> = order[300..].iter().rev().copied().collect();
    assert_eq!(host.reclaim_order, newest);
    assert_eq!(b.released(), &order[..300]);
}

#[test]
fn the_floor_stops_the_balloon_and_says_so() {
    let mut pool = Pool::new(64);
    let mut host = FakeHost::default();
    let mut b = Balloon::new();
    let free = pool.frames.free_frames();
    let floor = pool.floor;
    let out = b.steer(&mut pool, &mut host, 0, 65 * 1024);
    let moved = (free - floor) as i64;
    assert_eq!(
        out,
        Outcome::Stopped {
            moved,
            why: Stop::Floor {
                keep_kib: floor * 4
            }
        }
    );
    assert_eq!(pool.frames.free_frames(), floor);
    assert_eq!(host.taken.len() as u64, free - floor);
    // Asking again moves nothing and says the same.
    let again = b.steer(&mut pool, &mut host, 0, 65 * 1024);
    assert!(matches!(
        again,
        Outcome::Stopped {
            moved: 0,
            why: Stop::Floor { .. }
        }
    ));
    assert_eq!(
        Stop::Floor { keep_kib: 8192 }.to_string(),
        "the kernel keeps at least 8192 KiB free (floor)"
    );
}

#[test]
fn a_partial_batch_keeps_the_prefix_and_returns_the_rest() {
    let mut pool = Pool::new(64);
    let mut host = FakeHost {
        limit: Some(100),
        ..FakeHost::default()
    };
    let mut b = Balloon::new();
    let free = pool.frames.free_frames();
    let m = b.inflate(&mut pool, &mut host, 1000);
    assert_eq!(
        m,
        Moved {
            frames: 100,
            stop: Some(Stop::Partial {
                asked: BATCH,
                done: 100
            })
        }
    );
    assert_eq!(b.frames(), 100);
    assert_eq!(
        pool.frames.free_frames(),
        free - 100,
        "the other 156 went back"
    );
    assert_eq!(host.taken.len(), 100);
    for &f in b.released() {
        assert!(host.taken.contains(&f));
    }
    // Reclaim, partly: the 40 backed are out of the list, in the pool.
    host.limit = Some(40);
    let m = b.deflate(&mut pool, &mut host, 100);
    assert_eq!(m.frames, 40);
    assert_eq!(
        m.stop,
        Some(Stop::Partial {
            asked: 100,
            done: 40
        })
    );
    assert_eq!(b.frames(), 60);
    assert_eq!(host.taken.len(), 60);
    assert_eq!(pool.frames.free_frames(), free - 60);
    assert_eq!(
        Stop::Partial {
            asked: 100,
            done: 40
        }
        .to_string(),
        "the host did only 40 of 100 pages"
    );
}

#[test]
fn an_unavailable_host_moves_nothing_and_says_why() {
    let mut pool = Pool::new(64);
    let why = PlatformError::Unavailable("host here");
    let mut host = FakeHost {
        refuse: Some(why),
        ..FakeHost::default()
    };
    let mut b = Balloon::new();
    let free = pool.frames.free_frames();
    let out = b.steer(&mut pool, &mut host, 16 * 1024, 64 * 1024);
    assert_eq!(
        out,
        Outcome::Stopped {
            moved: 0,
            why: Stop::Host(why)
        }
    );
    assert_eq!(pool.frames.free_frames(), free, "every frame went back");
    assert_eq!(b.frames(), 0);
    let mut line = String::new();
    write_line(&mut line, 16384, &out, 5, 65536).unwrap();
    assert_eq!(
        line,
        "balloon: target 16384 KiB; stopped at 65536 KiB: unavailable: this machine has no host here"
    );
    let refused = Stop::Host(PlatformError::Device("ENOMEM")).to_string();
    assert_eq!(refused, "the host refused: device error: ENOMEM");
}

#[test]
fn a_target_at_the_ceiling_is_nothing_to_do() {
    let mut pool = Pool::new(64);
    let mut host = FakeHost {
        refuse: Some(PlatformError::Device("must not be called")),
        ..FakeHost::default()
    };
    let mut b = Balloon::new();
    assert_eq!(
        b.steer(&mut pool, &mut host, 32768, 32768),
        Outcome::Nothing
    );
    // KiB past the ceiling's last whole page: still nothing.
    assert_eq!(
        b.steer(&mut pool, &mut host, 32771, 32768),
        Outcome::Nothing
    );
}

#[test]
fn steering_down_and_up_prints_the_contract_lines() {
    let mut pool = Pool::new(64);
    let mut host = FakeHost::default();
    let mut b = Balloon::new();
    let ceiling = 64 * 1024;
    let down = b.steer(&mut pool, &mut host, ceiling - 8192, ceiling);
    assert_eq!(down, Outcome::Released(2048));
    assert_eq!(host.taken.len(), 2048);
    let up = b.steer(&mut pool, &mut host, ceiling - 4096, ceiling);
    assert_eq!(up, Outcome::Reclaimed(1024));
    assert_eq!(host.taken.len(), 1024);
    let up = b.steer(&mut pool, &mut host, ceiling + 1, ceiling);
    assert_eq!(up, Outcome::Reclaimed(1024));
    assert!(host.taken.is_empty());
    let line = |o: Outcome| {
        let mut s = String::new();
        write_line(&mut s, 57344, &o, 1234, 57400).unwrap();
        s
    };
    assert_eq!(
        line(Outcome::Released(2048)),
        "balloon: target 57344 KiB; released 2048 pages in 1234 us; the domain now has 57400 KiB"
    );
    assert_eq!(
        line(Outcome::Reclaimed(2)),
        "balloon: target 57344 KiB; reclaimed 2 pages in 1234 us; the domain now has 57400 KiB"
    );
    assert_eq!(
        line(Outcome::Nothing),
        "balloon: target 57344 KiB; nothing to do; the domain now has 57400 KiB"
    );
}

#[test]
fn a_refused_reclaim_keeps_the_frames_in_the_balloon() {
    let mut pool = Pool::new(64);
    let mut host = FakeHost::default();
    let mut b = Balloon::new();
    b.inflate(&mut pool, &mut host, 10);
    let free = pool.frames.free_frames();
    host.refuse = Some(PlatformError::Device("ENOMEM"));
    let out = b.steer(&mut pool, &mut host, 64 * 1024, 64 * 1024);
    assert!(matches!(
        out,
        Outcome::Stopped {
            moved: 0,
            why: Stop::Host(_)
        }
    ));
    assert_eq!(b.frames(), 10, "still the host's: never handed out");
    assert_eq!(pool.frames.free_frames(), free);
}
