//! What the core asks of a block device driver, and what it gets back.
//!
//! The trait is asynchronous because both devices Virtus drives are: a
//! blkfront ring holds up to 32 outstanding requests and the backend answers
//! with an event channel notification, an AHCI port has 32 command slots and
//! answers with an interrupt. The driver's interrupt or event handler only
//! notes that something finished; the core collects completions on its main
//! line with [`BlockDevice::poll`], so no core code runs in interrupt
//! context and no driver calls back into the core.

use super::buffer::BlockBuffer;
use super::error::BlockError;

/// Largest sector size the core accepts: a sector must fit in one buffer page.
pub const MAX_SECTOR_SIZE: u32 = super::buffer::PAGE_SIZE as u32;

/// What a driver says about its device, fixed once it is registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Size of the device in sectors.
    pub capacity_sectors: u64,
    /// Bytes per sector: a power of two from 512 to [`MAX_SECTOR_SIZE`].
    pub sector_size: u32,
    /// Writes are refused (a read-only disk or image).
    pub read_only: bool,
    /// How many requests the driver accepts at once (ring slots, command
    /// slots); at least 1.
    pub queue_depth: u16,
    /// The most sectors one request may move; the driver splits what it
    /// must below that (ring segments, PRDs), the core never sends more.
    pub max_sectors: u32,
    /// Which driver serves it ("blkfront", "ahci"), for `disk` listings.
    pub driver: &'static str,
}

impl DeviceInfo {
    /// Refuse a description the request layer could not work with.
    pub fn check(&self) -> Result<(), BlockError> {
        let size = self.sector_size;
        if !size.is_power_of_two() || !(512..=MAX_SECTOR_SIZE).contains(&size) {
            return Err(BlockError::BadDevice(
                "sector size is not a power of two in 512..=4096",
            ));
        }
        if self.queue_depth == 0 {
            return Err(BlockError::BadDevice("queue depth is 0"));
        }
        if self.max_sectors == 0 {
            return Err(BlockError::BadDevice("max_sectors is 0"));
        }
        Ok(())
    }
}

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Read sectors into the buffer.
    Read,
    /// Write the buffer's sectors.
    Write,
    /// Make every completed write durable (a flush of the device's cache or
    /// a barrier); carries no data.
    Flush,
}

/// Names one request from submission to completion. Ids are never reused
/// while a device is registered, so a late or repeated completion cannot be
/// mistaken for a newer request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// One request handed to a driver, already validated by the request layer.
pub struct Request {
    /// Chosen by the request layer; the driver returns it in the completion.
    pub id: RequestId,
    /// What to do.
    pub op: Operation,
    /// First sector (0 for a flush).
    pub lba: u64,
    /// The data: `sectors * sector_size` bytes (empty for a flush). The
    /// driver owns it until it completes the request.
    pub buffer: BlockBuffer,
}

impl Request {
    /// Sectors the request moves, for a driver of sector size `sector_size`.
    pub fn sectors(&self, sector_size: u32) -> u64 {
        (self.buffer.len() / sector_size as usize) as u64
    }
}

/// A finished request, as the driver reports it.
pub struct Completion {
    /// The id the request was submitted with.
    pub id: RequestId,
    /// Whether the device did it ([`BlockError::Io`] or
    /// [`BlockError::Disconnected`] if not).
    pub status: Result<(), BlockError>,
    /// The request's buffer, returned (for a read: the data).
    pub buffer: BlockBuffer,
}

/// A disk, as the core sees it. Implemented by drivers in the backends.
pub trait BlockDevice: Send + Sync {
    /// The device's geometry and limits; the same every time it is asked.
    fn info(&self) -> DeviceInfo;

    /// Start `request`. Main line, never interrupt context; must not wait
    /// for the device. When all [`DeviceInfo::queue_depth`] slots are busy
    /// the driver hands the request back with `Err` (the layer then polls
    /// and tries again); any other failure is reported as a completion.
    fn submit(&self, request: Request) -> Result<(), Request>;

    /// One request the device has finished since the last call, if any.
    /// Main line; never blocks. The driver validates what the device wrote
    /// (ring indices, slot numbers) before it believes it.
    fn poll(&self) -> Option<Completion>;

    /// The machine is about to be suspended for its host, and nothing is in
    /// flight on this device (the core waited). A driver that must hold
    /// state across (or refuse) does it here. Most have nothing to do.
    fn suspend(&self) -> Result<(), BlockError> {
        Ok(())
    }

    /// The machine runs again after [`BlockDevice::suspend`]; with
    /// `new_domain` it was restored elsewhere and the driver must connect
    /// to its device again (same geometry, else it fails). Main line.
    fn resume(&self, new_domain: bool) -> Result<(), BlockError> {
        let _ = new_domain;
        Ok(())
    }
}
