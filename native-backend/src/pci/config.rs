//! Configuration mechanism #1 (ports 0xCF8/0xCFC), BAR sizing and bus
//! enumeration: the part of [`super`] that touches the machine.

use super::decode::{Address, Bar, BarError, Function, bar_layout, decode_bar};
use crate::port::Port32;
use alloc::vec::Vec;
use core::fmt;
use spin::{Mutex, Once};
use virtus_kernel::arch::irq::without_interrupts;

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

/// At most this many functions are recorded; more are counted, not kept.
pub const MAX_FUNCTIONS: usize = 256;

// Configuration header offsets (PCI Local Bus 3.0, 6.1).
const VENDOR_ID: u8 = 0x00;
const COMMAND: u8 = 0x04;
const CLASS_REVISION: u8 = 0x08;
const HEADER_TYPE_DWORD: u8 = 0x0c;
const BAR0: u8 = 0x10;
const BRIDGE_BUSES: u8 = 0x18;

/// Command register bits.
pub const COMMAND_IO_SPACE: u16 = 1 << 0;
pub const COMMAND_MEMORY_SPACE: u16 = 1 << 1;
pub const COMMAND_BUS_MASTER: u16 = 1 << 2;

/// The two ports of mechanism #1. A read or write is two port accesses that
/// must not interleave with another's, hence the lock, taken with
/// interrupts off so an interrupt handler can never wait on it.
struct ConfigPorts {
    address: Port32,
    data: Port32,
}

static CONFIG: Mutex<ConfigPorts> = Mutex::new(ConfigPorts {
    // SAFETY: 0xCF8/0xCFC are configuration mechanism #1 on every PC
    // chipset (i440FX, Q35, Xen's device model); this module is their only
    // user, and every access goes through the lock below.
    address: unsafe { Port32::new(CONFIG_ADDRESS) },
    // SAFETY: as above.
    data: unsafe { Port32::new(CONFIG_DATA) },
});

/// Read the dword at `offset & !3` of `at`'s configuration header.
pub fn read32(at: Address, offset: u8) -> u32 {
    without_interrupts(|| {
        let ports = CONFIG.lock();
        ports.address.write(at.config_address(offset));
        ports.data.read()
    })
}

/// Write the dword at `offset & !3`.
pub fn write32(at: Address, offset: u8, value: u32) {
    without_interrupts(|| {
        let ports = CONFIG.lock();
        ports.address.write(at.config_address(offset));
        ports.data.write(value);
    });
}

pub fn read16(at: Address, offset: u8) -> u16 {
    (read32(at, offset) >> ((offset & 2) * 8)) as u16
}

pub fn read8(at: Address, offset: u8) -> u8 {
    (read32(at, offset) >> ((offset & 3) * 8)) as u8
}

pub fn command(at: Address) -> u16 {
    read16(at, COMMAND)
}

/// Write the command register. The status register shares its dword and
/// has write-1-to-clear bits, so the upper half is written as zeros.
pub fn set_command(at: Address, value: u16) {
    write32(at, COMMAND, u32::from(value));
}

/// Read the identity of the function at `at`, if one answers.
fn read_function(at: Address) -> Option<Function> {
    let id = read32(at, VENDOR_ID);
    let vendor = id as u16;
    // 0xFFFF: no function answers (the bus aborts and reads all ones).
    if vendor == 0xffff || vendor == 0 {
        return None;
    }
    let class = read32(at, CLASS_REVISION);
    Some(Function {
        address: at,
        vendor,
        device: (id >> 16) as u16,
        class: (class >> 24) as u8,
        subclass: (class >> 16) as u8,
        prog_if: (class >> 8) as u8,
        header_type: read8(at, HEADER_TYPE_DWORD + 2) & 0x7f,
    })
}

fn multi_function(at: Address) -> bool {
    read8(at, HEADER_TYPE_DWORD + 2) & 0x80 != 0
}

/// Read and size BAR `index` of `f`, as operating systems do: interrupts
/// off, the function's I/O and memory decoding off while the BAR holds all
/// ones (so it never claims addresses it does not own), then the original
/// value and command register restored.
pub fn bar(f: &Function, index: u8) -> Result<Option<Bar>, BarError> {
    if index >= f.bar_slots() {
        return Err(BarError::NoSuchSlot);
    }
    let at = f.address;
    let offset = BAR0 + 4 * index;
    let value = read32(at, offset);
    let wide = bar_layout(f.bar_slots(), index, value)?;
    without_interrupts(|| {
        let command = command(at);
        set_command(at, command & !(COMMAND_IO_SPACE | COMMAND_MEMORY_SPACE));
        let probe = size_register(at, offset, value);
        let high = wide.then(|| {
            let hi = read32(at, offset + 4);
            (hi, size_register(at, offset + 4, hi))
        });
        set_command(at, command);
        decode_bar(value, probe, high)
    })
}

/// Write all ones to a BAR dword, read what sticks, put `original` back.
fn size_register(at: Address, offset: u8, original: u32) -> u32 {
    write32(at, offset, 0xffff_ffff);
    let probe = read32(at, offset);
    write32(at, offset, original);
    probe
}

/// What enumeration found.
#[derive(Debug, Default)]
pub struct Devices {
    functions: Vec<Function>,
    /// Functions found beyond [`MAX_FUNCTIONS`].
    pub dropped: usize,
    pub buses_scanned: usize,
    pub elapsed_ns: u64,
}

impl Devices {
    pub fn functions(&self) -> &[Function] {
        &self.functions
    }

    pub fn ahci(&self) -> impl Iterator<Item = &Function> {
        self.functions.iter().filter(|f| f.is_ahci())
    }

    pub fn find(&self, at: Address) -> Option<&Function> {
        self.functions.iter().find(|f| f.address == at)
    }
}

/// Scan the buses reachable from the host bridge(s): bus 0 (or, if 00:00.0
/// is multi-function, bus N for each host controller 00:00.N), then every
/// PCI-to-PCI bridge's secondary bus, each bus once.
pub fn enumerate() -> Devices {
    let start = virtus_kernel::time::now_ns();
    let mut out = Devices::default();
    let mut seen = [false; 256];
    let mut pending: Vec<u8> = Vec::new();
    let host = Address::default();
    if multi_function(host) {
        for function in 0..8u8 {
            let at = Address::new(0, 0, function).unwrap_or_default();
            if read_function(at).is_some() {
                pending.push(function);
            }
        }
    } else {
        pending.push(0);
    }
    while let Some(bus) = pending.pop() {
        if core::mem::replace(&mut seen[usize::from(bus)], true) {
            continue;
        }
        out.buses_scanned += 1;
        scan_bus(bus, &mut out, &mut pending);
    }
    out.functions
        .sort_by_key(|f| (f.address.bus(), f.address.device(), f.address.function()));
    out.elapsed_ns = virtus_kernel::time::now_ns().saturating_sub(start);
    out
}

fn scan_bus(bus: u8, out: &mut Devices, pending: &mut Vec<u8>) {
    for device in 0..32u8 {
        let Some(first) = Address::new(bus, device, 0) else {
            continue;
        };
        if read_function(first).is_none() {
            continue;
        }
        let functions = if multi_function(first) { 8 } else { 1 };
        for function in 0..functions {
            let Some(f) = Address::new(bus, device, function).and_then(read_function) else {
                continue;
            };
            if f.is_pci_bridge() {
                let secondary = read8(f.address, BRIDGE_BUSES + 1);
                // Secondary 0 means firmware left the bridge unconfigured.
                if secondary != 0 {
                    pending.push(secondary);
                }
            }
            if out.functions.len() < MAX_FUNCTIONS {
                out.functions.push(f);
            } else {
                out.dropped += 1;
            }
        }
    }
}

static DEVICES: Once<Devices> = Once::new();

/// Enumerate once (at start-up) and log what was found.
pub fn init() -> &'static Devices {
    DEVICES.call_once(|| {
        let devices = enumerate();
        log::info!(
            "pci: {} functions on {} buses in {} us",
            devices.functions.len(),
            devices.buses_scanned,
            devices.elapsed_ns / 1000
        );
        for f in devices.functions() {
            log::debug!(
                "pci: {} {:04x}:{:04x} class {:02x}.{:02x}.{:02x}",
                f.address,
                f.vendor,
                f.device,
                f.class,
                f.subclass,
                f.prog_if
            );
        }
        if devices.ahci().next().is_none() {
            log::info!("pci: no AHCI controller");
        }
        for f in devices.ahci() {
            log::info!(
                "pci: AHCI at {} ({:04x}:{:04x})",
                f.address,
                f.vendor,
                f.device
            );
        }
        devices
    })
}

pub fn devices() -> Option<&'static Devices> {
    DEVICES.get()
}

/// The `info` line: `pci        N devices; AHCI at 00:1f.2 (8086:2922) BAR5 ...`.
pub fn describe(out: &mut dyn fmt::Write) -> fmt::Result {
    let Some(devices) = devices() else {
        return writeln!(out, "pci        not enumerated");
    };
    write!(out, "pci        {} functions", devices.functions.len())?;
    if devices.dropped > 0 {
        write!(out, " (+{} not recorded)", devices.dropped)?;
    }
    let mut any = false;
    for f in devices.ahci() {
        any = true;
        write!(
            out,
            "; AHCI at {} ({:04x}:{:04x})",
            f.address, f.vendor, f.device
        )?;
        match bar(f, 5) {
            Ok(Some(Bar::Memory { base, size, .. })) => {
                write!(out, " BAR5 {base:#x} ({size:#x} bytes)")?
            }
            Ok(_) | Err(_) => write!(out, " BAR5 unusable")?,
        }
    }
    if !any {
        write!(out, "; no AHCI controller")?;
    }
    writeln!(out)
}
