//! Ballooning: giving memory back to the host when it asks for less, and
//! taking it again when it asks for more ([`HostRequest::MemoryTarget`]).
//!
//! The core decides *which* frames: free frames taken out of the frame
//! allocator (so nothing else can get them), never below a floor, kept in
//! a list (the balloon) to be taken back later. The backend only moves
//! them ([`Platform::release_frames`], [`Platform::reclaim_frames`]); a
//! machine without a host says the operation is unavailable, and the
//! balloon then simply stays empty: no special case for native.
//!
//! Target arithmetic follows Linux (drivers/xen/xen-balloon.c): the host's
//! ceiling (`memory/static-max`) stands for all the RAM the machine booted
//! with, so the balloon should hold `ceiling - target` (in whole pages),
//! whatever the host counts besides RAM (special pages, rounding). A
//! target equal to the ceiling, as on the first watch fire of a domain
//! built with `memory == maxmem`, is nothing to do.
//!
//! Frames in the balloon are not backed by the host: nothing may touch
//! them (the identity map still covers them; the allocator never hands
//! them out, and the kernel reaches RAM only through allocations).
//!
//! [`HostRequest::MemoryTarget`]: crate::platform::HostRequest::MemoryTarget
//! [`Platform::release_frames`]: crate::platform::Platform::release_frames
//! [`Platform::reclaim_frames`]: crate::platform::Platform::reclaim_frames

use alloc::vec::Vec;
use core::fmt;

use super::PAGE_SIZE;
use crate::platform::PlatformError;

/// Frames handed to the host per call: 2 KiB of addresses on the stack,
/// and few enough that a refusal wastes little work.
pub const BATCH: usize = 256;

/// KiB per frame.
const FRAME_KIB: u64 = PAGE_SIZE / 1024;

/// The floor's fixed part: 8 MiB of frames.
const FLOOR_FIXED_FRAMES: u64 = (8 << 20) / PAGE_SIZE;

/// Free frames the balloon never takes: an eighth of the machine's
/// usable frames, and at least 8 MiB (or a quarter, on a machine too small
/// for 8 MiB to be a fraction of it). The kernel allocates after the
/// balloon has grown (page tables for a new mapping, stacks, disk and
/// ring buffers, the balloon's own list on the heap) and has no way to
/// wait for memory: a refused target is a line on the console, an
/// allocation failure in the kernel is a broken driver. 8 MiB covers the
/// fixed needs of a small domain (its heap is an eighth of memory, at most
/// 16 MiB, and allocated already); the eighth scales with what a bigger
/// one runs (Linux keeps a comparable reserve through its watermarks). The
/// quarter keeps a very small domain (the suite passes in 4 MiB) able to
/// balloon at all.
pub fn floor_frames(total_frames: u64) -> u64 {
    (total_frames / 8).max(FLOOR_FIXED_FRAMES.min(total_frames / 4))
}

/// How many frames the balloon should hold for `target_kib` under a
/// ceiling of `ceiling_kib` (both as the host counts): the difference in
/// whole pages, none when the target reaches the ceiling.
pub fn wanted_frames(target_kib: u64, ceiling_kib: u64) -> u64 {
    (ceiling_kib / FRAME_KIB).saturating_sub(target_kib / FRAME_KIB)
}

/// Where the balloon takes free frames from and puts reclaimed ones.
pub trait FramePool {
    /// Take up to `out.len()` free frames into `out` without touching
    /// their contents, leaving the floor free; returns how many.
    fn take(&mut self, out: &mut [u64]) -> usize;
    /// Return frames taken by [`FramePool::take`] (or reclaimed).
    fn put_back(&mut self, frames: &[u64]);
    /// The floor [`FramePool::take`] keeps free, in frames.
    fn floor(&self) -> u64;
}

/// The host's side: the platform's two operations.
pub trait Host {
    /// See `Platform::release_frames`: a prefix is taken.
    fn release(&mut self, frames: &[u64]) -> Result<usize, PlatformError>;
    /// See `Platform::reclaim_frames`: a prefix is backed again.
    fn reclaim(&mut self, frames: &[u64]) -> Result<usize, PlatformError>;
}

/// Why the balloon stopped short of what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Only the floor is left free.
    Floor { keep_kib: u64 },
    /// The host refused, or has no such operation.
    Host(PlatformError),
    /// The host took (or backed) only part of a batch.
    Partial { asked: usize, done: usize },
    /// No heap left to remember more released frames.
    NoRoomForList,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Floor { keep_kib } => {
                write!(f, "the kernel keeps at least {keep_kib} KiB free (floor)")
            }
            Self::Host(e @ PlatformError::Unavailable(_)) => write!(f, "unavailable: {e}"),
            Self::Host(e) => write!(f, "the host refused: {e}"),
            Self::Partial { asked, done } => {
                write!(f, "the host did only {done} of {asked} pages")
            }
            Self::NoRoomForList => write!(f, "no heap left for the list of released frames"),
        }
    }
}

/// What one move did: frames moved, and why it stopped early, if it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
    pub frames: u64,
    pub stop: Option<Stop>,
}

/// What a target led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Released(u64),
    Reclaimed(u64),
    Nothing,
    /// The target could not be reached; `moved` frames moved before that
    /// (negative: reclaimed).
    Stopped {
        moved: i64,
        why: Stop,
    },
}

/// The frames given to the host, most recently released last.
pub struct Balloon {
    released: Vec<u64>,
}

impl Balloon {
    pub const fn new() -> Self {
        Self {
            released: Vec::new(),
        }
    }

    /// Frames currently given to the host.
    pub fn frames(&self) -> u64 {
        self.released.len() as u64
    }

    /// The released frames, in release order.
    pub fn released(&self) -> &[u64] {
        &self.released
    }

    /// Give up to `n` free frames to the host, a batch at a time. Frames
    /// the host did not take go back to the pool; the first batch the host
    /// refuses (or only partly takes) ends the move.
    pub fn inflate(&mut self, pool: &mut impl FramePool, host: &mut impl Host, n: u64) -> Moved {
        let mut moved = 0;
        let mut batch = [0u64; BATCH];
        while moved < n {
            let want = (n - moved).min(BATCH as u64) as usize;
            // Room first: once the host has the frames, forgetting them
            // would lose them for good.
            if self.released.try_reserve(want).is_err() {
                return Moved {
                    frames: moved,
                    stop: Some(Stop::NoRoomForList),
                };
            }
            let got = pool.take(&mut batch[..want]);
            if got == 0 {
                return Moved {
                    frames: moved,
                    stop: Some(Stop::Floor {
                        keep_kib: pool.floor() * FRAME_KIB,
                    }),
                };
            }
            let frames = &batch[..got];
            let done = match host.release(frames) {
                Ok(done) => done.min(got),
                Err(e) => {
                    pool.put_back(frames);
                    return Moved {
                        frames: moved,
                        stop: Some(Stop::Host(e)),
                    };
                }
            };
            self.released.extend_from_slice(&frames[..done]);
            pool.put_back(&frames[done..]);
            moved += done as u64;
            if done < got {
                return Moved {
                    frames: moved,
                    stop: Some(Stop::Partial { asked: got, done }),
                };
            }
            if got < want {
                return Moved {
                    frames: moved,
                    stop: Some(Stop::Floor {
                        keep_kib: pool.floor() * FRAME_KIB,
                    }),
                };
            }
        }
        Moved {
            frames: moved,
            stop: None,
        }
    }

    /// Take up to `n` frames back from the host, most recently released
    /// first (the list is a stack: no search, no holes), and return them
    /// to the pool.
    pub fn deflate(&mut self, pool: &mut impl FramePool, host: &mut impl Host, n: u64) -> Moved {
        let mut moved = 0;
        let mut batch = [0u64; BATCH];
        while moved < n && !self.released.is_empty() {
            let want = ((n - moved) as usize).min(BATCH).min(self.released.len());
            let len = self.released.len();
            // Newest first: batch[0] is the last released.
            for (slot, &frame) in batch
                .iter_mut()
                .zip(self.released[len - want..].iter().rev())
            {
                *slot = frame;
            }
            let frames = &batch[..want];
            let done = match host.reclaim(frames) {
                Ok(done) => done.min(want),
                Err(e) => {
                    return Moved {
                        frames: moved,
                        stop: Some(Stop::Host(e)),
                    };
                }
            };
            // The prefix backed again is the list's last `done` entries.
            self.released.truncate(len - done);
            pool.put_back(&frames[..done]);
            moved += done as u64;
            if done < want {
                return Moved {
                    frames: moved,
                    stop: Some(Stop::Partial { asked: want, done }),
                };
            }
        }
        if self.released.is_empty() {
            self.released = Vec::new();
        }
        Moved {
            frames: moved,
            stop: None,
        }
    }

    /// Move towards `target_kib` under `ceiling_kib` (see the module's
    /// text).
    pub fn steer(
        &mut self,
        pool: &mut impl FramePool,
        host: &mut impl Host,
        target_kib: u64,
        ceiling_kib: u64,
    ) -> Outcome {
        let wanted = wanted_frames(target_kib, ceiling_kib);
        let held = self.frames();
        let (moved, done) = if wanted > held {
            let m = self.inflate(pool, host, wanted - held);
            (m.frames as i64, m)
        } else if wanted < held {
            let m = self.deflate(pool, host, held - wanted);
            (-(m.frames as i64), m)
        } else {
            return Outcome::Nothing;
        };
        match done.stop {
            None if moved > 0 => Outcome::Released(done.frames),
            None => Outcome::Reclaimed(done.frames),
            Some(why) => Outcome::Stopped { moved, why },
        }
    }
}

impl Default for Balloon {
    fn default() -> Self {
        Self::new()
    }
}

/// The console line for a target (a contract with the host-side runner:
/// see the project's brief), without the newline. `held_kib` is the
/// host's own count after the move.
pub fn write_line(
    out: &mut impl fmt::Write,
    target_kib: u64,
    outcome: &Outcome,
    us: u64,
    held_kib: u64,
) -> fmt::Result {
    write!(out, "balloon: target {target_kib} KiB; ")?;
    match outcome {
        Outcome::Released(n) => write!(out, "released {n} pages in {us} us; ")?,
        Outcome::Reclaimed(n) => write!(out, "reclaimed {n} pages in {us} us; ")?,
        Outcome::Nothing => write!(out, "nothing to do; ")?,
        Outcome::Stopped { why, .. } => return write!(out, "stopped at {held_kib} KiB: {why}"),
    }
    write!(out, "the domain now has {held_kib} KiB")
}

#[cfg(target_os = "none")]
#[path = "balloon_kernel.rs"]
mod kernel;
#[cfg(target_os = "none")]
pub use kernel::*;

#[cfg(test)]
#[path = "balloon_tests.rs"]
mod tests;
