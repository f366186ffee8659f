//! AHCI interrupts: one MSI (PCI 3.0 6.8.1) to the boot CPU's local APIC,
//! and the handler, which only acknowledges: PxIS of each port, then the
//! HBA's IS, then the local APIC's EOI. The wake-up is the interrupt
//! itself; the core then polls on its main line.
//!
//! The legacy INTx line is never used: the PCI command register's
//! Interrupt Disable bit is set, and without MSI the HBA's GHC.IE stays 0
//! and the driver polls. A level-triggered line therefore cannot storm.

use core::sync::atomic::Ordering;
use virtus_kernel::arch::trap::TrapFrame;

use super::regs::{GHC, GHC_AE, GHC_IE, IE_ENABLED, IS, PX_IE, PX_IS};
use crate::pci;

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
pub fn enable_msi(at: pci::Address, cap: u8, vector: u8, apic_id: u8) {
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
pub fn msi_enabled(at: pci::Address, cap: u8) -> bool {
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
        if controller.msi.is_none() {
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
            controller.interrupts.fetch_add(1, Ordering::Relaxed);
        } else {
            // The poll got there first (it clears PxIS when it finds a
            // completion), or the message was for another controller.
            controller.spurious.fetch_add(1, Ordering::Relaxed);
        }
    }
    crate::platform::eoi();
}
