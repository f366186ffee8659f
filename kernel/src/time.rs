//! Time: the platform's monotonic clock, and software timers multiplexed
//! onto its single one-shot timer.

use crate::arch::irq::without_interrupts;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;

/// Nanoseconds per second.
pub const NS_PER_SEC: u64 = 1_000_000_000;
/// Nanoseconds per millisecond.
pub const NS_PER_MS: u64 = 1_000_000;

const MAX_TIMERS: usize = 16;

#[derive(Clone, Copy)]
pub(crate) struct Timer {
    deadline: u64,
    callback: fn(),
    id: u64,
}

/// `pub(crate)` for the abort audit (`harness::abort`) and the injected
/// test that proves it (`inject=panic_locked`).
pub(crate) static TIMERS: Mutex<[Option<Timer>; MAX_TIMERS]> = Mutex::new([None; MAX_TIMERS]);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static TIMER_INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// Handle of an armed software timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId(u64);

/// Monotonic nanoseconds since boot.
pub fn now_ns() -> u64 {
    crate::platform().now_ns()
}

/// How many timer interrupts the core has handled.
pub fn timer_interrupts() -> u64 {
    TIMER_INTERRUPTS.load(Ordering::Relaxed)
}

/// Arm the platform timer for the earliest pending deadline (lock held).
fn rearm(timers: &[Option<Timer>; MAX_TIMERS]) {
    match timers.iter().flatten().map(|t| t.deadline).min() {
        Some(deadline) => crate::platform().timer_arm(deadline),
        None => crate::platform().timer_cancel(),
    }
}

/// Call `callback` (in interrupt context) at `deadline_ns`. Returns `None`
/// when all timer slots are in use.
pub fn add_timer(deadline_ns: u64, callback: fn()) -> Option<TimerId> {
    without_interrupts(|| {
        let mut timers = TIMERS.lock();
        let slot = timers.iter_mut().find(|t| t.is_none())?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        *slot = Some(Timer {
            deadline: deadline_ns,
            callback,
            id,
        });
        rearm(&timers);
        Some(TimerId(id))
    })
}

/// Cancel a timer; returns whether it was still pending.
pub fn cancel_timer(id: TimerId) -> bool {
    without_interrupts(|| {
        let mut timers = TIMERS.lock();
        let found = timers.iter_mut().find(|t| t.is_some_and(|t| t.id == id.0));
        let was_pending = found.map(|slot| slot.take().is_some()).unwrap_or(false);
        rearm(&timers);
        was_pending
    })
}

/// Handler for [`crate::platform::EventSource::Timer`]: run expired timers
/// and re-arm for the next.
pub fn on_timer_event() {
    TIMER_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
    let now = now_ns();
    let mut expired: [Option<fn()>; MAX_TIMERS] = [None; MAX_TIMERS];
    {
        let mut timers = TIMERS.lock();
        for (slot, out) in timers.iter_mut().zip(expired.iter_mut()) {
            if slot.is_some_and(|t| t.deadline <= now) {
                *out = slot.take().map(|t| t.callback);
            }
        }
        rearm(&timers);
    }
    for callback in expired.into_iter().flatten() {
        callback();
    }
}

/// Program the platform timer for the earliest software timer again, after
/// something (a benchmark) used the platform timer directly and may have
/// replaced or cancelled that deadline.
pub fn resync_platform_timer() {
    without_interrupts(|| rearm(&TIMERS.lock()));
}

fn wake_nop() {}

/// What a waiter does before idling: the scheduler's `park` (registered by
/// it, so that time, below the scheduler, never names it). Returns whether
/// other threads ran.
static PARK: spin::Once<fn() -> bool> = spin::Once::new();

/// Let [`wait_for`] run other threads while it waits (the scheduler).
pub fn set_park(park: fn() -> bool) {
    PARK.call_once(|| park);
}

fn park() -> bool {
    PARK.get().is_some_and(|park| park())
}

/// Idle until `done()` holds, checking it with interrupts off so that the
/// interrupt that makes it true cannot slip in between the check and the
/// sleep (`wait_for_event` re-enables interrupts atomically with halting).
pub fn wait_for(mut done: impl FnMut() -> bool) {
    let platform = crate::platform();
    let was_enabled = platform.interrupts_enabled();
    loop {
        platform.interrupts_disable();
        if done() {
            break;
        }
        // Let other threads run until the next event; idle if none can.
        if park() {
            continue;
        }
        platform.wait_for_event();
    }
    if was_enabled {
        platform.interrupts_enable();
    }
}

/// Idle until `done()` holds or the clock reaches `deadline_ns`; returns
/// whether `done()` held. A timer guarantees the wake-up at the deadline.
pub fn wait_until(deadline_ns: u64, mut done: impl FnMut() -> bool) -> bool {
    let id = add_timer(deadline_ns, wake_nop);
    let mut met = false;
    wait_for(|| {
        met = done();
        met || now_ns() >= deadline_ns
    });
    if let Some(id) = id {
        cancel_timer(id);
    }
    met
}

/// Sleep for at least `ns` nanoseconds, letting the CPU idle.
pub fn sleep_ns(ns: u64) {
    let deadline = now_ns().saturating_add(ns);
    wait_until(deadline, || false);
}

/// Busy-wait (no interrupts needed) for at least `ns` nanoseconds.
pub fn spin_ns(ns: u64) {
    let deadline = now_ns().saturating_add(ns);
    while now_ns() < deadline {
        core::hint::spin_loop();
    }
}
