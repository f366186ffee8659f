//! Tests of the native backend's devices, run after the core's tests.

use crate::lapic::TimerMode;
use crate::platform::{PLATFORM, vectors};
use crate::{cpu, pit, pm_timer, tsc};
use virtus_kernel::harness::{Test, TestError, TestResult};
use virtus_kernel::time::{self, NS_PER_MS};
use virtus_kernel::{check, check_eq, skip};

pub const TESTS: &[Test] = &[
    Test {
        name: "native_uart_loopback_input",
        run: uart_loopback_input,
    },
    Test {
        name: "native_tsc_rate_vs_pit",
        run: tsc_rate_vs_pit,
    },
    Test {
        name: "native_tsc_rate_vs_acpi_pm_timer",
        run: tsc_rate_vs_pm_timer,
    },
    Test {
        name: "native_acpi_tables",
        run: acpi_tables,
    },
    Test {
        name: "native_apic_mode_matches_cpuid",
        run: apic_mode,
    },
    Test {
        name: "native_ioapic_routes_uart",
        run: ioapic_routes_uart,
    },
];

fn uart_loopback_input() -> TestResult {
    let uart = &PLATFORM.uart;
    let mut drain = [0u8; 64];
    while PLATFORM.uart.read(&mut drain) > 0 {}
    let message = b"virtus";
    // In loopback the transmitter feeds the receiver: the bytes must come
    // back through the IOAPIC-routed receive interrupt into the input ring.
    // Interrupts stay on; nothing else prints while the test runs.
    uart.set_loopback(true);
    for &b in message {
        uart.write_byte(b);
    }
    let deadline = time::now_ns() + 500 * NS_PER_MS;
    let mut got = [0u8; 16];
    let mut len = 0;
    while len < message.len() && time::now_ns() < deadline {
        len += virtus_kernel::platform().console_read(&mut got[len..]);
        core::hint::spin_loop();
    }
    uart.set_loopback(false);
    check_eq!(&got[..len], &message[..]);
    Ok(())
}

fn rate_check(reference_ns: u64, measured_ns: u64, what: &str) -> TestResult {
    // 5% tolerance: both clocks are exact on hardware; emulation jitters.
    let lo = reference_ns * 95 / 100;
    let hi = reference_ns * 105 / 100;
    check!(
        measured_ns >= lo && measured_ns <= hi,
        "clock advanced {measured_ns} ns over {reference_ns} ns of {what}"
    );
    Ok(())
}

fn tsc_rate_vs_pit() -> TestResult {
    // 200 ms: the wait ends one PIT poll after the count expires, and under
    // trap-and-emulate (a Xen HVM guest) one poll is a trapped port read
    // costing up to milliseconds. Over 50 ms that lag alone reached 6 %.
    // Best of three: a host that deschedules the emulator mid-wait only ever
    // makes one attempt look slow or fast, while a clock running at the wrong
    // rate fails all three.
    let mut closest = u64::MAX;
    for _ in 0..3 {
        let start = time::now_ns();
        pit::busy_wait_us(200_000);
        let measured = time::now_ns() - start;
        if measured.abs_diff(200 * NS_PER_MS) < closest.abs_diff(200 * NS_PER_MS) {
            closest = measured;
        }
    }
    rate_check(200 * NS_PER_MS, closest, "PIT time")
}

fn tsc_rate_vs_pm_timer() -> TestResult {
    let Some(Some(acpi)) = PLATFORM.acpi.get() else {
        skip!("no ACPI tables");
    };
    let Some(timer) = acpi.pm_timer() else {
        skip!("FADT has no PM timer");
    };
    // SAFETY: the port comes from the validated FADT; reading the PM timer
    // has no side effects.
    let hz = unsafe { pm_timer::pm_timer_measure_tsc_hz(timer.port, timer.width32, 50) };
    let known = tsc::frequency();
    check!(hz > 0, "PM timer measurement failed");
    check!(
        hz.abs_diff(known) < known / 20,
        "TSC {known} Hz by PIT, {hz} Hz by the ACPI PM timer"
    );
    Ok(())
}

fn acpi_tables() -> TestResult {
    let Some(Some(acpi)) = PLATFORM.acpi.get() else {
        return Err(TestError::Fail(
            "no ACPI tables found (QEMU and Xen HVM both provide them)".into(),
        ));
    };
    check!(
        acpi.ioapic_for_gsi(4).is_some(),
        "MADT lists no IOAPIC for GSI 4"
    );
    check!(
        acpi.s5().is_ok(),
        "no \\_S5 sleep type in the DSDT: ACPI power-off impossible"
    );
    Ok(())
}

fn apic_mode() -> TestResult {
    let f = cpu::features();
    let apic = PLATFORM
        .apic
        .get()
        .ok_or_else(|| TestError::Fail("APIC not up".into()))?;
    check_eq!(apic.is_x2apic(), f.x2apic);
    check_eq!(apic.timer_mode() == TimerMode::TscDeadline, f.tsc_deadline);
    if let TimerMode::OneShot { ticks_per_sec } = apic.timer_mode() {
        check!(
            ticks_per_sec > 1_000,
            "APIC timer measured at {ticks_per_sec} Hz"
        );
    }
    Ok(())
}

fn ioapic_routes_uart() -> TestResult {
    let ioapic = PLATFORM
        .ioapic
        .get()
        .ok_or_else(|| TestError::Fail("IOAPIC not up".into()))?;
    let gsi = *PLATFORM
        .uart_gsi
        .get()
        .ok_or_else(|| TestError::Fail("UART not routed".into()))?;
    let (vector, masked) = ioapic
        .entry(gsi)
        .map_err(|e| TestError::Fail(alloc::format!("{e:?}")))?;
    check_eq!(vector, vectors::UART);
    check!(!masked, "UART GSI {gsi} is masked");
    Ok(())
}
