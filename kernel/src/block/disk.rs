//! A registered device with its request bookkeeping: the one path from a
//! caller (test, shell, benchmark) to a driver.

use alloc::boxed::Box;
use alloc::string::String;

use super::buffer::BlockBuffer;
use super::device::{BlockDevice, DeviceInfo, Operation, Request, RequestId};
use super::error::BlockError;
use super::request::{Tracker, validate};

/// A request the layer did not pass to the driver, with its buffer back.
pub struct Refused {
    /// Why.
    pub error: BlockError,
    /// The caller's buffer, untouched.
    pub buffer: BlockBuffer,
}

/// A block device under a name, as callers use it.
pub struct Disk {
    name: String,
    info: DeviceInfo,
    device: Box<dyn BlockDevice>,
    tracker: spin::Mutex<Tracker>,
}

impl Disk {
    /// Wrap `device`, checking its description once: it is fixed from here.
    pub fn new(name: String, device: Box<dyn BlockDevice>) -> Result<Self, BlockError> {
        let info = device.info();
        info.check()?;
        Ok(Self {
            name,
            info,
            device,
            tracker: spin::Mutex::new(Tracker::new()),
        })
    }

    /// The name it was registered under ("xvda", "sda").
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's geometry and limits.
    pub fn info(&self) -> DeviceInfo {
        self.info
    }

    /// Ask the driver to get ready for a suspend ([`BlockDevice::suspend`]);
    /// the caller has drained [`Disk::in_flight`] to 0.
    pub fn suspend(&self) -> Result<(), BlockError> {
        self.device.suspend()
    }

    /// Tell the driver the machine runs again ([`BlockDevice::resume`]).
    pub fn resume(&self, new_domain: bool) -> Result<(), BlockError> {
        self.device.resume(new_domain)
    }

    /// Requests the device holds now.
    pub fn in_flight(&self) -> usize {
        self.tracker.lock().in_flight()
    }

    /// Validate and start one request; its outcome is later collected with
    /// [`Disk::poll`] and [`Disk::take`]. When the device's queue is full
    /// the request is refused with [`BlockError::QueueFull`]: poll, take,
    /// and submit again.
    pub fn submit(
        &self,
        op: Operation,
        lba: u64,
        buffer: BlockBuffer,
    ) -> Result<RequestId, Refused> {
        let sectors = match validate(&self.info, op, lba, buffer.len()) {
            Ok(sectors) => sectors,
            Err(error) => return Err(Refused { error, buffer }),
        };
        if sectors > u64::from(self.info.max_sectors) {
            let error = BlockError::TooLarge {
                sectors,
                max: self.info.max_sectors,
            };
            return Err(Refused { error, buffer });
        }
        // Held across the driver's submit so a completion polled meanwhile
        // cannot arrive before the id is known.
        let mut tracker = self.tracker.lock();
        let depth = self.info.queue_depth;
        if tracker.in_flight() >= usize::from(depth) {
            return Err(Refused {
                error: BlockError::QueueFull { depth },
                buffer,
            });
        }
        let id = tracker.begin(buffer.len());
        match self.device.submit(Request {
            id,
            op,
            lba,
            buffer,
        }) {
            Ok(()) => Ok(id),
            Err(request) => {
                tracker.cancel(id);
                Err(Refused {
                    error: BlockError::QueueFull { depth },
                    buffer: request.buffer,
                })
            }
        }
    }

    /// Collect every completion the driver has. Returns how many completed
    /// a request in flight; if the driver reported any completion that did
    /// not (an unknown or repeated id, a buffer of the wrong length), all are
    /// still collected and the last such error is returned.
    pub fn poll(&self) -> Result<usize, BlockError> {
        let mut tracker = self.tracker.lock();
        let (mut good, mut bad) = (0, None);
        while let Some(completion) = self.device.poll() {
            match tracker.complete(completion) {
                Ok(()) => good += 1,
                Err(error) => bad = Some(error),
            }
        }
        bad.map_or(Ok(good), Err)
    }

    /// The outcome of `id` if it has been collected: the buffer (holding
    /// the data, for a read) or why the request failed. Taken once.
    pub fn take(&self, id: RequestId) -> Option<Result<BlockBuffer, BlockError>> {
        self.tracker.lock().take(id)
    }

    /// Stop waiting for `id` (a timeout): its completion, when it comes,
    /// frees its buffer and nothing else.
    pub fn abandon(&self, id: RequestId) {
        self.tracker.lock().abandon(id);
    }
}
