//! The native backend's benchmarks: single device accesses. Natively they
//! reach the device (QEMU's model of it); the very same image under Xen HVM
//! pays a trap and an emulation for each, which is the `emulated` side of
//! the pairs that virtus-pv measures with hypercalls. The clock read here is
//! the ACPI PM timer (a port read); CPUID reads no time and is only the
//! cheapest exit (`transition`).

use crate::cpu;
use crate::platform::PLATFORM;
use crate::port::Port32;
use crate::tsc;
use core::hint::black_box;
use virtus_kernel::bench::{Bench, BenchError, Role, Samples, sample};

pub const BENCHES: &[Bench] = &[
    Bench {
        name: "uart_byte",
        what: "write one byte to the 16550 transmit register (after polling LSR)",
        pair: None,
        role: Role::Emulated,
        max_iters: 2000,
        run: uart_byte,
    },
    Bench {
        name: "lapic_timer_arm",
        what: "arm the local APIC timer 10 s ahead, LVT masked (TSC-deadline MSR or initial count)",
        pair: Some("timer_arm"),
        role: Role::Emulated,
        max_iters: 2000,
        run: lapic_timer_arm,
    },
    Bench {
        name: "pm_timer_read",
        what: "read the ACPI PM timer (one port read)",
        pair: Some("time_read"),
        role: Role::Emulated,
        max_iters: 2000,
        run: pm_timer_read,
    },
    Bench {
        name: "cpuid_exit",
        what: "CPUID leaf 0 (an exit under any hypervisor; reads no time)",
        pair: Some("transition"),
        role: Role::Emulated,
        max_iters: 2000,
        run: cpuid_leaf0,
    },
];

fn uart_byte(iters: u32) -> Result<Samples, BenchError> {
    let uart = &PLATFORM.uart;
    // One comment line of dots, which host parsers skip.
    uart.write(b"# ");
    let samples = sample(iters, || uart.write_byte(b'.'), || {});
    uart.write(b"\n");
    Ok(samples)
}

fn lapic_timer_arm(iters: u32) -> Result<Samples, BenchError> {
    let apic = PLATFORM.apic.get().ok_or("the local APIC is not up")?;
    let delay_ns = 10 * virtus_kernel::time::NS_PER_SEC;
    let deadline = tsc::ns_to_tsc(tsc::now_ns() + delay_ns);
    Ok(apic
        .with_timer_masked(|apic| sample(iters, || apic.arm(deadline, delay_ns), || apic.disarm())))
}

fn pm_timer_read(iters: u32) -> Result<Samples, BenchError> {
    let timer = PLATFORM
        .acpi
        .get()
        .and_then(|a| a.as_ref())
        .and_then(|a| a.pm_timer())
        .ok_or("no ACPI PM timer")?;
    // SAFETY: the port is the FADT's PM_TMR_BLK; reading the PM timer has
    // no side effects.
    let port = unsafe { Port32::new(timer.port) };
    Ok(sample(
        iters,
        || {
            let _ = black_box(port.read());
        },
        || {},
    ))
}

fn cpuid_leaf0(iters: u32) -> Result<Samples, BenchError> {
    Ok(sample(
        iters,
        || {
            let _ = black_box(cpu::cpuid(0, 0));
        },
        || {},
    ))
}
