//! blkfront's XenBus handshake (blkif.h, "Frontend/Backend handshake"),
//! split in the two steps around the ring set-up so that the caller can
//! grant the ring and bind the event channel between them without holding
//! xenstore's lock:
//! 1. [`offer`]: wait for the backend's `InitWait` and read what it offers
//!    (`max-ring-page-order`, `feature-max-indirect-segments`,
//!    `feature-persistent`; all optional);
//! 2. [`connect`]: publish `ring-ref` (or `ring-page-order` and
//!    `ring-refN`), `event-channel`, `protocol`, `feature-persistent` (if
//!    wanted) and `state = Initialised`
//!    in one transaction, wait for `Connected`, read the disk (`sectors`,
//!    `sector-size`, `info`, `feature-flush-cache`, `feature-barrier`) and
//!    go `Connected` ourselves.
//!
//! What the backend wrote is checked; a missing or malformed key is an
//! error naming its path.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::wire::{VDISK_CDROM, VDISK_READONLY, VDISK_REMOVABLE, WIRE_SECTOR};
use crate::xenbus::{Device, XenbusError, XenbusState};
use crate::xenstore::conn::{Conn, Doorbell};
use crate::xenstore::ring::RingPage;

/// The protocol name for x86_64 guests (`XEN_IO_PROTO_ABI_X86_64`).
pub const PROTOCOL: &str = "x86_64-abi";
/// The largest ring order blkif.h lets a backend offer (`max-ring-page-order`
/// is log2 of at most 16 pages in Linux's and QEMU's backends; more is not
/// believed).
pub const MAX_RING_ORDER: u64 = 4;

/// What the backend offers before the ring exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offer {
    /// log2 of the most ring pages it maps (0 if the key is absent).
    pub max_ring_page_order: u32,
    /// The most segments of an indirect request (0: no indirect requests).
    pub max_indirect_segments: u32,
    /// `feature-persistent`.
    pub persistent: bool,
}

/// How the frontend's ring is reached: the grant references of its pages
/// and the unbound event channel the backend binds to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingSetup {
    pub refs: Vec<u32>,
    pub port: u32,
    /// Write `feature-persistent = 1`: the frontend will reuse its grants.
    /// blkback states its own `feature-persistent` only at connect, after
    /// it read ours (blkif.h: the protocol is compatible either way, so
    /// the frontend may say so before it knows), and uses persistent
    /// grants only if both said 1.
    pub persistent: bool,
}

/// How a flush is asked for, from the backend's features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushKind {
    /// `BLKIF_OP_FLUSH_DISKCACHE` (`feature-flush-cache = 1`).
    FlushCache,
    /// `BLKIF_OP_WRITE_BARRIER` (`feature-barrier = 1`).
    Barrier,
    /// Neither: a flush fails with a clear error.
    None,
}

/// The disk as the connected backend describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskParams {
    /// In 512-byte sectors.
    pub sectors: u64,
    pub sector_size: u32,
    /// The `info` bits.
    pub info: u64,
    pub flush: FlushKind,
    /// `feature-persistent` as the connected backend states it (blkback
    /// writes it at connect, not at InitWait).
    pub persistent: bool,
}

impl DiskParams {
    pub fn read_only(&self) -> bool {
        self.info & VDISK_READONLY != 0
    }
    pub fn removable(&self) -> bool {
        self.info & VDISK_REMOVABLE != 0
    }
    pub fn cdrom(&self) -> bool {
        self.info & VDISK_CDROM != 0
    }
}

fn malformed(dev: &Device, key: &str, why: &'static str) -> XenbusError {
    XenbusError::Malformed {
        path: dev.backend_key(key),
        why,
    }
}

/// An optional `0`/`1` feature key.
fn flag<P: RingPage, B: Doorbell>(
    conn: &mut Conn<P, B>,
    dev: &Device,
    key: &str,
) -> Result<bool, XenbusError> {
    match dev.read_backend_optional(conn, key)? {
        None | Some(0) => Ok(false),
        Some(1) => Ok(true),
        Some(_) => Err(malformed(dev, key, "a feature flag other than 0 or 1")),
    }
}

/// Step 1: waits (up to `timeout_ns`) for the backend to reach `InitWait`
/// and reads its offer.
pub fn offer<P: RingPage, B: Doorbell>(
    conn: &mut Conn<P, B>,
    dev: &Device,
    timeout_ns: u64,
) -> Result<Offer, XenbusError> {
    dev.wait_backend(conn, &[XenbusState::InitWait], timeout_ns)?;
    let order = dev
        .read_backend_optional(conn, "max-ring-page-order")?
        .unwrap_or(0);
    if order > MAX_RING_ORDER {
        return Err(malformed(dev, "max-ring-page-order", "above 4 (16 pages)"));
    }
    let segs = dev
        .read_backend_optional(conn, "feature-max-indirect-segments")?
        .unwrap_or(0);
    let segs = u32::try_from(segs)
        .map_err(|_| malformed(dev, "feature-max-indirect-segments", "above u32"))?;
    Ok(Offer {
        max_ring_page_order: order as u32,
        max_indirect_segments: segs,
        persistent: flag(conn, dev, "feature-persistent")?,
    })
}

/// The keys step 2 publishes for `ring` (one page: `ring-ref`; more:
/// `ring-page-order` and `ring-ref0..N-1`).
pub fn ring_keys(ring: &RingSetup) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    if let [only] = ring.refs[..] {
        keys.push(("ring-ref".into(), format!("{only}")));
    } else {
        let order = ring.refs.len().trailing_zeros();
        keys.push(("ring-page-order".into(), format!("{order}")));
        for (i, r) in ring.refs.iter().enumerate() {
            keys.push((format!("ring-ref{i}"), format!("{r}")));
        }
    }
    keys.push(("event-channel".into(), format!("{}", ring.port)));
    keys.push(("protocol".into(), PROTOCOL.into()));
    if ring.persistent {
        keys.push(("feature-persistent".into(), "1".into()));
    }
    keys
}

/// Step 2: publishes the ring, waits (up to `timeout_ns`) for the backend
/// to connect, reads the disk and switches to `Connected`.
pub fn connect<P: RingPage, B: Doorbell>(
    conn: &mut Conn<P, B>,
    dev: &Device,
    ring: &RingSetup,
    timeout_ns: u64,
) -> Result<DiskParams, XenbusError> {
    assert!(
        ring.refs.len().is_power_of_two(),
        "ring pages: a power of two"
    );
    let keys = ring_keys(ring);
    let borrowed: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    dev.publish(conn, &borrowed, XenbusState::Initialised)?;
    dev.wait_backend(conn, &[XenbusState::Connected], timeout_ns)?;
    let params = read_disk(conn, dev)?;
    dev.switch_state(conn, XenbusState::Connected)?;
    Ok(params)
}

/// The connected backend's description of the disk.
pub fn read_disk<P: RingPage, B: Doorbell>(
    conn: &mut Conn<P, B>,
    dev: &Device,
) -> Result<DiskParams, XenbusError> {
    let sectors = dev.read_backend_decimal(conn, "sectors")?;
    let size = dev.read_backend_decimal(conn, "sector-size")?;
    // Without feature-large-sector-size (which Virtus does not write) the
    // wire counts 512-byte sectors and the backend must use them too.
    if size != u64::from(WIRE_SECTOR) {
        return Err(malformed(
            dev,
            "sector-size",
            "not 512 (other sizes need feature-large-sector-size, which Virtus does not use)",
        ));
    }
    if sectors > u64::MAX / 512 {
        return Err(malformed(dev, "sectors", "more bytes than 64 bits count"));
    }
    let info = dev.read_backend_decimal(conn, "info")?;
    let flush = if flag(conn, dev, "feature-flush-cache")? {
        FlushKind::FlushCache
    } else if flag(conn, dev, "feature-barrier")? {
        FlushKind::Barrier
    } else {
        FlushKind::None
    };
    Ok(DiskParams {
        sectors,
        sector_size: WIRE_SECTOR,
        info,
        flush,
        persistent: flag(conn, dev, "feature-persistent")?,
    })
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;
