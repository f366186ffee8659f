//! The paravirtual operations next to the emulated ones they replace, where
//! Xen still emulates the latter for a PVH guest, grouped in pairs:
//!
//! | pair         | emulated (trap and emulate)     | paravirtual                      |
//! |--------------|---------------------------------|----------------------------------|
//! | `timer_arm`  | local APIC timer initial count  | `VCPUOP_set_singleshot_timer`    |
//! | `time_read`  | CPUID (an exit, as a timer read would be) | pvclock from shared_info |
//! | `transition` | CPUID leaf 0                    | `xen_version(XENVER_version)`    |
//! | `batching`   | 16 separate null hypercalls     | one multicall of 16              |
//!
//! A PVH guest has no emulated PIT, HPET or PM timer left to read, so the
//! `time_read` pair sets pvclock against the cheapest exit there is.

use crate::abi::{self, MulticallEntry};
use crate::hypercall::{self, XenError};
use crate::platform::PLATFORM;
use crate::{lapic, time, vcpu};
use core::hint::black_box;
use virtus_kernel::bench::{Bench, BenchError, Role, Samples, sample};

pub const BENCHES: &[Bench] = &[
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
        name: "cpuid_exit_time",
        what: "CPUID leaf 0: always an exit to Xen",
        pair: Some("time_read"),
        role: Role::Emulated,
        max_iters: 2000,
        run: cpuid_leaf0,
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
        name: "null_hypercall",
        what: "xen_version(XENVER_version): the cheapest hypercall",
        pair: Some("transition"),
        role: Role::Pv,
        max_iters: 2000,
        run: null_hypercall,
    },
    Bench {
        name: "cpuid_exit_transition",
        what: "CPUID leaf 0: always an exit to Xen",
        pair: Some("transition"),
        role: Role::Emulated,
        max_iters: 2000,
        run: cpuid_leaf0,
    },
    Bench {
        name: "hypercalls_x16",
        what: "16 separate xen_version hypercalls",
        pair: Some("batching"),
        role: Role::Neither,
        max_iters: 1000,
        run: hypercalls_x16,
    },
    Bench {
        name: "multicall_x16",
        what: "one multicall of 16 xen_version entries",
        pair: Some("batching"),
        role: Role::Pv,
        max_iters: 1000,
        run: multicall_x16,
    },
];

fn xen_failed(what: &str, e: XenError) -> BenchError {
    alloc::format!("{what}: {e}")
}

fn lapic_timer_arm(iters: u32) -> Result<Samples, BenchError> {
    if lapic::mode().is_none() {
        return Err("the local APIC is not enabled".into());
    }
    let saved = lapic::lvt_timer();
    // One-shot mode (bits 17-18 clear), masked: it counts, never fires.
    lapic::set_lvt_timer((saved & !(0b11 << 17)) | lapic::LVT_MASKED);
    let samples = sample(
        iters,
        || lapic::set_timer_initial_count(u32::MAX),
        || lapic::set_timer_initial_count(0),
    );
    lapic::set_lvt_timer(saved);
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

fn hypercalls_x16(iters: u32) -> Result<Samples, BenchError> {
    null_hypercall(1)?;
    Ok(sample(
        iters,
        || {
            for _ in 0..16 {
                black_box(hypercall::xen_version());
            }
        },
        || {},
    ))
}

fn multicall_x16(iters: u32) -> Result<Samples, BenchError> {
    let entry = MulticallEntry {
        op: u64::from(abi::HYPERVISOR_XEN_VERSION),
        result: 0,
        args: [abi::XENVER_VERSION, 0, 0, 0, 0, 0],
    };
    let mut entries = [entry; 16];
    let call = |entries: &mut [MulticallEntry; 16]| {
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
