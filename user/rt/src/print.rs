//! `print!` and `println!` over the write call. Each invocation is formatted
//! into a buffer and written with as few calls as its length allows (one for
//! any line under 512 bytes), so two processes printing at once interleave
//! whole lines, not fragments of them.

use core::fmt::{self, Write};

const BUFFER: usize = 512;

struct ConsoleBuffer {
    bytes: [u8; BUFFER],
    len: usize,
}

impl ConsoleBuffer {
    fn flush(&mut self) {
        let mut rest = &self.bytes[..self.len];
        while !rest.is_empty() {
            match crate::sys::write(rest) {
                Ok(0) | Err(_) => break, // nowhere to report it: drop the text
                Ok(n) => rest = &rest[n.min(rest.len())..],
            }
        }
        self.len = 0;
    }
}

impl Write for ConsoleBuffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for chunk in s.as_bytes().chunks(BUFFER) {
            if self.len + chunk.len() > BUFFER {
                self.flush();
            }
            self.bytes[self.len..self.len + chunk.len()].copy_from_slice(chunk);
            self.len += chunk.len();
        }
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut out = ConsoleBuffer {
        bytes: [0; BUFFER],
        len: 0,
    };
    // ConsoleBuffer::write_str never fails; a Display impl that does just
    // ends the text early.
    let _ = out.write_fmt(args);
    out.flush();
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::print::_print(format_args!($($arg)*)) };
}

/// Prints to the console, with a newline.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::print::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
