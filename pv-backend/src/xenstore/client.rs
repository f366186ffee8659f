//! The kernel's xenstore connection: the page from `HVM_PARAM_STORE_PFN`,
//! the port from `HVM_PARAM_STORE_EVTCHN` (xenstored bound it before the
//! domain was unpaused), and one request at a time over [`super::ring`].
//! Watch events that arrive between replies are kept for the caller.
//!
//! A wait for xenstored sleeps on the event channel (`SCHEDOP_poll`) with
//! a deadline; a store that does not answer within [`REPLY_TIMEOUT_NS`]
//! is an error, not a hang.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;

use super::page::StorePage;
use super::ring::{self, Incoming, RingError};
use super::wire::{self, MsgType, WireError, XsErrno};
use crate::console::{PortSignal, Signal};
use crate::evtchn::Port;
use crate::hypercall::XenError;
use crate::{abi, hvm};

/// How long one request may wait for its reply.
pub const REPLY_TIMEOUT_NS: u64 = 5_000_000_000;

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XsError {
    /// No store: Xen would not say where, or the page cannot be shared.
    Setup(String),
    Ring(RingError),
    Wire(WireError),
    /// No reply within [`REPLY_TIMEOUT_NS`].
    Timeout,
}

impl XsError {
    /// The errno xenstored answered with, if that is what happened.
    pub fn errno(&self) -> Option<XsErrno> {
        match self {
            Self::Wire(WireError::Errno(e)) => Some(*e),
            _ => None,
        }
    }
}

impl fmt::Display for XsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Setup(why) => write!(f, "no xenstore: {why}"),
            Self::Ring(e) => write!(f, "{e}"),
            Self::Wire(e) => write!(f, "{e}"),
            Self::Timeout => write!(
                f,
                "xenstore did not reply within {} s",
                REPLY_TIMEOUT_NS / 1_000_000_000
            ),
        }
    }
}

/// One connection to xenstored.
pub struct Client {
    page: StorePage,
    signal: PortSignal,
    incoming: Incoming,
    next_id: u32,
    /// Watch events received while waiting for replies: (path, token).
    pub events: Vec<(String, String)>,
}

impl Client {
    /// The store Xen set up for this domain. The page is registered with
    /// `mem::reserve_shared` before it is touched, as the console's is.
    pub fn connect() -> Result<Client, XsError> {
        let setup = |what: &str, e: XenError| XsError::Setup(alloc::format!("{what}: {e}"));
        let pfn = hvm::get_param(abi::HVM_PARAM_STORE_PFN)
            .map_err(|e| setup("HVM_PARAM_STORE_PFN", e))?;
        let port = hvm::get_param(abi::HVM_PARAM_STORE_EVTCHN)
            .map_err(|e| setup("HVM_PARAM_STORE_EVTCHN", e))?;
        if pfn == 0 || pfn == u64::MAX {
            return Err(XsError::Setup(alloc::format!(
                "HVM_PARAM_STORE_PFN is {pfn:#x}"
            )));
        }
        let port =
            Port::try_from(port).map_err(|_| XsError::Setup(alloc::format!("port {port}")))?;
        let addr = pfn
            .checked_mul(4096)
            .ok_or_else(|| XsError::Setup(alloc::format!("frame {pfn:#x}")))?;
        virtus_kernel::mem::reserve_shared(addr)
            .map_err(|e| XsError::Setup(alloc::format!("store page: {e}")))?;
        let page = NonNull::new(addr as *mut u8).ok_or_else(|| XsError::Setup("page 0".into()))?;
        Ok(Client {
            // SAFETY: `reserve_shared` accepted the frame: mapped, not the
            // image, not allocatable; this client is its only user.
            page: unsafe { StorePage::new(page) },
            signal: PortSignal(port),
            incoming: Incoming::default(),
            next_id: 1,
            events: Vec::new(),
        })
    }

    /// Sends one request and waits for its reply; `XS_ERROR` becomes
    /// [`XsError::Wire`] with the errno.
    pub fn request(
        &mut self,
        kind: MsgType,
        tx_id: u32,
        parts: &[&str],
        tail: &[u8],
    ) -> Result<Vec<u8>, XsError> {
        let req_id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let message = wire::request(kind, req_id, tx_id, parts, tail).map_err(XsError::Wire)?;
        let deadline = self
            .signal
            .now_ns()
            .map(|now| now.saturating_add(REPLY_TIMEOUT_NS));
        let mut sent = 0;
        while sent < message.len() {
            let n = ring::send_some(&mut self.page, &message[sent..]).map_err(XsError::Ring)?;
            sent += n;
            self.signal.notify();
            if n == 0 {
                self.wait(deadline)?;
            }
        }
        loop {
            let Some((header, payload)) =
                self.incoming.poll(&mut self.page).map_err(XsError::Ring)?
            else {
                // Tell xenstored we made room, then sleep until it writes.
                self.signal.notify();
                self.wait(deadline)?;
                continue;
            };
            let reply = MsgType::from_wire(header.kind);
            if reply == Some(MsgType::WatchEvent) {
                let event = wire::watch_event(&payload).map_err(XsError::Wire)?;
                self.events.push(event);
                continue;
            }
            // A reply to no request of ours: xenstored is confused.
            if header.req_id != req_id {
                let why = "a reply to another request";
                return Err(XsError::Wire(WireError::BadReply(why)));
            }
            self.signal.notify();
            return match reply {
                Some(MsgType::Error) => Err(XsError::Wire(WireError::Errno(
                    XsErrno::from_payload(&payload),
                ))),
                Some(reply) if reply == kind => Ok(payload),
                _ => Err(XsError::Wire(WireError::BadReply(
                    "a reply of another type",
                ))),
            };
        }
    }

    /// `XS_READ`: a node's value.
    pub fn read(&mut self, path: &str) -> Result<Vec<u8>, XsError> {
        wire::check_path(path).map_err(XsError::Wire)?;
        self.request(MsgType::Read, 0, &[path], b"")
    }

    /// `XS_WRITE`: sets a node, creating missing parents.
    pub fn write(&mut self, path: &str, value: &[u8]) -> Result<(), XsError> {
        wire::check_path(path).map_err(XsError::Wire)?;
        self.request(MsgType::Write, 0, &[path], value).map(drop)
    }

    /// Sleeps on the port until xenstored signals or a slice passes;
    /// [`XsError::Timeout`] once the request's deadline has passed
    /// (without a clock there is no deadline, as for the console).
    fn wait(&mut self, deadline: Option<u64>) -> Result<(), XsError> {
        if let (Some(now), Some(deadline)) = (self.signal.now_ns(), deadline)
            && now >= deadline
        {
            return Err(XsError::Timeout);
        }
        self.signal.arm();
        self.signal.wait();
        Ok(())
    }
}
