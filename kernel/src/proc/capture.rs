//! A copy of what processes write to the console, kept while a test asks
//! for it: the kernel's tests read their programs' output from here, and
//! the console (and so the runner) still gets every byte.

use alloc::vec::Vec;
use spin::Mutex;

/// At most this much is kept; the rest is counted as dropped.
const LIMIT: usize = 64 * 1024;

struct Capture {
    on: bool,
    bytes: Vec<u8>,
    dropped: usize,
}

static CAPTURE: Mutex<Capture> = Mutex::new(Capture {
    on: false,
    bytes: Vec::new(),
    dropped: 0,
});

/// Start keeping a copy (dropping any earlier one).
pub fn start() {
    crate::arch::irq::without_interrupts(|| {
        let mut c = CAPTURE.lock();
        c.on = true;
        c.bytes.clear();
        c.dropped = 0;
    });
}

/// Stop, and return what was kept and how many bytes did not fit.
pub fn stop() -> (alloc::string::String, usize) {
    crate::arch::irq::without_interrupts(|| {
        let mut c = CAPTURE.lock();
        c.on = false;
        let bytes = core::mem::take(&mut c.bytes);
        (
            alloc::string::String::from_utf8_lossy(&bytes).into_owned(),
            c.dropped,
        )
    })
}

/// Called by the `write` system call with what it printed.
pub fn record(bytes: &[u8]) {
    crate::arch::irq::without_interrupts(|| {
        let mut c = CAPTURE.lock();
        if !c.on {
            return;
        }
        let room = LIMIT.saturating_sub(c.bytes.len());
        let n = room.min(bytes.len());
        c.bytes.extend_from_slice(&bytes[..n]);
        c.dropped += bytes.len() - n;
    });
}
