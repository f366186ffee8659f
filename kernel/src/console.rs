//! The kernel console: formatted output through the platform, and a line
//! of input assembled from the bytes the platform delivers.
//!
//! # Who may write, and when
//!
//! The backends' consoles are `Sync` on the understanding that writers are
//! serialised (pv-backend's `Console` says so in its `unsafe impl Sync`;
//! the native UART's bytes would interleave). [`LOCK`] is that
//! serialisation, taken with interrupts off so that no handler on this CPU
//! can interrupt a holder and wait for it.
//!
//! Two paths write without waiting for it, and both keep writers
//! serialised all the same:
//!
//! - the crash paths ([`write_crash`]: the exception report and the panic
//!   message) take the lock if it is free. If it is held, its holder is a
//!   context on this CPU (the kernel runs on one) that the crash interrupted,
//!   or the panicking context itself, since every holder runs with
//!   interrupts off and only a CPU exception or a panic can break in. That
//!   holder never writes again: the crash path either shuts the machine
//!   down or abandons it through a catch point that it entered with the lock
//!   free (the abort audit knows which locks were held at entry). So no two
//!   writers are ever in progress at once; the abandoned one may only have
//!   left half a line behind.
//! - [`release_abandoned`] frees the lock that an abandoned context left
//!   held, for the same reason: its holder never runs again. The lock guards
//!   no data (`()`); what a write left half done is the backend's ring or
//!   UART state, which the next write takes as it finds it (the PV ring's
//!   bytes past `out_prod` are unpublished and overwritten, the UART has no
//!   memory).

use core::fmt::{self, Write};
use spin::Mutex;

/// Serialises writers so lines from different contexts do not interleave.
/// `pub(crate)` for the abort audit (`harness::abort`), which must see
/// whether an abandoned context left it held, and for the test that proves
/// it does.
pub(crate) static LOCK: Mutex<()> = Mutex::new(());

struct PlatformWriter;

impl Write for PlatformWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(p) = crate::try_platform() {
            p.console_write(s.as_bytes());
        }
        Ok(())
    }
}

/// Write `s` from a crash path (an unhandled exception, a panic): never
/// waits for [`LOCK`]. See the module's introduction for why writing while
/// it is held keeps writers serialised.
pub fn write_crash(s: &str) {
    // Interrupts off while the lock may be ours, as in `print`: a handler
    // that prints must not find it taken by the context it interrupted.
    crate::arch::irq::without_interrupts(|| {
        let _guard = LOCK.try_lock();
        let _ = PlatformWriter.write_str(s);
    });
}

/// Free [`LOCK`] after the context that held it was abandoned.
///
/// # Safety
/// The lock must be held by a context that will never run again (abandoned
/// through a catch point, after which it is never resumed), so that nothing
/// will drop its guard or be in the middle of a write.
pub(crate) unsafe fn release_abandoned() {
    // SAFETY: the caller guarantees the holder is gone for good; the lock
    // guards no data (see the module's introduction).
    unsafe { LOCK.force_unlock() };
}

/// Print formatted text (used by `kprint!`/`kprintln!`).
pub fn print(args: fmt::Arguments<'_>) {
    crate::arch::irq::without_interrupts(|| {
        let _guard = LOCK.lock();
        let _ = PlatformWriter.write_fmt(args);
    });
}

/// Write `bytes` as they are, under [`LOCK`]: the console soak's burst,
/// which must reach the other end unchanged (no UTF-8 repair).
pub fn write_raw(bytes: &[u8]) {
    crate::arch::irq::without_interrupts(|| {
        let _guard = LOCK.lock();
        if let Some(p) = crate::try_platform() {
            p.console_write(bytes);
        }
    });
}

/// Write bytes a process gave (not necessarily UTF-8: invalid sequences
/// print as U+FFFD).
pub fn write_bytes(bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        print(format_args!("{}", chunk.valid()));
        if !chunk.invalid().is_empty() {
            print(format_args!("\u{fffd}"));
        }
    }
}

/// The kernel console as a [`fmt::Write`], for formatters that take one.
pub struct Writer;

impl Write for Writer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        print(format_args!("{s}"));
        Ok(())
    }
}

/// Print to the kernel console.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

/// Print a line to the kernel console.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Read one byte of console input, sleeping until one arrives. Whenever
/// `pending()` holds meanwhile (checked with interrupts off, so a wake-up
/// cannot be lost), `serve()` runs first: the shell passes the host
/// request pair of the core's `power` module, for which a reader is a clean place
/// to stop.
pub fn read_byte(pending: fn() -> bool, serve: fn()) -> u8 {
    let platform = crate::platform();
    let mut b = [0u8; 1];
    loop {
        let mut got = false;
        crate::time::wait_for(|| {
            got = platform.console_read(&mut b) == 1;
            got || pending()
        });
        if got {
            return b[0];
        }
        serve();
    }
}

/// Read a line with simple editing (backspace), echoing it, serving as
/// [`read_byte`] does. Returns the number of bytes stored in `buf`.
pub fn read_line(buf: &mut [u8], pending: fn() -> bool, serve: fn()) -> usize {
    let mut len = 0;
    loop {
        match read_byte(pending, serve) {
            b'\r' | b'\n' => {
                crate::kprint!("\n");
                return len;
            }
            0x08 | 0x7f if len > 0 => {
                len -= 1;
                crate::kprint!("\x08 \x08");
            }
            b if (0x20..0x7f).contains(&b) && len < buf.len() => {
                buf[len] = b;
                len += 1;
                crate::kprint!("{}", b as char);
            }
            _ => {}
        }
    }
}
