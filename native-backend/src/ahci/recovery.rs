//! What the driver does when a port reports an error (PxIS.TFES and the
//! host bus/interface errors): find the failed slot(s), fail exactly those
//! with a named cause, restart the port and give the device back the
//! requests it still owed. AHCI 1.3 6.2.2.1 for the procedure.
//!
//! Two behaviours must both end well. A controller that follows the
//! specification halts with the failed command still set in PxCI (PxCMD.CCS
//! names it) and clears PxCI when ST is cleared, so the commands behind it
//! must be issued again. QEMU clears the failed slot's bit, keeps the
//! others in PxCI across the stop, and runs them once ST is set again.

use alloc::string::ToString;
use virtus_kernel::block::{BlockBuffer, BlockError};
use virtus_kernel::time;

use super::command::HEADER_LEN;
use super::device::{AhciDisk, State, bits};
use super::port;
use super::regs::PX_CI;

impl AhciDisk {
    /// A command has not completed in `COMMAND_TIMEOUT_NS`, with no error
    /// reported: recover as for an error, failing the pending slots (the
    /// one named by PxCMD.CCS if it names one).
    pub(super) fn recover_timeout(&self, st: &mut State) {
        log::warn!(
            "ahci: port {}: a command did not complete in time",
            self.port
        );
        self.recover_inner(st, 0, true);
    }

    /// An error event (`is`) was seen on the port.
    pub(super) fn recover(&self, st: &mut State, is: u32) {
        self.recover_inner(st, is, false);
    }

    fn recover_inner(&self, st: &mut State, is: u32, timed_out: bool) {
        st.stats.recoveries += 1;
        // PxCI before the stop says what completed (stopping clears it).
        // QEMU goes on with the other slots after a failure, a controller
        // that follows the specification halts: wait (100 ms at most) until
        // at most one slot is left, so that QEMU's failed slot stands alone.
        let deadline = time::now_ns() + 100 * time::NS_PER_MS;
        let mut ci_before = self.regs.port_read(self.port, PX_CI);
        while (st.issued & ci_before).count_ones() > 1 && time::now_ns() < deadline {
            time::spin_ns(50_000);
            ci_before = self.regs.port_read(self.port, PX_CI);
        }
        let completed = st.issued & !ci_before;
        let pending = st.issued & ci_before;
        let mut fault = match port::halt_for_recovery(self.regs, self.port, is) {
            Ok(fault) => fault,
            Err(e) => return self.kill(st, &e.to_string()),
        };
        fault.timed_out = timed_out;
        // A read or write that failed moved fewer bytes than it asked for.
        let short = bits(completed)
            .filter(|&s| Self::moved(st, s) != st.slots[s].as_ref().map_or(0, |f| f.bytes))
            .fold(0u32, |m, s| m | 1 << s);
        let ccs = 1u32 << ((fault.cmd >> 8) & 0x1f);
        let failed = if short != 0 {
            short
        } else if pending.count_ones() == 1 {
            // The failed command is still set in PxCI (both QEMU 7.2 and
            // the specification leave it there).
            pending
        } else if pending & ccs != 0 {
            // PxCMD.CCS names the slot a halted controller was running.
            ccs
        } else if pending != 0 {
            pending
        } else if timed_out {
            // It completed after all, just now.
            0
        } else {
            // A failure that cleared its slot and moved its bytes (a flush,
            // or an error after the data): every slot that completed in
            // this window fails. A good request reported failed is safe; a
            // failed one reported good is not.
            completed
        };
        fault.failed_slots = failed;
        log::debug!(
            "ahci: port {}: recovery: issued {:#x}, PxCI {ci_before:#x}, PxCMD {:#x}",
            self.port,
            st.issued,
            fault.cmd
        );
        // At debug level: under Xen HVM a log line over the emulated UART
        // costs seconds. The completion carries the cause, `info` and
        // `last_fault` the registers.
        log::debug!("ahci: port {}: {fault}", self.port);
        st.last_fault = Some(fault);
        let ci_stopped = self.regs.port_read(self.port, PX_CI);
        for slot in bits(failed) {
            // A failed slot the stop did not clear may still be run by the
            // device, and a command that timed out may still be under way
            // (QEMU's block layer finishes a request after the port stops):
            // its buffer is kept for good, the caller gets a zeroed stand-in.
            if (timed_out || ci_stopped & (1 << slot) != 0)
                && let Some(flight) = st.slots[slot].as_mut()
            {
                let len = flight.request.buffer.len();
                let held = core::mem::replace(&mut flight.request.buffer, BlockBuffer::zeroed(len));
                st.quarantine.push(held);
            }
            Self::finish(st, slot, Err(BlockError::Io(fault.cause())));
        }
        for slot in bits(completed & !failed) {
            Self::finish_checked(st, slot);
        }
        if let Err(e) = port::start(self.regs, self.port) {
            return self.kill(st, &e.to_string());
        }
        // Pending commands the stop cleared from PxCI are issued again
        // (their headers and tables are intact; PRDBC is reset first).
        let reissue = pending & !failed & !ci_stopped;
        for slot in bits(reissue) {
            st.list.write32(slot * HEADER_LEN + 4, 0);
        }
        if reissue != 0 {
            self.regs.port_write(self.port, PX_CI, reissue);
        }
    }

    /// The port cannot be recovered: fail everything it holds and every
    /// later request. The device may still hold the buffers' addresses, so
    /// they are kept for good and the callers get zeroed stand-ins.
    pub(super) fn kill(&self, st: &mut State, why: &str) {
        log::error!("ahci: port {} is dead: {why}", self.port);
        let reason = "AHCI port failed and could not be recovered";
        st.dead = Some(reason);
        for slot in bits(st.issued) {
            if let Some(flight) = st.slots[slot].as_mut() {
                let len = flight.request.buffer.len();
                let buffer =
                    core::mem::replace(&mut flight.request.buffer, BlockBuffer::zeroed(len));
                st.quarantine.push(buffer);
            }
            Self::finish(st, slot, Err(BlockError::Io(reason)));
        }
    }
}
