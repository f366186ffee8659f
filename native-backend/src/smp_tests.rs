//! Tests of the other CPUs as this backend starts them: their local APIC
//! as `cpu_init_local` left it, each one's own timer, and IPIs to the boot
//! CPU, which the core's own tests (`smp_*`) do not send.

use crate::lapic::TimerMode;
use crate::platform::{PLATFORM, vectors};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use virtus_kernel::arch::percpu::{self, MAX_CPUS};
use virtus_kernel::harness::{Test, TestError, TestResult};
use virtus_kernel::sched::smp;
use virtus_kernel::{Platform, check, check_eq, skip};

pub const TESTS: &[Test] = &[
    Test {
        name: "native_ipi_reaches_the_boot_cpu",
        run: ipi_reaches_the_boot_cpu,
    },
    Test {
        name: "native_ap_apic_timer_set_up_lint_masked",
        run: ap_apic_timer_set_up_lint_masked,
    },
    Test {
        name: "native_ap_timer_fires_on_that_cpu",
        run: ap_timer_fires_on_that_cpu,
    },
    Test {
        name: "native_ap_timer_cancel_holds",
        run: ap_timer_cancel_holds,
    },
];

const WAIT_NS: u64 = 1_000_000_000;

/// A fixed IPI addressed to the boot CPU's own APIC ID through the ICR
/// (not the self-IPI shorthand): the path an AP uses to reach CPU 0.
fn ipi_reaches_the_boot_cpu() -> TestResult {
    check!(
        PLATFORM.interrupts_enabled(),
        "the test needs interrupts on"
    );
    let before = smp::ipis(0);
    for i in 1..=10 {
        PLATFORM
            .send_ipi(0)
            .map_err(|e| TestError::Fail(alloc::format!("send_ipi(0): {e}")))?;
        check!(
            smp::spin_until(WAIT_NS, || smp::ipis(0) >= before + i),
            "IPI {i} to the boot CPU was not handled within 1 s"
        );
    }
    Ok(())
}

/// What an AP's APIC reads, written by the AP itself in `read_on_ap`.
static SEEN: [AtomicU32; 5] = [const { AtomicU32::new(0) }; 5];
static SEEN_ID: AtomicU64 = AtomicU64::new(u64::MAX);

fn read_on_ap(_: u64) {
    if let Some(apic) = PLATFORM.apic.get() {
        for (slot, value) in SEEN.iter().zip(apic.local_vectors()) {
            slot.store(value, Ordering::Release);
        }
        SEEN_ID.store(apic.id().into(), Ordering::Release);
    }
}

/// Run `f(arg)` on `cpu` and wait until it has.
fn run_on(cpu: usize, f: fn(u64), arg: u64) -> TestResult {
    let done = smp::calls_done(cpu);
    smp::call_on(cpu, f, arg)
        .map_err(|e| TestError::Fail(alloc::format!("call_on({cpu}): {e}")))?;
    check!(
        smp::spin_until(WAIT_NS, || smp::calls_done(cpu) > done),
        "cpu {cpu} did not run the call within 1 s"
    );
    Ok(())
}

/// Each AP's APIC, read on the AP: software-enabled with the spurious
/// vector, its timer entry the boot CPU's (vector, mode, unmasked; in
/// one-shot mode the same divider), LINT0/LINT1 masked (no device is
/// wired to an AP), and answering to the APIC ID it was started by.
fn ap_apic_timer_set_up_lint_masked() -> TestResult {
    if smp::online() < 2 {
        skip!("one CPU online: no AP to look at");
    }
    const MASKED: u32 = 1 << 16;
    let apic = PLATFORM
        .apic
        .get()
        .ok_or(TestError::Fail("no APIC".into()))?;
    for cpu in 1..smp::online() {
        SEEN_ID.store(u64::MAX, Ordering::Release);
        run_on(cpu, read_on_ap, 0)?;
        let [spurious, timer, lint0, lint1, divide] =
            SEEN.each_ref().map(|s| s.load(Ordering::Acquire));
        check_eq!(spurious & 0x1ff, 0x100 | u32::from(vectors::SPURIOUS));
        // Bits 0-7 vector, 16 mask, 17-18 mode; delivery status (12) may
        // be set while an interrupt is on its way.
        check_eq!(timer & 0x7_00ff, apic.expected_lvt_timer());
        check!(
            lint0 & lint1 & MASKED != 0,
            "cpu {cpu}: LINT0 {lint0:#x}, LINT1 {lint1:#x} not both masked"
        );
        if let TimerMode::OneShot { .. } = apic.timer_mode() {
            check_eq!(divide & 0b1011, 0b0011);
        }
        let id = PLATFORM.cpu_apic_id(cpu);
        check_eq!(
            SEEN_ID.load(Ordering::Acquire),
            id.map_or(u64::MAX, u64::from)
        );
    }
    Ok(())
}

/// How far ahead an AP arms its timer.
const AHEAD_NS: u64 = 2_000_000;
/// How late a timer interrupt may come: generous, for TCG and for a Xen
/// HVM guest on the one-pCPU nested bed.
const LATE_NS: u64 = 500_000_000;

/// The deadline each AP armed, by the AP's own clock reading.
static ARMED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// The deadline `cpu` last armed in a test.
fn armed(cpu: usize) -> u64 {
    ARMED.get(cpu).map_or(0, |a| a.load(Ordering::Acquire))
}

/// On the AP: arm this CPU's timer `ahead` ns from now.
fn arm_on_ap(ahead: u64) {
    let deadline = PLATFORM.now_ns() + ahead;
    ARMED[percpu::current()].store(deadline, Ordering::Release);
    PLATFORM.timer_arm(deadline);
}

/// On the AP: arm this CPU's timer `ahead` ns from now and cancel it.
fn arm_and_cancel_on_ap(ahead: u64) {
    arm_on_ap(ahead);
    PLATFORM.timer_cancel();
}

/// Each AP arms its own timer (`timer_arm` called on that AP): the
/// interrupt comes to that AP (its own count moves), not before the
/// deadline by the clock read in the handler, and within [`LATE_NS`].
fn ap_timer_fires_on_that_cpu() -> TestResult {
    if smp::online() < 2 {
        skip!("one CPU online: no AP timer to arm");
    }
    for cpu in 1..smp::online() {
        let (before, _) = crate::smp::timer_events(cpu);
        run_on(cpu, arm_on_ap, AHEAD_NS)?;
        let deadline = armed(cpu);
        check!(
            smp::spin_until(WAIT_NS, || crate::smp::timer_events(cpu).0 > before),
            "cpu {cpu}: its timer, armed for {deadline} ns, did not fire on it within 1 s"
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
            "# cpu {cpu}: timer fired on it {} us after the deadline",
            (fired - deadline) / 1000
        );
    }
    Ok(())
}

/// On the AP: program its timer for its own timer list again (the core's
/// way back after a direct use of the platform timer).
fn resync_on_ap(_: u64) {
    virtus_kernel::time::resync_platform_timer();
}

/// `timer_cancel` on an AP disarms that AP's timer: armed 20 ms ahead and
/// cancelled at once, it has not fired 100 ms later. Then the AP's timer
/// is given back to the core's list for that CPU.
fn ap_timer_cancel_holds() -> TestResult {
    if smp::online() < 2 {
        skip!("one CPU online: no AP timer to cancel");
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
            "cpu {cpu}: {} timer interrupt(s) after its timer was cancelled",
            after - before
        );
    }
    Ok(())
}
