//! blkfront under Xen, against the bed's blkback: the handshake's end
//! state in xenstore, a handshake step against a bogus backend directory
//! of the guest's own in real xenstore, and what one request costs in
//! notifications.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::attach::store_step;
use super::handshake;
use super::{Attached, attached, states};
use crate::xenbus::{Device, XenbusState};
use virtus_kernel::block::{BlockBuffer, BlockError, DISKS, Disk, Operation, RequestId};
use virtus_kernel::harness::{Test, TestError, TestResult};
use virtus_kernel::time::{self as ktime, NS_PER_MS};
use virtus_kernel::{check, check_eq};

pub const TESTS: &[Test] = &[
    Test {
        name: "pv_blkfront_handshake_connected",
        run: handshake_connected,
    },
    Test {
        name: "pv_blkfront_bad_backend_key_fails_clearly",
        run: bad_backend_key_fails_clearly,
    },
    Test {
        name: "pv_blkfront_notifications_per_request",
        run: notifications_per_request,
    },
    Test {
        name: "pv_blkfront_persistent_grants_reused",
        run: persistent_grants_reused,
    },
    // Last of all the suite's tests: it takes the disk down.
    Test {
        name: "pv_blkfront_backend_close_fails_requests",
        run: backend_close_fails_requests,
    },
];

/// The first attached disk; a domain given no vbd skips (the runner gives
/// every PVH guest one; a vbd that failed to attach is a failure).
fn first() -> Result<alloc::sync::Arc<Attached>, TestError> {
    if let Some(a) = attached().into_iter().next() {
        return Ok(a);
    }
    let ids = store_step(|c| crate::xenbus::device_ids(c, "vbd")).map_err(TestError::Fail)?;
    if ids.is_empty() {
        return Err(TestError::Skip("this domain has no device/vbd".into()));
    }
    Err(TestError::Fail(format!(
        "device/vbd has {ids:?} but no disk attached (see the blkfront error in the log)"
    )))
}

/// Both ends are Connected in xenstore (read back now, not remembered),
/// the ring keys we published are there, and the features blkback offers
/// are the ones in use.
fn handshake_connected() -> TestResult {
    let a = first()?;
    let (front, back) = states(&a).map_err(TestError::Fail)?;
    check_eq!(front, XenbusState::Connected);
    check_eq!(back, XenbusState::Connected);
    let keys = store_step(|c| {
        let mut out = Vec::new();
        for key in ["ring-ref", "event-channel", "protocol"] {
            let v = c.read(&a.device.frontend_key(key)).map_err(|error| {
                crate::xenbus::XenbusError::Store {
                    path: a.device.frontend_key(key),
                    error,
                }
            })?;
            out.push(String::from_utf8_lossy(&v).into_owned());
        }
        Ok(out)
    })
    .map_err(TestError::Fail)?;
    check_eq!(keys[1], format!("{}", a.port));
    check_eq!(keys[2].as_str(), "x86_64-abi");
    let disk = DISKS
        .get(&a.name)
        .map_err(|e| TestError::Fail(format!("{e}")))?;
    check_eq!(disk.info().capacity_sectors, a.params.sectors);
    check_eq!(disk.info().queue_depth, 32);
    log::info!(
        "blkfront {}: ring-ref {}, offer {:?}, using indirect {} segs (max {} sectors), flush {:?}",
        a.name,
        keys[0],
        a.offer,
        a.features.indirect_segments,
        disk.info().max_sectors,
        a.params.flush
    );
    // blkback (Linux 6.1) offers indirect segments and a flush; the driver
    // must use both when offered.
    if a.offer.max_indirect_segments > 11 {
        check!(
            a.features.indirect_segments > 11,
            "indirect offered but not used"
        );
        check!(disk.info().max_sectors > 88);
    }
    check!(
        a.params.flush != handshake::FlushKind::None,
        "no flush: {:?}",
        a.params
    );
    Ok(())
}

/// A handshake step against a backend directory the guest writes itself
/// (under its own `data/`, in real xenstore): `InitWait` with nothing else,
/// then `Connected` without `sectors`, then with a `sector-size` of 4096.
/// Each must fail with an error that names the key's full path.
fn bad_backend_key_fails_clearly() -> TestResult {
    let (home, domid) = store_step(|c| {
        let home = c
            .home()
            .map_err(|error| crate::xenbus::XenbusError::Store {
                path: "domid".into(),
                error,
            })?;
        Ok(home)
    })
    .map(|h| {
        (
            h.clone(),
            h.rsplit('/')
                .next()
                .unwrap_or("0")
                .parse::<u16>()
                .unwrap_or(0),
        )
    })
    .map_err(TestError::Fail)?;
    let base = format!("{home}/data/blkfront-test");
    let dev = Device {
        kind: "vbd".into(),
        id: 0,
        frontend: format!("{base}/front"),
        backend: format!("{base}/back"),
        backend_id: domid,
    };
    let write = |key: &str, value: &str| {
        let path = dev.backend_key(key);
        store_step(|c| {
            c.write(&path, value.as_bytes())
                .map_err(|error| crate::xenbus::XenbusError::Store {
                    path: path.clone(),
                    error,
                })
        })
    };
    let cleanup = || {
        let _ = store_step(|c| {
            let _ = c.rm(&base);
            Ok(())
        });
    };
    let result = (|| -> TestResult {
        write("state", "2").map_err(TestError::Fail)?;
        let offer =
            store_step(|c| handshake::offer(c, &dev, 1_000_000_000)).map_err(TestError::Fail)?;
        check_eq!(offer, handshake::Offer::default());
        write("state", "4").map_err(TestError::Fail)?;
        write("sector-size", "512").map_err(TestError::Fail)?;
        write("info", "0").map_err(TestError::Fail)?;
        let e = store_step(|c| handshake::read_disk(c, &dev))
            .err()
            .unwrap_or_default();
        let sectors = dev.backend_key("sectors");
        check!(
            e.contains(&sectors) && e.contains("missing"),
            "error {e:?} must name {sectors}"
        );
        write("sectors", "2048").map_err(TestError::Fail)?;
        write("sector-size", "4096").map_err(TestError::Fail)?;
        let e = store_step(|c| handshake::read_disk(c, &dev))
            .err()
            .unwrap_or_default();
        let size = dev.backend_key("sector-size");
        check!(
            e.contains(&size) && e.contains("not 512"),
            "error {e:?} must name {size}"
        );
        log::info!("blkfront: bogus backend refused: {e}");
        Ok(())
    })();
    cleanup();
    result
}

/// Polls `disk` until request `id` (a read of `lba`) is done, for at most 5 s.
fn wait(disk: &Disk, id: RequestId, lba: u64) -> Result<BlockBuffer, TestError> {
    let deadline = ktime::now_ns() + 5_000 * NS_PER_MS;
    loop {
        disk.poll()
            .map_err(|e| TestError::Fail(format!("poll: {e}")))?;
        if let Some(r) = disk.take(id) {
            return r.map_err(|e| TestError::Fail(format!("read {lba}: {e}")));
        }
        check!(ktime::now_ns() < deadline, "read of {lba} not done in 5 s");
        core::hint::spin_loop();
    }
}

/// 32 reads submitted back to back (queue depth 32) and 16 one at a time:
/// the notifications the driver sent per request, by its own count, which
/// must stay at or below one (the backend asks only when it is idle).
/// Every read's first bytes are checked against a second, synchronous read
/// of the same sector, so the count is of requests that really completed.
fn notifications_per_request() -> TestResult {
    let a = first()?;
    let disk = DISKS
        .get(&a.name)
        .map_err(|e| TestError::Fail(format!("{e}")))?;
    let sectors = disk.info().capacity_sectors.min(1024);
    let before = a.stats();
    let mut ids = Vec::new();
    for i in 0..32u64 {
        let lba = (i * 7) % sectors;
        let id = disk
            .submit(Operation::Read, lba, BlockBuffer::zeroed(512))
            .map_err(|r| TestError::Fail(format!("submit {i}: {}", r.error)))?;
        ids.push((id, lba));
    }
    let mut results = Vec::new();
    for (id, lba) in ids {
        results.push((wait(disk, id, lba)?, lba));
    }
    let qd32 = a.stats();
    for (buffer, lba) in &results {
        let id = disk
            .submit(Operation::Read, *lba, BlockBuffer::zeroed(512))
            .map_err(|r| TestError::Fail(format!("re-read {lba}: {}", r.error)))?;
        let again = wait(disk, id, *lba)?;
        let (mut one, mut two) = ([0u8; 512], [0u8; 512]);
        buffer.read_at(0, &mut one);
        again.read_at(0, &mut two);
        check!(one == two, "sector {lba}: the two reads differ");
    }
    let after = a.stats();
    let (r32, n32) = (
        qd32.requests - before.requests,
        qd32.notifications - before.notifications,
    );
    let (r1, n1) = (
        after.requests - qd32.requests,
        after.notifications - qd32.notifications,
    );
    check_eq!(r32, 32);
    check_eq!(r1, 32);
    check!(
        n32 >= 1 && n32 <= r32,
        "{n32} notifications for {r32} requests"
    );
    check!(n1 <= r1, "{n1} notifications for {r1} requests");
    log::info!(
        "blkfront notifications per request: queue depth 32: {n32}/{r32} = {:.3}; one at a time: \
         {n1}/{r1} = {:.3}",
        n32 as f64 / r32 as f64,
        n1 as f64 / r1 as f64
    );
    Ok(())
}

/// `GTF_reading`, `GTF_writing` (grant_table.h): Xen sets them in a
/// grant's entry while the granted domain maps the page.
const GTF_MAPPED: u16 = (1 << 3) | (1 << 4);
/// `GTF_readonly` (grant_table.h): the grant forbids writes.
const GTF_READONLY: u16 = 1 << 2;

/// Reads `pages` pages from `lba` on, one request each of `per` pages.
fn read_pages(disk: &Disk, lba: u64, pages: u64, per: u64) -> Result<Vec<u8>, TestError> {
    let mut out = Vec::new();
    for i in 0..pages / per {
        let at = lba + i * per * 8;
        let id = disk
            .submit(
                Operation::Read,
                at,
                BlockBuffer::zeroed(per as usize * 4096),
            )
            .map_err(|r| TestError::Fail(format!("submit {at}: {}", r.error)))?;
        let b = wait(disk, id, at)?;
        let mut bytes = alloc::vec![0u8; b.len()];
        b.read_at(0, &mut bytes);
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// With blkback's `feature-persistent`, the frontend said 1 too (read
/// back from xenstore), and reads reuse the pool's grants: after a first
/// pass of 64 KiB reads the pool stops growing, a second pass (64 KiB and
/// 4 KiB reads of other sectors) uses the same references, the grant
/// table's free count (the table's, not the driver's) does not move, and
/// Xen's entry flags show blkback still maps the pages between requests. The bytes of the 4 KiB reads equal those of 64 KiB reads of
/// the same sectors. With `blkfront.persistent=0` the key is absent and
/// no pool exists; reads end their grants (the table's free count is back).
fn persistent_grants_reused() -> TestResult {
    let a = first()?;
    let disk = DISKS
        .get(&a.name)
        .map_err(|e| TestError::Fail(format!("{e}")))?;
    let ours = store_step(|c| Ok(c.read(&a.device.frontend_key("feature-persistent")).ok()))
        .map_err(TestError::Fail)?
        .map(|v| String::from_utf8_lossy(&v).into_owned());
    let free = || {
        crate::grant::info()
            .map(|i| i.free)
            .map_err(|e| TestError::Fail(format!("{e}")))
    };
    let Some((_, cap, _)) = a.pool() else {
        check!(
            ours.as_deref() != Some("1"),
            "feature-persistent=1 written but no pool"
        );
        if ours.is_none() && a.params.persistent {
            let before = free()?;
            let _ = read_pages(disk, 0, 32, 16)?;
            check_eq!(free()?, before);
            log::info!(
                "blkfront persistent grants: off by the command line; per-request grants end"
            );
            return Ok(());
        }
        return Err(TestError::Skip(format!(
            "the backend does not offer feature-persistent (ours {ours:?})"
        )));
    };
    check_eq!(ours.as_deref(), Some("1"));
    check!(
        disk.info().max_sectors <= 128,
        "max {}",
        disk.info().max_sectors
    );
    check!(
        disk.info().capacity_sectors >= 512,
        "a disk of at least 256 KiB"
    );
    let before = a.stats();
    let first_pass = read_pages(disk, 0, 32, 16)?;
    let (granted1, _, refs1) = a.pool().ok_or(TestError::Fail("pool gone".into()))?;
    let free1 = free()?;
    let again = read_pages(disk, 0, 32, 1)?;
    let _ = read_pages(disk, 256, 32, 16)?;
    let (granted2, _, refs2) = a.pool().ok_or(TestError::Fail("pool gone".into()))?;
    let free2 = free()?;
    let after = a.stats();
    check!(
        first_pass == again,
        "4 KiB reads differ from 64 KiB reads of the same sectors"
    );
    check_eq!(granted2, granted1);
    check!(
        refs2 == refs1,
        "pool references changed: {refs1:?} -> {refs2:?}"
    );
    check_eq!(free2, free1);
    check_eq!(after.pooled - before.pooled, 2 + 32 + 2);
    check_eq!(after.fallbacks - before.fallbacks, 0);
    let mut mapped = 0;
    for &g in &refs2 {
        let e = crate::grant::entry(g).map_err(|e| TestError::Fail(format!("entry {g}: {e}")))?;
        check!(
            e.flags & GTF_READONLY == 0,
            "gref {g} is read-only: flags {:#x}",
            e.flags
        );
        if e.flags & GTF_MAPPED != 0 {
            mapped += 1;
        }
    }
    // blkback unmaps a persistent grant unused for 60 s (its
    // pgrant_timeout), so only the 17 pages of the last 64 KiB reads are
    // sure to be mapped; pages from earlier tests may have been let go.
    check!(
        mapped >= 17,
        "only {mapped} of {} pool pages mapped by the backend",
        refs2.len()
    );
    log::info!(
        "blkfront persistent grants: pool {granted2}/{cap} pages, refs {refs2:?} reused by {} \
         requests, {mapped} mapped by the backend between requests, grant table free {free2}",
        after.pooled - before.pooled
    );
    Ok(())
}

/// The frontend asks to close with reads in flight; blkback follows to
/// Closing/Closed, which the driver learns through its watch on the
/// backend's state (no xenstore read of ours in between). Every read then
/// ends, done or failed with `Disconnected`, none hangs, and a new request
/// fails with `Disconnected`. The disk is gone afterwards: this test runs
/// last.
fn backend_close_fails_requests() -> TestResult {
    let a = first()?;
    let disk = DISKS
        .get(&a.name)
        .map_err(|e| TestError::Fail(format!("{e}")))?;
    // pv_xenstore_reset_watches, earlier in the suite, dropped the watch.
    crate::xenstore::with_client(super::watch_again)
        .map_err(|e| TestError::Fail(format!("watch the backend again: {e}")))?;
    let mut ids = Vec::new();
    for lba in 0..8u64 {
        let id = disk
            .submit(Operation::Read, lba, BlockBuffer::zeroed(4096))
            .map_err(|r| TestError::Fail(format!("submit {lba}: {}", r.error)))?;
        ids.push(id);
    }
    store_step(|c| a.device.switch_state(c, XenbusState::Closing)).map_err(TestError::Fail)?;
    let deadline = ktime::now_ns() + 10_000 * NS_PER_MS;
    let (mut done, mut failed) = (0, 0);
    let mut open: Vec<RequestId> = ids;
    while !open.is_empty() || a.dead().is_none() {
        let _ = disk.poll();
        open.retain(|id| match disk.take(*id) {
            None => true,
            Some(Ok(_)) => {
                done += 1;
                false
            }
            Some(Err(_)) => {
                failed += 1;
                false
            }
        });
        check!(
            ktime::now_ns() < deadline,
            "10 s after Closing: {} reads open, disk dead: {:?}",
            open.len(),
            a.dead()
        );
        core::hint::spin_loop();
    }
    check_eq!(a.dead(), Some(BlockError::Disconnected));
    let (_, back) = states(&a).map_err(TestError::Fail)?;
    check!(back.is_closing(), "the backend is {back}");
    let id = disk
        .submit(Operation::Read, 0, BlockBuffer::zeroed(512))
        .map_err(|r| TestError::Fail(format!("submit after close: {}", r.error)))?;
    let _ = disk.poll();
    match disk.take(id) {
        Some(Err(BlockError::Disconnected)) => {}
        other => {
            return Err(TestError::Fail(format!(
                "a read after the close: {:?}",
                other.map(|r| r.map(|b| b.len()))
            )));
        }
    }
    let _ = store_step(|c| a.device.switch_state(c, XenbusState::Closed));
    log::info!("blkfront: backend {back}: {done} reads done, {failed} failed as disconnected");
    Ok(())
}
