//! The balloon's watch and hypercalls in the running kernel.

use super::{STATIC_MAX, TARGET, TARGET_TOKEN, TargetValue, read_kib, watch};
use crate::memory;
use crate::xenstore::{XsError, with_client};
use core::sync::atomic::{AtomicU64, Ordering};
use virtus_kernel::mem::PAGE_SIZE;
use virtus_kernel::mem::balloon::BATCH;
use virtus_kernel::platform::{HostRequest, PlatformError};

/// `memory/static-max` in KiB as read at start; 0: unknown.
static STATIC_MAX_KIB: AtomicU64 = AtomicU64::new(0);

/// Read the ceiling and watch the target. A domain without them (no
/// xenstore, or no `memory/` nodes) still runs; only `xl mem-set` goes
/// unanswered.
pub fn start() -> Result<(), XsError> {
    with_client(setup)
}

/// [`start`] on a connection already held: also what a resumed domain
/// must run again (its watches are gone, and a new host may have another
/// ceiling). The watch fires once on registration; the core then meets
/// the target again, which is nothing to do if nothing changed.
pub fn setup(c: &mut crate::xenstore::Client) -> Result<(), XsError> {
    match read_kib(c, STATIC_MAX)? {
        TargetValue::Kib(kib) => STATIC_MAX_KIB.store(kib, Ordering::Relaxed),
        TargetValue::Missing => {
            STATIC_MAX_KIB.store(0, Ordering::Relaxed);
            log::warn!("balloon: no {STATIC_MAX}; targets are measured against the boot RAM");
        }
        TargetValue::Bad(e) => log::warn!("balloon: {STATIC_MAX}: {e}; ignored"),
    }
    watch(c)
}

/// The ceiling from `memory/static-max`, if read.
pub fn static_max_kib() -> Option<u64> {
    Some(STATIC_MAX_KIB.load(Ordering::Relaxed)).filter(|&k| k != 0)
}

/// The next target, if the watch fired: part of `Platform::host_request`.
/// Main line only.
pub fn next_request() -> Option<HostRequest> {
    let value = with_client(|c| {
        if c.take_events(TARGET_TOKEN)?.is_empty() {
            return Ok(None);
        }
        read_kib(c, TARGET).map(Some)
    });
    match value {
        Ok(Some(TargetValue::Kib(kib))) => Some(HostRequest::MemoryTarget { kib }),
        Ok(Some(TargetValue::Bad(e))) => {
            virtus_kernel::kprintln!("balloon: {TARGET}: {e}; ignored");
            None
        }
        Ok(Some(TargetValue::Missing) | None) => None,
        Err(e) => {
            log::warn!("balloon: cannot read {TARGET}: {e}");
            None
        }
    }
}

/// One reservation hypercall per [`BATCH`] frames, the addresses turned
/// into GFNs (the identity-mapped RAM's frame numbers); stops at the first
/// batch Xen does not finish. A failure after some frames moved still
/// reports them (a prefix, as the trait asks).
fn by_batches(
    frames: &[u64],
    what: &'static str,
    op: fn(&mut [u64]) -> Result<usize, crate::hypercall::XenError>,
) -> Result<usize, PlatformError> {
    let mut done = 0;
    let mut gfns = [0u64; BATCH];
    for chunk in frames.chunks(BATCH) {
        for (gfn, &frame) in gfns.iter_mut().zip(chunk) {
            if !frame.is_multiple_of(PAGE_SIZE) {
                log::error!("balloon: {frame:#x} is not a frame address");
                return if done > 0 {
                    Ok(done)
                } else {
                    Err(PlatformError::Device("not a frame address"))
                };
            }
            *gfn = frame / PAGE_SIZE;
        }
        match op(&mut gfns[..chunk.len()]) {
            Ok(n) => {
                done += n;
                if n < chunk.len() {
                    log::info!("balloon: {what} did {n} of {} pages", chunk.len());
                    return Ok(done);
                }
            }
            Err(e) => {
                log::warn!("balloon: {what}: {e}");
                return if done > 0 {
                    Ok(done)
                } else {
                    Err(PlatformError::Device(what))
                };
            }
        }
    }
    Ok(done)
}

/// `Platform::release_frames`.
pub fn release_frames(frames: &[u64]) -> Result<usize, PlatformError> {
    by_batches(
        frames,
        "XENMEM_decrease_reservation",
        memory::decrease_reservation,
    )
}

/// `Platform::reclaim_frames`.
pub fn reclaim_frames(frames: &[u64]) -> Result<usize, PlatformError> {
    by_batches(frames, "XENMEM_populate_physmap", memory::populate_physmap)
}

/// `Platform::memory_held_kib`: Xen's count.
pub fn held_kib() -> Option<u64> {
    memory::current_reservation()
        .ok()
        .map(|pages| pages * (PAGE_SIZE / 1024))
}
