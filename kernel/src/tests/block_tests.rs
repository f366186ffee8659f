//! The block layer against the disk the runner gave this machine: the
//! same tests over AHCI natively, over the AHCI that Xen's device model
//! emulates (HVM), and over blkfront (PVH). The runner says what to expect
//! on the command line (`block.disk=NAME block.sectors=N block.seed=HEX`,
//! see tests/src/disk.rs); its image is the independent reference for what
//! is read, and the image it checks after the guest ended is the reference
//! for what was written and flushed.
//!
//! Regions: the first half of the disk holds the runner's pattern and is
//! only read; writes go to the second half; the last 256 sectors are the
//! durability test's, which the runner checks.

use alloc::vec;
use alloc::vec::Vec;

use crate::block::pattern::{self, PATTERN_SECTOR};
use crate::block::{BlockBuffer, BlockError, DISKS, Disk, MachineWaiter, Operation, RequestId};
use crate::harness::{Test, TestError, TestResult};
use crate::{check, check_eq};

pub const TESTS: &[Test] = &[
    Test {
        name: "block_disk_found_as_named",
        run: disk_found_as_named,
    },
    Test {
        name: "block_capacity_matches_image",
        run: capacity_matches_image,
    },
    Test {
        name: "block_reads_the_host_pattern",
        run: reads_the_host_pattern,
    },
    Test {
        name: "block_write_flush_read_back",
        run: write_flush_read_back,
    },
    Test {
        name: "block_flushed_writes_reach_the_image",
        run: flushed_writes_reach_the_image,
    },
    Test {
        name: "block_bad_requests_refused",
        run: bad_requests_refused,
    },
    Test {
        name: "block_many_in_flight",
        run: many_in_flight,
    },
    Test {
        name: "block_transfer_spans_many_requests",
        run: transfer_spans_many_requests,
    },
    Test {
        name: "block_read_only_disk_refuses_writes",
        run: read_only_disk_refuses_writes,
    },
];

/// Generous: a request under nested emulation takes milliseconds.
const TIMEOUT_NS: u64 = 10_000_000_000;

/// The sectors the durability test writes at the disk's end.
const DURABLE_SECTORS: u64 = 256;

/// What the runner said the disk is.
pub(super) struct Expected {
    pub(super) disk: &'static Disk,
    pub(super) sectors: u64,
    pub(super) seed: u32,
}

fn fail(what: impl core::fmt::Display) -> TestError {
    TestError::Fail(alloc::format!("{what}"))
}

/// The runner's description, and the disk it names. Skips when the
/// command line names no disk (a run by hand) or names none on purpose
/// (`block.disk=none`: QEMU's `pc` has no AHCI controller, which
/// `block_disk_found_as_named` checks).
pub(super) fn expected() -> Result<Expected, TestError> {
    let cmdline = &crate::platform().boot_info().cmdline;
    let Some(name) = cmdline.get("block.disk") else {
        return Err(TestError::Skip(
            "no block.disk= on the command line: the runner gives every column a disk".into(),
        ));
    };
    if name == "none" {
        return Err(TestError::Skip(
            "this machine has no disk its drivers can see (block.disk=none)".into(),
        ));
    }
    let sectors = cmdline
        .get("block.sectors")
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| fail("block.sectors= missing or not a number"))?;
    let seed = cmdline
        .get("block.seed")
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .ok_or_else(|| fail("block.seed= missing or not hexadecimal"))?;
    let disk = DISKS.get(name).map_err(|_| {
        let found: Vec<&str> = DISKS.iter().map(Disk::name).collect();
        fail(alloc::format!(
            "no disk `{name}` registered (found: {found:?})"
        ))
    })?;
    Ok(Expected {
        disk,
        sectors,
        seed,
    })
}

/// Sectors of the disk per 512-byte pattern sector (the pattern is laid
/// out in 512-byte units whatever the device's sector size).
fn units(e: &Expected) -> u64 {
    u64::from(e.disk.info().sector_size) / PATTERN_SECTOR as u64
}

fn disk_found_as_named() -> TestResult {
    let cmdline = &crate::platform().boot_info().cmdline;
    if cmdline.get("block.disk") == Some("none") {
        let found: Vec<&str> = DISKS.iter().map(Disk::name).collect();
        check!(
            found.is_empty(),
            "disks found where none was expected: {found:?}"
        );
        return Ok(());
    }
    let e = expected()?;
    let info = e.disk.info();
    check!(info.queue_depth >= 1 && info.max_sectors >= 1);
    crate::kprintln!(
        "# {}: {} sectors of {} bytes, driver {}, queue depth {}, at most {} sectors per request{}",
        e.disk.name(),
        info.capacity_sectors,
        info.sector_size,
        info.driver,
        info.queue_depth,
        info.max_sectors,
        if info.read_only { ", read-only" } else { "" }
    );
    Ok(())
}

fn capacity_matches_image() -> TestResult {
    let e = expected()?;
    let info = e.disk.info();
    check_eq!(
        info.capacity_sectors * u64::from(info.sector_size),
        e.sectors * PATTERN_SECTOR as u64
    );
    Ok(())
}

/// Read `count` pattern sectors from pattern sector `at` and check them.
fn check_pattern(e: &Expected, seed: u32, at: u64, count: u64) -> TestResult {
    let unit = units(e);
    let mut data = vec![0u8; (count * PATTERN_SECTOR as u64) as usize];
    e.disk
        .read(at / unit, &mut data, &MachineWaiter, TIMEOUT_NS)
        .map_err(|err| fail(alloc::format!("read of sectors {at}+{count}: {err}")))?;
    if let Some(bad) = pattern::first_mismatch(seed, at, &data) {
        return Err(fail(alloc::format!(
            "sector {bad} does not hold the expected pattern (seed {seed:08x})"
        )));
    }
    Ok(())
}

fn reads_the_host_pattern() -> TestResult {
    let e = expected()?;
    let half = e.sectors / 2;
    // The start, a page-crossing run in the middle, and the last sectors
    // of the read-only half.
    check_pattern(&e, e.seed, 0, 8)?;
    check_pattern(&e, e.seed, half / 2, 24)?;
    check_pattern(&e, e.seed, half - 8, 8)
}

/// Write the pattern of `seed` over `count` sectors from `at`.
fn write_pattern(e: &Expected, seed: u32, at: u64, count: u64) -> TestResult {
    let mut data = vec![0u8; (count * PATTERN_SECTOR as u64) as usize];
    pattern::fill(seed, at, &mut data);
    e.disk
        .write(at / units(e), &data, &MachineWaiter, TIMEOUT_NS)
        .map_err(|err| fail(alloc::format!("write of sectors {at}+{count}: {err}")))
}

fn flush(e: &Expected) -> TestResult {
    e.disk
        .flush(&MachineWaiter, TIMEOUT_NS)
        .map_err(|err| fail(alloc::format!("flush: {err}")))
}

/// A seed for this boot's writes: differs from the image's, and between
/// boots, so a stale image cannot pass.
fn write_seed(e: &Expected) -> u32 {
    e.seed ^ (crate::time::now_ns() as u32 | 1)
}

fn write_flush_read_back() -> TestResult {
    let e = expected()?;
    let at = e.sectors / 2 + 64;
    let seed = write_seed(&e);
    write_pattern(&e, seed, at, 64)?;
    flush(&e)?;
    check_pattern(&e, seed, at, 64)?;
    // The neighbours were not touched.
    check_pattern(&e, e.seed, at - 8, 8)?;
    check_pattern(&e, e.seed, at + 64, 8)
}

/// The runner checks, after the guest's end, that these sectors hold the
/// pattern of the inverted seed (tests/src/disk.rs `DURABLE_TEST`).
fn flushed_writes_reach_the_image() -> TestResult {
    let e = expected()?;
    let at = e.sectors - DURABLE_SECTORS;
    write_pattern(&e, !e.seed, at, DURABLE_SECTORS)?;
    flush(&e)?;
    check_pattern(&e, !e.seed, at, DURABLE_SECTORS)?;
    crate::kprintln!(
        "# wrote and flushed sectors {at}..{}: the runner checks the image",
        e.sectors
    );
    Ok(())
}

fn bad_requests_refused() -> TestResult {
    let e = expected()?;
    let info = e.disk.info();
    let size = info.sector_size as usize;
    let capacity = info.capacity_sectors;
    let w = &MachineWaiter;
    let mut one = vec![0u8; size];
    let past = e.disk.read(capacity, &mut one, w, TIMEOUT_NS);
    check!(
        matches!(past, Err(BlockError::OutOfRange { .. })),
        "read at the capacity: {past:?}"
    );
    let mut two = vec![0u8; 2 * size];
    let straddle = e.disk.read(capacity - 1, &mut two, w, TIMEOUT_NS);
    check!(
        matches!(straddle, Err(BlockError::OutOfRange { .. })),
        "read across the end: {straddle:?}"
    );
    let wrap = e.disk.read(u64::MAX, &mut one, w, TIMEOUT_NS);
    check!(
        matches!(wrap, Err(BlockError::OutOfRange { .. })),
        "read at u64::MAX: {wrap:?}"
    );
    let empty = e.disk.read(0, &mut [], w, TIMEOUT_NS);
    check!(
        matches!(empty, Err(BlockError::ZeroLength)),
        "zero-length read: {empty:?}"
    );
    let mut odd = vec![0u8; size + 100];
    let misaligned = e.disk.write(e.sectors / 2, &odd, w, TIMEOUT_NS);
    check!(
        matches!(misaligned, Err(BlockError::Misaligned { .. })),
        "write of {} bytes: {misaligned:?}",
        odd.len()
    );
    let misaligned = e.disk.read(0, &mut odd, w, TIMEOUT_NS);
    check!(
        matches!(misaligned, Err(BlockError::Misaligned { .. })),
        "read of {} bytes: {misaligned:?}",
        odd.len()
    );
    // None of it disturbed the device.
    check_pattern(&e, e.seed, 0, 8)
}

/// As many single-page reads at once as the device takes (at most 32),
/// each of a different place: every one comes back with its own data.
fn many_in_flight() -> TestResult {
    let e = expected()?;
    let info = e.disk.info();
    let depth = usize::from(info.queue_depth).min(32);
    let page_sectors = 4096 / u64::from(info.sector_size);
    let unit = units(&e);
    let half = e.sectors / 2 / unit;
    let mut ids: Vec<(RequestId, u64)> = Vec::new();
    for i in 0..depth as u64 {
        // Spread over the read-only half, in no order.
        let lba = (pattern::splitmix64(u64::from(e.seed) + i) % (half - page_sectors))
            / page_sectors
            * page_sectors;
        match e
            .disk
            .submit(Operation::Read, lba, BlockBuffer::zeroed(4096))
        {
            Ok(id) => ids.push((id, lba)),
            Err(refused) => {
                for (id, _) in ids {
                    e.disk.abandon(id);
                }
                return Err(fail(alloc::format!(
                    "request {i} of {depth} refused: {}",
                    refused.error
                )));
            }
        }
    }
    let most = e.disk.in_flight();
    let deadline = crate::time::now_ns() + TIMEOUT_NS;
    let mut results: Vec<Option<Result<BlockBuffer, BlockError>>> =
        ids.iter().map(|_| None).collect();
    let mut bad = None;
    crate::time::wait_until(deadline, || {
        if let Err(error) = e.disk.poll() {
            bad = Some(error);
        }
        for (slot, (id, _)) in results.iter_mut().zip(&ids) {
            if slot.is_none() {
                *slot = e.disk.take(*id);
            }
        }
        results.iter().all(Option::is_some) || bad.is_some()
    });
    if let Some(error) = bad {
        return Err(fail(alloc::format!("a completion was refused: {error}")));
    }
    for (result, (id, lba)) in results.into_iter().zip(&ids) {
        let Some(result) = result else {
            e.disk.abandon(*id);
            return Err(fail(alloc::format!("read of sector {lba} never completed")));
        };
        let buffer = result.map_err(|err| fail(alloc::format!("read of sector {lba}: {err}")))?;
        let mut data = vec![0u8; 4096];
        buffer.read_at(0, &mut data);
        if let Some(bad) = pattern::first_mismatch(e.seed, lba * unit, &data) {
            return Err(fail(alloc::format!(
                "the read of sector {lba} came back with the wrong data (sector {bad})"
            )));
        }
    }
    crate::kprintln!("# {depth} reads submitted at once, {most} in flight together");
    check!(
        most >= depth.min(2),
        "only {most} of {depth} were in flight at once"
    );
    Ok(())
}

/// One read far larger than the device takes in one request: the layer
/// cuts it up and keeps several pieces in flight.
fn transfer_spans_many_requests() -> TestResult {
    let e = expected()?;
    let info = e.disk.info();
    let per_request = u64::from(info.max_sectors) * units(&e).max(1);
    // At least 3 requests, and 1 MiB at least.
    let count = (3 * per_request + 1).max(2048).min(e.sectors / 2);
    check!(
        count > per_request,
        "the read-only half fits in one request"
    );
    check_pattern(&e, e.seed, 0, count)?;
    let at = e.sectors / 2;
    let seed = write_seed(&e);
    write_pattern(&e, seed, at, count.min(e.sectors / 2 - DURABLE_SECTORS))?;
    check_pattern(&e, seed, at, count.min(e.sectors / 2 - DURABLE_SECTORS))
}

/// The runner's read-only disk (`block.ro_disk=NAME`, PVH only: xl refuses
/// a read-only emulated AHCI disk and QEMU an ide-hd one): the device says
/// it is read-only, reads work, and a write is an error that leaves the
/// disk as it was.
fn read_only_disk_refuses_writes() -> TestResult {
    let cmdline = &crate::platform().boot_info().cmdline;
    let Some(name) = cmdline.get("block.ro_disk") else {
        return Err(TestError::Skip(
            "no read-only disk on this machine (block.ro_disk=): only Xen PVH has one".into(),
        ));
    };
    let disk = DISKS
        .get(name)
        .map_err(|_| fail(alloc::format!("no disk `{name}` registered")))?;
    let info = disk.info();
    check!(info.read_only, "{name} is not marked read-only: {info:?}");
    let size = info.sector_size as usize;
    let mut before = vec![0u8; size];
    disk.read(0, &mut before, &MachineWaiter, TIMEOUT_NS)
        .map_err(|err| fail(alloc::format!("read of sector 0: {err}")))?;
    let changed: Vec<u8> = before.iter().map(|b| !b).collect();
    let write = disk.write(0, &changed, &MachineWaiter, TIMEOUT_NS);
    check!(
        matches!(write, Err(BlockError::ReadOnly)),
        "a write to read-only {name}: {write:?}"
    );
    let mut after = vec![0u8; size];
    disk.read(0, &mut after, &MachineWaiter, TIMEOUT_NS)
        .map_err(|err| fail(alloc::format!("read of sector 0 again: {err}")))?;
    check!(before == after, "sector 0 of read-only {name} changed");
    Ok(())
}
