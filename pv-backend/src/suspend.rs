//! Suspend and resume, the Xen side of `xl save`, `xl restore`,
//! `xl migrate` and `xl save -c` (a checkpoint).
//!
//! The toolstack writes "suspend" to `control/shutdown` (`control`), the
//! core quiesces what it owns (no block request in flight, its timer
//! cancelled) and calls [`suspend`], which asks Xen for
//! `SCHEDOP_shutdown(SHUTDOWN_suspend)`. The toolstack then saves the
//! domain's memory and vCPU state; the call returns when the domain runs
//! again, either
//! - in the *same* domain (return 1: a checkpoint, or a save that failed or
//!   was cancelled): every binding is intact, or
//! - in a *new* domain (return 0: `xl restore`, the far end of a migration),
//!   which has the old memory but nothing else. What it lacks, and what
//!   this module redoes, in this order (each step needs the ones before):
//!   1. shared_info, at our page again (until then the page is a stale RAM
//!      copy: no clock, no event bits);
//!   2. the clock: Xen system time is the new host's, so the offset between
//!      it and the core's clock is set again, so that the core's clock
//!      carries on from the value it had when it suspended;
//!   3. upcalls: every event channel is gone (their numbers will be
//!      reused), the per-vCPU vector and `HVM_PARAM_CALLBACK_IRQ` are not
//!      saved with the domain;
//!   4. our ports: `VIRQ_TIMER` and the self-event IPI bound again, the
//!      console's and xenstore's new ports read from their HVM parameters
//!      (their pages are the same frames, zeroed by the toolstack);
//!   5. the grant table's frames, mapped again (a fresh table: every old
//!      grant is void);
//!   6. xenstore: the connection reset, every watch registered again, and
//!      the `control/feature-*` keys written again (guest-written nodes are
//!      not saved with the domain).
//!
//! Drivers (blkfront) reconnect after this returns, when the core resumes
//! its block devices; the core then re-arms its timers.
//!
//! Interrupts stay off from before the hypercall until everything above is
//! done: no upcall may run against half-rebuilt state.
//!
//! The toolstack has two ways to ask. libxl prefers the *suspend event
//! channel*: a port the guest allocates for dom0 and names in
//! `device/suspend/event-channel` (a node libxl creates empty and
//! guest-writable); libxl binds to it and notifies it, with no
//! acknowledgement, then waits for the suspend. Without a port there, it
//! writes "suspend" to `control/shutdown` and waits for the guest to
//! acknowledge (`control`). Virtus offers the channel (unless the command
//! line says `xen.suspend_channel=0`, which leaves the xenstore way to
//! the toolstack), and offers it again in a new domain, which starts with
//! the node empty.

use crate::evtchn::Port;
use crate::platform::{PvPlatform, UPCALL_VECTOR};
use crate::sched::{self, SuspendReturn};
use crate::{evtchn, grant, shared_info, time, vcpu};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use virtus_kernel::arch::irq::without_interrupts;
use virtus_kernel::platform::{PlatformError, Resumed};

/// How long to wait for Xen to fill in the new shared_info's time record
/// (it does so when the vCPU next enters the guest; a yield forces that).
const TIME_RECORD_WAIT_TRIES: u32 = 100;

/// Suspend the domain for the toolstack and bring it back (see the module
/// documentation). Main line, from the core's `suspend`.
pub fn suspend(platform: &PvPlatform) -> Result<Resumed, PlatformError> {
    let Some(si) = shared_info::get() else {
        return Err(PlatformError::Unavailable("shared_info, so no suspend"));
    };
    without_interrupts(|| {
        let wall_before = time::wallclock_ns(si);
        let _ = vcpu::stop_singleshot_timer(0);
        // The last reading of the clock before the suspend: the clock
        // carries on from here, so nothing may read it in between.
        let core_before = virtus_kernel::Platform::now_ns(platform);
        let came_back = sched::suspend().map_err(|e| {
            log::error!("SCHEDOP_shutdown(suspend): {e}");
            PlatformError::Device("Xen refused SCHEDOP_shutdown(suspend)")
        })?;
        come_back(platform, came_back, core_before, wall_before)
    })
}

/// Everything after `SCHEDOP_shutdown(suspend)` returned (see the module
/// documentation), with interrupts off: `core_before` is the core's clock
/// and `wall_before` the host's wall clock just before the call.
pub(crate) fn come_back(
    platform: &PvPlatform,
    came_back: SuspendReturn,
    core_before: u64,
    wall_before: u64,
) -> Result<Resumed, PlatformError> {
    let Some(si) = shared_info::get() else {
        return Err(PlatformError::Unavailable("shared_info, so no suspend"));
    };
    let new_domain = came_back == SuspendReturn::NewDomain;
    // 1. Without shared_info nothing below works, not even the log's
    // clock: a failure here is fatal, with the reason on the console.
    if let Err(e) = shared_info::remap() {
        panic!("suspend: cannot map shared_info again after the suspend: {e}");
    }
    wait_for_time_record(si);
    // 2. The clock.
    if new_domain {
        time::forget_readings();
    }
    platform.rebase_clock(core_before);
    let wall_after = time::wallclock_ns(si);
    // 3. Upcalls.
    evtchn::resume(UPCALL_VECTOR, new_domain).map_err(|e| {
        log::error!("suspend: cannot route event upcalls again: {e}");
        PlatformError::Device("event upcalls could not be routed after the suspend")
    })?;
    if new_domain {
        rebuild(platform)?;
    }
    // A new domain's wall clock is unset (0 s) until dom0 next sets the
    // time: then the time away is unknown here (the toolstack knows it).
    let wall_set = si.wallclock().0 != 0;
    Ok(Resumed {
        new_domain,
        away_ns: wall_after.checked_sub(wall_before).filter(|_| wall_set),
    })
}

/// Where the suspend event channel's port is published.
const CHANNEL_NODE: &str = "device/suspend/event-channel";

/// The port offered (0: none), and whether the toolstack has used it.
static CHANNEL: AtomicU32 = AtomicU32::new(0);
static CHANNEL_FIRED: AtomicBool = AtomicBool::new(false);

fn on_channel(_: Port) {
    CHANNEL_FIRED.store(true, Ordering::Release);
    crate::platform::notify_host_request();
}

/// Whether the toolstack asked for a suspend through the channel since the
/// last look (the request is then served like `control/shutdown`'s).
pub fn channel_fired() -> bool {
    CHANNEL_FIRED.swap(false, Ordering::AcqRel)
}

/// The port offered to the toolstack, if any.
pub fn channel_port() -> Option<Port> {
    Some(CHANNEL.load(Ordering::Relaxed)).filter(|&p| p != 0)
}

/// Offer the suspend event channel: a port for dom0, named in
/// [`CHANNEL_NODE`]. Nothing is lost if this fails: the toolstack then
/// asks through `control/shutdown`.
pub fn offer_channel() -> Result<Port, alloc::string::String> {
    let wanted = virtus_kernel::platform()
        .boot_info()
        .cmdline
        .get("xen.suspend_channel")
        .is_none_or(|v| v != "0");
    if !wanted {
        return Err("xen.suspend_channel=0".into());
    }
    let port = evtchn::alloc_unbound(0).map_err(|e| alloc::format!("alloc_unbound: {e}"))?;
    let published = (|| {
        if !evtchn::set_handler(port, on_channel) {
            return Err(alloc::format!("port {port} beyond the handler table"));
        }
        evtchn::unmask(port).map_err(|e| alloc::format!("unmask: {e}"))?;
        crate::xenstore::with_client(|c| c.write(CHANNEL_NODE, alloc::format!("{port}").as_bytes()))
            .map_err(|e| alloc::format!("{CHANNEL_NODE}: {e}"))
    })();
    match published {
        Ok(()) => {
            CHANNEL.store(port, Ordering::Relaxed);
            Ok(port)
        }
        Err(e) => {
            let _ = evtchn::close(port);
            Err(e)
        }
    }
}

/// Steps 4 to 6, in a new domain.
fn rebuild(platform: &PvPlatform) -> Result<(), PlatformError> {
    let ports = platform.rebind()?;
    log::info!(
        "suspend: new domain: timer port {}, self-event port {}, console port {}",
        ports.timer,
        ports.self_event,
        ports.console
    );
    grant::resume_in_new_domain().map_err(|e| {
        log::error!("suspend: grant table: {e}");
        PlatformError::Device("the grant table could not be mapped again")
    })?;
    // A domain without xenstore still runs (its disks and `xl` requests
    // are gone): said, not fatal, as at boot.
    match crate::xenstore::client::resume_in_new_domain() {
        Ok(_) => {
            if let Err(e) = crate::control::advertise() {
                log::warn!("suspend: control/feature-*: {e}");
            }
            CHANNEL.store(0, Ordering::Relaxed);
            match offer_channel() {
                Ok(port) => log::info!("suspend: event channel offered again on port {port}"),
                Err(e) => log::info!("suspend: no suspend event channel ({e})"),
            }
        }
        Err(e) => log::error!("suspend: xenstore: {e}; xl requests will go unanswered"),
    }
    Ok(())
}

/// A new domain's shared_info has no time record until Xen next updates
/// it; reading the clock before would give 0 and the rebase a wrong offset.
fn wait_for_time_record(si: &shared_info::SharedInfo) {
    for _ in 0..TIME_RECORD_WAIT_TRIES {
        let t = si.vcpu0_time();
        if t.tsc_to_system_mul != 0 && t.version.is_multiple_of(2) {
            return;
        }
        sched::yield_now();
    }
    log::warn!(
        "suspend: no pvclock record after {TIME_RECORD_WAIT_TRIES} yields; the clock is wrong \
         until Xen writes one"
    );
}
