//! Tests of each vCPU's own single-shot timer: armed on an AP (through
//! `Platform::timer_arm`, on that AP), its `VIRQ_TIMER` comes to that AP,
//! not before the deadline; cancelled there, it stays silent. The core's
//! own tests (`smp_*`) cover bring-up and IPIs.

use crate::platform::PLATFORM;
use core::sync::atomic::{AtomicU64, Ordering};
use virtus_kernel::arch::percpu::{self, MAX_CPUS};
use virtus_kernel::harness::{Test, TestError, TestResult};
use virtus_kernel::sched::smp;
use virtus_kernel::{Platform, check, skip};

pub const TESTS: &[Test] = &[
    Test {
        name: "pv_ap_timer_fires_on_that_cpu",
        run: ap_timer_fires_on_that_cpu,
    },
    Test {
        name: "pv_ap_timer_cancel_holds",
        run: ap_timer_cancel_holds,
    },
];

/// How long to wait for an AP to answer, or its timer to fire: generous,
/// as every vCPU of the nested bed shares one emulated pCPU.
const WAIT_NS: u64 = 2_000_000_000;
/// How far ahead an AP arms its timer.
const AHEAD_NS: u64 = 2_000_000;
/// How late the event may come (the AP must be scheduled on that pCPU).
const LATE_NS: u64 = 500_000_000;

/// The deadline each AP armed, by its own clock reading.
static ARMED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// The deadline `cpu` last armed in a test.
fn armed(cpu: usize) -> u64 {
    ARMED.get(cpu).map_or(0, |a| a.load(Ordering::Acquire))
}

/// On the AP: arm its timer `ahead` ns from now.
fn arm_on_ap(ahead: u64) {
    let deadline = PLATFORM.now_ns() + ahead;
    ARMED[percpu::current()].store(deadline, Ordering::Release);
    PLATFORM.timer_arm(deadline);
}

/// On the AP: arm its timer `ahead` ns from now and cancel it.
fn arm_and_cancel_on_ap(ahead: u64) {
    arm_on_ap(ahead);
    PLATFORM.timer_cancel();
}

/// On the AP: its timer for its own timer list again (the core's way back
/// after a direct use of the platform timer).
fn resync_on_ap(_: u64) {
    virtus_kernel::time::resync_platform_timer();
}

/// Run `f(arg)` on `cpu` and wait until it has.
fn run_on(cpu: usize, f: fn(u64), arg: u64) -> TestResult {
    let done = smp::calls_done(cpu);
    smp::call_on(cpu, f, arg)
        .map_err(|e| TestError::Fail(alloc::format!("call_on({cpu}): {e}")))?;
    check!(
        smp::spin_until(WAIT_NS, || smp::calls_done(cpu) > done),
        "cpu {cpu} did not run the call within 2 s"
    );
    Ok(())
}

/// Each AP arms its own single-shot timer: its `VIRQ_TIMER` port's handler
/// runs on that AP (its own count moves), by the clock not before the
/// deadline, and within [`LATE_NS`].
fn ap_timer_fires_on_that_cpu() -> TestResult {
    if smp::online() < 2 {
        skip!("one vCPU online: no AP timer to arm");
    }
    for cpu in 1..smp::online() {
        let (before, _) = crate::smp::timer_events(cpu);
        run_on(cpu, arm_on_ap, AHEAD_NS)?;
        let deadline = armed(cpu);
        check!(
            smp::spin_until(WAIT_NS, || crate::smp::timer_events(cpu).0 > before),
            "cpu {cpu}: its timer, armed for {deadline} ns, did not fire on it within 2 s"
        );
        let (_, fired) = crate::smp::timer_events(cpu);
        check!(
            fired >= deadline,
            "cpu {cpu}: its timer fired {} ns before the deadline",
            deadline - fired
        );
        check!(
            fired - deadline < LATE_NS,
            "cpu {cpu}: its timer fired {} us late",
            (fired - deadline) / 1000
        );
        virtus_kernel::kprintln!(
            "# cpu {cpu}: VIRQ_TIMER on it {} us after the deadline",
            (fired - deadline) / 1000
        );
    }
    Ok(())
}

/// `timer_cancel` on an AP stops that AP's timer: armed 20 ms ahead and
/// cancelled at once, no event 100 ms later. Then the AP's timer is given
/// back to the core's list for that CPU.
fn ap_timer_cancel_holds() -> TestResult {
    if smp::online() < 2 {
        skip!("one vCPU online: no AP timer to cancel");
    }
    for cpu in 1..smp::online() {
        let (before, _) = crate::smp::timer_events(cpu);
        run_on(cpu, arm_and_cancel_on_ap, 20_000_000)?;
        let until = armed(cpu) + 80_000_000;
        smp::spin_until(WAIT_NS, || PLATFORM.now_ns() >= until);
        let (after, _) = crate::smp::timer_events(cpu);
        run_on(cpu, resync_on_ap, 0)?;
        check!(
            after == before,
            "cpu {cpu}: {} timer event(s) after its timer was cancelled",
            after - before
        );
    }
    Ok(())
}
