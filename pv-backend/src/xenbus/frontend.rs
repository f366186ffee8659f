//! One frontend device: discovery under `device/<type>`, the keys of both
//! ends, and the state handshake with the backend.
//!
//! The handshake, as blkfront runs it (xen/include/public/io/blkif.h and
//! Linux's xen-blkfront for the order): the toolstack creates both ends,
//! the backend goes `InitWait` when its hotplug work is done; the frontend
//! reads what the backend offers, grants its ring and publishes
//! `ring-ref`, `event-channel`, `protocol` *together with*
//! `state = Initialised` in one transaction ([`Device::publish`]), so the
//! backend, which watches our `state`, never sees the state without the
//! keys it must read; the backend connects and goes `Connected`; the
//! frontend reads `sectors` and the features and goes `Connected` too.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{XenbusError, XenbusState};
use crate::xenstore::XsError;
use crate::xenstore::conn::{Conn, Doorbell};
use crate::xenstore::ring::RingPage;
use crate::xenstore::wire::{self, XsErrno};

/// The most devices of one type believed in one listing: the list comes
/// from the toolstack and memory must not follow it without bound.
pub const DEVICES_MAX: usize = 64;
/// The longest backend path accepted. libxl's are about 40 bytes
/// (`/local/domain/0/backend/vbd/12/51712`); the protocol would allow 3072.
pub const BACKEND_PATH_MAX: usize = 256;
/// `DOMID_FIRST_RESERVED` (xen/include/public/xen.h): ids from here up
/// name no real domain that could serve a device.
pub const DOMID_FIRST_RESERVED: u16 = 0x7ff0;

/// A failed request about `path`: a missing node is [`XenbusError::Missing`].
fn store_error(path: &str, error: XsError) -> XenbusError {
    if error.errno() == Some(XsErrno::Enoent) {
        XenbusError::Missing { path: path.into() }
    } else {
        XenbusError::Store {
            path: path.into(),
            error,
        }
    }
}

/// A node's value as text (a trailing NUL some writers add is dropped).
fn read_text<P: RingPage, B: Doorbell>(
    conn: &mut Conn<P, B>,
    path: &str,
) -> Result<String, XenbusError> {
    let value = conn.read(path).map_err(|e| store_error(path, e))?;
    let value = value.strip_suffix(b"\0").unwrap_or(&value);
    core::str::from_utf8(value)
        .map(String::from)
        .map_err(|_| XenbusError::Malformed {
            path: path.into(),
            why: "not UTF-8 text",
        })
}

/// A decimal number as the toolstack and backends write them: digits
/// only, no sign, no spaces, within `u64`.
pub fn parse_decimal(text: &str) -> Result<u64, &'static str> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a decimal number");
    }
    text.parse().map_err(|_| "a number too large")
}

/// A decimal node's value.
pub fn read_decimal<P: RingPage, B: Doorbell>(
    conn: &mut Conn<P, B>,
    path: &str,
) -> Result<u64, XenbusError> {
    let text = read_text(conn, path)?;
    parse_decimal(&text).map_err(|why| XenbusError::Malformed {
        path: path.into(),
        why,
    })
}

/// The ids of the devices of `kind` (`vbd`, `vif`) this domain has,
/// ascending; none if `device/<kind>` does not exist.
pub fn device_ids<P: RingPage, B: Doorbell>(
    conn: &mut Conn<P, B>,
    kind: &str,
) -> Result<Vec<u32>, XenbusError> {
    let dir = format!("device/{kind}");
    if kind.is_empty() || kind.contains('/') {
        return Err(XenbusError::Malformed {
            path: dir,
            why: "not a device type",
        });
    }
    let names = match conn.directory(&dir) {
        Ok(names) => names,
        Err(e) if e.errno() == Some(XsErrno::Enoent) => return Ok(Vec::new()),
        Err(e) => return Err(store_error(&dir, e)),
    };
    if names.len() > DEVICES_MAX {
        return Err(XenbusError::Malformed {
            path: dir,
            why: "more devices than the 64 a frontend takes",
        });
    }
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        let id = parse_decimal(&name)
            .ok()
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| XenbusError::Malformed {
                path: format!("{dir}/{name}"),
                why: "not a device id (a decimal u32)",
            })?;
        ids.push(id);
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Checks a `backend` value against its `backend-id`: an absolute,
/// well-formed path under `/local/domain/<backend-id>/backend/`, of a
/// bounded length. Anything else would have us read (and trust) another
/// part of the store.
pub fn check_backend_path(path: &str, backend_id: u16) -> Result<(), &'static str> {
    if path.len() > BACKEND_PATH_MAX {
        return Err("a backend path longer than 256 bytes");
    }
    if !path.starts_with('/') {
        return Err("a backend path that is not absolute");
    }
    wire::check_path(path).map_err(|_| "not a valid xenstore path")?;
    let prefix = format!("/local/domain/{backend_id}/backend/");
    if !path.starts_with(&prefix) {
        return Err("a backend path not under /local/domain/<backend-id>/backend/");
    }
    Ok(())
}

/// One device of this domain and where its backend lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// `vbd`, `vif`, ...
    pub kind: String,
    pub id: u32,
    /// `/local/domain/<us>/device/<kind>/<id>`.
    pub frontend: String,
    /// The backend's directory, checked by [`check_backend_path`].
    pub backend: String,
    pub backend_id: u16,
}

/// Reads device `id` of `kind`: its `backend-id` and `backend`.
pub fn probe<P: RingPage, B: Doorbell>(
    conn: &mut Conn<P, B>,
    kind: &str,
    id: u32,
) -> Result<Device, XenbusError> {
    let relative = format!("device/{kind}/{id}");
    let frontend = conn
        .absolute(&relative)
        .map_err(|e| store_error(&relative, e))?;
    let id_path = format!("{frontend}/backend-id");
    let backend_id = read_decimal(conn, &id_path)?;
    let backend_id = u16::try_from(backend_id)
        .ok()
        .filter(|d| *d < DOMID_FIRST_RESERVED)
        .ok_or(XenbusError::Malformed {
            path: id_path,
            why: "not a domain id (below 0x7ff0)",
        })?;
    let path = format!("{frontend}/backend");
    let backend = read_text(conn, &path)?;
    check_backend_path(&backend, backend_id).map_err(|why| XenbusError::Malformed { path, why })?;
    Ok(Device {
        kind: kind.into(),
        id,
        frontend,
        backend,
        backend_id,
    })
}

impl Device {
    pub fn frontend_key(&self, key: &str) -> String {
        format!("{}/{key}", self.frontend)
    }

    pub fn backend_key(&self, key: &str) -> String {
        format!("{}/{key}", self.backend)
    }

    /// A key the backend must have written (`sectors`, `info`).
    pub fn read_backend<P: RingPage, B: Doorbell>(
        &self,
        conn: &mut Conn<P, B>,
        key: &str,
    ) -> Result<String, XenbusError> {
        read_text(conn, &self.backend_key(key))
    }

    /// A decimal key the backend must have written.
    pub fn read_backend_decimal<P: RingPage, B: Doorbell>(
        &self,
        conn: &mut Conn<P, B>,
        key: &str,
    ) -> Result<u64, XenbusError> {
        read_decimal(conn, &self.backend_key(key))
    }

    /// A decimal key the backend may leave out (`feature-*`: absent means
    /// not offered).
    pub fn read_backend_optional<P: RingPage, B: Doorbell>(
        &self,
        conn: &mut Conn<P, B>,
        key: &str,
    ) -> Result<Option<u64>, XenbusError> {
        match self.read_backend_decimal(conn, key) {
            Err(XenbusError::Missing { .. }) => Ok(None),
            other => other.map(Some),
        }
    }

    /// The backend's state; a missing node reads as `Unknown` (the backend
    /// is not there yet, or gone), as Linux's `xenbus_read_driver_state`.
    pub fn backend_state<P: RingPage, B: Doorbell>(
        &self,
        conn: &mut Conn<P, B>,
    ) -> Result<XenbusState, XenbusError> {
        read_state(conn, &self.backend_key("state"))
    }

    /// Our own state, as the store has it.
    pub fn state<P: RingPage, B: Doorbell>(
        &self,
        conn: &mut Conn<P, B>,
    ) -> Result<XenbusState, XenbusError> {
        read_state(conn, &self.frontend_key("state"))
    }

    /// Writes our `state` alone (a step that publishes nothing else).
    pub fn switch_state<P: RingPage, B: Doorbell>(
        &self,
        conn: &mut Conn<P, B>,
        state: XenbusState,
    ) -> Result<(), XenbusError> {
        let path = self.frontend_key("state");
        conn.write(&path, state.text().as_bytes())
            .map_err(|e| store_error(&path, e))
    }

    /// Writes `keys` under our directory and then `state`, in one
    /// transaction: the backend sees all of them or none. Returns the
    /// attempt that committed (1 unless another writer conflicted).
    pub fn publish<P: RingPage, B: Doorbell>(
        &self,
        conn: &mut Conn<P, B>,
        keys: &[(&str, &str)],
        state: XenbusState,
    ) -> Result<u32, XenbusError> {
        let state_path = self.frontend_key("state");
        let (_, attempt) = conn
            .transaction(|tx| {
                for (key, value) in keys {
                    tx.write(&self.frontend_key(key), value.as_bytes())?;
                }
                tx.write(&state_path, state.text().as_bytes())
            })
            .map_err(|e| store_error(&self.frontend, e))?;
        Ok(attempt)
    }

    /// Waits until the backend is in one of `wanted`, sleeping on a watch
    /// of its `state` node, for at most `timeout_ns`. A backend that is or
    /// goes `Closing`/`Closed` (unless that is wanted) ends the wait with
    /// [`XenbusError::BackendClosed`].
    pub fn wait_backend<P: RingPage, B: Doorbell>(
        &self,
        conn: &mut Conn<P, B>,
        wanted: &[XenbusState],
        timeout_ns: u64,
    ) -> Result<XenbusState, XenbusError> {
        let path = self.backend_key("state");
        let token = format!("xenbus:{}", self.frontend);
        conn.watch(&path, &token)
            .map_err(|e| store_error(&path, e))?;
        let reached = self.wait_watched(conn, &token, wanted, timeout_ns);
        let unwatched = conn.unwatch(&path, &token);
        let state = reached?;
        unwatched.map_err(|e| store_error(&path, e))?;
        Ok(state)
    }

    fn wait_watched<P: RingPage, B: Doorbell>(
        &self,
        conn: &mut Conn<P, B>,
        token: &str,
        wanted: &[XenbusState],
        timeout_ns: u64,
    ) -> Result<XenbusState, XenbusError> {
        let start = conn.now_ns();
        let deadline = start.map(|t| t.saturating_add(timeout_ns));
        loop {
            // Read after every wake-up: an event says the node changed,
            // not what it holds now.
            let state = self.backend_state(conn)?;
            if wanted.contains(&state) {
                return Ok(state);
            }
            if state.is_closing() {
                return Err(XenbusError::BackendClosed {
                    device: self.frontend.clone(),
                    state,
                });
            }
            let now = conn.now_ns();
            let remaining = match (now, deadline) {
                (Some(now), Some(deadline)) if now >= deadline => {
                    return Err(XenbusError::Timeout {
                        device: self.frontend.clone(),
                        wanted: wanted.first().copied().unwrap_or(XenbusState::Unknown),
                        last: state,
                        waited_ms: now.saturating_sub(start.unwrap_or(now)) / 1_000_000,
                    });
                }
                (Some(now), Some(deadline)) => deadline - now,
                _ => timeout_ns,
            };
            // Empty when `remaining` passed with no event: the next turn
            // reads the state once more and then reports the timeout.
            conn.wait_events(token, remaining)
                .map_err(|e| store_error(&self.backend_key("state"), e))?;
        }
    }

    /// Takes the device down politely: `Closing`, wait for the backend to
    /// close (or be closed), then `Closed`.
    pub fn close<P: RingPage, B: Doorbell>(
        &self,
        conn: &mut Conn<P, B>,
        timeout_ns: u64,
    ) -> Result<(), XenbusError> {
        self.switch_state(conn, XenbusState::Closing)?;
        let closing = [XenbusState::Closing, XenbusState::Closed];
        let waited = self.wait_backend(conn, &closing, timeout_ns);
        // Closed even if the backend did not answer: we are done with it.
        self.switch_state(conn, XenbusState::Closed)?;
        waited.map(|_| ())
    }
}

/// A `state` node's value; missing reads as `Unknown`.
fn read_state<P: RingPage, B: Doorbell>(
    conn: &mut Conn<P, B>,
    path: &str,
) -> Result<XenbusState, XenbusError> {
    match conn.read(path) {
        Err(e) if e.errno() == Some(XsErrno::Enoent) => Ok(XenbusState::Unknown),
        Err(e) => Err(store_error(path, e)),
        Ok(value) => XenbusState::from_text(&value).map_err(|why| XenbusError::Malformed {
            path: path.into(),
            why,
        }),
    }
}
