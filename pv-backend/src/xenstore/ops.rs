//! The operations of docs/misc/xenstore.txt on a [`Conn`]: each checks
//! its path before anything is sent and reads the reply's shape. Relative
//! paths are resolved by xenstored under the domain's home.

use alloc::string::String;
use alloc::vec::Vec;

use super::{Conn, Doorbell, TX_ATTEMPTS, XsError};
use crate::xenstore::ring::RingPage;
use crate::xenstore::wire::{self, MsgType, WireError, XsErrno};

impl<P: RingPage, B: Doorbell> Conn<P, B> {
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
