//! The paravirtual operations next to the emulated ones they replace, where
//! Xen still emulates the latter for a PVH guest, grouped in pairs:
//!
//! | pair           | baseline (trap and emulate, or unbatched) | paravirtual                   |
//! |----------------|-------------------------------------------|-------------------------------|
//! | `timer_arm`    | local APIC timer initial count            | `VCPUOP_set_singleshot_timer` |
//! | `time_read`    | local APIC timer current count            | pvclock from shared_info      |
//! | `transition`   | CPUID leaf 0                              | `xen_version(XENVER_version)` |
//! | `batching_xN`  | N separate null hypercalls                | one multicall of N            |
//!
//! Unpaired: `grant_cycle`, a grant and its end on the grant table (shared
//! memory only; nothing emulated does the same); `smp_tlb_flush_by_xen`,
//! `HVMOP_flush_tlbs` (set against the core's IPI shootdown in the SMP
//! rows); `balloon_release` and
//! `balloon_reclaim`, 64 pages given back to Xen or taken again.
//!
//! A PVH guest has no emulated PIT, HPET or ACPI PM timer: the local APIC
//! timer's current-count register is the one trapped clock it can read, so
//! `time_read` sets pvclock against it. CPUID reads no time; it stays only
//! as the cheapest exit, against the cheapest hypercall (`transition`).
//! `batching_xN` runs for N = 1, 2, 4, ..., 64, so the report can show the
//! cost per operation against N. `xenstore_read` stands alone: one round
//! trip to xenstored in dom0, the cost of every split-driver handshake.

use crate::abi::{self, MulticallEntry};
use crate::hypercall::{self, XenError};
use crate::platform::PLATFORM;
use crate::{hvm, lapic, time, vcpu};
use alloc::vec::Vec;
use core::hint::black_box;
use virtus_kernel::bench::{Bench, BenchError, Role, Samples, sample};

/// `hypercalls_xN` and `multicall_xN` for each N, as the pair `batching_xN`.
macro_rules! batching {
    ($($n:literal),*) => {
        [$(
            Bench {
                name: concat!("hypercalls_x", stringify!($n)),
                what: concat!(stringify!($n), " separate xen_version hypercalls"),
                pair: Some(concat!("batching_x", stringify!($n))),
                role: Role::Neither,
                max_iters: 1000,
                run: hypercalls::<$n>,
            },
            Bench {
                name: concat!("multicall_x", stringify!($n)),
                what: concat!("one multicall of ", stringify!($n), " xen_version entries"),
                pair: Some(concat!("batching_x", stringify!($n))),
                role: Role::Pv,
                max_iters: 1000,
                run: multicall::<$n>,
            },
        )*]
    };
}

const BATCHING: [Bench; 14] = batching!(1, 2, 4, 8, 16, 32, 64);

const PAIRS: [Bench; 6] = [
    Bench {
        name: "lapic_timer_arm",
        what: "start the emulated local APIC timer (initial count), LVT masked",
        pair: Some("timer_arm"),
        role: Role::Emulated,
        max_iters: 2000,
        run: lapic_timer_arm,
    },
    Bench {
        name: "singleshot_timer_arm",
        what: "VCPUOP_set_singleshot_timer 10 s ahead (stopped untimed)",
        pair: Some("timer_arm"),
        role: Role::Pv,
        max_iters: 2000,
        run: singleshot_timer_arm,
    },
    Bench {
        name: "lapic_timer_read",
        what: "read the running local APIC timer's current count (an emulated clock read)",
        pair: Some("time_read"),
        role: Role::Emulated,
        max_iters: 2000,
        run: lapic_timer_read,
    },
    Bench {
        name: "pvclock_read",
        what: "Xen system time from vcpu_time_info (RDTSC and scaling, no exit)",
        pair: Some("time_read"),
        role: Role::Pv,
        max_iters: 2000,
        run: pvclock_read,
    },
    Bench {
        name: "cpuid_exit",
        what: "CPUID leaf 0: always an exit to Xen, the cheapest there is",
        pair: Some("transition"),
        role: Role::Emulated,
        max_iters: 2000,
        run: cpuid_leaf0,
    },
    Bench {
        name: "null_hypercall",
        what: "xen_version(XENVER_version): the cheapest hypercall",
        pair: Some("transition"),
        role: Role::Pv,
        max_iters: 2000,
        run: null_hypercall,
    },
];

/// Paravirtual operations with no emulated counterpart.
const SOLO: [Bench; 3] = [
    Bench {
        name: "grant_cycle",
        what: "grant_access then end_access of one page to dom0, nobody mapping it",
        pair: None,
        role: Role::Pv,
        max_iters: 2000,
        run: grant_cycle,
    },
    Bench {
        name: "xenstore_read",
        what: "xenstore read of a small key (domid): ring, event channel, xenstored in dom0, reply",
        pair: None,
        role: Role::Pv,
        max_iters: 200,
        run: xenstore_read,
    },
    Bench {
        name: "smp_tlb_flush_by_xen",
        what: "HVMOP_flush_tlbs: every vCPU's whole TLB through Xen, no event to any vCPU \
               (the paravirtual shootdown; against smp_tlb_shootdown's IPIs)",
        pair: None,
        role: Role::Pv,
        max_iters: 2000,
        run: tlb_flush_by_xen,
    },
];

/// The balloon's rate: what giving memory back and taking it again cost.
const BALLOON: [Bench; 2] = [
    Bench {
        name: "balloon_release",
        what: "give 256 KiB (64 free pages) back to Xen through the core's balloon \
               (XENMEM_decrease_reservation); reclaimed untimed",
        pair: None,
        role: Role::Pv,
        max_iters: 200,
        run: balloon_release,
    },
    Bench {
        name: "balloon_reclaim",
        what: "take 256 KiB (64 pages) back from Xen through the core's balloon \
               (XENMEM_populate_physmap); released again untimed",
        pair: None,
        role: Role::Pv,
        max_iters: 200,
        run: balloon_reclaim,
    },
];

/// The pairs, then the batching sweep, then the unpaired ones, then the
/// balloon.
pub static BENCHES: [Bench; 25] = {
    let mut all = [PAIRS[0]; 25];
    let mut i = 0;
    while i < PAIRS.len() {
        all[i] = PAIRS[i];
        i += 1;
    }
    while i < PAIRS.len() + BATCHING.len() {
        all[i] = BATCHING[i - PAIRS.len()];
        i += 1;
    }
    while i < PAIRS.len() + BATCHING.len() + SOLO.len() {
        all[i] = SOLO[i - PAIRS.len() - BATCHING.len()];
        i += 1;
    }
    while i < all.len() {
        all[i] = BALLOON[i - PAIRS.len() - BATCHING.len() - SOLO.len()];
        i += 1;
    }
    all
};

fn tlb_flush_by_xen(iters: u32) -> Result<Samples, BenchError> {
    // One untimed call first: a refusal is reported, not measured.
    hvm::flush_tlbs().map_err(|e| xen_failed("HVMOP_flush_tlbs", e))?;
    Ok(sample(
        iters,
        || {
            let _ = black_box(hvm::flush_tlbs());
        },
        || {},
    ))
}

fn xen_failed(what: &str, e: XenError) -> BenchError {
    alloc::format!("{what}: {e}")
}

/// Run `f` with the local APIC timer in one-shot mode and masked: it
/// counts, but never raises an interrupt. The LVT entry is restored after.
fn with_apic_timer_masked<T>(f: impl FnOnce() -> T) -> Result<T, BenchError> {
    if lapic::mode().is_none() {
        return Err("the local APIC is not enabled".into());
    }
    let saved = lapic::lvt_timer();
    // One-shot mode (bits 17-18 clear), masked.
    lapic::set_lvt_timer((saved & !(0b11 << 17)) | lapic::LVT_MASKED);
    let result = f();
    lapic::set_timer_initial_count(0);
    lapic::set_lvt_timer(saved);
    Ok(result)
}

fn lapic_timer_arm(iters: u32) -> Result<Samples, BenchError> {
    with_apic_timer_masked(|| {
        sample(
            iters,
            || lapic::set_timer_initial_count(u32::MAX),
            || lapic::set_timer_initial_count(0),
        )
    })
}

fn lapic_timer_read(iters: u32) -> Result<Samples, BenchError> {
    let (samples, first, last) = with_apic_timer_masked(|| {
        // The longest count: at any emulated APIC bus rate it runs for
        // seconds, far longer than the benchmark.
        lapic::set_timer_initial_count(u32::MAX);
        let first = lapic::timer_current_count();
        let mut last = first;
        let samples = sample(
            iters,
            || last = black_box(lapic::timer_current_count()),
            || {},
        );
        (samples, first, last)
    })?;
    // A read that returned a constant would be no clock read at all.
    if last >= first {
        return Err(alloc::format!(
            "the APIC timer's current count did not count down ({first} then {last})"
        ));
    }
    Ok(samples)
}

fn singleshot_timer_arm(iters: u32) -> Result<Samples, BenchError> {
    let deadline = PLATFORM.system_ns() + 10 * virtus_kernel::time::NS_PER_SEC;
    vcpu::set_singleshot_timer(0, deadline)
        .map_err(|e| xen_failed("VCPUOP_set_singleshot_timer", e))?;
    Ok(sample(
        iters,
        || {
            let _ = black_box(vcpu::set_singleshot_timer(0, deadline));
        },
        || {
            let _ = vcpu::stop_singleshot_timer(0);
        },
    ))
}

fn cpuid_leaf0(iters: u32) -> Result<Samples, BenchError> {
    Ok(sample(
        iters,
        || {
            let _ = black_box(core::arch::x86_64::__cpuid(0));
        },
        || {},
    ))
}

fn pvclock_read(iters: u32) -> Result<Samples, BenchError> {
    let shared = PLATFORM.shared.get().ok_or("shared_info is not mapped")?;
    Ok(sample(
        iters,
        || {
            let _ = black_box(time::system_time_ns(shared));
        },
        || {},
    ))
}

fn null_hypercall(iters: u32) -> Result<Samples, BenchError> {
    if hypercall::xen_version() == (0, 0) {
        return Err("xen_version(XENVER_version) failed".into());
    }
    Ok(sample(
        iters,
        || {
            let _ = black_box(hypercall::xen_version());
        },
        || {},
    ))
}

fn hypercalls<const N: usize>(iters: u32) -> Result<Samples, BenchError> {
    null_hypercall(1)?;
    Ok(sample(
        iters,
        || {
            for _ in 0..N {
                black_box(hypercall::xen_version());
            }
        },
        || {},
    ))
}

fn multicall<const N: usize>(iters: u32) -> Result<Samples, BenchError> {
    let entry = MulticallEntry {
        op: u64::from(abi::HYPERVISOR_XEN_VERSION),
        result: 0,
        args: [abi::XENVER_VERSION, 0, 0, 0, 0, 0],
    };
    // On the heap: 64 entries are 4 KiB, more than a stack frame should hold.
    let mut entries: Vec<MulticallEntry> = alloc::vec![entry; N];
    let call = |entries: &mut [MulticallEntry]| {
        // SAFETY: every entry is xen_version(XENVER_version, NULL), which
        // takes no buffer.
        unsafe { hypercall::multicall(entries) }
    };
    call(&mut entries).map_err(|e| xen_failed("multicall", e))?;
    let version = hypercall::xen_version();
    let expected = (u64::from(version.0) << 16) | u64::from(version.1);
    if let Some(bad) = entries.iter().find(|e| e.result != expected) {
        return Err(alloc::format!(
            "a multicall entry returned {:#x}, xen_version gives {expected:#x}",
            bad.result
        ));
    }
    Ok(sample(
        iters,
        || {
            let _ = black_box(call(&mut entries));
        },
        || {},
    ))
}

/// A grant and its end, on a table already mapped: two writes, a barrier
/// and a compare-and-exchange on shared memory, plus the free list and its
/// lock; no hypercall.
fn grant_cycle(iters: u32) -> Result<Samples, BenchError> {
    let page = virtus_kernel::mem::alloc_frame().ok_or("no free frame")?;
    let cycle = || crate::grant::grant_access(0, page, true).and_then(crate::grant::end_access);
    // The first use maps the table: not part of the cycle.
    cycle().map_err(|e| alloc::format!("grant cycle: {e}"))?;
    let mut failures = 0u32;
    let samples = sample(
        iters,
        || {
            if black_box(cycle()).is_err() {
                failures += 1;
            }
        },
        || {},
    );
    let _ = virtus_kernel::mem::free_frame(page);
    if failures > 0 {
        return Err(alloc::format!("{failures} of {iters} grant cycles failed"));
    }
    Ok(samples)
}

/// One round trip to xenstored, checked each time: no pair.
fn xenstore_read(iters: u32) -> Result<Samples, BenchError> {
    crate::xenstore::with_client(|c| {
        // The first read connects and says what every later one must give.
        let expected = c.read("domid")?;
        let mut failure = None;
        let samples = sample(
            iters,
            || match c.read("domid") {
                Ok(v) if v == expected => {}
                other => failure = Some(alloc::format!("read domid gave {other:?}")),
            },
            || {},
        );
        Ok(failure.map_or(Ok(samples), Err))
    })
    .map_err(|e| alloc::format!("xenstore: {e}"))?
}

/// Pages per balloon iteration: small enough that a 4 MiB domain (the
/// suite's memory floor) still has them above the balloon's floor, and
/// that `bench_all_run` (every benchmark, 4 iterations, 5 s watchdog) stays
/// short on the nested bed, where a page given back costs about 0.2 ms.
/// The host turns the median into MiB/s: 0.25 MiB per iteration.
const BALLOON_PAGES: u64 = 64;

/// One balloon move of [`BALLOON_PAGES`], or why it fell short.
fn balloon_move(release: bool) -> Result<(), BenchError> {
    use virtus_kernel::mem::balloon;
    let platform = virtus_kernel::platform();
    let moved = if release {
        balloon::release(platform, BALLOON_PAGES)
    } else {
        balloon::reclaim(platform, BALLOON_PAGES)
    };
    if moved.frames == BALLOON_PAGES {
        return Ok(());
    }
    let what = if release { "released" } else { "reclaimed" };
    Err(alloc::format!(
        "{what} {} of {BALLOON_PAGES} pages: {}",
        moved.frames,
        moved
            .stop
            .map_or(alloc::string::String::new(), |s| alloc::format!("{s}"))
    ))
}

/// Timed moves, each undone untimed; the first failure ends the run.
/// Whatever happens, the balloon ends the size it started.
fn balloon_cycle(iters: u32, release: bool) -> Result<Samples, BenchError> {
    use virtus_kernel::mem::balloon;
    let start = balloon::released_frames();
    // Both closures record a failure: a cell, not two mutable borrows.
    let failure = core::cell::RefCell::new(if release {
        None
    } else {
        balloon_move(true).err()
    });
    let step = |release: bool| {
        let mut failure = failure.borrow_mut();
        if failure.is_none() {
            *failure = balloon_move(release).err();
        }
    };
    let samples = sample(iters, || step(release), || step(!release));
    let mut failure = failure.into_inner();
    let extra = balloon::released_frames().saturating_sub(start);
    if extra > 0 {
        let back = balloon::reclaim(virtus_kernel::platform(), extra);
        if back.frames != extra && failure.is_none() {
            failure = Some(alloc::format!(
                "could not take back {extra} pages after the run"
            ));
        }
    }
    failure.map_or(Ok(samples), Err)
}

fn balloon_release(iters: u32) -> Result<Samples, BenchError> {
    balloon_cycle(iters, true)
}

fn balloon_reclaim(iters: u32) -> Result<Samples, BenchError> {
    balloon_cycle(iters, false)
}
