//! Tests of the other CPUs as this backend starts them: their local APIC
//! as `cpu_init_local` left it, and IPIs to the boot CPU, which the core's
//! own tests (`smp_*`, and `smp_ap_timer_*` for each CPU's timer) do not
//! send.

use crate::lapic::TimerMode;
use crate::platform::{PLATFORM, vectors};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
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
    smp::run_on(cpu, f, arg, WAIT_NS).map_err(|e| TestError::Fail(alloc::format!("{e}")))
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
