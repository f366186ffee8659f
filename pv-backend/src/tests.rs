//! Tests of the paravirtual paths, run after the core's tests under Xen.

use crate::evtchn::{self, Port};
use crate::hypercall::XenError;
use crate::platform::PLATFORM;
use crate::{abi, hvm, time};
use core::sync::atomic::{AtomicU64, Ordering};
use virtus_kernel::harness::{Test, TestError, TestResult};
use virtus_kernel::time::{self as ktime, NS_PER_MS};
use virtus_kernel::{check, check_eq, skip};

pub const TESTS: &[Test] = &[
    Test {
        name: "pv_hypercall_bad_param_is_einval",
        run: bad_param_is_einval,
    },
    Test {
        name: "pv_hypercall_unknown_op_is_enosys",
        run: unknown_op_is_enosys,
    },
    Test {
        name: "pv_evtchn_loopback_send_arrives",
        run: loopback_send_arrives,
    },
    Test {
        name: "pv_evtchn_masking_defers_delivery",
        run: masking_defers_delivery,
    },
    Test {
        name: "pv_console_burst_larger_than_ring",
        run: console_burst,
    },
    Test {
        name: "pv_console_ring_frame_not_allocatable",
        run: console_ring_frame_not_allocatable,
    },
    Test {
        name: "pv_timer_fires_near_deadline",
        run: timer_near_deadline,
    },
    Test {
        name: "pv_pvclock_agrees_with_tsc",
        run: pvclock_agrees_with_tsc,
    },
    Test {
        name: "pv_memory_matches_xl_config",
        run: memory_matches_config,
    },
];

fn fail(what: &str, e: XenError) -> TestError {
    TestError::Fail(alloc::format!("{what}: {e}"))
}

fn bad_param_is_einval() -> TestResult {
    // HVM_NR_PARAMS is 39: an index far beyond it must be refused, not read.
    let r = hvm::get_param(9_999);
    check_eq!(r, Err(XenError::Inval));
    // Sending on a port that was never allocated is also EINVAL.
    check_eq!(evtchn::send(4_000), Err(XenError::Inval));
    Ok(())
}

fn unknown_op_is_enosys() -> TestResult {
    // xen_version with a sub-op Xen does not know.
    // SAFETY: xen_version(cmd, NULL) with an unknown cmd touches no memory;
    // Xen returns -ENOSYS without looking at the argument.
    let ret = unsafe { crate::hypercall::hypercall2(abi::HYPERVISOR_XEN_VERSION, 0x7fff, 0) };
    check_eq!(XenError::from_ret(ret), Err(XenError::NoSys));
    Ok(())
}

static LOOPBACK_HITS: AtomicU64 = AtomicU64::new(0);

fn on_loopback(_: Port) {
    LOOPBACK_HITS.fetch_add(1, Ordering::SeqCst);
}

/// An interdomain channel whose both ends are this domain: what a
/// frontend/backend pair looks like, without a second domain.
fn loopback_pair() -> Result<(Port, Port), TestError> {
    let unbound = evtchn::alloc_unbound(abi::DOMID_SELF).map_err(|e| fail("alloc_unbound", e))?;
    let local = evtchn::bind_interdomain(abi::DOMID_SELF, unbound)
        .map_err(|e| fail("bind_interdomain", e))?;
    check!(
        evtchn::set_handler(unbound, on_loopback),
        "port {unbound} beyond the handler table"
    );
    check!(
        evtchn::set_handler(local, on_loopback),
        "port {local} beyond the handler table"
    );
    evtchn::unmask(unbound).map_err(|e| fail("unmask", e))?;
    evtchn::unmask(local).map_err(|e| fail("unmask", e))?;
    Ok((local, unbound))
}

fn close_pair(a: Port, b: Port) {
    let _ = evtchn::close(a);
    let _ = evtchn::close(b);
}

fn wait_hits(target: u64, ms: u64) -> bool {
    let deadline = ktime::now_ns() + ms * NS_PER_MS;
    ktime::wait_until(deadline, || LOOPBACK_HITS.load(Ordering::SeqCst) >= target)
}

fn loopback_send_arrives() -> TestResult {
    let (local, remote) = loopback_pair()?;
    for round in 1..=5 {
        let before = LOOPBACK_HITS.load(Ordering::SeqCst);
        evtchn::send(local).map_err(|e| fail("send", e))?;
        check!(
            wait_hits(before + 1, 1_000),
            "event {round} sent on port {local} never arrived on {remote}"
        );
    }
    close_pair(local, remote);
    Ok(())
}

fn masking_defers_delivery() -> TestResult {
    let (local, remote) = loopback_pair()?;
    let shared = PLATFORM
        .shared
        .get()
        .ok_or_else(|| TestError::Fail("no shared_info".into()))?;
    evtchn::mask(remote);
    let before = LOOPBACK_HITS.load(Ordering::SeqCst);
    evtchn::send(local).map_err(|e| fail("send", e))?;
    ktime::sleep_ns(20 * NS_PER_MS);
    let while_masked = LOOPBACK_HITS.load(Ordering::SeqCst) - before;
    let pending = shared.is_pending(remote);
    evtchn::unmask(remote).map_err(|e| fail("unmask", e))?;
    // EVTCHNOP_unmask re-raises a pending event at once. Spin instead of
    // sleeping: a sleep arms the timer, and any other event on the same
    // pending word would let the scan find the port and hide a lost upcall.
    ktime::spin_ns(5 * NS_PER_MS);
    let delivered_at_once = LOOPBACK_HITS.load(Ordering::SeqCst) > before;
    close_pair(local, remote);
    check_eq!(while_masked, 0);
    check!(pending, "the masked event was not left pending");
    check!(
        delivered_at_once,
        "unmasking did not deliver the pending event"
    );
    Ok(())
}

fn console_burst() -> TestResult {
    let console = PLATFORM
        .console
        .get()
        .ok_or_else(|| TestError::Fail("no console".into()))?;
    let (prod_before, _) = console.out_indices();
    // 8 KiB: four times the 2 KiB output ring, as KTAP diagnostic lines so
    // the host-side parser ignores them.
    let mut line = [b'.'; 64];
    line[0] = b'#';
    line[1] = b' ';
    line[63] = b'\n';
    let mut sent = 0u32;
    for i in 0..128u32 {
        let digits = [
            b'0' + (i / 100) as u8,
            b'0' + ((i / 10) % 10) as u8,
            b'0' + (i % 10) as u8,
        ];
        line[2..5].copy_from_slice(&digits);
        console
            .write(&line)
            .map_err(|fault| TestError::Fail(alloc::format!("console: {fault}")))?;
        sent += line.len() as u32;
    }
    let (prod_after, _) = console.out_indices();
    check_eq!(prod_after.wrapping_sub(prod_before), sent);
    let deadline = ktime::now_ns() + 2_000 * NS_PER_MS;
    let drained = ktime::wait_until(deadline, || {
        let (p, c) = console.out_indices();
        p == c
    });
    check!(
        drained,
        "xenconsoled did not consume the burst within 2 s: {:?}",
        console.out_indices()
    );
    check_eq!(console.ring_errors(), 0);
    Ok(())
}

/// The frame dom0 writes the console into is registered as shared, lies
/// where Xen's memory map sets memory aside, is never the allocator's to
/// hand out or take back, and is mapped as ordinary (write-back) memory.
fn console_ring_frame_not_allocatable() -> TestResult {
    use virtus_kernel::mem::{self, FrameError, RegionKind, paging::Flags};
    let console = PLATFORM
        .console
        .get()
        .ok_or_else(|| TestError::Fail("no console".into()))?;
    let frame = console.ring_address();
    check!(
        mem::shared_frames().contains(frame),
        "console ring {frame:#x} is not registered as shared"
    );
    let map = mem::boot_map().ok_or_else(|| TestError::Fail("no boot map".into()))?;
    let kind = map
        .regions()
        .iter()
        .find(|r| r.start <= frame && frame + mem::PAGE_SIZE <= r.end)
        .map(|r| r.kind);
    check!(
        matches!(kind, Some(RegionKind::Reserved | RegionKind::Usable)),
        "console ring {frame:#x} lies in {kind:?}"
    );
    check!(!mem::frame_is_free(frame), "console ring frame is free");
    let back = mem::free_frame(frame);
    check!(
        matches!(
            back,
            Err(FrameError::NotAllocatable(_)
                | FrameError::OutOfRange(_)
                | FrameError::Withheld(_))
        ),
        "freeing the console ring frame gave {back:?}"
    );
    check!(
        mem::alloc_frame_at_or_above(frame).is_none_or(|f| {
            let _ = mem::free_frame(f);
            f != frame
        }),
        "the allocator handed out the console ring frame"
    );
    let mapping = mem::translate(frame);
    check!(
        mapping.is_some_and(|(phys, flags)| phys == frame
            && flags.contains(Flags::WRITABLE)
            && !flags.intersects(Flags::NO_CACHE | Flags::WRITE_THROUGH)),
        "console ring mapped as {mapping:?}"
    );
    Ok(())
}

static VIRQ_FIRED: AtomicU64 = AtomicU64::new(0);

fn record_fire() {
    VIRQ_FIRED.store(ktime::now_ns(), Ordering::SeqCst);
}

fn timer_near_deadline() -> TestResult {
    VIRQ_FIRED.store(0, Ordering::SeqCst);
    let deadline = ktime::now_ns() + 15 * NS_PER_MS;
    ktime::add_timer(deadline, record_fire)
        .ok_or_else(|| TestError::Fail("no timer slot".into()))?;
    ktime::wait_until(deadline + 1_000 * NS_PER_MS, || {
        VIRQ_FIRED.load(Ordering::SeqCst) != 0
    });
    let fired = VIRQ_FIRED.load(Ordering::SeqCst);
    check!(fired != 0, "VIRQ_TIMER never came");
    check!(fired >= deadline, "fired {} ns early", deadline - fired);
    // Under nested software emulation a few ms of lateness is normal.
    check!(
        fired - deadline < 50 * NS_PER_MS,
        "fired {} us late",
        (fired - deadline) / 1_000
    );
    Ok(())
}

fn pvclock_agrees_with_tsc() -> TestResult {
    let shared = PLATFORM
        .shared
        .get()
        .ok_or_else(|| TestError::Fail("no shared_info".into()))?;
    let hz = time::tsc_hz(&shared.vcpu0_time());
    check!(hz > 0, "pvclock gives no TSC frequency");
    // SAFETY: RDTSC has no side effects.
    let t0 = unsafe { core::arch::x86_64::_rdtsc() };
    let n0 = ktime::now_ns();
    ktime::spin_ns(50 * NS_PER_MS);
    // SAFETY: as above.
    let t1 = unsafe { core::arch::x86_64::_rdtsc() };
    let n1 = ktime::now_ns();
    let measured = u128::from(t1 - t0) * 1_000_000_000 / u128::from((n1 - n0).max(1));
    let measured = measured as u64;
    check!(
        measured.abs_diff(hz) < hz / 100,
        "TSC runs at {measured} Hz by pvclock time, pvclock says {hz} Hz"
    );
    Ok(())
}

fn memory_matches_config() -> TestResult {
    let info = PLATFORM
        .boot_info
        .get()
        .ok_or_else(|| TestError::Fail("no boot info".into()))?;
    let Some(mb) = info
        .cmdline
        .get("xen.memory_mb")
        .and_then(|v| v.parse::<u64>().ok())
    else {
        skip!("no xen.memory_mb=<MB> on the command line to compare with");
    };
    let map = info
        .memory_map
        .as_ref()
        .ok_or_else(|| TestError::Fail("no memory map".into()))?;
    let usable = map.total_usable();
    let configured = mb << 20;
    // Xen keeps a few pages of the allocation for itself (console,
    // xenstore, ioreq pages) and the map may leave a hole below 1 MiB.
    check!(
        usable <= configured && usable + (2 << 20) >= configured,
        "xl gave {mb} MiB, the memory map shows {} KiB usable",
        usable >> 10
    );
    Ok(())
}
