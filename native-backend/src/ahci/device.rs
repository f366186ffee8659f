//! One AHCI port with an ATA disk behind it, as a `BlockDevice`: one
//! command slot per request, up to CAP.NCS + 1 in flight, READ/WRITE DMA
//! EXT and FLUSH CACHE EXT, completion found by PxCI bits clearing.
//!
//! Cost model (every register access is a VM exit under Xen HVM): a
//! submit is one MMIO write (PxCI); a poll reads PxCI, and PxIS only when
//! something completed (to see an error the interrupt handler has not
//! taken yet). Once the port's interrupts are known to arrive, a poll with
//! no interrupt since the last look and a PxCI read less than
//! `QUIET_POLL_NS` ago reads nothing at all.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering, fence};
use spin::Mutex;
use virtus_kernel::block::{
    BlockBuffer, BlockDevice, BlockError, Completion, DeviceInfo, Operation, Request,
};
use virtus_kernel::{mem, time};

use super::command::{HEADER_LEN, PRD_LEN, PRDT_OFFSET, Prd, PrdError, PrdtBuilder, header_dw0};
use super::dma::DmaRegion;
use super::fis::{AtaCommand, h2d};
use super::identify::Identity;
use super::irq::IrqState;
use super::port::PortFault;
use super::regs::{
    IS_DHRS, IS_DSS, IS_ERRORS, IS_PSS, IS_SDBS, PX_CI, PX_IS, Registers, TFD_BSY, TFD_DRQ, TFD_ERR,
};

/// Offset of the received-FIS area in the command list's frame.
pub(super) const FIS_AREA: usize = 0x400;
/// The D2H Register FIS in the received-FIS area, and its type.
const RFIS_D2H: usize = FIS_AREA + 0x40;
const FIS_TYPE_REG_D2H: u32 = 0x34;
/// The PxIS bits a successful command sets.
const IS_COMPLETIONS: u32 = IS_DHRS | IS_PSS | IS_DSS | IS_SDBS;

/// With interrupts known to work, how long a poll may go on trusting the
/// absence of an interrupt before it reads PxCI anyway (a lost interrupt
/// then costs this much, never a request).
const QUIET_POLL_NS: u64 = 2 * time::NS_PER_MS;

/// A command the device has held this long without completing is failed
/// and the port restarted (10.7.1's non-queued error recovery), so a hung
/// device cannot keep a slot, and the buffer in it, for ever.
const COMMAND_TIMEOUT_NS: u64 = 30 * time::NS_PER_SEC;

/// The most one request moves: 512 KiB.
const MAX_REQUEST_BYTES: u32 = 512 << 10;

/// Counters for `info` and the tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortStats {
    pub completed: u64,
    pub failed: u64,
    pub recoveries: u64,
    /// PxCI bits set for slots the driver never issued (ignored).
    pub phantom_slots: u64,
    /// Completions whose PRDBC was not the request's length.
    pub short_transfers: u64,
    pub ci_reads: u64,
}

/// A request the port holds.
pub(super) struct InFlight {
    pub request: Request,
    pub bytes: u32,
    /// When it was given to the device.
    pub issued_ns: u64,
}

pub(super) struct State {
    /// Command list (1 KiB at 0) and received-FIS area (at 0x400).
    pub list: DmaRegion,
    pub tables: Vec<DmaRegion>,
    pub prd_scratch: Vec<Prd>,
    pub slots: Vec<Option<InFlight>>,
    /// Slots given to the device and not yet completed.
    pub issued: u32,
    pub ready: VecDeque<Completion>,
    /// Buffers of requests failed while the device may still hold their
    /// addresses (a port that could not be stopped): never reused.
    pub quarantine: Vec<BlockBuffer>,
    pub dead: Option<&'static str>,
    pub last_ci_read_ns: u64,
    /// The slot issued while the port was idle, if nothing was issued
    /// after it: its D2H Register FIS can be trusted as its own.
    pub solo: Option<usize>,
    pub last_fault: Option<PortFault>,
    pub stats: PortStats,
}

pub struct AhciDisk {
    pub(super) regs: &'static Registers,
    pub(super) port: u8,
    pub(super) identity: Identity,
    /// The controller's interrupt state.
    pub(super) irq: &'static IrqState,
    info: DeviceInfo,
    /// Where DMA addresses must lie (4 GiB without CAP.S64A).
    addr_limit: u64,
    /// PxIS bits the interrupt handler took and a poll has not yet seen.
    pub(super) irq_is: AtomicU32,
    /// Interrupts that carried this port's events.
    pub(super) interrupts: AtomicU64,
    /// An interrupt has arrived for this port: polls may rely on them.
    pub(super) irq_trusted: AtomicBool,
    pub(super) state: Mutex<State>,
}

impl AhciDisk {
    pub(super) fn new(
        regs: &'static Registers,
        port: u8,
        identity: Identity,
        irq: &'static IrqState,
        addr_limit: u64,
        state: State,
    ) -> Self {
        let prds = state.prd_scratch.len() as u32;
        let sector_size = identity.sector_size;
        // Worst case every page is its own PRD entry. The cap is the core's
        // memory, not the device's: the request layer keeps up to the
        // queue depth of `max_sectors` buffers in flight on a heap of a few
        // MiB in a small guest (8 MiB in the runner's 64 MB HVM guest).
        let max_sectors =
            (prds * (mem::PAGE_SIZE as u32 / sector_size)).min(MAX_REQUEST_BYTES / sector_size);
        let info = DeviceInfo {
            capacity_sectors: identity.sectors,
            sector_size,
            read_only: false,
            queue_depth: state.slots.len() as u16,
            max_sectors,
            driver: "ahci",
        };
        Self {
            regs,
            port,
            identity,
            irq,
            info,
            addr_limit,
            irq_is: AtomicU32::new(0),
            interrupts: AtomicU64::new(0),
            irq_trusted: AtomicBool::new(false),
            state: Mutex::new(state),
        }
    }

    pub fn port(&self) -> u8 {
        self.port
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn interrupts(&self) -> u64 {
        self.interrupts.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> PortStats {
        self.state.lock().stats
    }

    /// The registers of the last command failure, if any.
    pub fn last_fault(&self) -> Option<PortFault> {
        self.state.lock().last_fault
    }

    /// Register accesses on this port's controller so far.
    pub fn register_accesses(&self) -> u64 {
        self.regs.accesses()
    }

    fn command_for(&self, op: Operation) -> AtaCommand {
        match op {
            Operation::Read => AtaCommand::ReadDmaExt,
            Operation::Write => AtaCommand::WriteDmaExt,
            Operation::Flush if self.identity.flush_ext => AtaCommand::FlushCacheExt,
            Operation::Flush => AtaCommand::FlushCache,
        }
    }

    /// Fill slot `slot`'s header and table for `request`. Nothing is given
    /// to the device here.
    fn prepare(&self, st: &mut State, slot: usize, request: &Request) -> Result<u32, &'static str> {
        let command = self.command_for(request.op);
        let buffer = &request.buffer;
        let sectors = request.sectors(self.info.sector_size) as u32;
        let fis = h2d(command, request.lba, sectors)
            .map_err(|_| "AHCI: request not expressible in a FIS")?;
        let State {
            list,
            tables,
            prd_scratch,
            ..
        } = st;
        let table = &tables[slot];
        let mut builder = PrdtBuilder::new(prd_scratch, self.addr_limit);
        for page in 0..buffer.page_count() {
            let bytes = buffer.page(page);
            let (phys, _) =
                mem::translate(bytes.as_ptr() as u64).ok_or("AHCI: buffer page not mapped")?;
            builder
                .push(phys, bytes.len() as u32)
                .map_err(|e| match e {
                    PrdError::Misaligned { .. } => "AHCI: buffer piece not word-aligned",
                    PrdError::Unreachable(_) => "AHCI: buffer beyond the controller's 32-bit reach",
                    PrdError::TooManyPieces(_) => "AHCI: buffer too fragmented for the PRD table",
                })?;
        }
        let (prds, total) = builder.finish();
        if total != buffer.len() as u64 {
            return Err("AHCI: PRD table does not cover the buffer");
        }
        table.write_bytes(0, &fis);
        for (i, prd) in prds.iter().enumerate() {
            for (j, word) in prd.encode().into_iter().enumerate() {
                table.write32(PRDT_OFFSET + i * PRD_LEN + 4 * j, word);
            }
        }
        let header = slot * HEADER_LEN;
        list.write32(
            header,
            header_dw0(command.writes_device(), prds.len() as u16),
        );
        list.write32(header + 4, 0);
        list.write32(header + 8, table.phys() as u32);
        list.write32(header + 12, (table.phys() >> 32) as u32);
        Ok(total as u32)
    }

    /// Bytes the device says it moved for `slot` (PRDBC, header DW1).
    pub(super) fn moved(st: &State, slot: usize) -> u32 {
        st.list.read32(slot * HEADER_LEN + 4)
    }

    /// Take `slot` out of flight and queue its completion.
    pub(super) fn finish(st: &mut State, slot: usize, status: Result<(), BlockError>) {
        st.issued &= !(1 << slot);
        let Some(done) = st.slots[slot].take() else {
            return;
        };
        if status.is_ok() {
            st.stats.completed += 1;
        } else {
            st.stats.failed += 1;
        }
        st.ready.push_back(Completion {
            id: done.request.id,
            status,
            buffer: done.request.buffer,
        });
    }

    /// A slot whose CI bit cleared without an error event: believed only
    /// if the device moved exactly the request's bytes.
    pub(super) fn finish_checked(st: &mut State, slot: usize) {
        let expected = st.slots[slot].as_ref().map_or(0, |f| f.bytes);
        let status = if Self::moved(st, slot) == expected {
            Ok(())
        } else {
            st.stats.short_transfers += 1;
            Err(BlockError::Io(
                "AHCI: device moved a different byte count (PRDBC)",
            ))
        };
        Self::finish(st, slot, status);
    }

    /// Whether the received D2H Register FIS is one, with BSY, DRQ and ERR
    /// clear in its status.
    fn d2h_clean(st: &State) -> bool {
        let d2h = st.list.read32(RFIS_D2H);
        let status = (d2h >> 16) & 0xff;
        d2h & 0xff == FIS_TYPE_REG_D2H && status & (TFD_BSY | TFD_DRQ | TFD_ERR) == 0
    }

    /// Look at the port: completed slots, errors.
    fn collect(&self, st: &mut State) {
        let hint = self.irq_is.swap(0, Ordering::AcqRel);
        let now = time::now_ns();
        if hint == 0
            && self.irq_trusted.load(Ordering::Acquire)
            && now.saturating_sub(st.last_ci_read_ns) < QUIET_POLL_NS
        {
            return;
        }
        st.last_ci_read_ns = now;
        st.stats.ci_reads += 1;
        let ci = self.regs.port_read(self.port, PX_CI);
        if ci & !st.issued != 0 {
            st.stats.phantom_slots += 1;
        }
        let done = st.issued & !ci;
        // A controller that follows the specification halts on an error
        // with the failed slot still in PxCI, so without interrupts an
        // occasional look at PxIS is what finds it.
        let look_for_errors =
            !self.irq_trusted.load(Ordering::Relaxed) && st.stats.ci_reads.is_multiple_of(64);
        if done == 0 && hint & IS_ERRORS == 0 && !look_for_errors {
            let oldest = st.slots.iter().flatten().map(|f| f.issued_ns).min();
            if oldest.is_some_and(|t| now.saturating_sub(t) > COMMAND_TIMEOUT_NS) {
                self.recover_timeout(st);
            }
            return;
        }
        if hint & IS_ERRORS == 0
            && let Some(slot) = st.solo.filter(|&s| done == 1 << s && st.issued == done)
            && Self::d2h_clean(st)
        {
            // Queue depth 1: the only command since the port was idle has
            // ended with a D2H Register FIS (zeroed before it was issued)
            // whose status has no ERR, and QEMU raises PxIS.TFES exactly
            // from that status, so PxIS need not be read (under Xen HVM a
            // read is a trip to the device model). Only the completion
            // bits are cleared, unless the handler already did.
            if hint & IS_COMPLETIONS == 0 {
                self.regs.port_write(self.port, PX_IS, IS_COMPLETIONS);
            }
            Self::finish_checked(st, slot);
            if hint == 0 {
                self.irq.note_polled_completions(1);
            }
            return;
        }
        // The handler may not have run for these completions yet (polls
        // run with interrupts held off): their error bits are still here.
        let is = self.regs.port_read(self.port, PX_IS);
        let mut done = done;
        if is != 0 {
            self.regs.port_write(self.port, PX_IS, is);
            // A command that completed after the PxCI read above raised
            // the bits just cleared, and its interrupt (held off) will
            // find PxIS empty and leave no hint: read PxCI again, after
            // the clear, or that completion waits for an interrupt that
            // never comes. Anything completing from here on sets PxIS
            // afresh and interrupts.
            let ci = self.regs.port_read(self.port, PX_CI);
            done = st.issued & !ci;
        }
        if (hint | is) & IS_ERRORS != 0 {
            self.recover(st, hint | is);
            return;
        }
        for slot in bits(done) {
            Self::finish_checked(st, slot);
        }
        if hint == 0 {
            self.irq
                .note_polled_completions(u64::from(done.count_ones()));
        }
    }
}

/// The set bits of `mask`, lowest first.
pub(super) fn bits(mask: u32) -> impl Iterator<Item = usize> {
    (0..32).filter(move |i| mask & (1 << i) != 0)
}

impl BlockDevice for AhciDisk {
    fn info(&self) -> DeviceInfo {
        self.info
    }

    fn submit(&self, request: Request) -> Result<(), Request> {
        let mut st = self.state.lock();
        if let Some(why) = st.dead {
            st.ready.push_back(Completion {
                id: request.id,
                status: Err(BlockError::Io(why)),
                buffer: request.buffer,
            });
            return Ok(());
        }
        let all = (1u64 << st.slots.len()) - 1;
        let free = all as u32 & !st.issued;
        if free == 0 {
            return Err(request);
        }
        let slot = free.trailing_zeros() as usize;
        match self.prepare(&mut st, slot, &request) {
            Ok(bytes) => {
                st.slots[slot] = Some(InFlight {
                    request,
                    bytes,
                    issued_ns: time::now_ns(),
                });
                if st.issued == 0 {
                    // Whatever FIS arrives next is this command's.
                    st.list.write32(RFIS_D2H, 0);
                    st.solo = Some(slot);
                } else {
                    st.solo = None;
                }
                st.issued |= 1 << slot;
                // The header and table are plain stores to RAM; the device
                // must see them before it sees the slot.
                fence(Ordering::SeqCst);
                self.regs.port_write(self.port, PX_CI, 1 << slot);
            }
            Err(why) => st.ready.push_back(Completion {
                id: request.id,
                status: Err(BlockError::Io(why)),
                buffer: request.buffer,
            }),
        }
        Ok(())
    }

    fn poll(&self) -> Option<Completion> {
        let mut st = self.state.lock();
        if st.ready.is_empty() && st.issued != 0 {
            self.collect(&mut st);
        }
        st.ready.pop_front()
    }
}

/// What `sda` and friends are registered as: the disk lives for good (the
/// tests and `info` reach it directly), the registry gets this handle.
pub struct Registered(pub &'static AhciDisk);

impl BlockDevice for Registered {
    fn info(&self) -> DeviceInfo {
        self.0.info()
    }
    fn submit(&self, request: Request) -> Result<(), Request> {
        self.0.submit(request)
    }
    fn poll(&self) -> Option<Completion> {
        self.0.poll()
    }
}
