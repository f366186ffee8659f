//! AHCI: the SATA controller of Q35's ICH9 (00:1f.2) and the `ahci` device
//! Xen's device model plugs into an HVM guest (`hdtype = "ahci"`). Found by
//! PCI class 01/06/01, driven through BAR5; each port with an ATA disk
//! becomes `sda`, `sdb`... in port order.
//!
//! Modules: `regs` (the only MMIO), `dma` (the memory the HBA reads and
//! writes), `fis`/`command`/`identify` (pure encodings, host-tested),
//! `port` (engines, COMRESET), `bringup` (a port at start-up), `device`
//! (the `BlockDevice`), `recovery` (after an error), `irq` (MSI).

// Pure encodings: used by the machine part, tested on the host.
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod command;
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod fis;
// Public for the host fuzzer (virtus-fuzz), which feeds it hostile data.
pub mod identify;

#[cfg(target_os = "none")]
mod bringup;
#[cfg(target_os = "none")]
mod device;
#[cfg(target_os = "none")]
mod dma;
#[cfg(target_os = "none")]
mod irq;
#[cfg(target_os = "none")]
pub mod kernel_tests;
#[cfg(target_os = "none")]
mod port;
#[cfg(target_os = "none")]
mod recovery;
#[cfg(target_os = "none")]
mod regs;

#[cfg(target_os = "none")]
pub use machine::*;

#[cfg(target_os = "none")]
mod machine {
    use super::device::{AhciDisk, Registered};
    use super::irq::{IrqState, Mode};
    use super::regs::{self, CAP, CAP_S64A, GHC, GHC_AE, GHC_HR, PI, PX_SSTS, Registers, VS};
    use super::{bringup, irq};
    use crate::pci;
    use alloc::boxed::Box;
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::fmt;
    use core::sync::atomic::Ordering;
    use spin::Once;
    use virtus_kernel::Platform;
    use virtus_kernel::block::DISKS;
    use virtus_kernel::time;

    pub use super::device::{AhciDisk as Disk, PortStats};
    pub use super::port::PortFault;

    /// One AHCI controller and the disks on its ports.
    pub struct Controller {
        pub address: pci::Address,
        pub vendor: u16,
        pub device: u16,
        pub abar: u64,
        /// Bytes of the ABAR mapped (the BAR's size, at most 32 ports' worth).
        pub abar_len: u64,
        pub(super) regs: &'static Registers,
        pub cap: u32,
        pub ports_implemented: u32,
        pub version: u32,
        pub disks: Vec<&'static AhciDisk>,
        /// Ports with a device that could not be used, and why.
        pub refused: Vec<(u8, String)>,
        /// How its interrupts arrive (MSI, INTx, or none), and counts.
        pub irq: &'static IrqState,
    }

    impl Controller {
        /// Register accesses made on this controller so far.
        pub fn register_accesses(&self) -> u64 {
            self.regs.accesses()
        }
    }

    static CONTROLLERS: Once<Vec<Controller>> = Once::new();

    /// The controllers found at start-up (none before).
    pub fn controllers() -> &'static [Controller] {
        CONTROLLERS.get().map_or(&[], Vec::as_slice)
    }

    /// Every AHCI disk, in registration order.
    pub fn disks() -> impl Iterator<Item = &'static AhciDisk> {
        controllers().iter().flat_map(|c| c.disks.iter().copied())
    }

    /// Find, bring up and register every AHCI disk; route their interrupts
    /// to `vector` on the local APIC `apic_id`. Never fails the boot: what
    /// could not be used is logged and shown by `info`.
    pub fn start(vector: u8, apic_id: u32) {
        let Some(devices) = pci::devices() else {
            return;
        };
        let mut found = Vec::new();
        for f in devices.ahci() {
            match probe(f, vector, apic_id) {
                Ok(c) => found.push(c),
                Err(why) => log::warn!("ahci: {}: {why}", f.address),
            }
        }
        if found.is_empty() {
            log::info!("ahci: no AHCI controller: no disk");
        }
        let msi_possible = apic_id <= 0xff
            && found.iter().any(|c| !c.disks.is_empty())
            && virtus_kernel::interrupts::register_vector(vector, irq::on_interrupt);
        for c in found.iter().filter(|c| !c.disks.is_empty()) {
            // MSI is armed before the list is published, but nothing can
            // fire until GHC.IE is set below.
            let msi_off = crate::platform::PLATFORM
                .boot_info()
                .cmdline
                .get("ahci.msi")
                == Some("off");
            match irq::find_msi(c.address) {
                _ if msi_possible && msi_off => c.irq.use_intx("ahci.msi=off; INTx"),
                Some(cap) if msi_possible => {
                    if !c.irq.use_msi(cap) {
                        c.irq.fallback.call_once(|| "MSI did not enable; polled");
                    }
                }
                _ => {
                    c.irq
                        .fallback
                        .call_once(|| "no MSI capability (or vector); polled");
                }
            }
        }
        let controllers = CONTROLLERS.call_once(|| found);
        let mut next_name = b'a';
        for c in controllers {
            if c.irq.mode() != Mode::Polled {
                irq::enable_events(c);
            }
            for disk in &c.disks {
                let name = format!("sd{}", char::from(next_name));
                next_name += 1;
                match DISKS.register(&name, Box::new(Registered(disk))) {
                    Ok(_) => log::info!(
                        "ahci: {name}: port {} of {}, {}, {} sectors of {} bytes, {}",
                        disk.port(),
                        c.address,
                        disk.identity().model,
                        disk.identity().sectors,
                        disk.identity().sector_size,
                        match c.irq.mode() {
                            Mode::Msi => "MSI",
                            Mode::Intx(_) => "INTx",
                            Mode::Polled => "polled",
                        }
                    ),
                    Err(e) => log::warn!("ahci: {name}: not registered: {e}"),
                }
            }
        }
    }

    fn probe(f: &pci::Function, vector: u8, apic_id: u32) -> Result<Controller, String> {
        let (abar, size) = match pci::bar(f, 5) {
            Ok(Some(pci::Bar::Memory { base, size, .. })) if base != 0 => (base, size),
            other => return Err(format!("BAR5 (ABAR) unusable: {other:?}")),
        };
        let command = pci::command(f.address);
        pci::set_command(
            f.address,
            command
                | pci::COMMAND_MEMORY_SPACE
                | pci::COMMAND_BUS_MASTER
                | irq::COMMAND_INTX_DISABLE,
        );
        let len = size.min(0x1100) as usize;
        let mapped = virtus_kernel::mem::map_mmio(abar, len as u64)
            .map_err(|e| format!("cannot map ABAR {abar:#x}: {e:?}"))?;
        // SAFETY: the ABAR of this AHCI function, just mapped uncached for
        // good; this driver is its only user.
        let regs: &'static Registers = Box::leak(Box::new(unsafe { Registers::new(mapped, len) }));
        // HBA reset: whatever the firmware left running stops, and the
        // ports come back with CMD = SUD|POD (QEMU) and their links up.
        regs.write(GHC, GHC_AE);
        regs.write(GHC, GHC_AE | GHC_HR);
        let deadline = time::now_ns() + time::NS_PER_SEC;
        while regs.read(GHC) & GHC_HR != 0 {
            if time::now_ns() > deadline {
                return Err("GHC.HR still set 1 s after an HBA reset".into());
            }
            time::spin_ns(10_000);
        }
        regs.write(GHC, GHC_AE);
        let cap = regs.read(CAP);
        let ports_implemented = regs.read(PI);
        let version = regs.read(VS);
        let slots = ((cap >> 8) & 0x1f) as usize + 1;
        let addr_limit = if cap & CAP_S64A != 0 {
            u64::MAX
        } else {
            1 << 32
        };
        let irq: &'static IrqState = Box::leak(Box::new(IrqState::new(
            f.address,
            vector,
            u8::try_from(apic_id).unwrap_or(0),
        )));
        let mut disks = Vec::new();
        let mut refused = Vec::new();
        for port in 0..32u8 {
            if ports_implemented & (1 << port) == 0 || usize::from(port) >= regs.ports_mapped() {
                continue;
            }
            if regs.port_read(port, PX_SSTS) & 0xf != regs::SSTS_DET_PRESENT {
                continue;
            }
            match bringup::bring_up(regs, port, slots, irq, addr_limit) {
                Ok(disk) => disks.push(&*Box::leak(Box::new(disk))),
                Err(why) => {
                    log::warn!("ahci: {} port {port}: {why}", f.address);
                    refused.push((port, why));
                }
            }
        }
        Ok(Controller {
            address: f.address,
            vendor: f.vendor,
            device: f.device,
            abar,
            abar_len: len as u64,
            regs,
            cap,
            ports_implemented,
            version,
            disks,
            refused,
            irq,
        })
    }

    /// `info`: a line per controller and per disk.
    pub fn describe(out: &mut dyn fmt::Write) -> fmt::Result {
        if controllers().is_empty() {
            return writeln!(out, "ahci       no AHCI controller: no disk");
        }
        let mut next_name = b'a';
        for c in controllers() {
            write!(
                out,
                "ahci       {} {:04x}:{:04x} AHCI {}.{}, ABAR {:#x}, ports {:#x}, {} slots{}, ",
                c.address,
                c.vendor,
                c.device,
                c.version >> 16,
                (c.version >> 8) & 0xff,
                c.abar,
                c.ports_implemented,
                ((c.cap >> 8) & 0x1f) + 1,
                if c.cap & CAP_S64A != 0 {
                    ", 64-bit DMA"
                } else {
                    ""
                },
            )?;
            let counts = alloc::format!(
                "{} interrupts, {} with nothing to acknowledge",
                c.irq.handled.load(Ordering::Relaxed),
                c.irq.empty.load(Ordering::Relaxed)
            );
            let why = c.irq.fallback.get().copied().unwrap_or("");
            match c.irq.mode() {
                Mode::Msi => writeln!(out, "MSI vector {:#x} ({counts})", c.irq.vector)?,
                Mode::Intx(gsi) => writeln!(
                    out,
                    "IRQ GSI {gsi} vector {:#x}, {why} ({counts})",
                    c.irq.vector
                )?,
                Mode::Polled => writeln!(out, "{why} ({counts})")?,
            }
            for disk in &c.disks {
                let id = disk.identity();
                let s = disk.stats();
                writeln!(
                    out,
                    "ahci disk  sd{} port {}: {}, {} MiB ({} sectors of {} B), driver ahci, {} requests, {} failed, {} recoveries",
                    char::from(next_name),
                    disk.port(),
                    id.model,
                    (id.sectors * u64::from(id.sector_size)) >> 20,
                    id.sectors,
                    id.sector_size,
                    s.completed + s.failed,
                    s.failed,
                    s.recoveries
                )?;
                next_name += 1;
                if let Some(fault) = disk.last_fault() {
                    writeln!(out, "ahci disk  last error: {fault}")?;
                }
            }
            for (port, why) in &c.refused {
                writeln!(out, "ahci port  {port}: not used: {why}")?;
            }
        }
        Ok(())
    }
}
