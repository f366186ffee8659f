//! The ACPI System Control Interrupt: bringing the power button up at
//! start-up (take the events over, route the SCI through the IOAPIC, arm
//! the button), serving the interrupt, and describing the result for `info`.

use alloc::string::{String, ToString};
use core::fmt::{self, Write};

use crate::acpi::AcpiInfo;
use crate::platform::{NativePlatform, PLATFORM, eoi, notify, vectors};
use crate::power_button::{self, AcpiMode, PowerButton, SciOutcome};
use virtus_kernel::EventSource;
use virtus_kernel::arch::trap::TrapFrame;

/// Set the power button up, after the IOAPIC. Never fails the boot: a
/// machine without a usable button runs on, and the reason is in the log
/// and in `info`.
pub(crate) fn start_power_button(platform: &NativePlatform, acpi: Option<&AcpiInfo>, apic_id: u32) {
    let result = acpi
        .ok_or_else(|| "no ACPI tables".to_string())
        .and_then(|acpi| route_and_arm(platform, acpi, apic_id));
    // On success `route_and_arm` stored the button; record a failure.
    if let Err(why) = result {
        log::warn!("power button: {why}; the host cannot ask to power off");
        platform.power_button.call_once(|| Err(why));
    }
}

fn route_and_arm(platform: &NativePlatform, acpi: &AcpiInfo, apic_id: u32) -> Result<(), String> {
    let button = PowerButton::take_over(acpi).map_err(|e| e.to_string())?;
    let (gsi, active_low, level) = acpi.sci_routing();
    let ioapic = platform
        .ioapic
        .get()
        .ok_or_else(|| "no IOAPIC".to_string())?;
    ioapic
        .route(gsi, vectors::SCI, apic_id, active_low, level)
        .map_err(|e| alloc::format!("SCI: {e}"))?;
    platform.sci_gsi.call_once(|| gsi);
    // Stored before the SCI can fire, so the handler finds it.
    let button = platform.power_button.call_once(|| Ok(button));
    ioapic.unmask(gsi).map_err(|e| alloc::format!("SCI: {e}"))?;
    if let Ok(button) = button {
        button.arm();
        log::info!(
            "power button: ACPI fixed feature, PM1a_EVT_BLK {:#x}, SCI GSI {gsi} ({}, {}); {}",
            button.pm1().pm1a,
            if level { "level" } else { "edge" },
            if active_low {
                "active low"
            } else {
                "active high"
            },
            mode_text(button.mode())
        );
    }
    Ok(())
}

fn mode_text(mode: AcpiMode) -> String {
    match mode {
        AcpiMode::AlreadyOn => "ACPI mode was on".to_string(),
        AcpiMode::Switched(s) => alloc::format!(
            "entered ACPI mode (ACPI_ENABLE {:#x} to SMI_CMD {:#x})",
            s.acpi_enable,
            s.smi_command
        ),
        AcpiMode::ClearWithoutLegacyMode => {
            "SCI_EN reads clear, but there is no SMI_CMD (no legacy mode)".to_string()
        }
    }
}

/// The SCI's vector (interrupt context). The event source is cleared
/// before the EOI: the SCI is level-triggered, and an EOI with the line
/// still asserted would deliver it again at once.
pub(crate) fn on_sci(_: &mut TrapFrame) {
    let outcome = match PLATFORM.power_button.get() {
        Some(Ok(button)) => button.on_sci(),
        _ => power_button::spurious(),
    };
    if outcome == (SciOutcome::Spurious { storm: true })
        && let (Some(ioapic), Some(&gsi)) = (PLATFORM.ioapic.get(), PLATFORM.sci_gsi.get())
    {
        // Something this driver cannot clear holds the line: mask it
        // rather than spend the CPU on it (`info` shows the count).
        let _ = ioapic.mask(gsi);
    }
    eoi();
    if outcome == SciOutcome::Pressed {
        notify(EventSource::HostRequest);
    }
}

/// `info`'s line about the power button.
pub(crate) fn describe(platform: &NativePlatform, out: &mut dyn Write) -> fmt::Result {
    let stats = power_button::stats();
    match platform.power_button.get() {
        Some(Ok(button)) => {
            let gsi = platform.sci_gsi.get().copied().unwrap_or(u32::MAX);
            let masked = platform
                .ioapic
                .get()
                .and_then(|ioapic| ioapic.redirection(gsi).ok())
                .is_none_or(|entry| entry.masked);
            writeln!(
                out,
                "powerbtn   ACPI fixed feature, PM1a_EVT_BLK {:#x}, SCI GSI {gsi}{}; \
                 {} presses, {} other events, {} spurious SCIs",
                button.pm1().pm1a,
                if masked {
                    " (masked after a storm)"
                } else {
                    ""
                },
                stats.presses,
                stats.foreign,
                stats.spurious
            )
        }
        Some(Err(why)) => writeln!(out, "powerbtn   none: {why}"),
        None => writeln!(out, "powerbtn   not started"),
    }
}
