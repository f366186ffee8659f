//! Idling: an interrupt that arrives just before the idle HLT must not leave
//! the CPU asleep (see `arch::idle` for the hang this was).

use crate::arch::idle;
use crate::harness::{Test, TestError, TestResult};
use crate::time::{self, NS_PER_MS};
use crate::{check, self_event};
use core::sync::atomic::{AtomicBool, Ordering};

pub const TESTS: &[Test] = &[Test {
    name: "idle_interrupt_before_halt_wakes",
    run: interrupt_before_halt_wakes,
}];

/// How long the CPU may stay halted before the backstop timer wakes it.
/// Far above any interrupt latency, far below the harness watchdog.
const BACKSTOP_NS: u64 = 200 * NS_PER_MS;

static BACKSTOP_FIRED: AtomicBool = AtomicBool::new(false);

fn backstop() {
    BACKSTOP_FIRED.store(true, Ordering::SeqCst);
}

/// A self event made pending with interrupts off, then IF set by IRETQ
/// (no shadow) straight onto the idle HLT: the event is taken at the
/// boundary before the HLT, as under a hypervisor that loses the STI shadow.
/// The HLT must not then sleep until something else (here the backstop
/// timer, an interrupt source of its own) wakes the CPU.
fn interrupt_before_halt_wakes() -> TestResult {
    self_event::attach()
        .map_err(|e| TestError::Fail(alloc::format!("cannot attach the self event: {e}")))?;
    let p = crate::platform();
    BACKSTOP_FIRED.store(false, Ordering::SeqCst);
    let Some(timer) = time::add_timer(time::now_ns() + BACKSTOP_NS, backstop) else {
        return Err(TestError::Fail(
            "no free timer slot for the backstop".into(),
        ));
    };
    let before = self_event::count();
    let resumed_before = idle::resumed_past_halt();
    p.interrupts_disable();
    p.send_self_event();
    // Let a real local APIC latch the IPI before IF opens; emulated ones
    // (QEMU, Xen) latch it within the sending instruction.
    time::spin_ns(10_000);
    let start = time::now_ns();
    idle::halt_without_shadow();
    let halted_ns = time::now_ns() - start;
    time::cancel_timer(timer);
    check!(
        self_event::count() > before,
        "the self event was never handled"
    );
    check!(
        !BACKSTOP_FIRED.load(Ordering::SeqCst),
        "the self event was handled just before the idle HLT, and the CPU then \
         slept {} us until the {} ms backstop timer woke it: a lost wake-up",
        halted_ns / 1_000,
        BACKSTOP_NS / NS_PER_MS
    );
    crate::kprintln!(
        "# idle: {} interrupt(s) resumed past the idle HLT in this test, {} in all",
        idle::resumed_past_halt() - resumed_before,
        idle::resumed_past_halt()
    );
    Ok(())
}
