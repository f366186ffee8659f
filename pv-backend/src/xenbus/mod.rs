//! XenBus, the frontend side: what every split driver (blkfront first)
//! does in xenstore before its ring carries anything. It finds its devices
//! under `device/<type>`, follows each one's `backend` path into the
//! backend domain's part of the store, and steps through the states of
//! `xen/include/public/io/xenbus.h` with the backend, one watch on the
//! backend's `state` node at a time.
//!
//! Everything read here was written by the toolstack or by the backend
//! domain: paths, ids and states are checked, and a key that is missing
//! or malformed is an error that names its path. Pure logic over a
//! [`Conn`](crate::xenstore::conn::Conn), tested on the host against the
//! simulated xenstored.

use alloc::string::String;
use core::fmt;

use crate::xenstore::XsError;

pub mod frontend;

pub use frontend::{Device, device_ids, probe};

/// `enum xenbus_state` (`xen/include/public/io/xenbus.h`). Written into
/// xenstore as decimal text in each end's `state` node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum XenbusState {
    Unknown = 0,
    Initialising = 1,
    /// Early set-up done, waiting for the peer (or the hotplug script).
    InitWait = 2,
    /// Set up; waiting for the peer to connect.
    Initialised = 3,
    Connected = 4,
    /// Being closed, after an error or an unplug.
    Closing = 5,
    Closed = 6,
    Reconfiguring = 7,
    Reconfigured = 8,
}

impl XenbusState {
    const ALL: [XenbusState; 9] = [
        Self::Unknown,
        Self::Initialising,
        Self::InitWait,
        Self::Initialised,
        Self::Connected,
        Self::Closing,
        Self::Closed,
        Self::Reconfiguring,
        Self::Reconfigured,
    ];

    /// The state a `state` node holds: one decimal number, as Linux's
    /// `xenbus_read_driver_state` accepts it (no sign, no padding beyond
    /// what `%d` reads, and a trailing NUL tolerated since some writers
    /// include it).
    pub fn from_text(text: &[u8]) -> Result<Self, &'static str> {
        let text = text.strip_suffix(b"\0").unwrap_or(text);
        if text.is_empty() {
            return Err("empty, not a XenBus state");
        }
        if text.len() > 3 || !text.iter().all(u8::is_ascii_digit) {
            return Err("not a XenBus state (a decimal number 0-8)");
        }
        let n = text.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
        Self::ALL
            .get(usize::from(n))
            .copied()
            .ok_or("a XenBus state number above 8")
    }

    /// The text written into a `state` node.
    pub fn text(self) -> &'static str {
        ["0", "1", "2", "3", "4", "5", "6", "7", "8"][self as usize]
    }

    /// The name the header gives it, for messages.
    pub fn name(self) -> &'static str {
        [
            "Unknown",
            "Initialising",
            "InitWait",
            "Initialised",
            "Connected",
            "Closing",
            "Closed",
            "Reconfiguring",
            "Reconfigured",
        ][self as usize]
    }

    /// The peer is going away: nothing it said before still holds.
    pub fn is_closing(self) -> bool {
        matches!(self, Self::Closing | Self::Closed)
    }
}

impl fmt::Display for XenbusState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), *self as u8)
    }
}

/// Why a XenBus step failed. Each names the xenstore path or the device
/// it is about, so the message alone says where to look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XenbusError {
    /// The request about `path` failed in xenstore itself.
    Store { path: String, error: XsError },
    /// A key the protocol requires is not there.
    Missing { path: String },
    /// A key holds a value the protocol does not allow.
    Malformed { path: String, why: &'static str },
    /// The backend left the handshake: it is (or went) `Closing`/`Closed`.
    BackendClosed { device: String, state: XenbusState },
    /// The backend did not reach any wanted state before the deadline.
    Timeout {
        device: String,
        wanted: XenbusState,
        last: XenbusState,
        waited_ms: u64,
    },
}

impl fmt::Display for XenbusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store { path, error } => write!(f, "xenbus: {path}: {error}"),
            Self::Missing { path } => write!(f, "xenbus: {path}: missing (required)"),
            Self::Malformed { path, why } => write!(f, "xenbus: {path}: {why}"),
            Self::BackendClosed { device, state } => {
                write!(f, "xenbus: {device}: the backend is {state}")
            }
            Self::Timeout {
                device,
                wanted,
                last,
                waited_ms,
            } => write!(
                f,
                "xenbus: {device}: the backend stayed {last} for {waited_ms} ms (waited for {wanted})"
            ),
        }
    }
}

#[cfg(test)]
mod tests;
