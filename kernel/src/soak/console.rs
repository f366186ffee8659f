//! The console soak (`soak.console=BYTES[,SEED]`): a burst of BYTES from
//! the guest, then one of BYTES to it, each with its CRC-32 and count.
//!
//! The other end (the runner natively, dom0's script under Xen) speaks a
//! small protocol, line by line except for the two bursts:
//!
//! 1. the guest prints `soak-console: ready bytes=N seed=S` and waits for
//!    the byte `G`: the other end has switched to reading raw bytes;
//! 2. the guest sends the N bytes of the stream of S and says nothing
//!    more: the other end counts exactly N, and no text of ours may
//!    follow them until it has;
//! 3. the other end sends the N bytes of the stream of !S
//!    ([`stream::to_guest_seed`]); the guest reads them raw (no line
//!    editor, no echo), checking each against the stream it expects;
//! 4. the guest prints `soak-console: sent ...` and `soak-console:
//!    received ...` (count, CRC-32, seconds), then `soak-console: ok` or
//!    `soak-console: FAILED ...`, and the run ends with that status.
//!
//! The guest's own figures are what it could measure: how long its writes
//! took (they return once the bytes are in the UART or the ring, not once
//! they arrived) and how long from the first received byte to the last.
//! The other end times its side too.

use super::ConsoleSoak;
use super::stream::{self, Checksum};
use crate::time::{self, NS_PER_MS, NS_PER_SEC};
use crate::{kprintln, platform};

/// How long the guest waits for `G` once it said it was ready.
const GO_TIMEOUT_NS: u64 = 600 * NS_PER_SEC;

/// How long the guest waits for the next received byte before it gives
/// up and reports the short count.
const IDLE_TIMEOUT_NS: u64 = 120 * NS_PER_SEC;

/// The bytes written or read per call: the UART's and the ring's
/// routines take any length; this bounds the stack and how long the
/// console lock is held at a time.
const CHUNK: usize = 256;

/// Run the soak that `spec` asks for; whether it passed, as far as the
/// guest can tell (the bytes it sent are judged at the other end).
pub fn run(spec: &str) -> bool {
    let soak = match ConsoleSoak::parse(spec) {
        Ok(soak) => soak,
        Err(e) => {
            kprintln!("soak-console: FAILED bad soak.console={spec}: {e}; expected BYTES[,SEED]");
            return false;
        }
    };
    let (bytes, seed) = (soak.bytes, soak.seed);
    kprintln!("soak-console: ready bytes={bytes} seed={seed}");
    if !wait_for_go() {
        kprintln!("soak-console: FAILED no `G` from the other end in 600 s");
        return false;
    }
    let (sent, send_ns) = send(seed, bytes);
    let received = receive(stream::to_guest_seed(seed), bytes);
    kprintln!(
        "soak-console: sent bytes={} crc32={:08x} seconds={}",
        sent.len(),
        sent.crc(),
        Seconds(send_ns)
    );
    kprintln!(
        "soak-console: received bytes={} crc32={:08x} seconds={} first_mismatch={}",
        received.sum.len(),
        received.sum.crc(),
        Seconds(received.ns),
        Offset(received.first_mismatch)
    );
    let short = received.sum.len() < bytes;
    match (short, received.first_mismatch) {
        (false, None) => {
            kprintln!("soak-console: ok");
            true
        }
        (true, _) => {
            kprintln!(
                "soak-console: FAILED received {} of {bytes} bytes (nothing for {} s)",
                received.sum.len(),
                IDLE_TIMEOUT_NS / NS_PER_SEC
            );
            false
        }
        (false, Some(at)) => {
            kprintln!("soak-console: FAILED received byte {at} differs from the stream of !seed");
            false
        }
    }
}

/// Wait for the byte `G`, ignoring any other (a stray line end typed
/// before the other end switched to raw bytes).
fn wait_for_go() -> bool {
    let platform = platform();
    let deadline = time::now_ns().saturating_add(GO_TIMEOUT_NS);
    let mut byte = [0u8; 1];
    loop {
        let got = time::wait_until(deadline, || platform.console_read(&mut byte) == 1);
        if !got {
            return false;
        }
        if byte[0] == b'G' {
            return true;
        }
    }
}

/// Send bytes `0..bytes` of the stream of `seed`; their checksum and the
/// time the writes took.
fn send(seed: u64, bytes: u64) -> (Checksum, u64) {
    let mut sum = Checksum::new();
    let mut chunk = [0u8; CHUNK];
    let start = time::now_ns();
    let mut at = 0;
    while at < bytes {
        let n = (bytes - at).min(CHUNK as u64) as usize;
        stream::fill(seed, at, &mut chunk[..n]);
        crate::console::write_raw(&chunk[..n]);
        sum.update(&chunk[..n]);
        at += n as u64;
    }
    (sum, time::now_ns() - start)
}

/// What the guest received.
struct Received {
    sum: Checksum,
    /// From the first byte to the last.
    ns: u64,
    /// The first position whose byte is not the expected stream's.
    first_mismatch: Option<u64>,
}

/// Read up to `bytes` raw bytes, checking them against the stream of
/// `seed`; stop early after [`IDLE_TIMEOUT_NS`] without a byte.
fn receive(seed: u64, bytes: u64) -> Received {
    let platform = platform();
    let mut got = Received {
        sum: Checksum::new(),
        ns: 0,
        first_mismatch: None,
    };
    let mut chunk = [0u8; CHUNK];
    let mut first_at = None;
    while got.sum.len() < bytes {
        let want = (bytes - got.sum.len()).min(CHUNK as u64) as usize;
        let mut n = platform.console_read(&mut chunk[..want]);
        if n == 0 {
            let deadline = time::now_ns().saturating_add(IDLE_TIMEOUT_NS);
            time::wait_until(deadline, || {
                n = platform.console_read(&mut chunk[..want]);
                n > 0
            });
            if n == 0 {
                break;
            }
        }
        let now = time::now_ns();
        let first = *first_at.get_or_insert(now);
        got.ns = now - first;
        if got.first_mismatch.is_none() {
            let base = got.sum.len();
            got.first_mismatch = (0..n)
                .find(|&i| chunk[i] != stream::byte_at(seed, base + i as u64))
                .map(|i| base + i as u64);
        }
        got.sum.update(&chunk[..n]);
    }
    got
}

/// Nanoseconds as seconds with three decimals.
struct Seconds(u64);

impl core::fmt::Display for Seconds {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ns = self.0;
        write!(f, "{}.{:03}", ns / NS_PER_SEC, (ns / NS_PER_MS) % 1000)
    }
}

/// A byte position, or `none`.
struct Offset(Option<u64>);

impl core::fmt::Display for Offset {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(at) => write!(f, "{at}"),
            None => f.write_str("none"),
        }
    }
}
