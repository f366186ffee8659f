//! The core's in-kernel tests. They run unchanged on every backend.

mod boot_tests;
mod fault_tests;
mod harness_tests;
mod mem_tests;
mod memsafe_tests;
mod time_tests;

use crate::harness::{Test, TestResult};

/// Every core test list, in run order.
pub const CORE_TESTS: &[&[Test]] = &[
    boot_tests::TESTS,
    mem_tests::TESTS,
    memsafe_tests::TESTS,
    fault_tests::TESTS,
    time_tests::TESTS,
    harness_tests::TESTS,
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

/// A deliberately broken test for `inject=<fail|panic|hang>`, which proves
/// that the harness and the host runner turn red.
pub fn injected(mode: &str) -> Option<Test> {
    let (name, run): (&'static str, fn() -> TestResult) = match mode {
        "fail" => ("injected_fail", injected_fail),
        "panic" => ("injected_panic", injected_panic),
        "hang" => ("injected_hang", injected_hang),
        _ => {
            log::warn!("ignoring inject={mode}: expected fail, panic or hang");
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
        CRASH_AFTER_SUMMARY => panic!("crash=after-summary: crashing after the summary"),
        other => {
            log::warn!(
                "ignoring crash={other}: expected pagefault, gpf, ud, divide, overflow, panic or after-summary"
            );
            return;
        }
    }
    panic!("crash={mode} did not crash");
}
