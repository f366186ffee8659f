//! Formatting into a fixed buffer, for the start-of-day paths that run
//! before the heap exists (a backend reporting bad boot information).

use core::fmt;

struct Cursor<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Truncate rather than fail: a cut message beats no message.
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Format `args` into `buf`, truncating if it does not fit; returns the
/// bytes written.
pub fn format_into<'a>(buf: &'a mut [u8], args: fmt::Arguments<'_>) -> &'a [u8] {
    let mut cursor = Cursor { buf, len: 0 };
    let _ = fmt::write(&mut cursor, args);
    let len = cursor.len;
    &cursor.buf[..len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_truncates() {
        let mut buf = [0u8; 8];
        assert_eq!(format_into(&mut buf, format_args!("{}-{}", 1, 2)), b"1-2");
        assert_eq!(
            format_into(&mut buf, format_args!("{}", "0123456789")),
            b"01234567"
        );
    }
}
