//! An AP leaving service and coming back: the mechanism, on the AP and
//! for the one who asks; the policy (which CPU, when, what to log) is
//! `sched::hotplug`'s. A part of `smp`, for its per-CPU state.

use super::{CPUS, is_online, set_online};
use crate::platform::PlatformError;
use core::sync::atomic::Ordering;

/// `CpuState::leave`: nothing asked (or the last request is done)...
pub(super) const STAY: u8 = 0;
/// ...asked, not yet seen by the CPU (the asker may still withdraw)...
const ASKED: u8 = 1;
/// ...taken up by the CPU, which is stopping.
const CLAIMED: u8 = 2;

/// Ask AP `cpu` (online) to leave service, and send it the event that
/// wakes it: it stops itself from its idle loop ([`stop_here`]). Wait
/// for [`leave_done`]; then it is either offline, or online still with
/// [`take_stop_error`] saying why. The caller serialises requests.
pub fn ask_to_leave(cpu: usize) -> Result<(), PlatformError> {
    if cpu == 0 || !is_online(cpu) {
        return Err(PlatformError::Unavailable("such CPU online"));
    }
    let state = &CPUS[cpu];
    *state.stop_error.lock() = None;
    state.leave.store(ASKED, Ordering::Release);
    crate::platform().send_ipi(cpu).inspect_err(|_| {
        state.leave.store(STAY, Ordering::Release);
    })
}

/// Whether the CPU has finished with the request [`ask_to_leave`] made.
pub fn leave_done(cpu: usize) -> bool {
    CPUS.get(cpu)
        .is_none_or(|c| c.leave.load(Ordering::Acquire) == STAY)
}

/// Withdraw the request if the CPU has not taken it up yet (true); once
/// it has, it goes through with it (false): wait for [`leave_done`].
pub fn withdraw_leave(cpu: usize) -> bool {
    CPUS.get(cpu).is_some_and(|c| {
        c.leave
            .compare_exchange(ASKED, STAY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    })
}

/// Why the CPU could not stop, if it said.
pub fn take_stop_error(cpu: usize) -> Option<PlatformError> {
    CPUS.get(cpu).and_then(|c| c.stop_error.lock().take())
}

/// Whether a new thread may be placed on `cpu`: online, and not asked to
/// leave. Threads stay on their CPU for life, so one placed on a CPU that
/// is about to stop would wait there until it came back; [`stop_here`]
/// refuses to stop a CPU that has threads, and placement must ask this
/// (under the scheduler's lock, where the CPU counts its threads).
pub fn takes_threads(cpu: usize) -> bool {
    is_online(cpu)
        && CPUS
            .get(cpu)
            .is_some_and(|c| c.leave.load(Ordering::Acquire) == STAY)
}

pub(super) fn leaving(cpu: usize) -> bool {
    CPUS[cpu].leave.load(Ordering::Acquire) == ASKED
}

/// On AP `cpu` itself, idle with interrupts off: stop through the
/// platform, which calls back just before the point of no return (from
/// there it is offline), and return once restarted; or, if the platform
/// cannot stop it, leave the reason for the asker and carry on.
pub(super) fn stop_here(cpu: usize) {
    let state = &CPUS[cpu];
    if state
        .leave
        .compare_exchange(ASKED, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    // Threads stay on their CPU for life: one placed here before the
    // request was seen keeps the CPU in service.
    if crate::sched::load(cpu) > 0 {
        *state.stop_error.lock() =
            Some(PlatformError::Device("threads were placed on it meanwhile"));
        state.leave.store(STAY, Ordering::Release);
        return;
    }
    let stopping = || {
        set_online(cpu, false);
        state.leave.store(STAY, Ordering::Release);
    };
    if let Err(e) = crate::platform().stop_this_cpu(cpu, &stopping) {
        if !is_online(cpu) {
            // The asker has already taken it for offline.
            log::error!("smp: cpu {cpu} did not stop after all ({e}); it stays online");
        }
        *state.stop_error.lock() = Some(e);
    }
    set_online(cpu, true);
    state.leave.store(STAY, Ordering::Release);
}
