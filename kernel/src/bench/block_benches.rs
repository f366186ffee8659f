//! The block benchmarks: what a disk costs the guest, whichever driver is
//! underneath (AHCI natively and under Xen HVM, blkfront under Xen PVH).
//!
//! They measure the disk `block.disk=` names, or the first registered;
//! with none, each says `error=no disk` and measures nothing. Each
//! iteration is timed in TSC cycles like every other benchmark, and the
//! result line says what an iteration moved ([`super::Work`]): the host
//! turns that into IOPS and MB/s.
//!
//! Waiting: the CPU sleeps until the driver's interrupt (AHCI) or event
//! channel upcall (blkfront) wakes it, with one timer for a whole batch
//! (see [`super::block_load`]). Busy-polling would measure the device and
//! its model alone; sleeping adds the delivery of the interrupt and the
//! wake-up from idle, which under Xen HVM is an emulated interrupt and a
//! trapped EOI: a cost every guest that does not spin pays, so the figures
//! include it.
//!
//! Writes go only to the disk's second half (the first half is the
//! runner's pattern, which it checks after the guest ends), and write back
//! what was read there: the benchmarks never change the disk's contents,
//! so they may run before or after the core's block tests in any order.

use core::sync::atomic::{AtomicU64, Ordering};

use super::block_load::{Buffers, Load, Prng, choose, pieces, run_load};
use super::{Bench, BenchError, Role, Samples, Work, cycles};
use crate::block::{BlockBuffer, DISKS, Disk, MachineWaiter, Operation};
use crate::time::NS_PER_SEC;
use alloc::vec::Vec;

pub const READ_4K_QD1: &str = "block_read_4k_qd1";
pub const READ_4K_QD32: &str = "block_read_4k_qd32";
pub const READ_SEQ_1M: &str = "block_read_seq_1m";
pub const WRITE_SEQ_1M: &str = "block_write_seq_1m";
pub const FLUSH: &str = "block_flush";

pub const BENCHES: &[Bench] = &[
    Bench {
        name: READ_4K_QD1,
        what: "read 4 KiB at a random aligned offset, one request at a time (latency)",
        pair: None,
        role: Role::Neither,
        max_iters: 1000,
        run: read_4k_qd1,
    },
    Bench {
        name: READ_4K_QD32,
        what: "random 4 KiB reads kept 32 deep (or the device's queue depth), 32 a timed iteration",
        pair: None,
        role: Role::Neither,
        max_iters: 100,
        run: read_4k_qd32,
    },
    Bench {
        name: READ_SEQ_1M,
        what: "read the next 1 MiB, cut at the device's request size, up to 32 in flight",
        pair: None,
        role: Role::Neither,
        max_iters: 50,
        run: read_seq_1m,
    },
    Bench {
        name: WRITE_SEQ_1M,
        what: "write back 1 MiB at the start of the second half (read before, flushed after, untimed)",
        pair: None,
        role: Role::Neither,
        max_iters: 50,
        run: write_seq_1m,
    },
    Bench {
        name: FLUSH,
        what: "flush the disk's cache, one flush at a time (nothing written in between)",
        pair: None,
        role: Role::Neither,
        max_iters: 500,
        run: flush,
    },
];

/// Bytes of one random read.
const BLOCK: usize = 4096;
/// Bytes of one sequential iteration.
const MIB: usize = 1 << 20;
/// Most requests in flight, where the device allows that many.
const DEPTH: u16 = 32;
/// Requests of a timed QD32 iteration: one queue's worth. The queue is
/// kept full across iterations (only the first fills it), so an iteration
/// times 32 completions at the full queue's rate. (64 made the test's one
/// iteration plus probe take about 3.5 s of `bench_all_run`'s 5 s under
/// Xen HVM on a loaded machine, 41 ms a console byte.)
const QD32_OPS: u32 = 32;
/// The whole batch's deadline: far beyond what any iteration takes (the
/// runner's watchdog, 10 s and up, usually ends a stuck batch first).
const BATCH_TIMEOUT_NS: u64 = 30 * NS_PER_SEC;

/// The random reads' generator, carried from batch to batch so that the
/// timed iterations do not re-read what the warm-up read.
static RANDOM: AtomicU64 = AtomicU64::new(0x5eed_b10c_0000_0001);
/// The next MiB the sequential read starts at.
static NEXT_MIB: AtomicU64 = AtomicU64::new(0);

/// The disk to measure.
pub fn disk() -> Result<&'static Disk, BenchError> {
    let cmdline = &crate::platform().boot_info().cmdline;
    choose(&DISKS, cmdline.get(super::block_load::DISK_KEY))
}

/// Why the block benchmarks have nothing to measure when that is what
/// the machine was started with: `block.disk=none`, or no `block.disk=`
/// and no disk. `None` when there is a disk, or when the one named is
/// missing (a driver failed: that is an error, not an absence).
pub fn no_disk_expected(name: &str) -> Option<BenchError> {
    if !BENCHES.iter().any(|b| b.name == name) {
        return None;
    }
    let named = crate::platform()
        .boot_info()
        .cmdline
        .get(super::block_load::DISK_KEY);
    let empty = DISKS.iter().next().is_none();
    match named {
        Some("none") => Some("no disk (block.disk=none)".into()),
        None if empty => Some("no disk".into()),
        _ => None,
    }
}

fn depth_of(disk: &Disk) -> u16 {
    disk.info().queue_depth.min(DEPTH)
}

fn bytes_per_request(disk: &Disk) -> usize {
    let info = disk.info();
    (info.max_sectors as usize).saturating_mul(info.sector_size as usize)
}

/// What one iteration of block benchmark `name` moves on the disk it
/// measures; `None` for other benchmarks or without a disk.
pub fn work_of(name: &str) -> Option<Work<'static>> {
    let disk = disk().ok()?;
    let seq = pieces(MIB, bytes_per_request(disk)).len() as u64;
    let (ops, bytes, depth) = match name {
        READ_4K_QD1 => (1, BLOCK as u64, 1),
        READ_4K_QD32 => (
            u64::from(QD32_OPS),
            u64::from(QD32_OPS) * BLOCK as u64,
            depth_of(disk),
        ),
        READ_SEQ_1M | WRITE_SEQ_1M => (seq, MIB as u64, depth_of(disk).min(seq as u16)),
        FLUSH => (1, 0, 1),
        _ => return None,
    };
    Some(Work {
        ops,
        bytes,
        depth,
        disk: disk.name(),
        driver: disk.info().driver,
    })
}

fn clock() -> u64 {
    cycles()
}

/// `iters` random 4 KiB reads `ops_per_iter` at a time, `depth` deep.
fn random_reads(iters: u32, depth: u16, ops_per_iter: u32) -> Result<Samples, BenchError> {
    let disk = disk()?;
    let info = disk.info();
    let depth = usize::from(depth.min(info.queue_depth));
    let mut rng = Prng::new(RANDOM.load(Ordering::Relaxed));
    let mut bad = false;
    let mut lba_of = |_| {
        rng.aligned_lba(info.capacity_sectors, info.sector_size, BLOCK as u64)
            .unwrap_or_else(|| {
                bad = true;
                0
            })
    };
    let load = Load {
        op: Operation::Read,
        depth,
        ops_per_iter,
        overlap: true,
        lba_of: &mut lba_of,
    };
    let buffers = Buffers::Shared((0..depth).map(|_| BlockBuffer::zeroed(BLOCK)).collect());
    let outcome = run_load(
        disk,
        &MachineWaiter,
        &clock,
        load,
        buffers,
        iters,
        BATCH_TIMEOUT_NS,
    );
    RANDOM.store(rng.state(), Ordering::Relaxed);
    if bad {
        return Err("the disk is smaller than 4 KiB".into());
    }
    outcome.map(|(samples, _)| samples)
}

fn read_4k_qd1(iters: u32) -> Result<Samples, BenchError> {
    random_reads(iters, 1, 1)
}

fn read_4k_qd32(iters: u32) -> Result<Samples, BenchError> {
    random_reads(iters, DEPTH, QD32_OPS)
}

/// 1 MiB from sector `start` on, `iters` times (each time at the sector
/// `next(k)` gives for iteration `k`), in pieces of the device's request
/// size, each iteration on an idle device. `buffers` holds one buffer per
/// piece: the data to write, or room for what is read.
fn sequential(
    disk: &Disk,
    op: Operation,
    iters: u32,
    next: &dyn Fn(u64) -> u64,
    buffers: Buffers,
) -> Result<(Samples, Buffers), BenchError> {
    let info = disk.info();
    let cut = pieces(MIB, bytes_per_request(disk));
    let k = cut.len() as u64;
    let sector = info.sector_size as usize;
    let mut lba_of = |i: u64| next(i / k) + (cut[(i % k) as usize].0 / sector) as u64;
    let load = Load {
        op,
        depth: usize::from(depth_of(disk)),
        ops_per_iter: k as u32,
        overlap: false,
        lba_of: &mut lba_of,
    };
    run_load(
        disk,
        &MachineWaiter,
        &clock,
        load,
        buffers,
        iters,
        BATCH_TIMEOUT_NS,
    )
}

fn piece_buffers(disk: &Disk) -> Buffers {
    let cut = pieces(MIB, bytes_per_request(disk));
    Buffers::PerSlot(
        cut.iter()
            .map(|&(_, len)| Some(BlockBuffer::zeroed(len)))
            .collect(),
    )
}

fn sectors_per_mib(disk: &Disk) -> u64 {
    (MIB / disk.info().sector_size as usize) as u64
}

fn read_seq_1m(iters: u32) -> Result<Samples, BenchError> {
    let disk = disk()?;
    let per_mib = sectors_per_mib(disk);
    let mibs = disk.info().capacity_sectors / per_mib;
    if mibs == 0 {
        return Err("the disk is smaller than 1 MiB".into());
    }
    let first = NEXT_MIB.fetch_add(u64::from(iters), Ordering::Relaxed);
    let next = |k: u64| ((first + k) % mibs) * per_mib;
    sequential(disk, Operation::Read, iters, &next, piece_buffers(disk)).map(|(s, _)| s)
}

fn write_seq_1m(iters: u32) -> Result<Samples, BenchError> {
    let disk = disk()?;
    let info = disk.info();
    let per_mib = sectors_per_mib(disk);
    let start = info.capacity_sectors.div_ceil(2);
    if start + per_mib > info.capacity_sectors {
        return Err("the disk's second half is smaller than 1 MiB".into());
    }
    let at = |_| start;
    // Untimed: what is there now, so that the writes change nothing.
    let (_, region) = sequential(disk, Operation::Read, 1, &at, piece_buffers(disk))?;
    let (samples, _) = sequential(disk, Operation::Write, iters, &at, region)?;
    // Untimed: leave nothing dirty, so that the next flush measured (the
    // flush benchmark's first) is the flush command's round trip, not the
    // host writing this batch out.
    flush_batch(disk, 1)?;
    Ok(samples)
}

fn flush(iters: u32) -> Result<Samples, BenchError> {
    flush_batch(disk()?, iters)
}

/// `iters` flushes, one at a time.
fn flush_batch(disk: &Disk, iters: u32) -> Result<Samples, BenchError> {
    let mut lba_of = |_| 0;
    let load = Load {
        op: Operation::Flush,
        depth: 1,
        ops_per_iter: 1,
        overlap: false,
        lba_of: &mut lba_of,
    };
    let buffers = Buffers::Shared(Vec::from([BlockBuffer::zeroed(0)]));
    run_load(
        disk,
        &MachineWaiter,
        &clock,
        load,
        buffers,
        iters,
        BATCH_TIMEOUT_NS,
    )
    .map(|(samples, _)| samples)
}
