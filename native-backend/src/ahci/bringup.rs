//! Bringing one port up at start-up: its DMA memory, the engines, the
//! device's signature and IDENTIFY DEVICE, before any interrupt is enabled
//! (so the one command here is polled).

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{Ordering, fence};
use virtus_kernel::time;

use super::command::{MAX_SLOTS, PRDT_OFFSET, Prd, header_dw0, prds_in};
use super::device::{AhciDisk, FIS_AREA, PortStats, State};
use super::dma::DmaRegion;
use super::fis::{AtaCommand, h2d};
use super::identify;
use super::irq::IrqState;
use super::port;
use super::regs::*;

/// Bring up `port` with `slots` command slots; `addr_limit` bounds every
/// DMA address. The port must show a device (PxSSTS.DET = 3).
pub fn bring_up(
    regs: &'static Registers,
    port: u8,
    slots: usize,
    irq: &'static IrqState,
    addr_limit: u64,
) -> Result<AhciDisk, String> {
    port::stop(regs, port).map_err(|e| format!("stopping the port: {e}"))?;
    let no_memory = || "no DMA memory below the controller's limit".to_string();
    let list = DmaRegion::frame(addr_limit).ok_or_else(no_memory)?;
    let mut tables = Vec::with_capacity(slots);
    for _ in 0..slots.min(MAX_SLOTS) {
        // Two frames hold 504 PRD entries (room for 2 MiB even if no two
        // pages of a buffer are neighbours); one frame, 248, if that is
        // all the allocator gives.
        let table = DmaRegion::frames(2, addr_limit)
            .or_else(|| DmaRegion::frame(addr_limit))
            .ok_or_else(no_memory)?;
        tables.push(table);
    }
    let prds = tables.iter().map(|t| prds_in(t.len())).min().unwrap_or(0);
    port::attach(regs, port, list.phys(), list.phys() + FIS_AREA as u64);
    // The device's first D2H FIS sets PxSIG and clears BSY.
    let sig = wait_for(1000, || {
        let tfd = regs.port_read(port, PX_TFD);
        (tfd & TFD_BSY == 0).then(|| regs.port_read(port, PX_SIG))
    })
    .ok_or("the device stayed busy for 1 s after FIS receive was enabled (PxTFD.BSY)")?;
    if sig != SIG_ATA_DISK {
        return Err(format!("not an ATA disk (PxSIG {sig:#010x})"));
    }
    port::start(regs, port).map_err(|e| format!("starting the port: {e}"))?;
    let identity = identify_device(regs, port, &list, &tables[0], addr_limit)?;
    if !identity.lba48 {
        return Err(format!(
            "{}: no 48-bit commands (IDENTIFY word 83 bit 10)",
            identity.model
        ));
    }
    let state = State {
        list,
        tables,
        prd_scratch: vec![Prd::default(); prds],
        slots: (0..slots.min(MAX_SLOTS)).map(|_| None).collect(),
        issued: 0,
        ready: VecDeque::new(),
        quarantine: Vec::new(),
        dead: None,
        last_ci_read_ns: 0,
        solo: None,
        last_fault: None,
        stats: PortStats::default(),
    };
    Ok(AhciDisk::new(regs, port, identity, irq, addr_limit, state))
}

fn wait_for<T>(ms: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = time::now_ns() + ms * time::NS_PER_MS;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if time::now_ns() >= deadline {
            return None;
        }
        time::spin_ns(10_000);
    }
}

/// IDENTIFY DEVICE in slot 0, polled, into a frame of its own.
fn identify_device(
    regs: &Registers,
    port: u8,
    list: &DmaRegion,
    table: &DmaRegion,
    addr_limit: u64,
) -> Result<identify::Identity, String> {
    let data = DmaRegion::frame(addr_limit).ok_or("no memory for IDENTIFY data")?;
    let fis = h2d(AtaCommand::IdentifyDevice, 0, 0).map_err(|e| format!("{e:?}"))?;
    table.write_bytes(0, &fis);
    let prd = Prd {
        addr: data.phys(),
        bytes: 512,
    };
    for (j, word) in prd.encode().into_iter().enumerate() {
        table.write32(PRDT_OFFSET + 4 * j, word);
    }
    list.write32(0, header_dw0(false, 1));
    list.write32(4, 0);
    list.write32(8, table.phys() as u32);
    list.write32(12, (table.phys() >> 32) as u32);
    fence(Ordering::SeqCst);
    regs.port_write(port, PX_CI, 1);
    let done = wait_for(5000, || {
        (regs.port_read(port, PX_CI) & 1 == 0).then_some(())
    });
    let is = regs.port_read(port, PX_IS);
    regs.port_write(port, PX_IS, is);
    let tfd = regs.port_read(port, PX_TFD);
    if done.is_none() {
        return Err(format!(
            "IDENTIFY DEVICE not done in 5 s (PxTFD {tfd:#x}, PxIS {is:#x})"
        ));
    }
    if is & IS_ERRORS != 0 || tfd & TFD_ERR != 0 {
        return Err(format!(
            "IDENTIFY DEVICE failed: PxTFD {tfd:#x}, PxIS {is:#x}"
        ));
    }
    let moved = list.read32(4);
    if moved != 512 {
        return Err(format!(
            "IDENTIFY DEVICE moved {moved} bytes, not 512 (PRDBC)"
        ));
    }
    let mut words = [0u16; 256];
    for (i, pair) in words.chunks_mut(2).enumerate() {
        let dword = data.read32(4 * i);
        pair[0] = dword as u16;
        pair[1] = (dword >> 16) as u16;
    }
    // The frame goes back: the command is over and the device idle.
    let _ = virtus_kernel::mem::free_frame(data.phys());
    identify::parse(&words).map_err(|e| format!("IDENTIFY DEVICE data: {e}"))
}
