//! Bringing a port's engines up and down (AHCI 1.3 10.1.2, 10.3), the
//! COMRESET, and recovery after an error (10.7.1): every step waits with a
//! deadline and says which register did not do what it should.

use super::regs::*;
use core::fmt;
use virtus_kernel::time;

/// What went wrong with a port, naming the register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortError {
    /// A bit that should have changed did not within its time.
    Stuck {
        register: &'static str,
        value: u32,
        waited_ms: u64,
    },
    /// No device behind the port after a COMRESET (PxSSTS.DET).
    NoDevice { ssts: u32 },
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Stuck {
                register,
                value,
                waited_ms,
            } => write!(f, "{register} still {value:#010x} after {waited_ms} ms"),
            Self::NoDevice { ssts } => write!(f, "no device after COMRESET (PxSSTS {ssts:#x})"),
        }
    }
}

/// What the port reported when a command failed: the registers the
/// recovery read, kept for the log, `info` and the tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PortFault {
    /// PxIS (with what the interrupt handler had already taken).
    pub is: u32,
    /// PxTFD: ATA status in bits 7:0, error in 15:8.
    pub tfd: u32,
    /// PxSERR.
    pub serr: u32,
    /// PxCMD when the error was seen (CCS, bits 12:8, names the slot a
    /// halted controller was working on).
    pub cmd: u32,
    /// The slots whose commands failed.
    pub failed_slots: u32,
    /// Whether a COMRESET was needed (the device stayed busy).
    pub comreset: bool,
    /// No error was reported: a command did not complete in time.
    pub timed_out: bool,
}

impl PortFault {
    /// The ATA error register's cause, as a static string for the
    /// completion's `BlockError::Io` (the full registers are in the log).
    pub fn cause(&self) -> &'static str {
        let error = (self.tfd >> 8) & 0xff;
        if self.timed_out {
            "AHCI command not completed in time; port restarted"
        } else if self.is & (IS_HBFS | IS_HBDS) != 0 {
            "AHCI host bus error (PxIS.HBFS/HBDS)"
        } else if self.is & (IS_IFS | IS_OFS) != 0 {
            "AHCI interface or overflow error (PxIS.IFS/OFS)"
        } else if error & 0x10 != 0 {
            "ATA device error: ID not found (PxTFD error IDNF)"
        } else if error & 0x40 != 0 {
            "ATA device error: uncorrectable data (PxTFD error UNC)"
        } else if error & 0x80 != 0 {
            "ATA device error: interface CRC (PxTFD error ICRC)"
        } else if error & 0x04 != 0 {
            "ATA device error: command aborted (PxTFD error ABRT)"
        } else if self.tfd & TFD_ERR == 0 {
            // QEMU goes on with the other slots after a failure, and each
            // command that completes rewrites PxTFD: by the time the
            // recovery reads it, the failed command's status may be gone.
            "ATA device error (PxIS.TFES; PxTFD since rewritten by a later command)"
        } else {
            "ATA device error (PxTFD status ERR)"
        }
    }
}

impl fmt::Display for PortFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: PxTFD {:#06x} (status {:#04x}, error {:#04x}), PxIS {:#010x}, PxSERR {:#010x}, slots {:#x}{}",
            self.cause(),
            self.tfd & 0xffff,
            self.tfd & 0xff,
            (self.tfd >> 8) & 0xff,
            self.is,
            self.serr,
            self.failed_slots,
            if self.comreset { ", COMRESET" } else { "" }
        )
    }
}

/// Poll `read` until `done(value)` or `ms` milliseconds; the last value on
/// failure.
fn wait(ms: u64, mut read: impl FnMut() -> u32, done: impl Fn(u32) -> bool) -> Result<u32, u32> {
    let deadline = time::now_ns() + ms * time::NS_PER_MS;
    loop {
        let value = read();
        if done(value) {
            return Ok(value);
        }
        if time::now_ns() >= deadline {
            return Err(value);
        }
        time::spin_ns(10_000);
    }
}

fn stuck(register: &'static str, waited_ms: u64) -> impl Fn(u32) -> PortError {
    move |value| PortError::Stuck {
        register,
        value,
        waited_ms,
    }
}

/// Stop the command engine (ST, then CR clears: 500 ms per the spec).
pub fn stop_commands(regs: &Registers, port: u8) -> Result<(), PortError> {
    let cmd = regs.port_read(port, PX_CMD);
    if cmd & (CMD_ST | CMD_CR) == 0 {
        return Ok(());
    }
    regs.port_write(port, PX_CMD, cmd & !CMD_ST);
    wait(500, || regs.port_read(port, PX_CMD), |c| c & CMD_CR == 0)
        .map(drop)
        .map_err(stuck("PxCMD.CR", 500))
}

/// Stop both engines: commands, then FIS receive (FR clears).
pub fn stop(regs: &Registers, port: u8) -> Result<(), PortError> {
    stop_commands(regs, port)?;
    let cmd = regs.port_read(port, PX_CMD);
    if cmd & (CMD_FRE | CMD_FR) == 0 {
        return Ok(());
    }
    regs.port_write(port, PX_CMD, cmd & !CMD_FRE);
    wait(500, || regs.port_read(port, PX_CMD), |c| c & CMD_FR == 0)
        .map(drop)
        .map_err(stuck("PxCMD.FR", 500))
}

/// Point a stopped port at its command list and received-FIS area, clear
/// old errors and events, and start FIS receive (QEMU maps the areas only
/// on the 0 to 1 edge of FRE and ST, so the port must be stopped here).
pub fn attach(regs: &Registers, port: u8, list: u64, fis: u64) {
    regs.port_write(port, PX_CLB, list as u32);
    regs.port_write(port, PX_CLBU, (list >> 32) as u32);
    regs.port_write(port, PX_FB, fis as u32);
    regs.port_write(port, PX_FBU, (fis >> 32) as u32);
    regs.port_write(port, PX_SERR, 0xffff_ffff);
    regs.port_write(port, PX_IS, 0xffff_ffff);
    let cmd = regs.port_read(port, PX_CMD);
    regs.port_write(port, PX_CMD, cmd | CMD_SUD | CMD_POD | CMD_FRE);
}

/// Start the command engine once the device is idle (10.3.1: ST may be
/// set only with BSY and DRQ clear).
pub fn start(regs: &Registers, port: u8) -> Result<(), PortError> {
    wait(
        1000,
        || regs.port_read(port, PX_TFD),
        |t| t & (TFD_BSY | TFD_DRQ) == 0,
    )
    .map_err(stuck("PxTFD.BSY/DRQ", 1000))?;
    let cmd = regs.port_read(port, PX_CMD);
    regs.port_write(port, PX_CMD, cmd | CMD_FRE | CMD_ST);
    Ok(())
}

/// COMRESET through PxSCTL.DET (10.4.2), then wait for the link and the
/// device's first D2H FIS (BSY clear).
pub fn comreset(regs: &Registers, port: u8) -> Result<(), PortError> {
    let sctl = regs.port_read(port, PX_SCTL) & !0xf;
    regs.port_write(port, PX_SCTL, sctl | 1);
    time::spin_ns(2 * time::NS_PER_MS);
    regs.port_write(port, PX_SCTL, sctl);
    wait(
        1000,
        || regs.port_read(port, PX_SSTS),
        |s| s & 0xf == SSTS_DET_PRESENT,
    )
    .map_err(|ssts| PortError::NoDevice { ssts })?;
    regs.port_write(port, PX_SERR, 0xffff_ffff);
    Ok(())
}

/// First half of recovery after a failed command: record the registers,
/// stop the command engine, clear PxSERR and PxIS, and COMRESET if the
/// device stays busy. `seen_is` is what the caller (and the interrupt
/// handler) already took from PxIS. The caller then works out which slots
/// failed, from PxCI with the engine stopped, and calls [`start`].
pub fn halt_for_recovery(regs: &Registers, port: u8, seen_is: u32) -> Result<PortFault, PortError> {
    let mut fault = PortFault {
        is: seen_is | regs.port_read(port, PX_IS),
        tfd: regs.port_read(port, PX_TFD),
        serr: regs.port_read(port, PX_SERR),
        cmd: regs.port_read(port, PX_CMD),
        ..PortFault::default()
    };
    stop_commands(regs, port)?;
    regs.port_write(port, PX_SERR, 0xffff_ffff);
    regs.port_write(port, PX_IS, 0xffff_ffff);
    if regs.port_read(port, PX_TFD) & (TFD_BSY | TFD_DRQ) != 0 {
        fault.comreset = true;
        comreset(regs, port)?;
    }
    Ok(fault)
}
