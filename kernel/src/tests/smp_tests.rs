//! The other CPUs: they come up, they answer inter-processor events, and a
//! lock keeps a counter exact while several CPUs increment it at once.
//!
//! The reference for "every CPU" is the host's: the runner puts the number
//! of CPUs it gave the machine on the command line (`smp.cpus=N`: QEMU's
//! `-smp`, xl's `vcpus`), which the kernel's own count (the MADT, Xen's
//! vCPUs) must match. On one CPU the tests that need two say so and skip;
//! the runner runs every column with two CPUs as well.

use crate::harness::{Test, TestError, TestResult};
use crate::sched::smp;
use crate::{check, check_eq, skip};
use alloc::format;
use core::sync::atomic::{AtomicU64, Ordering};

pub const TESTS: &[Test] = &[
    Test {
        name: "smp_every_cpu_reports_in",
        run: every_cpu_reports_in,
    },
    Test {
        name: "smp_ipis_reach_each_cpu",
        run: ipis_reach_each_cpu,
    },
    Test {
        name: "smp_lock_is_exact_across_cpus",
        run: lock_is_exact_across_cpus,
    },
];

/// How long a CPU may take to answer one event.
const ANSWER_NS: u64 = 2_000_000_000;

fn now() -> u64 {
    crate::platform().now_ns()
}

/// Wait until `done()` or [`ANSWER_NS`] pass; false on the timeout.
fn wait_until(done: impl Fn() -> bool) -> bool {
    let deadline = now() + ANSWER_NS;
    while !done() {
        if now() > deadline {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// What each CPU said its own number was, from its per-CPU data.
static SAID: [AtomicU64; crate::arch::percpu::MAX_CPUS] =
    [const { AtomicU64::new(u64::MAX) }; crate::arch::percpu::MAX_CPUS];

fn say_my_number() {
    let me = crate::arch::percpu::current();
    SAID[me].store(me as u64, Ordering::Release);
}

fn every_cpu_reports_in() -> TestResult {
    let cmdline = &crate::platform().boot_info().cmdline;
    let offered = smp::offered();
    match cmdline.get("smp.cpus") {
        Some(text) => {
            let host: usize = text
                .parse()
                .map_err(|_| TestError::Fail(format!("smp.cpus={text} is not a number")))?;
            check!(
                offered == host.min(crate::arch::percpu::MAX_CPUS),
                "the host gave {host} CPUs (smp.cpus), the kernel found {offered}"
            );
        }
        None => crate::kprintln!(
            "# no smp.cpus= on the command line: checking the kernel's own count ({offered})"
        ),
    }
    check_eq!(smp::online(), offered);
    for (cpu, said) in SAID.iter().enumerate().take(offered).skip(1) {
        said.store(u64::MAX, Ordering::Release);
        smp::call_on(cpu, say_my_number).map_err(|e| TestError::Fail(format!("cpu {cpu}: {e}")))?;
        check!(
            wait_until(|| said.load(Ordering::Acquire) != u64::MAX),
            "cpu {cpu} never ran the call"
        );
        check_eq!(said.load(Ordering::Acquire), cpu as u64);
    }
    crate::kprintln!("# {offered} CPU(s) online");
    Ok(())
}

fn ipis_reach_each_cpu() -> TestResult {
    const ROUNDS: u64 = 50;
    if smp::online() < 2 {
        skip!("one CPU online: no other CPU to send events to");
    }
    for cpu in 1..smp::online() {
        let before = smp::ipis(cpu);
        let started = now();
        for round in 1..=ROUNDS {
            crate::platform()
                .send_ipi(cpu)
                .map_err(|e| TestError::Fail(format!("send to cpu {cpu}: {e}")))?;
            check!(
                wait_until(|| smp::ipis(cpu) >= before + round),
                "cpu {cpu} handled {} of {round} events",
                smp::ipis(cpu) - before
            );
        }
        crate::kprintln!(
            "# cpu {cpu}: {ROUNDS} events, {} ns each (send and handled)",
            (now() - started) / ROUNDS
        );
        check_eq!(smp::ipis(cpu), before + ROUNDS);
    }
    Ok(())
}

/// Increments per CPU.
const INCREMENTS: u64 = 100_000;
static COUNTER: spin::Mutex<u64> = spin::Mutex::new(0);

fn hammer() {
    for _ in 0..INCREMENTS {
        let mut count = COUNTER.lock();
        // A read and a separate write: without the lock, CPUs interleaving
        // here lose increments.
        let seen = core::hint::black_box(*count);
        *count = seen + 1;
    }
}

fn lock_is_exact_across_cpus() -> TestResult {
    let cpus = smp::online();
    if cpus < 2 {
        skip!("one CPU online: nothing runs at the same time");
    }
    *COUNTER.lock() = 0;
    let before: alloc::vec::Vec<u64> = (0..cpus).map(smp::calls_done).collect();
    let started = now();
    for cpu in 1..cpus {
        smp::call_on(cpu, hammer).map_err(|e| TestError::Fail(format!("cpu {cpu}: {e}")))?;
    }
    crate::arch::irq::without_interrupts(hammer);
    for (cpu, &done_before) in before.iter().enumerate().skip(1) {
        let deadline = now() + 20 * ANSWER_NS;
        while smp::calls_done(cpu) == done_before {
            check!(now() < deadline, "cpu {cpu} never finished its increments");
            core::hint::spin_loop();
        }
    }
    let total = *COUNTER.lock();
    crate::kprintln!(
        "# {cpus} CPUs x {INCREMENTS} locked increments in {} ms",
        (now() - started) / 1_000_000
    );
    check_eq!(total, INCREMENTS * cpus as u64);
    Ok(())
}
