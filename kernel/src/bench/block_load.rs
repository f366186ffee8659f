//! The load the block benchmarks put on a disk, free of the machine so
//! that it can be tested on the host: which disk, which sectors, and one
//! batch of requests kept `depth` deep through the asynchronous request
//! layer ([`Disk::submit`], [`Disk::poll`], [`Disk::take`]), timed per
//! iteration.
//!
//! Not the synchronous helpers: they wait once per request, and on the
//! machine each wait arms and cancels a timer, which under Xen HVM is a
//! trapped timer write (an exit) per request that no driver asked for.
//! Here a whole batch is one wait ([`Waiter::wait_unless`]) with one
//! generous deadline: the CPU sleeps until the driver's interrupt or event
//! wakes it, and the step function ([`Batch::step`]) collects completions
//! and tops the queue up each time it wakes.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::Samples;
use crate::block::{BlockBuffer, Disk, Operation, Registry, RequestId, Waiter};

/// The kernel command line key naming the disk to measure.
pub const DISK_KEY: &str = "block.disk";

/// The disk to measure: the one `named` by the command line, or the first
/// registered. `block.disk=none` (the runner's word for a machine whose
/// disk no driver can see) and an empty registry are "no disk": the
/// benchmark says so rather than measure anything else.
pub fn choose<'a>(disks: &'a Registry, named: Option<&str>) -> Result<&'a Disk, String> {
    match named {
        Some("none") => Err(format!("no disk ({DISK_KEY}=none)")),
        Some(name) => disks.find(name).ok_or_else(|| {
            let known: Vec<&str> = disks.iter().map(Disk::name).collect();
            format!(
                "no disk: {DISK_KEY}={name} is not registered (registered: {})",
                if known.is_empty() {
                    String::from("none")
                } else {
                    known.join(", ")
                }
            )
        }),
        None => disks.iter().next().ok_or_else(|| "no disk".into()),
    }
}

/// xorshift64*: small, fast and deterministic, so every column reads the
/// same sequence of sectors.
#[derive(Clone, Copy, Debug)]
pub struct Prng(u64);

impl Prng {
    /// A generator from `seed` (0 is replaced: xorshift stays at 0).
    pub const fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The state, to carry the sequence on from one batch to the next.
    pub fn state(self) -> u64 {
        self.0
    }

    /// A random `block_bytes`-aligned block of a disk of `capacity`
    /// sectors of `sector_size` bytes: its first sector. `None` when the
    /// disk holds no whole block.
    pub fn aligned_lba(
        &mut self,
        capacity: u64,
        sector_size: u32,
        block_bytes: u64,
    ) -> Option<u64> {
        let per_block = (block_bytes / u64::from(sector_size)).max(1);
        let blocks = capacity / per_block;
        (blocks > 0).then(|| (self.next_u64() % blocks) * per_block)
    }
}

/// A transfer of `total` bytes cut into requests of at most `max_bytes`
/// (the device's `max_sectors`, whole sectors): `(offset, length)` each.
pub fn pieces(total: usize, max_bytes: usize) -> Vec<(usize, usize)> {
    let step = max_bytes.max(1);
    (0..total)
        .step_by(step)
        .map(|at| (at, step.min(total - at)))
        .collect()
}

/// The buffers of a batch.
pub enum Buffers {
    /// Any free buffer serves any request (random reads, flushes).
    Shared(Vec<BlockBuffer>),
    /// Request `i` uses buffer `i % len`, which holds its data or has its
    /// length (the pieces of a sequential transfer); `None` while in flight.
    PerSlot(Vec<Option<BlockBuffer>>),
}

impl Buffers {
    fn take_for(&mut self, i: u64) -> Option<BlockBuffer> {
        match self {
            Buffers::Shared(free) => free.pop(),
            Buffers::PerSlot(slots) => {
                let n = slots.len() as u64;
                slots.get_mut((i % n.max(1)) as usize)?.take()
            }
        }
    }

    fn give_back(&mut self, i: u64, buffer: BlockBuffer) {
        match self {
            Buffers::Shared(free) => free.push(buffer),
            Buffers::PerSlot(slots) => {
                let n = slots.len() as u64;
                slots[(i % n) as usize] = Some(buffer);
            }
        }
    }

    /// The buffers, for a caller that reads what came in.
    #[cfg(test)]
    pub fn into_slots(self) -> Vec<Option<BlockBuffer>> {
        match self {
            Buffers::Shared(free) => free.into_iter().map(Some).collect(),
            Buffers::PerSlot(slots) => slots,
        }
    }
}

/// What one batch does.
pub struct Load<'a> {
    pub op: Operation,
    /// Most requests in flight at once.
    pub depth: usize,
    /// Requests per timed iteration.
    pub ops_per_iter: u32,
    /// Whether the next iteration's requests may start before this one's
    /// last completed (a queue kept full, for a rate); otherwise each
    /// iteration starts on an idle device (one transfer's time).
    pub overlap: bool,
    /// The first sector of request `i`.
    pub lba_of: &'a mut dyn FnMut(u64) -> u64,
}

/// The window in which a batch must see a completion, or give up with a
/// diagnosis rather than sleep on to its deadline: far above any one
/// request seen (70 ms at the p90 of 4 KiB reads under Xen PVH on the
/// nested bed), and short enough that a stall (noticed one to two windows
/// after the last completion) is named within the test harness's 5 s
/// watchdog in `bench_all_run`.
pub const STALL_NS: u64 = 1_500_000_000;

/// A batch under way.
struct Batch<'a, 'b> {
    disk: &'a Disk,
    load: Load<'b>,
    clock: &'a dyn Fn() -> u64,
    buffers: Buffers,
    total: u64,
    submitted: u64,
    completed: u64,
    /// Request id and index of each request in flight.
    in_flight: Vec<(RequestId, u64)>,
    /// When each iteration's first request was submitted.
    first_submit: Vec<u64>,
    samples: Samples,
    /// When the last iteration ended.
    last_end: u64,
    failed: Option<String>,
}

impl Batch<'_, '_> {
    /// Why the batch gave up after [`STALL_NS`] without a completion: a
    /// last look at the device tells a lost wake-up from a stuck device.
    fn stalled(&mut self) -> String {
        let before = self.completed;
        let in_flight = self.in_flight.len();
        self.step();
        let ms = STALL_NS / 1_000_000;
        if self.completed > before {
            format!(
                "{} of {in_flight} requests in flight had completed, but nothing woke the CPU \
                 for {ms} ms (a lost interrupt or event)",
                self.completed - before
            )
        } else {
            format!("no completion for {ms} ms with {in_flight} requests in flight")
        }
    }

    fn finished(&self) -> bool {
        self.failed.is_some() || self.completed == self.total
    }

    /// Collect what completed, then top the queue up. Returns whether the
    /// batch is over (done, or failed).
    fn step(&mut self) -> bool {
        if self.finished() {
            return true;
        }
        if let Err(e) = self.disk.poll() {
            self.failed = Some(format!("the driver reported a bad completion: {e}"));
            return true;
        }
        let now = (self.clock)();
        let mut at = 0;
        while at < self.in_flight.len() {
            let (id, index) = self.in_flight[at];
            match self.disk.take(id) {
                None => at += 1,
                Some(Ok(buffer)) => {
                    self.in_flight.swap_remove(at);
                    self.buffers.give_back(index, buffer);
                    self.complete_one(now);
                }
                Some(Err(e)) => {
                    self.in_flight.swap_remove(at);
                    self.failed = Some(format!("request {index} failed: {e}"));
                    return true;
                }
            }
        }
        self.top_up();
        self.finished()
    }

    fn complete_one(&mut self, now: u64) {
        self.completed += 1;
        let n = u64::from(self.load.ops_per_iter);
        if self.completed.is_multiple_of(n) {
            let iter = (self.completed / n - 1) as usize;
            // An iteration starts when its first request went out, or when
            // the one before it ended if that was later (a full queue).
            let start = self.first_submit[iter].max(self.last_end);
            self.samples.push(now.saturating_sub(start));
            self.last_end = now;
        }
    }

    fn top_up(&mut self) {
        let n = u64::from(self.load.ops_per_iter);
        while self.failed.is_none()
            && self.submitted < self.total
            && self.in_flight.len() < self.load.depth
            && (self.load.overlap || self.submitted < (self.completed / n + 1) * n)
        {
            let index = self.submitted;
            let Some(buffer) = self.buffers.take_for(index) else {
                return;
            };
            let lba = (self.load.lba_of)(index);
            let now = (self.clock)();
            match self.disk.submit(self.load.op, lba, buffer) {
                Ok(id) => {
                    if index.is_multiple_of(n) {
                        self.first_submit.push(now);
                    }
                    self.in_flight.push((id, index));
                    self.submitted += 1;
                }
                Err(refused) => {
                    self.buffers.give_back(index, refused.buffer);
                    // The layer counts every request in flight, abandoned
                    // ones too: a full queue is only waited out.
                    if !matches!(refused.error, crate::block::BlockError::QueueFull { .. }) {
                        self.failed = Some(format!("request {index} refused: {}", refused.error));
                    }
                    return;
                }
            }
        }
    }
}

/// Run `iters` iterations of `load` on `disk`, sleeping through `w`
/// between completions with one deadline `timeout_ns` ahead for the whole
/// batch. Returns one sample per iteration in `clock`'s units, and the
/// buffers. On a failure or a timeout, the requests still out are abandoned
/// (their completions, if they come, only free their buffers).
pub fn run_load<W: Waiter + ?Sized>(
    disk: &Disk,
    w: &W,
    clock: &dyn Fn() -> u64,
    load: Load<'_>,
    buffers: Buffers,
    iters: u32,
    timeout_ns: u64,
) -> Result<(Samples, Buffers), String> {
    if load.depth == 0 || load.ops_per_iter == 0 {
        return Err("a load of depth 0 or no requests".into());
    }
    let total = u64::from(iters) * u64::from(load.ops_per_iter);
    let mut batch = Batch {
        disk,
        clock,
        buffers,
        total,
        submitted: 0,
        completed: 0,
        in_flight: Vec::with_capacity(load.depth),
        first_submit: Vec::with_capacity(iters as usize),
        samples: Vec::with_capacity(iters as usize),
        last_end: 0,
        failed: None,
        load,
    };
    let deadline = w.now_ns().saturating_add(timeout_ns);
    if !batch.step() {
        loop {
            let before = batch.completed;
            // One timer a window: it fires only if the batch outlives the
            // window, and then once per window while requests complete.
            let window_end = w.now_ns().saturating_add(STALL_NS).min(deadline);
            // Not polled once the window is over: what completed without
            // waking the CPU is for `stalled` to find and name.
            w.wait_unless(window_end, &mut || w.now_ns() >= window_end || batch.step());
            if batch.finished() {
                break;
            }
            if batch.completed != before && w.now_ns() < deadline {
                continue;
            }
            batch.failed = Some(if w.now_ns() >= deadline {
                format!(
                    "timed out after {} ms: {} of {total} requests done, {} in flight",
                    timeout_ns / 1_000_000,
                    batch.completed,
                    batch.in_flight.len()
                )
            } else {
                batch.stalled()
            });
            break;
        }
    }
    for &(id, _) in &batch.in_flight {
        disk.abandon(id);
    }
    match batch.failed {
        Some(why) => Err(why),
        None => Ok((batch.samples, batch.buffers)),
    }
}

#[cfg(test)]
#[path = "block_load_tests.rs"]
mod tests;
