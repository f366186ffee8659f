//! The harness itself: catching panics and hangs, KTAP formatting.

use crate::harness::{Test, TestResult, abort, ktap};
use crate::interrupts::{self, Caught};
use crate::time::{self, NS_PER_MS};
use crate::{check, check_eq};
use alloc::string::String;
use alloc::vec::Vec;

pub const TESTS: &[Test] = &[
    Test {
        name: "harness_catches_panic",
        run: catches_panic,
    },
    Test {
        name: "harness_watchdog_abandons_hang",
        run: watchdog,
    },
    Test {
        name: "harness_abort_releases_console_lock",
        run: abort_releases_console_lock,
    },
    Test {
        name: "harness_abort_audit_sees_each_lock",
        run: abort_audit_sees_each_lock,
    },
    Test {
        name: "harness_ktap_format",
        run: ktap_format,
    },
];

fn catches_panic() -> TestResult {
    let r = interrupts::catch(false, || panic!("expected panic (harness self-test)"));
    check_eq!(r, Err(Caught::Panic));
    Ok(())
}

fn abort_now() {
    interrupts::request_abort();
}

fn watchdog() -> TestResult {
    let start = time::now_ns();
    let id = time::add_timer(start + 30 * NS_PER_MS, abort_now);
    let r = interrupts::catch(true, || {
        loop {
            core::hint::spin_loop();
        }
    });
    if let Some(id) = id {
        time::cancel_timer(id);
    }
    check_eq!(r, Err(Caught::Timeout));
    check!(time::now_ns() - start >= 30 * NS_PER_MS);
    Ok(())
}

/// A context abandoned while it holds the console lock must not take the
/// console with it: the catch point's audit releases the lock (which
/// guards no data) and the state stays safe.
fn abort_releases_console_lock() -> TestResult {
    let r = interrupts::catch(false, || {
        crate::arch::irq::without_interrupts(|| {
            let _held = crate::console::LOCK.lock();
            panic!("expected panic holding the console lock (harness self-test)");
        })
    });
    check_eq!(r, Err(Caught::Panic));
    check!(
        !crate::console::LOCK.is_locked(),
        "the console lock is still held"
    );
    check!(abort::console_released(), "the release was not recorded");
    check_eq!(interrupts::unsafe_after_abort(), None);
    check!(
        crate::platform().interrupts_enabled(),
        "interrupts stayed off after a safe abort"
    );
    Ok(())
}

/// The audit sees each kernel lock while it is held, and none after.
fn abort_audit_sees_each_lock() -> TestResult {
    fn held_while(lock: impl FnOnce() -> bool) -> bool {
        crate::arch::irq::without_interrupts(lock)
    }
    let seen = |name: &str| abort::held_names().any(|n| n == name);
    // Each probe runs with the lock held and interrupts off, and neither
    // prints nor allocates until the lock is free again.
    let results = [
        (
            "console lock",
            held_while(|| {
                let _g = crate::console::LOCK.lock();
                seen("console lock")
            }),
        ),
        (
            "heap lock",
            held_while(|| {
                let _g = crate::mem::heap::HEAP.heap.lock();
                seen("heap lock")
            }),
        ),
        (
            "timer lock",
            held_while(|| {
                let _g = crate::time::TIMERS[0].lock();
                seen("timer lock")
            }),
        ),
        (
            "frame allocator lock",
            held_while(|| {
                let _g = crate::mem::FRAMES.lock();
                seen("frame allocator lock")
            }),
        ),
        (
            "page table lock",
            held_while(|| {
                let _g = crate::mem::TABLES.lock();
                seen("page table lock")
            }),
        ),
        (
            "shared frames lock",
            held_while(|| {
                let _g = crate::mem::SHARED.lock();
                seen("shared frames lock")
            }),
        ),
        (
            "MMIO mappings lock",
            held_while(|| {
                let _g = crate::mem::mmio::MAPPINGS.lock();
                seen("MMIO mappings lock")
            }),
        ),
        (
            "stack registry lock",
            held_while(|| {
                let _g = crate::mem::stack::STACKS.lock();
                seen("stack registry lock")
            }),
        ),
    ];
    for (name, was_seen) in results {
        check!(was_seen, "the audit did not see the {name} held");
    }
    let still: Vec<&str> = abort::held_names().collect();
    check!(
        still.is_empty(),
        "held with nothing holding them: {still:?}"
    );
    Ok(())
}

fn ktap_format() -> TestResult {
    let mut s = String::new();
    let mut totals = ktap::Totals::default();
    for (i, o) in [
        ktap::Outcome::Pass,
        ktap::Outcome::Fail,
        ktap::Outcome::Skip("why"),
    ]
    .into_iter()
    .enumerate()
    {
        totals.record(o);
        ktap::result(&mut s, i + 1, "t", o)
            .map_err(|_| crate::harness::TestError::Fail("fmt".into()))?;
    }
    ktap::summary(&mut s, totals).map_err(|_| crate::harness::TestError::Fail("fmt".into()))?;
    check_eq!(
        s.as_str(),
        "ok 1 t\nnot ok 2 t\nok 3 t # SKIP why\n1 passed, 1 failed, 1 skipped\n"
    );
    Ok(())
}
