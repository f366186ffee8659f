//! The request layer's bookkeeping, free of locks and devices so that it
//! can be tested on its own: validation of what a caller asks before any
//! driver sees it, and the set of requests in flight that every completion
//! is checked against.

use alloc::vec::Vec;

use super::buffer::BlockBuffer;
use super::device::{Completion, DeviceInfo, Operation, RequestId};
use super::error::BlockError;

/// Check a request against the device it is for. Returns the number of
/// sectors it moves. The order matters only for which error a request that
/// is wrong in several ways gets: shape first, then the device's limits.
pub fn validate(info: &DeviceInfo, op: Operation, lba: u64, len: usize) -> Result<u64, BlockError> {
    if op == Operation::Flush {
        return if len == 0 {
            Ok(0)
        } else {
            Err(BlockError::FlushWithData { len })
        };
    }
    if len == 0 {
        return Err(BlockError::ZeroLength);
    }
    let sector_size = info.sector_size;
    if !len.is_multiple_of(sector_size as usize) {
        return Err(BlockError::Misaligned { len, sector_size });
    }
    let sectors = (len / sector_size as usize) as u64;
    let capacity = info.capacity_sectors;
    // `lba + sectors` may wrap; a wrapped sum must not look in range.
    match lba.checked_add(sectors) {
        Some(end) if end <= capacity => {}
        _ => {
            return Err(BlockError::OutOfRange {
                lba,
                sectors,
                capacity,
            });
        }
    }
    if op == Operation::Write && info.read_only {
        return Err(BlockError::ReadOnly);
    }
    Ok(sectors)
}

/// A request the device has and has not answered yet.
struct InFlight {
    id: RequestId,
    /// The buffer's length at submission: the completion must match it.
    len: usize,
    /// The caller stopped waiting (a timeout); the completion, when it
    /// comes, only frees the buffer.
    abandoned: bool,
}

/// Requests in flight and completions not yet taken by their submitter.
pub struct Tracker {
    next_id: u64,
    in_flight: Vec<InFlight>,
    done: Vec<(RequestId, Result<BlockBuffer, BlockError>)>,
}

impl Tracker {
    /// Nothing in flight; the first id is 1 (0 is never issued, so a
    /// zeroed id from a confused device is always unknown).
    pub const fn new() -> Self {
        Self {
            next_id: 1,
            in_flight: Vec::new(),
            done: Vec::new(),
        }
    }

    /// Requests submitted and not yet completed (abandoned ones included:
    /// the device still holds their slots).
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// A fresh id for a request with a buffer of `len` bytes, now in flight.
    pub fn begin(&mut self, len: usize) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.in_flight.push(InFlight {
            id,
            len,
            abandoned: false,
        });
        id
    }

    /// The driver refused `id` before starting it: it is not in flight.
    pub fn cancel(&mut self, id: RequestId) {
        self.in_flight.retain(|r| r.id != id);
    }

    /// Record what the driver reports. A completion for an id that is not in
    /// flight is refused and changes nothing (its buffer is dropped, never
    /// given to anyone); one with a buffer of the wrong length fails its
    /// request.
    pub fn complete(&mut self, completion: Completion) -> Result<(), BlockError> {
        let Completion { id, status, buffer } = completion;
        let Some(at) = self.in_flight.iter().position(|r| r.id == id) else {
            return Err(BlockError::UnknownCompletion { id: id.0 });
        };
        let request = self.in_flight.swap_remove(at);
        if request.abandoned {
            return Ok(());
        }
        if buffer.len() != request.len {
            let error = BlockError::WrongBufferLength {
                id: id.0,
                expected: request.len,
                got: buffer.len(),
            };
            self.done.push((id, Err(error)));
            return Err(error);
        }
        self.done.push((id, status.map(|()| buffer)));
        Ok(())
    }

    /// The outcome of `id` if it has completed; taken once.
    pub fn take(&mut self, id: RequestId) -> Option<Result<BlockBuffer, BlockError>> {
        let at = self.done.iter().position(|(done, _)| *done == id)?;
        Some(self.done.swap_remove(at).1)
    }

    /// The submitter gives up on `id`: forget its outcome if it is there,
    /// and drop its completion when it comes.
    pub fn abandon(&mut self, id: RequestId) {
        self.done.retain(|(done, _)| *done != id);
        if let Some(r) = self.in_flight.iter_mut().find(|r| r.id == id) {
            r.abandoned = true;
        }
    }
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}
