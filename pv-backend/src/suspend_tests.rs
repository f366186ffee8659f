//! The Xen side of suspend that can be tested without a save (the save
//! itself is the runner's lifecycle scenarios, `xl save`/`restore` and
//! `xl save -c`): the parameter that lets the toolstack tell a cancelled
//! suspend from a restore, and the way back in the same domain, run as
//! after a checkpoint, with every binding checked afterwards.

use crate::platform::PLATFORM;
use crate::sched::SuspendReturn;
use crate::{abi, evtchn, hvm, shared_info, time};
use core::sync::atomic::{AtomicU64, Ordering};
use virtus_kernel::Platform;
use virtus_kernel::harness::{Test, TestResult};
use virtus_kernel::time::{self as ktime, NS_PER_MS, NS_PER_SEC};
use virtus_kernel::{check, check_eq};

pub const TESTS: &[Test] = &[
    Test {
        name: "pv_suspend_callback_irq_is_set",
        run: callback_irq_is_set,
    },
    Test {
        name: "pv_suspend_same_domain_keeps_every_binding",
        run: same_domain_keeps_every_binding,
    },
];

/// libxl writes "1" (cancelled, same domain) into vCPU 0's RAX only if
/// `HVM_PARAM_CALLBACK_IRQ` is not 0; else a checkpoint would look like a
/// restore to the guest, which would then rebind everything and fail.
fn callback_irq_is_set() -> TestResult {
    let value = hvm::get_param(abi::HVM_PARAM_CALLBACK_IRQ);
    check!(
        value.is_ok_and(|v| v != 0),
        "HVM_PARAM_CALLBACK_IRQ is {value:?}"
    );
    Ok(())
}

static SELF_EVENTS: AtomicU64 = AtomicU64::new(0);

fn on_probe(_: evtchn::Port) {
    SELF_EVENTS.fetch_add(1, Ordering::Relaxed);
}

/// The way back from a checkpoint (`SCHEDOP_shutdown` returned 1), without
/// the hypercall: shared_info mapped again, the clock rebased, upcalls
/// routed again. Afterwards the clock has neither moved back nor jumped, a
/// loopback event channel bound before still delivers, xenstore answers,
/// and a timer fires.
fn same_domain_keeps_every_binding() -> TestResult {
    let Some(si) = shared_info::get() else {
        return Err(virtus_kernel::harness::TestError::Fail(
            "no shared_info".into(),
        ));
    };
    let unbound = evtchn::alloc_unbound(abi::DOMID_SELF);
    check!(unbound.is_ok(), "alloc_unbound: {unbound:?}");
    let unbound = unbound.unwrap_or(0);
    let local = evtchn::bind_interdomain(abi::DOMID_SELF, unbound);
    check!(local.is_ok(), "bind_interdomain: {local:?}");
    let local = local.unwrap_or(0);
    check!(evtchn::set_handler(unbound, on_probe), "handler");
    check!(evtchn::unmask(unbound).is_ok(), "unmask");
    let result = (|| {
        let core_before = PLATFORM.now_ns();
        let xen_before = time::system_time_ns(si);
        let resumed = virtus_kernel::arch::irq::without_interrupts(|| {
            crate::suspend::come_back(
                &PLATFORM,
                SuspendReturn::SameDomain,
                core_before,
                time::wallclock_ns(si),
            )
        });
        check!(resumed.is_ok(), "come_back: {resumed:?}");
        check_eq!(resumed.ok().map(|r| r.new_domain), Some(false));
        let core_after = PLATFORM.now_ns();
        check!(core_after >= core_before, "the clock went back");
        // The clock carries on from where it was: no jump by what the way
        // back took (a few ms even on the nested bed).
        check!(
            core_after - core_before < 100 * NS_PER_MS,
            "the kernel's clock jumped {} ns forward",
            core_after - core_before
        );
        check!(
            time::system_time_ns(si) >= xen_before,
            "Xen system time went back"
        );
        // The event channel bound before still delivers.
        let events = SELF_EVENTS.load(Ordering::Relaxed);
        check!(evtchn::send(local).is_ok(), "send");
        let arrived = ktime::wait_until(PLATFORM.now_ns() + NS_PER_SEC, || {
            SELF_EVENTS.load(Ordering::Relaxed) > events
        });
        check!(arrived, "an event sent after the resume never arrived");
        // xenstore and a timer.
        let domid = crate::xenstore::with_client(|c| c.read("domid"));
        check!(domid.is_ok(), "xenstore after the resume: {domid:?}");
        let start = PLATFORM.now_ns();
        ktime::sleep_ns(20 * NS_PER_MS);
        let slept = PLATFORM.now_ns() - start;
        check!(
            (20 * NS_PER_MS..NS_PER_SEC).contains(&slept),
            "a 20 ms sleep took {slept} ns"
        );
        Ok(())
    })();
    let _ = evtchn::close(local);
    let _ = evtchn::close(unbound);
    result
}
