//! Time: the platform's monotonic clock, and software timers multiplexed
//! onto each CPU's one-shot timer.
//!
//! Every CPU keeps its own deadline list and arms its own platform timer
//! for the earliest (the platform's contract: `timer_arm` acts on the
//! calling CPU's timer, and its event is handled on that CPU). A timer's
//! callback therefore runs on the CPU that added it, which is where the
//! thread that waits for it is pinned (see `sched`). Cancelling from
//! another CPU only removes the entry: that CPU's timer may still fire for
//! it, finds nothing due, and re-arms for what is left.

use crate::arch::irq::without_interrupts;
use crate::arch::percpu::{self, MAX_CPUS};
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

type TimerList = Mutex<[Option<Timer>; MAX_TIMERS]>;

/// Each CPU's deadlines, by CPU number. `pub(crate)` for the abort audit
/// (`harness::abort`, which watches CPU 0's: the harness runs there) and
/// the injected test that proves it (`inject=panic_locked`).
pub(crate) static TIMERS: [TimerList; MAX_CPUS] =
    [const { Mutex::new([None; MAX_TIMERS]) }; MAX_CPUS];
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static TIMER_INTERRUPTS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// The clock when each CPU last handled its timer's event.
static LAST_TIMER_NS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Handle of an armed software timer: its number and the CPU whose list
/// holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId {
    id: u64,
    cpu: usize,
}

/// Monotonic nanoseconds since boot.
pub fn now_ns() -> u64 {
    crate::platform().now_ns()
}

/// How many timer interrupts the core has handled on this CPU.
pub fn timer_interrupts() -> u64 {
    timer_interrupts_on(percpu::current())
}

/// How many timer interrupts the core has handled on CPU `cpu`.
pub fn timer_interrupts_on(cpu: usize) -> u64 {
    TIMER_INTERRUPTS
        .get(cpu)
        .map_or(0, |count| count.load(Ordering::Acquire))
}

/// The clock (ns) when CPU `cpu` last handled its timer's event (0: never).
pub fn last_timer_event_ns(cpu: usize) -> u64 {
    LAST_TIMER_NS
        .get(cpu)
        .map_or(0, |last| last.load(Ordering::Acquire))
}

/// Arm this CPU's platform timer for the earliest deadline in its list
/// (lock held).
fn rearm(timers: &[Option<Timer>; MAX_TIMERS]) {
    match timers.iter().flatten().map(|t| t.deadline).min() {
        Some(deadline) => crate::platform().timer_arm(deadline),
        None => crate::platform().timer_cancel(),
    }
}

/// Call `callback` (in interrupt context, on this CPU) at `deadline_ns`.
/// Returns `None` when all of this CPU's timer slots are in use.
pub fn add_timer(deadline_ns: u64, callback: fn()) -> Option<TimerId> {
    without_interrupts(|| {
        let cpu = percpu::current();
        let mut timers = TIMERS[cpu].lock();
        let slot = timers.iter_mut().find(|t| t.is_none())?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        *slot = Some(Timer {
            deadline: deadline_ns,
            callback,
            id,
        });
        rearm(&timers);
        Some(TimerId { id, cpu })
    })
}

/// Cancel a timer; returns whether it was still pending.
pub fn cancel_timer(id: TimerId) -> bool {
    without_interrupts(|| {
        let mut timers = TIMERS[id.cpu].lock();
        let found = timers.iter_mut().find(|t| t.is_some_and(|t| t.id == id.id));
        let was_pending = found.map(|slot| slot.take().is_some()).unwrap_or(false);
        // Only the owner's timer can be programmed from here; elsewhere the
        // owner re-arms when its (now early) timer fires.
        if id.cpu == percpu::current() {
            rearm(&timers);
        }
        was_pending
    })
}

/// Handler for [`crate::platform::EventSource::Timer`], on the CPU whose
/// timer fired: run its expired timers and re-arm for its next.
pub fn on_timer_event() {
    let cpu = percpu::current();
    let now = now_ns();
    LAST_TIMER_NS[cpu].store(now, Ordering::Release);
    TIMER_INTERRUPTS[cpu].fetch_add(1, Ordering::Release);
    let mut expired: [Option<Timer>; MAX_TIMERS] = [None; MAX_TIMERS];
    {
        let mut timers = TIMERS[cpu].lock();
        for (slot, out) in timers.iter_mut().zip(expired.iter_mut()) {
            if slot.is_some_and(|t| t.deadline <= now) {
                *out = slot.take();
            }
        }
        rearm(&timers);
    }
    // In deadline order, not slot order: when one event finds several due
    // (a vCPU descheduled past both), the earlier still runs first.
    expired.sort_unstable_by_key(|t| t.map_or(u64::MAX, |t| t.deadline));
    for timer in expired.into_iter().flatten() {
        (timer.callback)();
    }
}

/// Program this CPU's platform timer for its earliest software timer
/// again, after something (a benchmark, a resume) used the platform timer
/// directly and may have replaced or cancelled that deadline.
pub fn resync_platform_timer() {
    without_interrupts(|| rearm(&TIMERS[percpu::current()].lock()));
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

/// Park the waiter (interrupts off), or idle until an interrupt if nothing
/// else could run; returns with interrupts off, ready to re-check.
fn park_or_idle() {
    let platform = crate::platform();
    if !PARK.get().is_some_and(|park| park()) {
        platform.wait_for_event();
    }
    platform.interrupts_disable();
}

/// Idle until `done()` holds, checking it with interrupts off so that the
/// interrupt that makes it true cannot slip in between the check and the
/// sleep (`wait_for_event` re-enables interrupts atomically with halting).
pub fn wait_for(mut done: impl FnMut() -> bool) {
    let platform = crate::platform();
    let was_enabled = platform.interrupts_enabled();
    platform.interrupts_disable();
    // Let other threads run until the next event; idle if none can.
    while !done() {
        park_or_idle();
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
