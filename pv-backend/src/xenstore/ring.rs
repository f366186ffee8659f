//! The xenstore ring page (`struct xenstore_domain_interface`,
//! public/io/xs_wire.h): a 1 KiB request ring we produce into and
//! xenstored consumes, a 1 KiB response ring it produces into, and
//! free-running `u32` indices, masked on use. A message (16 + up to 4096
//! bytes) never fits the ring at once: both directions stream in chunks,
//! and a reply may arrive over many events.
//!
//! The logic works through [`RingPage`], so the host tests drive it with a
//! simulated xenstored; the kernel's implementation reads and writes the
//! shared page with volatile accesses. The indices xenstored writes
//! (`req_cons`, `rsp_prod`) are checked before they are used: `prod` and
//! `cons` more than a ring apart is a corrupt ring, an error, never an
//! index past the buffer.

use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{Ordering, fence};

use super::wire::{HEADER_LEN, Header, WireError};

/// `XENSTORE_RING_SIZE`.
pub const RING_SIZE: u32 = 1024;

/// The shared page, field by field (offsets in xs_wire.h): `req` at 0,
/// `rsp` at 1024, then `req_cons`, `req_prod`, `rsp_cons`, `rsp_prod`.
pub trait RingPage {
    /// Written by xenstored.
    fn req_cons(&self) -> u32;
    fn req_prod(&self) -> u32;
    fn set_req_prod(&mut self, value: u32);
    fn rsp_cons(&self) -> u32;
    fn set_rsp_cons(&mut self, value: u32);
    /// Written by xenstored.
    fn rsp_prod(&self) -> u32;
    /// `req[at]`, `at` < [`RING_SIZE`].
    fn write_req(&mut self, at: usize, byte: u8);
    /// `rsp[at]`, `at` < [`RING_SIZE`].
    fn read_rsp(&self, at: usize) -> u8;
}

/// Which ring broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ring {
    Request,
    Response,
}

/// Why the ring cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingError {
    /// `prod` and `cons` are more than a ring apart: one of xenstored's
    /// indices cannot be right.
    Corrupt { ring: Ring, prod: u32, cons: u32 },
    /// A header xenstored wrote does not hold (a payload over the limit).
    Wire(WireError),
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Corrupt { ring, prod, cons } => write!(
                f,
                "xenstore {} ring corrupt (prod {prod:#x}, cons {cons:#x}: more than a ring apart)",
                match ring {
                    Ring::Request => "request",
                    Ring::Response => "response",
                }
            ),
            Self::Wire(e) => write!(f, "{e}"),
        }
    }
}

/// Bytes in flight, checked as the console checks its rings.
fn used(ring: Ring, prod: u32, cons: u32) -> Result<u32, RingError> {
    crate::console::ring_used(prod, cons, RING_SIZE).ok_or(RingError::Corrupt { ring, prod, cons })
}

/// Copies as much of `data` as the request ring has room for, publishes
/// it, and returns how much that was (0 when the ring is full: wait for
/// xenstored's event and call again). The caller notifies xenstored.
pub fn send_some(page: &mut impl RingPage, data: &[u8]) -> Result<usize, RingError> {
    let (cons, prod) = (page.req_cons(), page.req_prod());
    let free = RING_SIZE - used(Ring::Request, prod, cons)?;
    let n = data.len().min(free as usize);
    // Read `req_cons` before overwriting the bytes it released.
    fence(Ordering::SeqCst);
    for (i, byte) in data[..n].iter().enumerate() {
        let at = prod.wrapping_add(i as u32) % RING_SIZE;
        page.write_req(at as usize, *byte);
    }
    // The bytes before the index that publishes them.
    fence(Ordering::Release);
    page.set_req_prod(prod.wrapping_add(n as u32));
    Ok(n)
}

/// Copies up to `out.len()` bytes of the response ring into `out`,
/// releases them, and returns how many (0 when nothing is there).
pub fn receive_some(page: &mut impl RingPage, out: &mut [u8]) -> Result<usize, RingError> {
    let (cons, prod) = (page.rsp_cons(), page.rsp_prod());
    let n = out.len().min(used(Ring::Response, prod, cons)? as usize);
    // The index before the bytes it covers.
    fence(Ordering::Acquire);
    for (i, byte) in out[..n].iter_mut().enumerate() {
        *byte = page.read_rsp((cons.wrapping_add(i as u32) % RING_SIZE) as usize);
    }
    // Done with the bytes before handing their space back.
    fence(Ordering::SeqCst);
    page.set_rsp_cons(cons.wrapping_add(n as u32));
    Ok(n)
}

/// Whether xenstored has written bytes we have not read: the condition a
/// reader re-checks after arming its wake-up, before it sleeps.
pub fn has_input(page: &impl RingPage) -> bool {
    page.rsp_prod() != page.rsp_cons()
}

/// Whether the request ring has room (or is corrupt, which the next
/// [`send_some`] reports): the writer's condition to stop waiting.
pub fn has_room(page: &impl RingPage) -> bool {
    page.req_prod().wrapping_sub(page.req_cons()) != RING_SIZE
}

/// A reply (or watch event) being read off the response ring, which may
/// take several calls as its bytes arrive.
#[derive(Debug, Default)]
pub struct Incoming {
    header: [u8; HEADER_LEN],
    have_header: usize,
    parsed: Option<Header>,
    payload: Vec<u8>,
}

impl Incoming {
    /// Reads all that has arrived, up to the end of one message: the
    /// message once its last byte is in, `None` while bytes are missing
    /// (wait for xenstored's event, then call again).
    pub fn poll(
        &mut self,
        page: &mut impl RingPage,
    ) -> Result<Option<(Header, Vec<u8>)>, RingError> {
        loop {
            let Some(header) = self.parsed else {
                let n = receive_some(page, &mut self.header[self.have_header..])?;
                self.have_header += n;
                if self.have_header < HEADER_LEN {
                    return Ok(None);
                }
                // Checked (len <= PAYLOAD_MAX) before it sizes anything.
                let header = Header::from_bytes(&self.header).map_err(RingError::Wire)?;
                self.parsed = Some(header);
                self.have_header = 0;
                self.payload = Vec::with_capacity(header.len as usize);
                continue;
            };
            let missing = header.len as usize - self.payload.len();
            if missing == 0 {
                self.parsed = None;
                return Ok(Some((header, core::mem::take(&mut self.payload))));
            }
            let mut chunk = [0u8; RING_SIZE as usize];
            let n = receive_some(page, &mut chunk[..missing.min(RING_SIZE as usize)])?;
            if n == 0 {
                return Ok(None);
            }
            self.payload.extend_from_slice(&chunk[..n]);
        }
    }
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;
