//! One connection to xenstored: requests and their replies, watch events
//! in between, transactions. Generic over the ring page and the doorbell
//! (the event channel), so the host tests run it against a simulated
//! xenstored; the kernel's `client` plugs in the shared page and the port.
//!
//! One request is in flight at a time (the connection sits behind one
//! lock). A reply is matched by its `req_id`; a reply to an older request
//! (one that timed out) is dropped, a watch event is queued for its
//! reader. Once the ring is found corrupt the connection is dead: every
//! later call fails with the same error instead of reading garbage.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::events::{EventQueue, WatchEvent};
use super::ring::{self, Incoming, RingError, RingPage};
use super::wire::{self, MsgType, WireError, XsErrno};

/// How long one request may wait for its reply.
pub const REPLY_TIMEOUT_NS: u64 = 5_000_000_000;
/// How many times [`Conn::transaction`] runs its body before giving up on
/// a node other writers keep changing.
pub const TX_ATTEMPTS: u32 = 8;

/// The event channel to xenstored, as the connection needs it.
pub trait Doorbell {
    /// Tell xenstored the ring changed.
    fn notify(&mut self);
    /// Sleep until xenstored signals or a short slice passes, unless
    /// `ready()` holds once the wake-up is armed (so that a signal between
    /// the caller's last look and the sleep is not lost).
    fn wait(&mut self, ready: &mut dyn FnMut() -> bool);
    /// Monotonic nanoseconds, if there is a clock: bounds the waits.
    fn now_ns(&mut self) -> Option<u64>;
    /// A watch event was queued (found while reading replies, or pumped):
    /// tell whoever reads the queue. Main line, not interrupt context.
    fn event_queued(&mut self);
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum XsError {
    /// No store: Xen would not say where, or the page cannot be shared.
    Setup(String),
    Ring(RingError),
    Wire(WireError),
    /// No reply within [`REPLY_TIMEOUT_NS`].
    Timeout,
    /// [`Conn::transaction`] met EAGAIN on every one of its attempts.
    Conflicts(u32),
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
            Self::Conflicts(n) => write!(f, "transaction conflicted {n} times (EAGAIN); gave up"),
        }
    }
}

/// Counters for `info` and the tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    pub requests: u64,
    /// Transaction attempts that ended in EAGAIN and were run again.
    pub tx_retries: u64,
    /// Replies to requests we had given up on.
    pub late_replies: u64,
}

/// The connection.
pub struct Conn<P, B> {
    page: P,
    bell: B,
    incoming: Incoming,
    next_id: u32,
    /// The watches we registered: (path as sent, token).
    watches: Vec<(String, String)>,
    events: EventQueue,
    /// Set once the ring is corrupt: the connection is dead.
    broken: Option<RingError>,
    /// `/local/domain/<domid>`, once asked for.
    home: Option<String>,
    pub stats: ConnStats,
}

impl<P: RingPage, B: Doorbell> Conn<P, B> {
    pub fn new(page: P, bell: B) -> Self {
        Conn {
            page,
            bell,
            incoming: Incoming::default(),
            next_id: 1,
            watches: Vec::new(),
            events: EventQueue::default(),
            broken: None,
            home: None,
            stats: ConnStats::default(),
        }
    }

    fn ring<T>(&mut self, r: Result<T, RingError>) -> Result<T, XsError> {
        r.map_err(|e| {
            self.broken = Some(e.clone());
            XsError::Ring(e)
        })
    }

    /// Sends one request and waits for its reply; `XS_ERROR` becomes
    /// [`XsError::Wire`] with the errno. Watch events met on the way are
    /// queued.
    pub fn request(
        &mut self,
        kind: MsgType,
        tx_id: u32,
        parts: &[&str],
        tail: &[u8],
    ) -> Result<Vec<u8>, XsError> {
        if let Some(e) = &self.broken {
            return Err(XsError::Ring(e.clone()));
        }
        let req_id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let message = wire::request(kind, req_id, tx_id, parts, tail).map_err(XsError::Wire)?;
        self.stats.requests += 1;
        let deadline = self
            .bell
            .now_ns()
            .map(|t| t.saturating_add(REPLY_TIMEOUT_NS));
        let mut sent = 0;
        while sent < message.len() {
            let n = ring::send_some(&mut self.page, &message[sent..]);
            sent += self.ring(n)?;
            self.bell.notify();
            if sent < message.len() {
                self.wait(deadline, |page| ring::has_room(page))?;
            }
        }
        loop {
            let Some((header, payload)) = self.poll_incoming()? else {
                self.wait(deadline, |page| ring::has_input(page))?;
                continue;
            };
            let reply = MsgType::from_wire(header.kind);
            if reply == Some(MsgType::WatchEvent) {
                self.queue_event(&payload);
                continue;
            }
            if header.req_id != req_id {
                self.stats.late_replies += 1;
                continue;
            }
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

    /// Reads what has arrived, up to one whole message, and tells
    /// xenstored when that freed space in the response ring (a message
    /// longer than the ring waits for that room).
    fn poll_incoming(&mut self) -> Result<Option<(wire::Header, Vec<u8>)>, XsError> {
        let before = self.page.rsp_cons();
        let polled = self.incoming.poll(&mut self.page);
        let message = self.ring(polled)?;
        if self.page.rsp_cons() != before {
            self.bell.notify();
        }
        Ok(message)
    }

    /// Sleeps until `ready(page)` or xenstored's signal; [`XsError::Timeout`]
    /// once the deadline has passed (without a clock there is none).
    fn wait(&mut self, deadline: Option<u64>, ready: fn(&P) -> bool) -> Result<(), XsError> {
        if let (Some(now), Some(deadline)) = (self.bell.now_ns(), deadline)
            && now >= deadline
        {
            return Err(XsError::Timeout);
        }
        let page = &self.page;
        self.bell.wait(&mut || ready(page));
        Ok(())
    }

    /// Queue a watch event. One xenstored got wrong is dropped and
    /// counted, not an error: the reply being waited for is still good.
    fn queue_event(&mut self, payload: &[u8]) {
        let Ok((path, token)) = wire::watch_event(payload) else {
            self.events.counts.malformed += 1;
            return log::warn!(
                "xenstore: a malformed watch event ({} bytes) dropped",
                payload.len()
            );
        };
        let registered = self.watches.iter().any(|(_, t)| *t == token);
        let dropped = self.events.counts.dropped;
        if self.events.push(WatchEvent { path, token }, registered) {
            self.bell.event_queued();
        } else if self.events.counts.dropped > dropped && dropped.is_power_of_two() | (dropped == 0)
        {
            log::warn!(
                "xenstore: watch event queue full ({} events): {} dropped so far",
                super::events::QUEUE_MAX,
                dropped + 1
            );
        }
    }

    /// Reads whatever xenstored sent while no request was in flight (watch
    /// events) without waiting; a partial message stays for later.
    pub fn pump(&mut self) -> Result<(), XsError> {
        if let Some(e) = &self.broken {
            return Err(XsError::Ring(e.clone()));
        }
        while let Some((header, payload)) = self.poll_incoming()? {
            if MsgType::from_wire(header.kind) == Some(MsgType::WatchEvent) {
                self.queue_event(&payload);
            } else {
                self.stats.late_replies += 1;
            }
        }
        Ok(())
    }

    /// The watch events for `token` that arrived so far (without waiting).
    pub fn take_events(&mut self, token: &str) -> Result<Vec<WatchEvent>, XsError> {
        self.pump()?;
        Ok(self.events.take(token))
    }

    /// Waits up to `timeout_ns` for events for `token`; empty if none came.
    pub fn wait_events(
        &mut self,
        token: &str,
        timeout_ns: u64,
    ) -> Result<Vec<WatchEvent>, XsError> {
        let deadline = self.bell.now_ns().map(|t| t.saturating_add(timeout_ns));
        loop {
            let events = self.take_events(token)?;
            if !events.is_empty() {
                return Ok(events);
            }
            match self.wait(deadline, |page| ring::has_input(page)) {
                Err(XsError::Timeout) => return Ok(events),
                other => other?,
            }
        }
    }

    /// The doorbell's clock (monotonic ns, if there is one), for a caller
    /// that bounds a longer wait of its own across several events (xenbus).
    pub fn now_ns(&mut self) -> Option<u64> {
        self.bell.now_ns()
    }

    /// The domain was restored or migrated: xenstored knows a new domain
    /// whose ring page (the same frame) it has zeroed, on a new event
    /// channel (`bell`), with no watches and no transactions. Forget what
    /// the old connection was in the middle of (a partial message, queued
    /// events, a corrupt ring, the home path: the domain id changed) and
    /// register every watch again (those that fail are dropped, the first
    /// error returned); each fires once on registration, as it
    /// did the first time, so watchers re-read their nodes. Returns how many
    /// watches were registered.
    pub fn reconnect(&mut self, bell: B) -> Result<usize, XsError> {
        self.bell = bell;
        self.incoming = Incoming::default();
        self.events.clear();
        self.broken = None;
        self.home = None;
        // One watch that fails does not cost the others theirs.
        let mut first_error = None;
        for (path, token) in core::mem::take(&mut self.watches) {
            if let Err(e) = self.watch(&path, &token) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(self.watches.len()), Err)
    }

    /// The queue's counters: delivered, merged, dropped, stray.
    pub fn event_counts(&self) -> super::events::EventCounts {
        self.events.counts
    }
}

#[path = "ops.rs"]
mod ops;
pub use ops::Tx;

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
