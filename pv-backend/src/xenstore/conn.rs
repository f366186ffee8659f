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

    /// The queue's counters: delivered, merged, dropped, stray.
    pub fn event_counts(&self) -> super::events::EventCounts {
        self.events.counts
    }

    // The operations, as docs/misc/xenstore.txt names them. Paths are
    // checked before anything is sent; relative ones are resolved by
    // xenstored under the domain's home.

    fn checked(path: &str) -> Result<&str, XsError> {
        wire::check_path(path).map_err(XsError::Wire)?;
        Ok(path)
    }

    fn ok_reply(payload: Vec<u8>) -> Result<(), XsError> {
        // xenstored answers "OK\0"; anything else is not a success.
        match payload.as_slice() {
            b"OK\0" | b"OK" => Ok(()),
            _ => Err(XsError::Wire(WireError::BadReply("not OK"))),
        }
    }

    pub(super) fn read_in(&mut self, tx: u32, path: &str) -> Result<Vec<u8>, XsError> {
        self.request(MsgType::Read, tx, &[Self::checked(path)?], b"")
    }

    pub(super) fn write_in(&mut self, tx: u32, path: &str, value: &[u8]) -> Result<(), XsError> {
        let reply = self.request(MsgType::Write, tx, &[Self::checked(path)?], value)?;
        Self::ok_reply(reply)
    }

    /// `XS_READ`: a node's value.
    pub fn read(&mut self, path: &str) -> Result<Vec<u8>, XsError> {
        self.read_in(0, path)
    }

    /// `XS_WRITE`: sets a node, creating missing parents.
    pub fn write(&mut self, path: &str, value: &[u8]) -> Result<(), XsError> {
        self.write_in(0, path, value)
    }

    /// `XS_MKDIR`: creates a node (and its parents) with an empty value.
    pub fn mkdir(&mut self, path: &str) -> Result<(), XsError> {
        let reply = self.request(MsgType::Mkdir, 0, &[Self::checked(path)?], b"")?;
        Self::ok_reply(reply)
    }

    /// `XS_RM`: removes a node and everything under it.
    pub fn rm(&mut self, path: &str) -> Result<(), XsError> {
        let reply = self.request(MsgType::Rm, 0, &[Self::checked(path)?], b"")?;
        Self::ok_reply(reply)
    }

    /// `XS_DIRECTORY`: the names of a node's children.
    pub fn directory(&mut self, path: &str) -> Result<Vec<String>, XsError> {
        let reply = self.request(MsgType::Directory, 0, &[Self::checked(path)?], b"")?;
        wire::strings(&reply).map_err(XsError::Wire)
    }

    /// `XS_GET_PERMS`: the permission strings ("n0", "r3": letter and
    /// domid; the first is the owner's, its letter what others get).
    pub fn get_perms(&mut self, path: &str) -> Result<Vec<String>, XsError> {
        let reply = self.request(MsgType::GetPerms, 0, &[Self::checked(path)?], b"")?;
        wire::strings(&reply).map_err(XsError::Wire)
    }

    /// `XS_SET_PERMS`: replaces a node's permissions (only its owner may).
    pub fn set_perms(&mut self, path: &str, perms: &[&str]) -> Result<(), XsError> {
        let mut parts = alloc::vec![Self::checked(path)?];
        parts.extend_from_slice(perms);
        let reply = self.request(MsgType::SetPerms, 0, &parts, b"")?;
        Self::ok_reply(reply)
    }

    /// `XS_WATCH`: events for `path` and everything under it will carry
    /// `token`. xenstored fires once at once, on registration.
    pub fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        // Registered first, so the event that may beat the reply is kept.
        self.watches.push((path.into(), token.into()));
        let reply = self.request(MsgType::Watch, 0, &[Self::checked(path)?, token], b"");
        if reply.is_err() {
            self.watches.retain(|(p, t)| !(p == path && t == token));
        }
        Self::ok_reply(reply?)
    }

    /// `XS_UNWATCH`: no more events for this watch; queued ones go too.
    pub fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        let reply = self.request(MsgType::Unwatch, 0, &[Self::checked(path)?, token], b"");
        self.watches.retain(|(p, t)| !(p == path && t == token));
        if !self.watches.iter().any(|(_, t)| t == token) {
            self.events.forget(token);
        }
        Self::ok_reply(reply?)
    }

    /// `XS_RESET_WATCHES`: drops every watch and transaction xenstored
    /// holds for this domain (a domain that boots again starts clean).
    pub fn reset_watches(&mut self) -> Result<(), XsError> {
        let reply = self.request(MsgType::ResetWatches, 0, &[""], b"");
        self.watches.clear();
        self.events.clear();
        Self::ok_reply(reply?)
    }

    /// How many watches we hold.
    pub fn watch_count(&self) -> usize {
        self.watches.len()
    }

    /// `/local/domain/<domid>`, the domain's home, where xenstored puts
    /// relative paths; asked once (`domid` is written by the toolstack).
    pub fn home(&mut self) -> Result<String, XsError> {
        if let Some(home) = &self.home {
            return Ok(home.clone());
        }
        let domid = self.read("domid")?;
        let domid = core::str::from_utf8(&domid)
            .ok()
            .and_then(|d| d.parse::<u16>().ok())
            .ok_or(XsError::Wire(WireError::BadReply("domid is not a number")))?;
        let home = alloc::format!("/local/domain/{domid}");
        self.home = Some(home.clone());
        Ok(home)
    }

    /// `path` made absolute: relative paths are under [`Self::home`].
    pub fn absolute(&mut self, path: &str) -> Result<String, XsError> {
        if path.starts_with('/') {
            return Ok(path.into());
        }
        Ok(alloc::format!("{}/{path}", self.home()?))
    }

    /// `XS_TRANSACTION_START`: a transaction id.
    pub fn transaction_start(&mut self) -> Result<u32, XsError> {
        let reply = self.request(MsgType::TransactionStart, 0, &[""], b"")?;
        wire::transaction_id(&reply).map_err(XsError::Wire)
    }

    /// `XS_TRANSACTION_END`: commit (EAGAIN if a node it read changed
    /// meanwhile: run it again) or abort.
    pub fn transaction_end(&mut self, tx: u32, commit: bool) -> Result<(), XsError> {
        let reply = self.request(
            MsgType::TransactionEnd,
            tx,
            &[if commit { "T" } else { "F" }],
            b"",
        )?;
        Self::ok_reply(reply)
    }

    /// Runs `body` in a transaction and commits it, running it again on
    /// EAGAIN (at most [`TX_ATTEMPTS`] times). Returns the body's value
    /// and the attempt that committed (1 = first). A body that fails
    /// aborts the transaction and its error is returned.
    pub fn transaction<T>(
        &mut self,
        mut body: impl FnMut(&mut Tx<'_, P, B>) -> Result<T, XsError>,
    ) -> Result<(T, u32), XsError> {
        for attempt in 1..=TX_ATTEMPTS {
            let id = self.transaction_start()?;
            let value = match body(&mut Tx { conn: self, id }) {
                Ok(value) => value,
                Err(e) => {
                    // The transaction is of no use now; its own error (if
                    // any) would hide the one that matters.
                    let _ = self.transaction_end(id, false);
                    if e.errno() == Some(XsErrno::Eagain) {
                        self.stats.tx_retries += 1;
                        continue;
                    }
                    return Err(e);
                }
            };
            match self.transaction_end(id, true) {
                Ok(()) => return Ok((value, attempt)),
                Err(e) if e.errno() == Some(XsErrno::Eagain) => self.stats.tx_retries += 1,
                Err(e) => return Err(e),
            }
        }
        Err(XsError::Conflicts(TX_ATTEMPTS))
    }
}

/// An open transaction, inside [`Conn::transaction`].
pub struct Tx<'a, P, B> {
    conn: &'a mut Conn<P, B>,
    id: u32,
}

impl<P: RingPage, B: Doorbell> Tx<'_, P, B> {
    pub fn id(&self) -> u32 {
        self.id
    }

    pub fn read(&mut self, path: &str) -> Result<Vec<u8>, XsError> {
        self.conn.read_in(self.id, path)
    }

    pub fn write(&mut self, path: &str, value: &[u8]) -> Result<(), XsError> {
        self.conn.write_in(self.id, path, value)
    }

    /// The connection itself, for a request outside the transaction (a
    /// test that makes the transaction conflict on purpose).
    pub fn outside(&mut self) -> &mut Conn<P, B> {
        self.conn
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
