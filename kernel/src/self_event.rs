//! One counting handler on [`EventSource::SelfEvent`], shared by the tests
//! and the benchmarks: a source takes a single handler, so whichever of them
//! runs first must not leave the other without one.

use crate::platform::{EventSource, PlatformError};
use core::sync::atomic::{AtomicU64, Ordering};

static DELIVERED: AtomicU64 = AtomicU64::new(0);

fn on_self_event() {
    DELIVERED.fetch_add(1, Ordering::SeqCst);
}

/// Attach the counter (idempotent).
pub fn attach() -> Result<(), PlatformError> {
    match crate::platform().attach(EventSource::SelfEvent, on_self_event) {
        Ok(()) | Err(PlatformError::AlreadyAttached(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Self events delivered so far.
pub fn count() -> u64 {
    DELIVERED.load(Ordering::SeqCst)
}
