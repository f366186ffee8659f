//! Threads on every CPU: the scheduler spreads them, runs them at the same
//! time, keeps a pinned one on its CPU, and wakes it there from its own
//! CPU's timer.
//!
//! What the threads share lives in statics, never on the test's stack: a
//! test that fails early returns while its threads may still be finishing.

use crate::arch::percpu::{self, MAX_CPUS};
use crate::harness::{TestError, TestResult};
use crate::sched::{self, Place, smp};
use crate::{check, check_eq, skip};
use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

pub const TESTS: &[crate::harness::Test] = &[
    crate::harness::Test {
        name: "sched_threads_spread_run_together_and_count_exactly",
        run: threads_spread_run_together_and_count_exactly,
    },
    crate::harness::Test {
        name: "sched_pinned_threads_sleep_and_wake_on_their_cpu",
        run: pinned_threads_sleep_and_wake_on_their_cpu,
    },
];

/// Locked increments over all threads: millions, so that a lock that lets
/// two CPUs in at once shows up as a lost count.
const TOTAL_INCREMENTS: u64 = 2_000_000;
/// How long the threads may take to all be running at once.
const GATHER_NS: u64 = 10_000_000_000;
/// How long the whole test may take.
const FINISH_NS: u64 = 60_000_000_000;

static COUNTER: spin::Mutex<u64> = spin::Mutex::new(0);
static PER_THREAD: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicUsize = AtomicUsize::new(0);
static FINISHED: AtomicUsize = AtomicUsize::new(0);
static EXPECTED: AtomicUsize = AtomicUsize::new(0);
static GATHER_FAILED: AtomicBool = AtomicBool::new(false);
/// The CPU each thread (by index) ran on when it started, and when it
/// finished (`u64::MAX`: not yet).
static RAN_ON: [[AtomicU64; 2]; MAX_CPUS] =
    [const { [const { AtomicU64::new(u64::MAX) }; 2] }; MAX_CPUS];

extern "C" fn counting_thread(index: u64) -> ! {
    crate::platform().interrupts_enable();
    let slot = &RAN_ON[index as usize];
    slot[0].store(percpu::current() as u64, Ordering::Release);
    STARTED.fetch_add(1, Ordering::AcqRel);
    // Every thread waits here until all are running: each one is then
    // provably running while all the others are.
    let all = EXPECTED.load(Ordering::Acquire);
    if !smp::spin_until(GATHER_NS, || STARTED.load(Ordering::Acquire) == all) {
        GATHER_FAILED.store(true, Ordering::Release);
    }
    for _ in 0..PER_THREAD.load(Ordering::Acquire) {
        let mut count = COUNTER.lock();
        // A read and a separate write: two CPUs inside at once lose counts.
        let seen = core::hint::black_box(*count);
        *count = seen + 1;
    }
    slot[1].store(percpu::current() as u64, Ordering::Release);
    FINISHED.fetch_add(1, Ordering::AcqRel);
    sched::exit()
}

fn threads_spread_run_together_and_count_exactly() -> TestResult {
    let cpus: Vec<usize> = smp::online_cpus().collect();
    let n = cpus.len();
    if n < 2 {
        skip!("one CPU online: threads cannot run at the same time");
    }
    *COUNTER.lock() = 0;
    PER_THREAD.store(TOTAL_INCREMENTS / n as u64, Ordering::Release);
    STARTED.store(0, Ordering::Release);
    FINISHED.store(0, Ordering::Release);
    EXPECTED.store(n, Ordering::Release);
    GATHER_FAILED.store(false, Ordering::Release);
    for slot in &RAN_ON {
        for side in slot {
            side.store(u64::MAX, Ordering::Release);
        }
    }
    let started = crate::time::now_ns();
    let mut placed = Vec::new();
    for index in 0..n {
        let id = sched::spawn_on(Place::Any, "counter", counting_thread, index as u64, None)
            .map_err(|e| TestError::Fail(format!("thread {index}: {e}")))?;
        placed.push(sched::cpu_of(id).unwrap_or(usize::MAX));
    }
    let mut sorted = placed.clone();
    sorted.sort_unstable();
    check!(
        sorted == cpus,
        "{n} unpinned threads on {n} idle CPUs were placed on {placed:?}, not one per CPU"
    );
    let done = crate::time::wait_until(started.saturating_add(FINISH_NS), || {
        FINISHED.load(Ordering::Acquire) == n
    });
    let took = crate::time::now_ns().saturating_sub(started);
    check!(
        done,
        "{} of {n} threads finished within {} s",
        FINISHED.load(Ordering::Acquire),
        FINISH_NS / 1_000_000_000
    );
    check!(
        !GATHER_FAILED.load(Ordering::Acquire),
        "the threads were never all running at once within {} s",
        GATHER_NS / 1_000_000_000
    );
    for (index, &cpu) in placed.iter().enumerate() {
        let start = RAN_ON[index][0].load(Ordering::Acquire);
        let end = RAN_ON[index][1].load(Ordering::Acquire);
        check!(
            start == cpu as u64 && end == cpu as u64,
            "thread {index} was placed on cpu {cpu} but ran on {start} and {end}"
        );
    }
    crate::kprintln!(
        "# {n} threads on cpus {placed:?}, all running at once, {} locked increments in {} ms",
        PER_THREAD.load(Ordering::Acquire) * n as u64,
        took / 1_000_000
    );
    check_eq!(
        *COUNTER.lock(),
        PER_THREAD.load(Ordering::Acquire) * n as u64
    );
    Ok(())
}

/// Naps each pinned thread takes, and how long each is.
const NAPS: u64 = 3;
const NAP_NS: u64 = 2_000_000;

/// Per CPU: naps that ended on another CPU, naps that ended early, naps
/// done, and whether the thread finished.
static STRAYED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static EARLY: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static NAPPED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static NAPPER_DONE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

extern "C" fn napping_thread(cpu: u64) -> ! {
    crate::platform().interrupts_enable();
    let cpu = cpu as usize;
    for _ in 0..NAPS {
        let before = crate::time::now_ns();
        crate::time::sleep_ns(NAP_NS);
        if crate::time::now_ns().saturating_sub(before) < NAP_NS {
            EARLY[cpu].fetch_add(1, Ordering::AcqRel);
        }
        if percpu::current() != cpu {
            STRAYED[cpu].fetch_add(1, Ordering::AcqRel);
        }
        NAPPED[cpu].fetch_add(1, Ordering::AcqRel);
    }
    NAPPER_DONE[cpu].store(true, Ordering::Release);
    sched::exit()
}

fn pinned_threads_sleep_and_wake_on_their_cpu() -> TestResult {
    let cpus: Vec<usize> = smp::online_cpus().collect();
    let ticks_before: Vec<u64> = cpus
        .iter()
        .map(|&c| crate::time::timer_interrupts_on(c))
        .collect();
    for &cpu in &cpus {
        STRAYED[cpu].store(0, Ordering::Release);
        EARLY[cpu].store(0, Ordering::Release);
        NAPPED[cpu].store(0, Ordering::Release);
        NAPPER_DONE[cpu].store(false, Ordering::Release);
        sched::spawn_on(Place::Cpu(cpu), "napper", napping_thread, cpu as u64, None)
            .map_err(|e| TestError::Fail(format!("cpu {cpu}: {e}")))?;
    }
    let deadline = crate::time::now_ns().saturating_add(FINISH_NS / 6);
    let done = crate::time::wait_until(deadline, || {
        cpus.iter().all(|&c| NAPPER_DONE[c].load(Ordering::Acquire))
    });
    for (&cpu, &before) in cpus.iter().zip(&ticks_before) {
        check!(
            done || NAPPER_DONE[cpu].load(Ordering::Acquire),
            "the thread pinned to cpu {cpu} woke from {} of {NAPS} naps within 10 s",
            NAPPED[cpu].load(Ordering::Acquire)
        );
        check_eq!(STRAYED[cpu].load(Ordering::Acquire), 0);
        check_eq!(EARLY[cpu].load(Ordering::Acquire), 0);
        let ticks = crate::time::timer_interrupts_on(cpu).saturating_sub(before);
        // At least once: a nap whose deadline has passed also ends when
        // another interrupt (another thread's exit) wakes it first.
        check!(
            ticks > 0,
            "cpu {cpu}'s own timer never fired during {NAPS} naps on it"
        );
    }
    crate::kprintln!(
        "# a thread pinned to each of cpus {cpus:?} took {NAPS} naps of {} ms on its own CPU's timer",
        NAP_NS / 1_000_000
    );
    Ok(())
}
