//! Synchronous read, write and flush on top of the asynchronous layer, for
//! the shell, the tests and anyone who wants one answer. Large transfers
//! are cut into requests of at most the device's `max_sectors` and kept
//! up to `queue_depth` in flight, so the helper itself exercises the
//! several-requests path every driver must get right.

use alloc::collections::VecDeque;

use super::buffer::BlockBuffer;
use super::device::{Operation, RequestId};
use super::disk::Disk;
use super::error::BlockError;

/// How a synchronous caller passes time while the device works.
pub trait Waiter {
    /// Monotonic nanoseconds.
    fn now_ns(&self) -> u64;
    /// Sleep until some event arrives or the clock reaches `deadline_ns`,
    /// unless `ready()` (called with events held off, so a completion
    /// signalled right after it still wakes the sleep) says there is
    /// something to collect already.
    fn wait_unless(&self, deadline_ns: u64, ready: &mut dyn FnMut() -> bool);
}

/// The machine's way: sleep until the next interrupt or event, with a
/// timer armed for the deadline so that a device that never answers still
/// ends the wait. With events off, the wait is a poll.
#[cfg(target_os = "none")]
pub struct MachineWaiter;

#[cfg(target_os = "none")]
impl Waiter for MachineWaiter {
    fn now_ns(&self) -> u64 {
        crate::platform().now_ns()
    }

    fn wait_unless(&self, deadline_ns: u64, ready: &mut dyn FnMut() -> bool) {
        if !crate::platform().interrupts_enabled() {
            ready();
            return;
        }
        crate::time::wait_until(deadline_ns, ready);
    }
}

impl Disk {
    /// Read sectors from `lba` on into `out` (a whole number of sectors).
    pub fn read(
        &self,
        lba: u64,
        out: &mut [u8],
        w: &dyn Waiter,
        timeout_ns: u64,
    ) -> Result<(), BlockError> {
        self.transfer(
            Operation::Read,
            lba,
            out.len(),
            w,
            timeout_ns,
            |_, _| {},
            |at, buf| {
                buf.read_at(0, &mut out[at..at + buf.len()]);
            },
        )
    }

    /// Write `data` (a whole number of sectors) from `lba` on. Not durable
    /// until a [`Disk::flush`] completes.
    pub fn write(
        &self,
        lba: u64,
        data: &[u8],
        w: &dyn Waiter,
        timeout_ns: u64,
    ) -> Result<(), BlockError> {
        self.transfer(
            Operation::Write,
            lba,
            data.len(),
            w,
            timeout_ns,
            |at, buf| {
                let len = buf.len();
                buf.write_at(0, &data[at..at + len]);
            },
            |_, _| {},
        )
    }

    /// Make every write completed so far durable.
    pub fn flush(&self, w: &dyn Waiter, timeout_ns: u64) -> Result<(), BlockError> {
        let deadline = w.now_ns().saturating_add(timeout_ns);
        let id = self.submit_waiting(Operation::Flush, 0, BlockBuffer::zeroed(0), w, deadline)?;
        self.wait_for(id, w, deadline).map(drop)
    }

    /// Move `len` bytes from `lba` on, in pieces: `fill` prepares a piece's
    /// buffer from byte `at` of the whole, `drain` takes a finished one.
    #[allow(clippy::too_many_arguments)]
    fn transfer(
        &self,
        op: Operation,
        lba: u64,
        len: usize,
        w: &dyn Waiter,
        timeout_ns: u64,
        mut fill: impl FnMut(usize, &mut BlockBuffer),
        mut drain: impl FnMut(usize, &BlockBuffer),
    ) -> Result<(), BlockError> {
        // The whole request is checked first, so an error names it, not a piece.
        super::request::validate(&self.info(), op, lba, len)?;
        let info = self.info();
        let piece = info.max_sectors as usize * info.sector_size as usize;
        let deadline = w.now_ns().saturating_add(timeout_ns);
        let mut pending: VecDeque<(RequestId, usize)> = VecDeque::new();
        let mut next = 0;
        let result = 'all: loop {
            while next < len && pending.len() < usize::from(info.queue_depth) {
                let n = piece.min(len - next);
                let mut buffer = BlockBuffer::zeroed(n);
                fill(next, &mut buffer);
                let sector = lba + (next / info.sector_size as usize) as u64;
                match self.submit_waiting(op, sector, buffer, w, deadline) {
                    Ok(id) => pending.push_back((id, next)),
                    Err(error) => break 'all Err(error),
                }
                next += n;
            }
            let Some(&(id, at)) = pending.front() else {
                break Ok(());
            };
            match self.wait_for(id, w, deadline) {
                Ok(buffer) => drain(at, &buffer),
                Err(error) => break Err(error),
            }
            pending.pop_front();
        };
        // Pieces still out after a failure are dropped when they complete.
        for (id, _) in pending {
            self.abandon(id);
        }
        result
    }

    /// Submit, waiting while the device's queue is full.
    fn submit_waiting(
        &self,
        op: Operation,
        lba: u64,
        mut buffer: BlockBuffer,
        w: &dyn Waiter,
        deadline: u64,
    ) -> Result<RequestId, BlockError> {
        loop {
            match self.submit(op, lba, buffer) {
                Ok(id) => return Ok(id),
                Err(refused) if matches!(refused.error, BlockError::QueueFull { .. }) => {
                    buffer = refused.buffer;
                }
                Err(refused) => return Err(refused.error),
            }
            if w.now_ns() >= deadline {
                return Err(BlockError::Timeout { id: 0 });
            }
            self.sleep_until_completion(w, deadline)?;
        }
    }

    /// Wait for `id`'s outcome until `deadline`. A completion the driver
    /// should not have sent (an unknown id) ends the wait with that error:
    /// a device that answers requests it was never given is not believed
    /// about this one either.
    fn wait_for(
        &self,
        id: RequestId,
        w: &dyn Waiter,
        deadline: u64,
    ) -> Result<BlockBuffer, BlockError> {
        loop {
            if let Some(outcome) = self.take(id) {
                return outcome;
            }
            if w.now_ns() >= deadline {
                self.abandon(id);
                return Err(BlockError::Timeout { id: id.0 });
            }
            if let Err(error) = self.sleep_until_completion(w, deadline) {
                self.abandon(id);
                return Err(error);
            }
        }
    }

    /// Sleep until the driver has completed something or `deadline` (or
    /// return at once if it already has). A completion the driver should not have sent is the
    /// error; the caller decides what it costs its own request.
    fn sleep_until_completion(&self, w: &dyn Waiter, deadline: u64) -> Result<(), BlockError> {
        let mut bad = None;
        w.wait_unless(deadline, &mut || match self.poll() {
            Ok(n) => n > 0,
            Err(error) => {
                bad = Some(error);
                true
            }
        });
        bad.map_or(Ok(()), Err)
    }
}
