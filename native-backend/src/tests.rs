//! Tests of the native backend's devices, run after the core's tests.

use crate::lapic::TimerMode;
use crate::platform::{PLATFORM, vectors};
use crate::port::Port16;
use crate::power_button::{self, PWRBTN, PowerButton, SCI_EN};
use crate::{cpu, pci, pm_timer, rtc, tsc};
use alloc::vec::Vec;
use virtus_kernel::arch::irq::without_interrupts;
use virtus_kernel::harness::{Test, TestError, TestResult};
use virtus_kernel::time::{self, NS_PER_MS, NS_PER_SEC};
use virtus_kernel::{check, check_eq, skip};

pub const TESTS: &[Test] = &[
    Test {
        name: "native_uart_loopback_input",
        run: uart_loopback_input,
    },
    Test {
        name: "native_clock_vs_rtc",
        run: clock_vs_rtc,
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
        name: "native_apic_state_in_hardware",
        run: apic_state_in_hardware,
    },
    Test {
        name: "native_apic_timer_rate_vs_acpi_pm_timer",
        run: apic_timer_rate_vs_pm_timer,
    },
    Test {
        name: "native_ioapic_routes_uart",
        run: ioapic_routes_uart,
    },
    Test {
        name: "native_power_button_armed_in_hardware",
        run: power_button_armed_in_hardware,
    },
    Test {
        name: "native_sci_routed_per_fadt_and_madt",
        run: sci_routed_per_fadt_and_madt,
    },
    Test {
        name: "native_sci_spurious_counted_not_a_press",
        run: sci_spurious_counted_not_a_press,
    },
    Test {
        name: "native_pci_host_bridge_per_acpi_chipset",
        run: pci_host_bridge_per_acpi_chipset,
    },
    Test {
        name: "native_pci_ahci_per_acpi_chipset",
        run: pci_ahci_per_acpi_chipset,
    },
    Test {
        name: "native_pci_bar_sizing_restores_state",
        run: pci_bar_sizing_restores_state,
    },
    Test {
        name: "native_pci_enumeration_vs_brute_force",
        run: pci_enumeration_vs_brute_force,
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

/// One change of the RTC's seconds, bracketed by the kernel clock: it came
/// after `after` (the start of the last read that still showed the old
/// value) and by `by` (the end of the first read that showed the new one).
#[derive(Clone, Copy)]
struct RtcEdge {
    after: u64,
    by: u64,
}

impl RtcEdge {
    fn mid(self) -> u64 {
        self.after + (self.by - self.after) / 2
    }
    fn width(self) -> u64 {
        self.by - self.after
    }
}

/// The next change of the RTC's seconds, or `None` if none came before the
/// kernel clock reached `give_up_ns`.
fn next_rtc_edge(rtc: &rtc::Rtc, give_up_ns: u64) -> Option<RtcEdge> {
    let mut last: Option<(u8, u64)> = None;
    loop {
        let before = time::now_ns();
        let seconds = rtc.seconds();
        let after = time::now_ns();
        if let Some(seconds) = seconds {
            match last {
                Some((old, old_read)) if old != seconds => {
                    return Some(RtcEdge {
                        after: old_read,
                        by: after,
                    });
                }
                _ => last = Some((seconds, before)),
            }
        }
        if after > give_up_ns {
            return None;
        }
        core::hint::spin_loop();
    }
}

/// The kernel clock (the TSC, calibrated with the PIT) against whole
/// seconds of the CMOS RTC, the one clock of the machine that nothing
/// calibrated anything with (see `rtc`). Replaces the check against the
/// PIT itself, which could only repeat the calibration.
///
/// Each change of the seconds is bracketed, since a host that deschedules
/// the emulator around one makes it look late by as long (40 ms was seen):
/// the bracket widens, the estimate does not move. If the first two
/// changes leave more than 1 % open, a third one is taken and the pair
/// with the narrowest brackets per second wins.
fn clock_vs_rtc() -> TestResult {
    // SAFETY: every PC has the CMOS RTC at 0x70/0x71 and nothing else in
    // the kernel uses the CMOS.
    let rtc = unsafe { rtc::Rtc::new() };
    // Three changes take at most 3 s; 4 s of the kernel clock (within the
    // watchdog's 5) is ample unless one of the two clocks is badly wrong.
    let give_up = time::now_ns() + 4 * NS_PER_SEC;
    let mut edges = Vec::new();
    while edges.len() < 3 {
        let Some(edge) = next_rtc_edge(&rtc, give_up) else {
            break;
        };
        edges.push(edge);
        if let [a, b] = edges[..]
            && a.width() + b.width() < NS_PER_SEC / 50
        {
            break;
        }
    }
    let best = (0..edges.len())
        .flat_map(|i| (i + 1..edges.len()).map(move |j| (i, j)))
        .min_by_key(|&(i, j)| (edges[i].width() + edges[j].width()) / (j - i) as u64);
    let Some((i, j)) = best else {
        return Err(TestError::Fail(alloc::format!(
            "the RTC's seconds changed {} times within 4 s of the kernel clock: \
             one of the two clocks is wrong (or there is no RTC)",
            edges.len()
        )));
    };
    let (first, last) = (edges[i], edges[j]);
    let span = (j - i) as u64 * NS_PER_SEC;
    let measured = last.mid() - first.mid();
    // 1 %, plus half of what the two brackets leave open.
    let slack = span / 100 + (first.width() + last.width()) / 2;
    check!(
        measured.abs_diff(span) <= slack,
        "the kernel clock advanced {measured} ns over {span} ns of RTC time \
         (brackets {} and {} ns)",
        first.width(),
        last.width()
    );
    Ok(())
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

/// The local APIC as the processor holds it, against what the kernel
/// believes: IA32_APIC_BASE's enable and x2APIC bits, a register read
/// through the access path the kernel uses (MSRs or the xAPIC page) that
/// only a real local APIC answers that way, and the APIC ID against the one
/// CPUID reports. (The old check compared the kernel's choice with the
/// CPUID bits it was made from.)
fn apic_state_in_hardware() -> TestResult {
    let apic = PLATFORM
        .apic
        .get()
        .ok_or_else(|| TestError::Fail("APIC not up".into()))?;
    let base = cpu::apic_base();
    check!(
        base & cpu::APIC_BASE_ENABLE != 0,
        "IA32_APIC_BASE {base:#x}: the local APIC is globally disabled"
    );
    check_eq!(base & cpu::APIC_BASE_X2APIC != 0, apic.is_x2apic());
    // Version register: 0x1X for an integrated APIC, and at least the
    // timer, LINT0, LINT1 and error entries (max LVT index >= 3). An xAPIC
    // mapping of the wrong page reads 0 or all ones.
    let version = apic.version();
    check!(
        (0x10..=0x1f).contains(&(version & 0xff)) && (version >> 16) & 0xff >= 3,
        "the APIC version register reads {version:#x}: not a local APIC"
    );
    check_eq!(apic.id(), cpu::initial_apic_id(apic.is_x2apic()));
    Ok(())
}

/// The APIC timer's rate that one-shot timers are programmed with (measured
/// against the PIT at start-up) against the ACPI PM timer, which had no
/// part in it.
fn apic_timer_rate_vs_pm_timer() -> TestResult {
    let apic = PLATFORM
        .apic
        .get()
        .ok_or_else(|| TestError::Fail("APIC not up".into()))?;
    let TimerMode::OneShot { ticks_per_sec } = apic.timer_mode() else {
        skip!(
            "TSC-deadline timer: it counts TSC cycles, whose rate \
             native_tsc_rate_vs_acpi_pm_timer checks"
        );
    };
    let Some(Some(acpi)) = PLATFORM.acpi.get() else {
        skip!("no ACPI tables");
    };
    let Some(timer) = acpi.pm_timer() else {
        skip!("FADT has no PM timer");
    };
    // The same bracketed measurement as at start-up, against the PM timer
    // instead of the PIT; the timer masked and interrupts off, so that
    // nothing re-arms it meanwhile.
    let measured = without_interrupts(|| {
        apic.with_timer_masked(|a| {
            a.with_free_running_count(|elapsed| {
                // SAFETY: the port comes from the validated FADT; reading the
                // PM timer has no side effects.
                unsafe { pm_timer::pm_timer_measure_hz(timer.port, timer.width32, 10, elapsed) }
            })
        })
    });
    // The masked window disarmed the timer: re-arm for the pending timers
    // (the watchdog among them).
    time::resync_platform_timer();
    check!(measured > 0, "the APIC timer measurement failed");
    check!(
        measured.abs_diff(ticks_per_sec) <= ticks_per_sec / 50,
        "APIC timer: {ticks_per_sec} ticks/s by the PIT, {measured} by the ACPI PM timer"
    );
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

fn power_button() -> Result<&'static PowerButton, TestError> {
    match PLATFORM.power_button.get() {
        Some(Ok(button)) => Ok(button),
        Some(Err(why)) => Err(TestError::Fail(alloc::format!(
            "no power button (QEMU and Xen HVM both have one): {why}"
        ))),
        None => Err(TestError::Fail("the power button was never set up".into())),
    }
}

/// The PM1 registers as the chipset (QEMU's ICH9/PIIX4 model, Xen's
/// emulated PM block) holds them, read straight from the ports the FADT
/// names: the machine is in ACPI mode (SCI_EN), the button is enabled and
/// nothing else is, and no press is waiting.
fn power_button_armed_in_hardware() -> TestResult {
    let button = power_button()?;
    let Some(Some(acpi)) = PLATFORM.acpi.get() else {
        return Err(TestError::Fail("no ACPI tables".into()));
    };
    let pm1a_control = acpi
        .pm1a_control()
        .ok_or_else(|| TestError::Fail("the FADT has no PM1a_CNT_BLK".into()))?;
    // SAFETY: PM1a_CNT_BLK from the validated FADT; reading it has no side
    // effects.
    let control = unsafe { Port16::new(pm1a_control) }.read();
    check!(
        control & SCI_EN != 0,
        "PM1a_CNT {control:#06x}: SCI_EN clear, events go to the firmware's SMI handler"
    );
    let pm1 = button.pm1();
    for (status_port, enable_port) in pm1.status_ports().zip(pm1.enable_ports()) {
        // SAFETY: the FADT's PM1 event block; reading status and enable has
        // no side effects (status bits clear only when written with 1).
        let (status, enable) = unsafe {
            (
                Port16::new(status_port).read(),
                Port16::new(enable_port).read(),
            )
        };
        check_eq!(enable & PWRBTN, PWRBTN);
        check!(
            enable & !PWRBTN == 0,
            "PM1_EN at {enable_port:#x} reads {enable:#06x}: events Virtus does not serve are enabled"
        );
        check!(
            status & PWRBTN == 0 || power_button::press_pending(),
            "PM1_STS at {status_port:#x} reads {status:#06x}: a press nobody saw"
        );
    }
    Ok(())
}

/// The SCI's IOAPIC redirection entry, read back from the IOAPIC, against
/// the firmware's word on it, decoded here from the raw MADT override list
/// (not through the routing code): SCI_INT's override if any, whose
/// polarity and trigger "conform" to the SCI's own defaults, level and
/// active low (ACPI spec 5.2.9); without one, SCI_INT itself.
fn sci_routed_per_fadt_and_madt() -> TestResult {
    power_button()?;
    let Some(Some(acpi)) = PLATFORM.acpi.get() else {
        return Err(TestError::Fail("no ACPI tables".into()));
    };
    let ioapic = PLATFORM
        .ioapic
        .get()
        .ok_or_else(|| TestError::Fail("IOAPIC not up".into()))?;
    let apic = PLATFORM
        .apic
        .get()
        .ok_or_else(|| TestError::Fail("APIC not up".into()))?;
    let sci = acpi.sci_interrupt();
    let found = acpi
        .interrupt_overrides()
        .iter()
        .find(|o| u16::from(o.source) == sci);
    let (gsi, polarity, trigger) = found.map_or((u32::from(sci), 0, 0), |o| {
        (o.gsi, o.inti_flags & 0b11, (o.inti_flags >> 2) & 0b11)
    });
    // MPS INTI: 0b01 active high / edge, 0b11 active low / level.
    let active_low = polarity != 0b01;
    let level = trigger != 0b01;
    let entry = ioapic
        .redirection(gsi)
        .map_err(|e| TestError::Fail(alloc::format!("SCI GSI {gsi}: {e}")))?;
    check_eq!(entry.vector, vectors::SCI);
    check!(!entry.masked, "the SCI's GSI {gsi} is masked");
    check_eq!(entry.active_low, active_low);
    check_eq!(entry.level_triggered, level);
    check_eq!(u32::from(entry.destination), apic.id());
    // A level-triggered SCI in service with nobody to EOI it would block
    // every later press.
    check!(
        !entry.remote_irr,
        "GSI {gsi}: Remote IRR set, an SCI is stuck awaiting its EOI"
    );
    Ok(())
}

/// An SCI with nothing behind it (sent to the SCI's vector as a self-IPI,
/// through the IDT like a real one) is counted as spurious and is no
/// request to power off.
fn sci_spurious_counted_not_a_press() -> TestResult {
    power_button()?;
    let apic = PLATFORM
        .apic
        .get()
        .ok_or_else(|| TestError::Fail("APIC not up".into()))?;
    let before = power_button::stats();
    apic.self_ipi(vectors::SCI);
    let deadline = time::now_ns() + 100 * NS_PER_MS;
    while power_button::stats().spurious == before.spurious && time::now_ns() < deadline {
        core::hint::spin_loop();
    }
    let after = power_button::stats();
    check_eq!(after.spurious, before.spurious + 1);
    check_eq!(after.presses, before.presses);
    check!(
        !power_button::press_pending(),
        "a spurious SCI was taken for a press"
    );
    Ok(())
}

/// The chipset as ACPI tells it, independently of PCI configuration space
/// (which is under test): Q35 lists an MCFG table (PCI Express enhanced
/// configuration), i440FX machines (QEMU `pc`, Xen HVM's device model) do
/// not.
fn chipset_is_q35() -> Result<bool, TestError> {
    match PLATFORM.acpi.get().copied().flatten() {
        Some(acpi) => Ok(acpi.has_mcfg()),
        None => Err(TestError::Skip(
            "no ACPI tables: nothing independent tells the chipset".into(),
        )),
    }
}

fn pci_devices() -> Result<&'static pci::Devices, TestError> {
    pci::devices().ok_or_else(|| TestError::Fail("PCI was not enumerated at start-up".into()))
}

fn pci_host_bridge_per_acpi_chipset() -> TestResult {
    let q35 = chipset_is_q35()?;
    // Q35's MCH is 8086:29c0, i440FX's PMC 8086:1237 (QEMU and Xen's
    // device model emulate both with Intel's ids).
    let expected = if q35 { 0x29c0_8086 } else { 0x1237_8086 };
    let host = pci::Address::default();
    check_eq!(pci::read32(host, 0), expected);
    let f = pci_devices()?.find(host);
    check!(f.is_some(), "00:00.0 missing from the enumerated list");
    let f = f.copied().unwrap_or_default();
    check!(
        (f.class, f.subclass) == (0x06, 0x00),
        "00:00.0 is not a host bridge: {f:?}"
    );
    Ok(())
}

fn pci_ahci_per_acpi_chipset() -> TestResult {
    let q35 = chipset_is_q35()?;
    let ahci: Vec<pci::Function> = pci_devices()?.ahci().copied().collect();
    if !q35 {
        // i440FX/PIIX has IDE, no AHCI of its own. Xen's device model plugs
        // an `ahci` device in for `hdtype = "ahci"` (the runner sets it for
        // every HVM guest): accepted only under Xen (CPUID leaf 0x40000000),
        // and never at the ICH9's own place, 00:1f.2.
        if cpu::hypervisor() == Some(*b"XenVMMXenVMM") {
            for f in &ahci {
                check!(
                    f.address != pci::Address::new(0, 0x1f, 2).unwrap_or_default(),
                    "a plug-in AHCI at the ICH9's 00:1f.2 on i440FX: {f:?}"
                );
                check!(
                    matches!(pci::bar(f, 5), Ok(Some(pci::Bar::Memory { .. }))),
                    "{}: BAR5 is not memory",
                    f.address
                );
            }
            return Ok(());
        }
        check!(ahci.is_empty(), "AHCI found on an i440FX machine: {ahci:?}");
        let mut line = alloc::string::String::new();
        check!(pci::describe(&mut line).is_ok());
        check!(line.contains("no AHCI controller"), "info says: {line}");
        return Ok(());
    }
    // Q35's ICH9 has one AHCI function at device 31, function 2.
    check!(ahci.len() == 1, "AHCI controllers on q35: {ahci:?}");
    let f = ahci[0];
    check_eq!(f.address, pci::Address::new(0, 0x1f, 2).unwrap_or_default());
    check_eq!((f.vendor, f.device), (0x8086, 0x2922));
    match pci::bar(&f, 5) {
        // ABAR: memory, below 4 GiB on ICH9, and at least the generic host
        // control registers plus one port (0x100 + 0x80 bytes).
        Ok(Some(pci::Bar::Memory { base, size, .. })) => {
            check!(
                base != 0 && base % size == 0,
                "ABAR {base:#x} size {size:#x}"
            );
            check!(
                size >= 0x180 && size.is_power_of_two(),
                "ABAR size {size:#x}"
            );
        }
        other => check!(false, "BAR5 of the AHCI controller: {other:?}"),
    }
    Ok(())
}

/// Every BAR of every function, sized: the BAR dwords and the command
/// register read back as they were, sizes are powers of two, and assigned
/// bases are aligned to their size (the firmware had to respect that).
fn pci_bar_sizing_restores_state() -> TestResult {
    let mut sized = 0;
    // Under Xen HVM every configuration access is two trips to the device
    // model: each BAR's own dwords are checked after its sizing, all of the
    // function's once at the end (sizing touches only the BAR sized).
    for f in pci_devices()?.functions() {
        let raw = |i: u8| pci::read32(f.address, 0x10 + 4 * i);
        let before: Vec<u32> = (0..f.bar_slots()).map(raw).collect();
        let mut index = 0;
        while index < f.bar_slots() {
            let command = pci::command(f.address);
            let bar = pci::bar(f, index);
            let width = bar.ok().flatten().map_or(1, |b| b.slots());
            let own = index..(index + width).min(f.bar_slots());
            let after: Vec<u32> = own.clone().map(raw).collect();
            check!(
                before[usize::from(own.start)..usize::from(own.end)] == after[..],
                "{} BAR{index} not restored: {before:x?} -> {after:x?}",
                f.address
            );
            check!(
                pci::command(f.address) == command,
                "{} command not restored",
                f.address
            );
            let step = match bar {
                Ok(Some(b)) => {
                    let (base, size) = match b {
                        pci::Bar::Memory { base, size, .. } => (base, size),
                        pci::Bar::Io { base, size } => (base.into(), size.into()),
                    };
                    check!(size.is_power_of_two(), "{} BAR{index}: {b:?}", f.address);
                    check!(
                        base % size == 0,
                        "{} BAR{index} misaligned: {b:?}",
                        f.address
                    );
                    sized += 1;
                    b.slots()
                }
                Ok(None) => 1,
                Err(e) => {
                    return Err(TestError::Fail(alloc::format!(
                        "{} BAR{index}: {e:?}",
                        f.address
                    )));
                }
            };
            index += step;
        }
        let after: Vec<u32> = (0..f.bar_slots()).map(raw).collect();
        check!(
            before == after,
            "{} BARs not restored: {before:x?} -> {after:x?}",
            f.address
        );
    }
    check!(
        sized > 0,
        "no function has a BAR: enumeration found nothing real"
    );
    Ok(())
}

/// The bridge walk finds exactly what probing every device slot of every
/// bus finds (function 0 of each), on as many buses as 3 s allow: all 256
/// natively (~5 ms under TCG), fewer under Xen HVM, where every access is
/// a trip to the device model (the log says how many were covered).
fn pci_enumeration_vs_brute_force() -> TestResult {
    let devices = pci_devices()?;
    let start = time::now_ns();
    let budget_end = start + 3 * NS_PER_SEC;
    let mut found = Vec::new();
    let mut buses = 0usize;
    for bus in 0..=255u8 {
        if bus > 0 && time::now_ns() > budget_end {
            break;
        }
        for device in 0..32u8 {
            let at = pci::Address::new(bus, device, 0).unwrap_or_default();
            if !matches!(pci::read32(at, 0) as u16, 0xffff | 0) {
                found.push(at);
            }
        }
        buses += 1;
    }
    let brute_ns = time::now_ns() - start;
    let walked: Vec<pci::Address> = devices
        .functions()
        .iter()
        .map(|f| f.address)
        .filter(|a| a.function() == 0 && usize::from(a.bus()) < buses)
        .collect();
    log::info!(
        "pci: bridge walk {} us ({} buses), brute force over {buses} buses {} us",
        devices.elapsed_ns / 1000,
        devices.buses_scanned,
        brute_ns / 1000
    );
    check_eq!(walked, found);
    Ok(())
}
