//! The core's in-kernel tests. They run unchanged on every backend.

mod balloon_tests;
mod block_tests;
mod boot_tests;
mod cpu_timer_tests;
mod fault_tests;
mod harness_tests;
mod idle_tests;
mod mem_tests;
mod memsafe_tests;
mod proc_tests;
mod smp_tests;
mod suspend_tests;
mod thread_tests;
mod time_tests;

use crate::harness::{Test, TestResult};

/// Every core test list, in run order.
pub const CORE_TESTS: &[&[Test]] = &[
    boot_tests::TESTS,
    mem_tests::TESTS,
    memsafe_tests::TESTS,
    fault_tests::TESTS,
    time_tests::TESTS,
    idle_tests::TESTS,
    harness_tests::TESTS,
    block_tests::TESTS,
    suspend_tests::TESTS,
    balloon_tests::TESTS,
    proc_tests::TESTS,
    smp_tests::TESTS,
    cpu_timer_tests::TESTS,
    thread_tests::TESTS,
    crate::bench::check::TESTS,
];

fn injected_fail() -> TestResult {
    crate::check!(
        1 + 1 == 3,
        "injected failure (inject=fail on the command line)"
    );
    Ok(())
}

fn injected_panic() -> TestResult {
    panic!("injected panic (inject=panic on the command line)");
}

fn injected_hang() -> TestResult {
    loop {
        core::hint::spin_loop();
    }
}

/// Hangs holding the console lock, with interrupts on so that the watchdog
/// can end it: the harness must release the lock (it guards no data) and
/// go on, or the next line it prints deadlocks.
fn injected_hang_locked() -> TestResult {
    let _held = crate::console::LOCK.lock();
    loop {
        core::hint::spin_loop();
    }
}

/// Panics holding the timer lock, as a panic in the middle of arming a
/// timer would: the lock guards data left half updated, so the harness
/// must stop the run and say so, where it used to spin forever with
/// interrupts off on the watchdog's cancellation.
fn injected_panic_locked() -> TestResult {
    crate::arch::irq::without_interrupts(|| {
        let _held = crate::time::TIMERS[0].lock();
        panic!("injected panic holding the timer lock (inject=panic_locked)");
    })
}

/// A deliberately broken test for `inject=<mode>`, which proves that the
/// harness and the host runner turn red: `fail`, `panic`, `hang`, and
/// `hang_locked` and `panic_locked`, which leave a lock held when they are
/// aborted.
pub fn injected(mode: &str) -> Option<Test> {
    let (name, run): (&'static str, fn() -> TestResult) = match mode {
        "fail" => ("injected_fail", injected_fail),
        "panic" => ("injected_panic", injected_panic),
        "hang" => ("injected_hang", injected_hang),
        "hang_locked" => ("injected_hang_locked", injected_hang_locked),
        "panic_locked" => ("injected_panic_locked", injected_panic_locked),
        _ => {
            log::warn!(
                "ignoring inject={mode}: expected fail, panic, hang, hang_locked or panic_locked"
            );
            return None;
        }
    };
    Some(Test { name, run })
}

/// The `crash=` mode that runs the tests and benchmarks as asked and then
/// panics after their summary, in place of the end-of-run marker: proof
/// that the host runner sees a crash that follows a clean report.
pub const CRASH_AFTER_SUMMARY: &str = "after-summary";

/// Crash the kernel in the way `crash=<mode>` names, to prove that every
/// crash ends in a diagnostic and a failed exit.
pub fn crash_on_purpose(mode: &str) {
    log::warn!("crash={mode}: crashing on purpose");
    match mode {
        "pagefault" => {
            fault_tests::read_address(0x0000_4000_dead_0000);
        }
        "gpf" => {
            fault_tests::read_address(0x8000_0000_0000_0000);
        }
        "ud" => fault_tests::undefined_instruction(),
        "divide" => fault_tests::divide_by_zero(),
        "overflow" => {
            fault_tests::recurse(0);
        }
        "panic" => panic!("crash=panic on the command line"),
        // The same fault on CPU 1: the report must name the CPU.
        "ap-pagefault" => match crate::sched::smp::call_on(1, fault_here, 0x0000_4000_dead_0000) {
            // CPU 1's fault ends the run; this only waits for it.
            Ok(()) => {
                crate::sched::smp::spin_until(5 * crate::time::NS_PER_SEC, || false);
            }
            Err(e) => log::warn!("crash=ap-pagefault: {e}"),
        },
        CRASH_AFTER_SUMMARY => panic!("crash=after-summary: crashing after the summary"),
        other => {
            log::warn!(
                "ignoring crash={other}: expected pagefault, gpf, ud, divide, overflow, panic, \
                 ap-pagefault or after-summary"
            );
            return;
        }
    }
    panic!("crash={mode} did not crash");
}

/// `crash=ap-pagefault`'s call, run on CPU 1.
fn fault_here(addr: u64) {
    fault_tests::read_address(addr);
}
