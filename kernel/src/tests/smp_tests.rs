//! The other CPUs: they come up, they answer inter-processor events, and a
//! lock keeps a counter exact while several CPUs increment it at once.
//!
//! The reference for "every CPU" is the host's: the runner puts the number
//! of CPUs it gave the machine on the command line (`smp.cpus=N`: QEMU's
//! `-smp`, xl's `vcpus`), which the kernel's own count (the MADT, Xen's
//! vCPUs) must match. On one CPU the tests that need two say so and skip;
//! the runner runs every column with two CPUs as well.

use crate::harness::{Test, TestError, TestResult};
use crate::platform::PlatformError;
use crate::sched::smp;
use crate::{check, check_eq, skip};
use alloc::format;
use alloc::string::ToString;
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
    Test {
        name: "smp_tlb_shootdown_reaches_every_cpu",
        run: tlb_shootdown_reaches_every_cpu,
    },
    Test {
        name: "smp_hotplug_refuses_boot_cpu_and_unknown",
        run: hotplug_refuses_boot_cpu_and_unknown,
    },
    Test {
        name: "smp_cpu_goes_offline_and_back",
        run: cpu_goes_offline_and_back,
    },
];

/// How long a CPU may take to answer one event.
const ANSWER_NS: u64 = 2_000_000_000;

fn now() -> u64 {
    crate::platform().now_ns()
}

/// Wait until `done()` or [`ANSWER_NS`] pass; false on the timeout.
fn wait_until(done: impl Fn() -> bool) -> bool {
    smp::spin_until(ANSWER_NS, done)
}

/// What each CPU said its own number was, from its per-CPU data.
static SAID: [AtomicU64; crate::arch::percpu::MAX_CPUS] =
    [const { AtomicU64::new(u64::MAX) }; crate::arch::percpu::MAX_CPUS];

fn say_my_number(_: u64) {
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
    for cpu in smp::online_aps() {
        let said = &SAID[cpu];
        said.store(u64::MAX, Ordering::Release);
        smp::call_on(cpu, say_my_number, 0)
            .map_err(|e| TestError::Fail(format!("cpu {cpu}: {e}")))?;
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
    for cpu in smp::online_aps() {
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

fn hammer(_: u64) {
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
    let before: alloc::vec::Vec<(usize, u64)> = smp::online_aps()
        .map(|cpu| (cpu, smp::calls_done(cpu)))
        .collect();
    let started = now();
    for &(cpu, _) in &before {
        smp::call_on(cpu, hammer, 0).map_err(|e| TestError::Fail(format!("cpu {cpu}: {e}")))?;
    }
    crate::arch::irq::without_interrupts(|| hammer(0));
    for &(cpu, done_before) in &before {
        check!(
            smp::spin_until(20 * ANSWER_NS, || smp::calls_done(cpu) != done_before),
            "cpu {cpu} never finished its increments"
        );
    }
    let total = *COUNTER.lock();
    crate::kprintln!(
        "# {cpus} CPUs x {INCREMENTS} locked increments in {} ms",
        (now() - started) / 1_000_000
    );
    check_eq!(total, INCREMENTS * cpus as u64);
    Ok(())
}

/// What each CPU last read through the probe page.
static READ: [AtomicU64; crate::arch::percpu::MAX_CPUS] =
    [const { AtomicU64::new(0) }; crate::arch::percpu::MAX_CPUS];

fn read_probe(virt: u64) {
    // SAFETY: the test maps `virt` to a frame it owns before it asks, and
    // frees neither frame until every CPU has dropped its translation.
    let value = unsafe { core::ptr::read_volatile(virt as *const u64) };
    READ[crate::arch::percpu::current()].store(value, Ordering::Release);
}

/// Every other CPU reads the probe page; how many saw `want`.
fn readers_seeing(virt: u64, want: u64) -> Result<usize, TestError> {
    smp::call_on_others(read_probe, virt, ANSWER_NS)
        .map_err(|e| TestError::Fail(format!("{e}")))?;
    Ok(smp::online_aps()
        .filter(|&cpu| READ[cpu].load(Ordering::Acquire) == want)
        .count())
}

/// The kernel maps a page to frame A, every CPU reads it (and caches the
/// translation), the kernel moves the page to frame B: after a shootdown
/// every CPU must read B. Whether a CPU without it still reads A is said,
/// not checked (a TLB may drop an entry whenever it likes).
fn tlb_shootdown_reaches_every_cpu() -> TestResult {
    use crate::mem::{self, layout::SCRATCH_BASE, paging::Flags};
    const A: u64 = 0xa1a1_a1a1_0000_000a;
    const B: u64 = 0xb2b2_b2b2_0000_000b;
    if smp::online() < 2 {
        skip!("one CPU online: no other TLB to shoot down");
    }
    let others = smp::online() - 1;
    let fail = |what: &str| TestError::Fail(what.to_string());
    let virt = SCRATCH_BASE + 0x50_0000;
    let a = mem::alloc_frame().ok_or_else(|| fail("no frame"))?;
    let b = mem::alloc_frame().ok_or_else(|| fail("no frame"))?;
    // SAFETY: the identity map reaches both frames, which this test owns.
    unsafe {
        core::ptr::write_volatile(a as *mut u64, A);
        core::ptr::write_volatile(b as *mut u64, B);
    }
    let flags = Flags::WRITABLE | Flags::NO_EXECUTE;
    mem::map_page(virt, a, flags).map_err(|e| fail(&format!("map: {e}")))?;
    let result = (|| {
        check_eq!(readers_seeing(virt, A)?, others);
        // Move the page; this CPU's own entry goes, the others' stay.
        mem::unmap_page(virt).map_err(|e| fail(&format!("unmap: {e}")))?;
        mem::map_page(virt, b, flags).map_err(|e| fail(&format!("map: {e}")))?;
        let stale = others - readers_seeing(virt, B)?;
        let took = smp::shootdown_by_ipi(virt).map_err(|e| fail(&format!("{e}")))?;
        let fresh = readers_seeing(virt, B)?;
        crate::kprintln!(
            "# before the shootdown {stale} of {others} CPU(s) still read the old frame; \
             the shootdown by IPIs took {took} ns"
        );
        check_eq!(fresh, others);
        // Back to A, through the platform's own flush where it has one.
        mem::unmap_page(virt).map_err(|e| fail(&format!("unmap: {e}")))?;
        mem::map_page(virt, a, flags).map_err(|e| fail(&format!("map: {e}")))?;
        match smp::shootdown_by_platform(virt) {
            Err(smp::CallError::Flush(PlatformError::Unavailable(_))) => {
                smp::shootdown_by_ipi(virt).map_err(|e| fail(&format!("{e}")))?;
                crate::kprintln!("# no TLB flush through the platform here: IPIs again");
            }
            Err(e) => return Err(fail(&format!("{e}"))),
            Ok(took) => crate::kprintln!("# the flush through the platform took {took} ns"),
        }
        check_eq!(readers_seeing(virt, A)?, others);
        Ok(())
    })();
    // Gone everywhere before the frames go back.
    let _ = mem::unmap_page(virt);
    let _ = smp::shootdown(virt);
    let _ = mem::free_frame(a);
    let _ = mem::free_frame(b);
    result
}

/// What every column must refuse, whether or not it can stop a CPU: the
/// boot CPU going offline, and a CPU the platform never offered.
fn hotplug_refuses_boot_cpu_and_unknown() -> TestResult {
    use crate::sched::hotplug::{self, Change, HotplugError};
    check_eq!(hotplug::set(0, false, "test"), Err(HotplugError::BootCpu));
    check_eq!(hotplug::set(0, true, "test"), Ok(Change::Unchanged));
    let offered = smp::offered();
    check_eq!(
        hotplug::set(offered, false, "test"),
        Err(HotplugError::NotOffered {
            cpu: offered,
            offered
        })
    );
    check!(smp::is_online(0), "cpu 0 left service");
    Ok(())
}

/// Set to let [`held_thread`] end.
static RELEASE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

extern "C" fn held_thread(_: u64) -> ! {
    crate::platform().interrupts_enable();
    smp::spin_until(20 * ANSWER_NS, || RELEASE.load(Ordering::Acquire));
    crate::sched::exit()
}

/// A thread stays on its CPU for life: a CPU running one is not taken
/// offline (every column: the refusal comes before the platform is asked).
fn stays_while_it_has_a_thread() -> TestResult {
    use crate::sched::hotplug::{self, HotplugError};
    use crate::sched::{self, Place};
    RELEASE.store(false, Ordering::Release);
    sched::spawn_on(Place::Cpu(1), "held", held_thread, 0, None)
        .map_err(|e| TestError::Fail(format!("a thread on cpu 1: {e}")))?;
    let refused = hotplug::set(1, false, "test");
    RELEASE.store(true, Ordering::Release);
    let gone = wait_until(|| sched::load(1) == 0);
    check_eq!(refused, Err(HotplugError::HasThreads(1)));
    check!(gone, "the thread on cpu 1 did not end");
    check!(smp::is_online(1), "cpu 1 left service with a thread");
    Ok(())
}

/// CPU 1 offline through the core's policy (as the host's request takes
/// it), then back: meanwhile it is out of every walk over the CPUs and a
/// call to it is refused; afterwards it runs calls and answers events
/// again. Skipped, saying why, where the platform cannot stop a CPU
/// (natively) or there is no CPU 1.
fn cpu_goes_offline_and_back() -> TestResult {
    use crate::platform::PlatformError;
    use crate::sched::hotplug::{self, Change, HotplugError};
    if !smp::is_online(1) {
        skip!("no cpu 1 online");
    }
    stays_while_it_has_a_thread()?;
    let before = smp::online();
    match hotplug::set(1, false, "test") {
        Ok(Change::Done { us }) => crate::kprintln!("# cpu 1 offline in {us} us"),
        Err(HotplugError::Platform(
            e @ (PlatformError::Unavailable(_) | PlatformError::Unsupported(_)),
        )) => skip!("this platform cannot stop a CPU: {e}"),
        other => return Err(TestError::Fail(format!("cpu 1 offline: {other:?}"))),
    }
    let offline = (|| {
        check!(!smp::is_online(1), "cpu 1 still counted online");
        check_eq!(smp::online(), before - 1);
        check!(
            smp::online_cpus().all(|cpu| cpu != 1),
            "cpu 1 still walked over"
        );
        check!(
            smp::call_on(1, say_my_number, 0).is_err(),
            "a call to cpu 1 was sent"
        );
        check_eq!(hotplug::set(1, false, "test"), Ok(Change::Unchanged));
        Ok(())
    })();
    let back = hotplug::set(1, true, "test");
    offline?;
    match back {
        Ok(Change::Done { us }) => crate::kprintln!("# cpu 1 online again in {us} us"),
        other => return Err(TestError::Fail(format!("cpu 1 online: {other:?}"))),
    }
    check!(smp::is_online(1), "cpu 1 not counted online");
    check_eq!(smp::online(), before);
    check_eq!(hotplug::set(1, true, "test"), Ok(Change::Unchanged));
    // It works again: runs a call, and handles events.
    SAID[1].store(u64::MAX, Ordering::Release);
    smp::call_on(1, say_my_number, 0).map_err(|e| TestError::Fail(format!("cpu 1: {e}")))?;
    check!(
        wait_until(|| SAID[1].load(Ordering::Acquire) == 1),
        "cpu 1 did not run a call after coming back"
    );
    let ipis = smp::ipis(1);
    for round in 1..=10 {
        crate::platform()
            .send_ipi(1)
            .map_err(|e| TestError::Fail(format!("send to cpu 1: {e}")))?;
        check!(
            wait_until(|| smp::ipis(1) >= ipis + round),
            "cpu 1 handled {} of {round} events after coming back",
            smp::ipis(1) - ipis
        );
    }
    Ok(())
}
