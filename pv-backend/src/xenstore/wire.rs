//! The xenstore wire protocol (`xen/include/public/io/xs_wire.h`): a
//! 16-byte header (`struct xsd_sockmsg`: type, req_id, tx_id, len, each a
//! little-endian `u32`) followed by `len` payload bytes, at most
//! [`PAYLOAD_MAX`]. Everything here is pure: it builds requests and reads
//! replies as bytes, so the host tests check it without Xen.
//!
//! Replies come from xenstored, another domain: every length, NUL and
//! number in them is checked, and a reply that breaks the rules is a
//! [`WireError`], never an out-of-bounds read.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// `XENSTORE_PAYLOAD_MAX`: the most payload a message may carry, either way.
pub const PAYLOAD_MAX: usize = 4096;
/// `XENSTORE_ABS_PATH_MAX` and `XENSTORE_REL_PATH_MAX`.
pub const ABS_PATH_MAX: usize = 3072;
pub const REL_PATH_MAX: usize = 2048;
/// Size of `struct xsd_sockmsg`.
pub const HEADER_LEN: usize = 16;

/// `enum xsd_sockmsg_type`: the operations a domU may send, and the two
/// types only the server sends (`WatchEvent`, `Error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MsgType {
    Directory = 1,
    Read = 2,
    GetPerms = 3,
    Watch = 4,
    Unwatch = 5,
    TransactionStart = 6,
    TransactionEnd = 7,
    GetDomainPath = 10,
    Write = 11,
    Mkdir = 12,
    Rm = 13,
    SetPerms = 14,
    WatchEvent = 15,
    Error = 16,
    ResetWatches = 21,
}

impl MsgType {
    /// The type of a header xenstored wrote, if it is one a domU can get.
    pub fn from_wire(value: u32) -> Option<Self> {
        use MsgType::*;
        [
            Directory,
            Read,
            GetPerms,
            Watch,
            Unwatch,
            TransactionStart,
            TransactionEnd,
            GetDomainPath,
            Write,
            Mkdir,
            Rm,
            SetPerms,
            WatchEvent,
            Error,
            ResetWatches,
        ]
        .into_iter()
        .find(|t| *t as u32 == value)
    }
}

/// `struct xsd_sockmsg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: u32,
    pub req_id: u32,
    pub tx_id: u32,
    pub len: u32,
}

impl Header {
    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        for (i, v) in [self.kind, self.req_id, self.tx_id, self.len]
            .into_iter()
            .enumerate()
        {
            out[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads a header the server wrote; a `len` over [`PAYLOAD_MAX`] is
    /// refused before anyone sizes a buffer by it.
    pub fn from_bytes(bytes: &[u8; HEADER_LEN]) -> Result<Self, WireError> {
        let word = |i: usize| {
            let mut w = [0; 4];
            w.copy_from_slice(&bytes[i * 4..i * 4 + 4]);
            u32::from_le_bytes(w)
        };
        let header = Header {
            kind: word(0),
            req_id: word(1),
            tx_id: word(2),
            len: word(3),
        };
        if header.len as usize > PAYLOAD_MAX {
            return Err(WireError::PayloadTooLong(header.len as usize));
        }
        Ok(header)
    }
}

/// The errno names xenstored sends in an `XS_ERROR` reply (`xsd_errors[]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XsErrno {
    Einval,
    Eacces,
    Eexist,
    Eisdir,
    Enoent,
    Enomem,
    Enospc,
    Eio,
    Enotempty,
    Enosys,
    Erofs,
    Ebusy,
    Eagain,
    Eisconn,
    E2big,
    Eperm,
}

const ERRNO_NAMES: [(&str, XsErrno); 16] = [
    ("EINVAL", XsErrno::Einval),
    ("EACCES", XsErrno::Eacces),
    ("EEXIST", XsErrno::Eexist),
    ("EISDIR", XsErrno::Eisdir),
    ("ENOENT", XsErrno::Enoent),
    ("ENOMEM", XsErrno::Enomem),
    ("ENOSPC", XsErrno::Enospc),
    ("EIO", XsErrno::Eio),
    ("ENOTEMPTY", XsErrno::Enotempty),
    ("ENOSYS", XsErrno::Enosys),
    ("EROFS", XsErrno::Erofs),
    ("EBUSY", XsErrno::Ebusy),
    ("EAGAIN", XsErrno::Eagain),
    ("EISCONN", XsErrno::Eisconn),
    ("E2BIG", XsErrno::E2big),
    ("EPERM", XsErrno::Eperm),
];

impl XsErrno {
    /// The errno of an `XS_ERROR` payload (`"ENOENT\0"`); a name not in
    /// the table is `EINVAL`, as Linux reads it.
    pub fn from_payload(payload: &[u8]) -> Self {
        let name = payload.strip_suffix(&[0]).unwrap_or(payload);
        ERRNO_NAMES
            .iter()
            .find(|(n, _)| n.as_bytes() == name)
            .map_or(XsErrno::Einval, |(_, e)| *e)
    }

    pub fn name(self) -> &'static str {
        ERRNO_NAMES
            .iter()
            .find(|(_, e)| *e == self)
            .map_or("EINVAL", |(n, _)| n)
    }
}

/// What was wrong with a request we were asked to build, or a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// A path that xenstored would refuse: empty, a character outside
    /// `[A-Za-z0-9-/_@]`, `//`, a trailing `/`, or too long.
    BadPath(&'static str),
    /// A message longer than the protocol allows (nothing was sent).
    PayloadTooLong(usize),
    /// A reply that does not have the shape its type requires.
    BadReply(&'static str),
    /// xenstored answered with `XS_ERROR`.
    Errno(XsErrno),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadPath(why) => write!(f, "bad xenstore path: {why}"),
            Self::PayloadTooLong(len) => {
                write!(
                    f,
                    "xenstore payload of {len} bytes (the protocol allows {PAYLOAD_MAX})"
                )
            }
            Self::BadReply(why) => write!(f, "malformed xenstore reply: {why}"),
            Self::Errno(e) => write!(f, "xenstore error {}", e.name()),
        }
    }
}

/// Checks a path as xenstored would (docs/misc/xenstore.txt): absolute
/// paths start with `/`, others are relative to the domain's home.
pub fn check_path(path: &str) -> Result<(), WireError> {
    let max = if path.starts_with('/') {
        ABS_PATH_MAX
    } else {
        REL_PATH_MAX
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-/_@".contains(c);
    if path.is_empty() {
        Err(WireError::BadPath("empty"))
    } else if path.len() > max {
        Err(WireError::BadPath("longer than the protocol allows"))
    } else if !path.chars().all(allowed) {
        Err(WireError::BadPath(
            "a character outside A-Z a-z 0-9 - / _ @",
        ))
    } else if path.contains("//") {
        Err(WireError::BadPath("an empty component (//)"))
    } else if path.len() > 1 && path.ends_with('/') {
        Err(WireError::BadPath("a trailing /"))
    } else {
        Ok(())
    }
}

/// A whole request message: header and payload, ready for the ring. The
/// payload is `parts` each followed by a NUL, then `tail` without one
/// (the value of an `XS_WRITE`).
pub fn request(
    kind: MsgType,
    req_id: u32,
    tx_id: u32,
    parts: &[&str],
    tail: &[u8],
) -> Result<Vec<u8>, WireError> {
    let len = parts.iter().map(|p| p.len() + 1).sum::<usize>() + tail.len();
    if len > PAYLOAD_MAX {
        return Err(WireError::PayloadTooLong(len));
    }
    let header = Header {
        kind: kind as u32,
        req_id,
        tx_id,
        len: len as u32,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + len);
    out.extend_from_slice(&header.to_bytes());
    for part in parts {
        out.extend_from_slice(part.as_bytes());
        out.push(0);
    }
    out.extend_from_slice(tail);
    Ok(out)
}

/// The NUL-terminated strings of a payload (`XS_DIRECTORY`, a watch
/// event): every one must end in a NUL and be UTF-8.
pub fn strings(payload: &[u8]) -> Result<Vec<String>, WireError> {
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    let Some(body) = payload.strip_suffix(&[0]) else {
        return Err(WireError::BadReply("a string without its NUL"));
    };
    body.split(|b| *b == 0)
        .map(|s| {
            core::str::from_utf8(s)
                .map(String::from)
                .map_err(|_| WireError::BadReply("a string that is not UTF-8"))
        })
        .collect()
}

/// An `XS_WATCH_EVENT`: the path that changed and the watch's token.
/// Exactly two strings, each NUL-terminated.
pub fn watch_event(payload: &[u8]) -> Result<(String, String), WireError> {
    match <[String; 2]>::try_from(strings(payload)?) {
        Ok([path, token]) => Ok((path, token)),
        Err(_) => Err(WireError::BadReply(
            "a watch event that is not path and token",
        )),
    }
}

/// The id in an `XS_TRANSACTION_START` reply: decimal, NUL-terminated,
/// not 0 (0 means "no transaction").
pub fn transaction_id(payload: &[u8]) -> Result<u32, WireError> {
    let text = payload.strip_suffix(&[0]).unwrap_or(payload);
    core::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<u32>().ok())
        .filter(|id| *id != 0)
        .ok_or(WireError::BadReply(
            "a transaction id that is not a non-zero number",
        ))
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
