//! The kernel command line: `key=value` and bare `key` words separated by
//! ASCII whitespace, as Linux and Xen write them (no quoting: a value cannot
//! contain spaces).
//!
//! The bootloader's copy lives in memory the frame allocator may later hand
//! out, so [`CmdLine`] keeps its own copy in a fixed buffer.

use core::fmt;

/// Why a command line could not be stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmdLineError {
    /// The line is `len` bytes, more than [`CmdLine::MAX`].
    TooLong { len: usize },
}

impl fmt::Display for CmdLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooLong { len } => {
                write!(
                    f,
                    "command line is {len} bytes, longer than {} bytes",
                    CmdLine::MAX
                )
            }
        }
    }
}

/// An owned copy of the kernel command line.
#[derive(Clone)]
pub struct CmdLine {
    buf: [u8; Self::MAX],
    len: usize,
}

impl CmdLine {
    /// Longest command line kept, in bytes, not counting a terminating NUL.
    /// Xen's `MAX_GUEST_CMDLINE` is the same 1024.
    pub const MAX: usize = 1024;

    /// Copies `line`; fails if it is longer than [`Self::MAX`] bytes.
    pub fn new(line: &str) -> Result<Self, CmdLineError> {
        let bytes = line.as_bytes();
        let mut buf = [0u8; Self::MAX];
        let Some(dest) = buf.get_mut(..bytes.len()) else {
            return Err(CmdLineError::TooLong { len: bytes.len() });
        };
        dest.copy_from_slice(bytes);
        Ok(Self {
            buf,
            len: bytes.len(),
        })
    }

    /// The whole line.
    pub fn as_str(&self) -> &str {
        // Only `new` writes the buffer, from a `&str`, so this never fails;
        // falling back to "" keeps the path panic-free all the same.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }

    /// The words of the line as `(key, value)`: `key=value` gives
    /// `(key, Some(value))` (split at the first `=`, so values may contain
    /// `=`), a bare `key` gives `(key, None)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> + '_ {
        self.as_str()
            .split_ascii_whitespace()
            .map(|word| match word.split_once('=') {
                Some((key, value)) => (key, Some(value)),
                None => (word, None),
            })
    }

    /// The value of `key`: `Some(value)` for `key=value`, `Some("")` for a
    /// bare `key`, `None` if absent. When `key` appears more than once the
    /// last one wins, so a bootloader can append overrides.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter()
            .filter(|&(k, _)| k == key)
            .last()
            .map(|(_, value)| value.unwrap_or(""))
    }

    /// Whether `key` is switched on: present bare or with any value other
    /// than `0`, `no`, `off` or `false` (last occurrence wins, as in `get`).
    pub fn flag(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(value) => !matches!(value, "0" | "no" | "off" | "false"),
        }
    }
}

impl Default for CmdLine {
    /// The empty command line.
    fn default() -> Self {
        Self {
            buf: [0; Self::MAX],
            len: 0,
        }
    }
}

impl PartialEq for CmdLine {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for CmdLine {}

/// The text, not a 1024-byte array.
impl fmt::Debug for CmdLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CmdLine").field(&self.as_str()).finish()
    }
}

impl fmt::Display for CmdLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> CmdLine {
        CmdLine::new(s).expect("short test line")
    }

    #[test]
    fn keeps_a_copy_of_the_text() {
        let c = line("console=hvc0 quiet");
        assert_eq!(c.as_str(), "console=hvc0 quiet");
        assert_eq!(c.to_string(), "console=hvc0 quiet");
        assert_eq!(format!("{c:?}"), "CmdLine(\"console=hvc0 quiet\")");
    }

    #[test]
    fn default_is_empty() {
        let c = CmdLine::default();
        assert_eq!(c.as_str(), "");
        assert_eq!(c.iter().count(), 0);
        assert_eq!(c.get("anything"), None);
        assert_eq!(c, line(""));
    }

    #[test]
    fn length_limit_is_inclusive() {
        let max = "x".repeat(CmdLine::MAX);
        assert_eq!(line(&max).as_str().len(), CmdLine::MAX);
        let over = "x".repeat(CmdLine::MAX + 1);
        let err = CmdLine::new(&over).unwrap_err();
        assert_eq!(
            err,
            CmdLineError::TooLong {
                len: CmdLine::MAX + 1
            }
        );
        assert_eq!(
            err.to_string(),
            "command line is 1025 bytes, longer than 1024 bytes"
        );
    }

    #[test]
    fn iter_splits_words_on_any_ascii_whitespace() {
        let c = line("  a=1\tb \n c=x=y d= ");
        let words: Vec<_> = c.iter().collect();
        assert_eq!(
            words,
            [
                ("a", Some("1")),
                ("b", None),
                ("c", Some("x=y")),
                ("d", Some(""))
            ]
        );
    }

    #[test]
    fn get_returns_the_last_value_and_empty_for_bare_keys() {
        let c = line("log=info test=all log=debug verbose");
        assert_eq!(c.get("log"), Some("debug"));
        assert_eq!(c.get("test"), Some("all"));
        assert_eq!(c.get("verbose"), Some(""));
        assert_eq!(c.get("missing"), None);
        // No prefix matching: `te` is not `test`.
        assert_eq!(c.get("te"), None);
        // A later bare key overrides an earlier value.
        assert_eq!(line("x=1 x").get("x"), Some(""));
    }

    #[test]
    fn flags_are_on_unless_absent_or_switched_off() {
        let c = line("a b=1 c=0 d=off e=no f=false g=yes h=0 h");
        for on in ["a", "b", "g", "h"] {
            assert!(c.flag(on), "{on} should be on");
        }
        for off in ["c", "d", "e", "f", "missing"] {
            assert!(!c.flag(off), "{off} should be off");
        }
    }

    #[test]
    fn keeps_non_ascii_text_intact() {
        let c = line("name=Zürich");
        assert_eq!(c.get("name"), Some("Zürich"));
        let clone = c.clone();
        assert_eq!(clone, c);
    }
}
