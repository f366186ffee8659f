//! Leaving the machine: QEMU's isa-debug-exit, ACPI soft-off (S5), and reset.
//!
//! Every way out is tried in order of how cleanly it ends the run, and each
//! attempt is followed by a short wait, because the device may act a little
//! after the write (QEMU and Xen's device model handle the request outside the
//! vCPU). Returning is always the caller's cue to try the next way.

use crate::acpi::{AcpiError, AcpiInfo, ResetRegisterAddress, Signature};
use crate::pit::busy_wait_us;
use crate::port::{Port8, Port16, Port32};

/// Where the runner puts QEMU's `isa-debug-exit` device.
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// PM1x_CNT: SLP_TYPx is bits 10-12, SLP_EN bit 13 (write-only).
const SLP_TYP_SHIFT: u16 = 10;
const SLP_TYP_MASK: u16 = 0b111 << SLP_TYP_SHIFT;
const SLP_EN: u16 = 1 << 13;

/// The chipset's Reset Control Register (PIIX, ICH and successors).
const RESET_CONTROL: u16 = 0xcf9;
/// RCR SYS_RST: make the reset a hard one (the whole platform, not the CPU).
const RCR_SYS_RST: u8 = 1 << 1;
/// RCR RST_CPU: a 0 -> 1 transition starts the reset.
const RCR_RST_CPU: u8 = 1 << 2;

/// 8042 keyboard controller status (read) and command (write) port.
const KBC_STATUS_COMMAND: u16 = 0x64;
/// Status bit 1: the controller has not yet taken the last byte.
const KBC_INPUT_BUFFER_FULL: u8 = 1 << 1;
/// Command 0xFE: pulse output line 0, wired to the CPU's reset.
const KBC_PULSE_RESET: u8 = 0xfe;

/// How long a power-off or reset request gets to take effect.
const SETTLE_US: u32 = 100_000;

/// Ask QEMU's `isa-debug-exit` device to end QEMU with status
/// `(code << 1) | 1`. Returns if there is no such device (real hardware, Xen):
/// the write to an unclaimed port is dropped, and the caller falls back to
/// [`acpi_poweroff`].
pub fn debug_exit(code: u8) {
    // SAFETY: 0xf4 is where the runner configures isa-debug-exit; without
    // it the port is unclaimed on the machines Virtus runs on, and the write
    // goes nowhere.
    unsafe { Port32::new(DEBUG_EXIT_PORT) }.write(code.into());
}

/// Enter S5 (soft off): write `\_S5_`'s SLP_TYPa to PM1a_CNT (and SLP_TYPb to
/// PM1b_CNT) and then set SLP_EN. This is the only power-off there is under
/// Xen HVM.
///
/// Returns `Err` if the tables give no way to do it (no `\_S5_`, no PM1a
/// control block, as on hardware-reduced ACPI), or `Ok(())` if the registers
/// were written and the machine is, surprisingly, still running after a
/// short wait.
pub fn acpi_poweroff(info: &AcpiInfo) -> Result<(), AcpiError> {
    let s5 = info.s5()?;
    let pm1a = info.pm1a_control().ok_or(AcpiError::MissingField {
        table: Signature::FADT,
        field: "PM1a_CNT_BLK",
    })?;
    let blocks = [
        Some((pm1a, s5.slp_typ_a)),
        info.pm1b_control().map(|port| (port, s5.slp_typ_b)),
    ];
    let registers = blocks.map(|block| {
        // SAFETY: an `AcpiInfo` only comes from `acpi::discover`, so these
        // are the FADT's PM1a/PM1b control ports, which exist to be written
        // with SLP_TYP and SLP_EN.
        block.map(|(port, slp_typ)| (unsafe { Port16::new(port) }, slp_typ))
    });
    // As ACPICA does: SLP_TYP first, then SLP_EN, keeping the other bits
    // (SCI_EN above all: clearing it would hand power management back to the
    // firmware instead of sleeping).
    for (register, slp_typ) in registers.iter().flatten() {
        let value = register.read() & !(SLP_TYP_MASK | SLP_EN);
        register.write(value | u16::from(*slp_typ) << SLP_TYP_SHIFT);
    }
    for (register, _) in registers.iter().flatten() {
        register.write(register.read() | SLP_EN);
    }
    busy_wait_us(SETTLE_US);
    Ok(())
}

/// Write RESET_VALUE to a RESET_REG in memory space.
#[cfg(target_os = "none")]
fn write_memory_reset_register(paddr: u64, value: u8) {
    if let Ok(register) = virtus_kernel::mem::map_mmio(paddr, 1) {
        // SAFETY: an `AcpiInfo` only comes from `acpi::discover`, so this is
        // the FADT's RESET_REG, a device register, now mapped uncached by
        // `map_mmio`; a volatile byte write is the access the spec prescribes.
        unsafe { register.as_ptr().write_volatile(value) };
    }
}

/// Host builds (unit tests) have no page tables to map with, and never reset.
#[cfg(not(target_os = "none"))]
fn write_memory_reset_register(_paddr: u64, _value: u8) {}

/// Reset the machine: the FADT's RESET_REG if `info` has one, then the
/// chipset's reset control register at 0xCF9, then the keyboard controller,
/// and last a triple fault, which resets any x86 machine (or ends a QEMU run
/// with `-no-reboot`).
pub fn reset(info: Option<&AcpiInfo>) -> ! {
    if let Some(register) = info.and_then(|info| info.reset_register()) {
        match register.address {
            ResetRegisterAddress::SystemIo(port) => {
                // SAFETY: an `AcpiInfo` only comes from `acpi::discover`, so
                // this is the FADT's RESET_REG, which exists to be written
                // with RESET_VALUE.
                unsafe { Port8::new(port) }.write(register.value);
            }
            ResetRegisterAddress::SystemMemory(paddr) => {
                write_memory_reset_register(paddr, register.value)
            }
        }
        busy_wait_us(SETTLE_US);
    }

    // SAFETY: 0xCF9 is the Reset Control Register on PC chipsets (and
    // unclaimed elsewhere); writing it is meant to reset, which is the point.
    let reset_control = unsafe { Port8::new(RESET_CONTROL) };
    reset_control.write(RCR_SYS_RST);
    reset_control.write(RCR_SYS_RST | RCR_RST_CPU);
    busy_wait_us(SETTLE_US);

    // SAFETY: 0x64 is the 8042's status/command port; nothing else in the
    // kernel drives the 8042, and a reset is what this command is for.
    let kbc = unsafe { Port8::new(KBC_STATUS_COMMAND) };
    // The controller ignores commands while its input buffer is full; an
    // absent one reads 0xFF forever, hence the bound.
    for _ in 0..100_000 {
        if kbc.read() & KBC_INPUT_BUFFER_FULL == 0 {
            break;
        }
        core::hint::spin_loop();
    }
    kbc.write(KBC_PULSE_RESET);
    busy_wait_us(SETTLE_US);

    // Nothing reset the machine: shut the CPU down.
    triple_fault()
}

#[cfg(target_os = "none")]
use virtus_kernel::arch::reset::triple_fault;

/// Host builds (unit tests) never reset.
#[cfg(not(target_os = "none"))]
fn triple_fault() -> ! {
    unreachable!("host builds never reset the machine")
}
