//! Each CPU's own one-shot timer, as the platform contract has it
//! (`Platform::timer_arm`): armed on an AP, its event is handled on that
//! AP, not before the deadline; cancelled there, it stays silent. The same
//! test for every backend: the local APIC timer of each CPU natively and
//! under Xen HVM, each vCPU's `VIRQ_TIMER` and single-shot timer under PVH.
//!
//! The evidence is the core's own count per CPU (`time`'s timer handler
//! runs on the CPU whose timer fired) and the clock it read there.

use crate::arch::percpu::{self, MAX_CPUS};
use crate::harness::{Test, TestError, TestResult};
use crate::sched::smp;
use crate::{check, skip};
use core::sync::atomic::{AtomicU64, Ordering};

pub const TESTS: &[Test] = &[
    Test {
        name: "smp_ap_timer_fires_on_that_cpu",
        run: ap_timer_fires_on_that_cpu,
    },
    Test {
        name: "smp_ap_timer_cancel_holds",
        run: ap_timer_cancel_holds,
    },
];

/// How long to wait for an AP to answer, or its timer to fire: generous,
/// as every vCPU of the nested bed shares one emulated pCPU.
const WAIT_NS: u64 = 2_000_000_000;
/// How far ahead an AP arms its timer.
const AHEAD_NS: u64 = 2_000_000;
/// How late the event may come (TCG; a vCPU waiting for the one pCPU).
const LATE_NS: u64 = 500_000_000;

/// The deadline each AP armed, by its own clock reading.
static ARMED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

fn now() -> u64 {
    crate::platform().now_ns()
}

/// On the AP: arm its timer `ahead` ns from now.
fn arm_on_ap(ahead: u64) {
    let deadline = now() + ahead;
    ARMED[percpu::current()].store(deadline, Ordering::Release);
    crate::platform().timer_arm(deadline);
}

/// On the AP: arm its timer `ahead` ns from now and cancel it.
fn arm_and_cancel_on_ap(ahead: u64) {
    arm_on_ap(ahead);
    crate::platform().timer_cancel();
}

/// On the AP: its timer for its own timer list again (the core's way back
/// after a direct use of the platform timer).
fn resync_on_ap(_: u64) {
    crate::time::resync_platform_timer();
}

/// Run `f(arg)` on `cpu` and wait until it has.
fn run_on(cpu: usize, f: fn(u64), arg: u64) -> TestResult {
    smp::run_on(cpu, f, arg, WAIT_NS).map_err(|e| TestError::Fail(alloc::format!("{e}")))
}

/// Each AP arms its own timer: the core's timer handler runs on that AP
/// (its own count moves), by the clock there not before the deadline, and
/// within [`LATE_NS`].
fn ap_timer_fires_on_that_cpu() -> TestResult {
    if smp::online() < 2 {
        skip!("one CPU online: no AP timer to arm");
    }
    for cpu in smp::online_aps() {
        let before = crate::time::timer_interrupts_on(cpu);
        run_on(cpu, arm_on_ap, AHEAD_NS)?;
        let deadline = ARMED[cpu].load(Ordering::Acquire);
        check!(
            smp::spin_until(WAIT_NS, || crate::time::timer_interrupts_on(cpu) > before),
            "cpu {cpu}: its timer, armed for {deadline} ns, did not fire on it within 2 s"
        );
        let fired = crate::time::last_timer_event_ns(cpu);
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
        crate::kprintln!(
            "# cpu {cpu}: its own timer's event on it {} us after the deadline",
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
        skip!("one CPU online: no AP timer to cancel");
    }
    for cpu in smp::online_aps() {
        let before = crate::time::timer_interrupts_on(cpu);
        run_on(cpu, arm_and_cancel_on_ap, 20_000_000)?;
        let until = ARMED[cpu].load(Ordering::Acquire) + 80_000_000;
        smp::spin_until(WAIT_NS, || now() >= until);
        let after = crate::time::timer_interrupts_on(cpu);
        run_on(cpu, resync_on_ap, 0)?;
        check!(
            after == before,
            "cpu {cpu}: {} timer event(s) after its timer was cancelled",
            after - before
        );
    }
    Ok(())
}
