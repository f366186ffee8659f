//! The kernel console: formatted output through the platform, and a line
//! of input assembled from the bytes the platform delivers.

use core::fmt::{self, Write};
use spin::Mutex;

/// Serialises writers so lines from different contexts do not interleave.
static LOCK: Mutex<()> = Mutex::new(());

struct PlatformWriter;

impl Write for PlatformWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(p) = crate::try_platform() {
            p.console_write(s.as_bytes());
        }
        Ok(())
    }
}

/// Print formatted text (used by `kprint!`/`kprintln!`).
pub fn print(args: fmt::Arguments<'_>) {
    crate::interrupts::without_interrupts(|| {
        let _guard = LOCK.lock();
        let _ = PlatformWriter.write_fmt(args);
    });
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

/// Read one byte of console input, sleeping until one arrives.
pub fn read_byte() -> u8 {
    let platform = crate::platform();
    let mut b = [0u8; 1];
    crate::time::wait_for(|| platform.console_read(&mut b) == 1);
    b[0]
}

/// Read a line with simple editing (backspace), echoing it. Returns the
/// number of bytes stored in `buf`.
pub fn read_line(buf: &mut [u8]) -> usize {
    let mut len = 0;
    loop {
        match read_byte() {
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
