//! AHCI interrupts: one MSI (PCI 3.0 6.8.1) to the boot CPU's local APIC,
//! or, where messages never arrive (Xen 4.17's device model with the
//! `ahci` device showed none), the legacy INTx line through the IOAPIC at
//! the pin the firmware wrote to the Interrupt Line register, level
//! triggered. The handler only acknowledges: PxIS of each port, then the
//! HBA's IS, then the local APIC's EOI. The wake-up is the interrupt
//! itself; the core then polls on its main line.
//!
//! INTx is disabled (PCI command bit 10) while MSI is in use. On the INTx
//! line, an interrupt with nothing to acknowledge is counted; a run of
//! them (the line held by something this driver cannot clear) masks the
//! pin and the controller is polled from then on, so a level-triggered
//! line cannot storm.

use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use virtus_kernel::arch::trap::TrapFrame;

use super::regs::{GHC, GHC_AE, GHC_IE, IE_ENABLED, IS, PX_IE, PX_IS};
use crate::pci;
use crate::platform::PLATFORM;

/// How a controller's events reach the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Polled,
    Msi,
    /// INTx through the IOAPIC at this GSI.
    Intx(u32),
}

/// Completions found by polling, with not one interrupt seen, before the
/// driver gives up on MSI and turns to the INTx line.
const MSI_GRACE_COMPLETIONS: u64 = 16;
/// Interrupts in a row with nothing to acknowledge before the INTx pin is
/// masked.
const STORM_LIMIT: u32 = 1000;

/// A controller's interrupt state, shared by its disks and the handler.
pub struct IrqState {
    pub address: pci::Address,
    pub vector: u8,
    apic_id: u8,
    msi_cap: AtomicU8,
    /// 0 polled, 1 MSI, 2 INTx at `gsi`.
    mode: AtomicU8,
    gsi: AtomicU32,
    /// Interrupts that found port events to acknowledge.
    pub handled: AtomicU64,
    /// Interrupts that found none.
    pub empty: AtomicU64,
    empty_in_a_row: AtomicU32,
    /// Completions found by polling while in MSI mode.
    polled_completions: AtomicU64,
    /// Why INTx or polling was chosen, for `info`.
    pub fallback: spin::Once<&'static str>,
}

impl IrqState {
    pub fn new(address: pci::Address, vector: u8, apic_id: u8) -> Self {
        Self {
            address,
            vector,
            apic_id,
            msi_cap: AtomicU8::new(0),
            mode: AtomicU8::new(0),
            gsi: AtomicU32::new(0),
            handled: AtomicU64::new(0),
            empty: AtomicU64::new(0),
            empty_in_a_row: AtomicU32::new(0),
            polled_completions: AtomicU64::new(0),
            fallback: spin::Once::new(),
        }
    }

    pub fn mode(&self) -> Mode {
        match self.mode.load(Ordering::Acquire) {
            1 => Mode::Msi,
            2 => Mode::Intx(self.gsi.load(Ordering::Relaxed)),
            _ => Mode::Polled,
        }
    }

    pub fn interrupts(&self) -> u64 {
        self.handled.load(Ordering::Relaxed) + self.empty.load(Ordering::Relaxed)
    }

    /// A poll found `n` completions itself. In MSI mode with no interrupt
    /// ever seen, enough of them mean messages do not arrive: turn to INTx
    /// (main line only).
    pub fn note_polled_completions(&self, n: u64) {
        if self.mode() != Mode::Msi || self.interrupts() > 0 {
            return;
        }
        if self.polled_completions.fetch_add(n, Ordering::Relaxed) + n >= MSI_GRACE_COMPLETIONS {
            log::warn!(
                "ahci: {}: no MSI arrived for {MSI_GRACE_COMPLETIONS} completions",
                self.address
            );
            self.use_intx("no MSI arrived; INTx");
        }
    }

    /// Route the INTx line through the IOAPIC and use it (MSI off), or
    /// poll if the line is unusable. `why` is kept for `info`.
    pub fn use_intx(&self, why: &'static str) {
        let cap = self.msi_cap.load(Ordering::Relaxed);
        let at = self.address;
        if cap != 0 {
            pci::write32(at, cap, pci::read32(at, cap) & !MSI_ENABLE);
        }
        let line = pci::read8(at, 0x3c);
        let pin = pci::read8(at, 0x3d);
        let gsi = PLATFORM
            .acpi
            .get()
            .copied()
            .flatten()
            .map_or(u32::from(line), |a| a.irq_to_gsi(line).0);
        let routed = (pin != 0 && line < 16)
            .then(|| PLATFORM.ioapic.get())
            .flatten()
            .filter(|io| io.serves(gsi))
            .is_some_and(|io| {
                // PCI INTx is level-triggered; the chipsets (and Xen's
                // virtual IOAPIC) present it active high on ISA pins.
                io.route(gsi, self.vector, u32::from(self.apic_id), false, true)
                    .and_then(|()| io.unmask(gsi))
                    .is_ok()
            });
        if routed {
            pci::set_command(at, pci::command(at) & !COMMAND_INTX_DISABLE);
            self.gsi.store(gsi, Ordering::Relaxed);
            self.mode.store(2, Ordering::Release);
            self.fallback.call_once(|| why);
            log::info!("ahci: {at}: INTx, IRQ {line} (GSI {gsi}, level)");
        } else {
            self.mode.store(0, Ordering::Release);
            self.fallback.call_once(|| "no usable INTx line; polled");
            log::warn!("ahci: {at}: INTx line {line} pin {pin} unusable; polling");
        }
    }

    /// Set MSI up at `cap`; whether it took.
    pub fn use_msi(&self, cap: u8) -> bool {
        enable_msi(self.address, cap, self.vector, self.apic_id);
        let on = msi_enabled(self.address, cap);
        if on {
            self.msi_cap.store(cap, Ordering::Relaxed);
            self.mode.store(1, Ordering::Release);
        }
        on
    }
}

const CAP_POINTER: u8 = 0x34;
const STATUS_CAPABILITIES: u32 = 1 << (16 + 4);
const CAP_ID_MSI: u8 = 0x05;
const MSI_ENABLE: u32 = 1 << 16;
const MSI_MME: u32 = 0b111 << 20;
const MSI_64BIT: u32 = 1 << 23;
/// PCI command register: Interrupt Disable (INTx).
pub const COMMAND_INTX_DISABLE: u16 = 1 << 10;

/// Find `f`'s MSI capability: a bounded walk of the capability list,
/// which comes from the device and may loop.
pub fn find_msi(at: pci::Address) -> Option<u8> {
    if pci::read32(at, 0x04) & STATUS_CAPABILITIES == 0 {
        return None;
    }
    let mut offset = pci::read8(at, CAP_POINTER) & 0xfc;
    for _ in 0..48 {
        if offset < 0x40 {
            return None;
        }
        let header = pci::read32(at, offset);
        if header as u8 == CAP_ID_MSI {
            return Some(offset);
        }
        offset = (header >> 8) as u8 & 0xfc;
    }
    None
}

/// Point `f`'s MSI at `vector` on the local APIC `apic_id` (physical
/// destination, fixed delivery, edge) and enable it with one vector.
fn enable_msi(at: pci::Address, cap: u8, vector: u8, apic_id: u8) {
    let control = pci::read32(at, cap);
    let address = 0xfee0_0000 | u32::from(apic_id) << 12;
    pci::write32(at, cap + 4, address);
    let data_at = if control & MSI_64BIT != 0 {
        pci::write32(at, cap + 8, 0);
        cap + 12
    } else {
        cap + 8
    };
    pci::write32(at, data_at, u32::from(vector));
    pci::write32(at, cap, (control & !MSI_MME) | MSI_ENABLE);
}

/// Whether `f`'s MSI is enabled, read back from configuration space.
fn msi_enabled(at: pci::Address, cap: u8) -> bool {
    pci::read32(at, cap) & MSI_ENABLE != 0
}

/// Turn on the port events and the HBA's interrupt (after the handler is
/// registered and MSI set up).
pub fn enable_events(controller: &super::Controller) {
    for disk in &controller.disks {
        controller.regs.port_write(disk.port(), PX_IS, 0xffff_ffff);
        controller.regs.port_write(disk.port(), PX_IE, IE_ENABLED);
    }
    controller.regs.write(GHC, GHC_AE | GHC_IE);
}

/// The AHCI vector's handler (interrupt context: no locks, no allocation).
pub(crate) fn on_interrupt(_: &mut TrapFrame) {
    for controller in super::controllers() {
        let irq = controller.irq;
        let mode = irq.mode();
        if mode == Mode::Polled {
            continue;
        }
        let mut ports = 0u32;
        for disk in &controller.disks {
            let is = controller.regs.port_read(disk.port(), PX_IS);
            if is != 0 {
                controller.regs.port_write(disk.port(), PX_IS, is);
                disk.irq_is.fetch_or(is, Ordering::AcqRel);
                disk.interrupts.fetch_add(1, Ordering::Relaxed);
                disk.irq_trusted.store(true, Ordering::Release);
                ports |= 1 << disk.port();
            }
        }
        if ports != 0 {
            controller.regs.write(IS, ports);
            irq.handled.fetch_add(1, Ordering::Relaxed);
            irq.empty_in_a_row.store(0, Ordering::Relaxed);
            continue;
        }
        // The poll got there first (it clears PxIS when it finds a
        // completion), or the interrupt was another device's.
        irq.empty.fetch_add(1, Ordering::Relaxed);
        if let Mode::Intx(gsi) = mode
            && irq.empty_in_a_row.fetch_add(1, Ordering::Relaxed) + 1 >= STORM_LIMIT
            && let Some(io) = PLATFORM.ioapic.get()
        {
            let _ = io.mask(gsi);
            irq.mode.store(0, Ordering::Release);
            for disk in &controller.disks {
                disk.irq_trusted.store(false, Ordering::Release);
            }
        }
    }
    crate::platform::eoi();
}
