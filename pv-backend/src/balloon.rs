//! Ballooning under Xen: the toolstack's `memory/target` (KiB, written by
//! `xl mem-set`) turned into the core's [`HostRequest::MemoryTarget`], and
//! the two reservation hypercalls that move the frames the core chose.
//!
//! As in Linux (drivers/xen/xen-balloon.c): watch `memory/target`; the
//! watch fires on registration and on every write, even of the same value
//! (`xl mem-set` to the current size), and fires can merge, so every fire
//! reads the node again and hands the value to the core, which is
//! idempotent (a target it already meets is "nothing to do"). The core
//! measures a target against `memory/static-max`, read once here.
//! `memory/` is written by the toolstack: values are checked, a bad one is
//! said and ignored.

use crate::xenstore::conn::{Conn, Doorbell, XsError};
use crate::xenstore::ring::RingPage;
use crate::xenstore::wire::XsErrno;
use core::fmt;

pub const TARGET: &str = "memory/target";
pub const STATIC_MAX: &str = "memory/static-max";
pub const TARGET_TOKEN: &str = "virtus-balloon-target";

/// Why a `memory/` value is not a size in KiB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadValue {
    Empty,
    /// Not only ASCII digits (the value, shown escaped).
    NotDecimal(alloc::string::String),
    /// More than `u64` holds.
    TooLarge,
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "empty"),
            Self::NotDecimal(v) => write!(f, "{v:?} is not a decimal number of KiB"),
            Self::TooLarge => write!(f, "too large for 64 bits"),
        }
    }
}

/// Reads a `memory/target` or `memory/static-max` value: decimal KiB, as
/// libxl writes it ("%"PRIu64). A trailing NUL some writers add is not
/// part of it; signs, spaces and anything else are refused rather than
/// guessed at.
pub fn parse_kib(value: &[u8]) -> Result<u64, BadValue> {
    let value = value.strip_suffix(&[0]).unwrap_or(value);
    if value.is_empty() {
        return Err(BadValue::Empty);
    }
    if !value.iter().all(u8::is_ascii_digit) {
        let shown = alloc::string::String::from_utf8_lossy(&value[..value.len().min(32)]);
        return Err(BadValue::NotDecimal(shown.into_owned()));
    }
    value.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(BadValue::TooLarge)
    })
}

/// What a fire of the target watch found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetValue {
    /// No `memory/target` node (dom0 style, or a toolstack without it).
    Missing,
    Kib(u64),
    Bad(BadValue),
}

/// Read `memory/target` (or `memory/static-max`).
pub fn read_kib<P: RingPage, B: Doorbell>(
    c: &mut Conn<P, B>,
    path: &str,
) -> Result<TargetValue, XsError> {
    match c.read(path) {
        Ok(bytes) => Ok(match parse_kib(&bytes) {
            Ok(kib) => TargetValue::Kib(kib),
            Err(e) => TargetValue::Bad(e),
        }),
        Err(e) if e.errno() == Some(XsErrno::Enoent) => Ok(TargetValue::Missing),
        Err(e) => Err(e),
    }
}

/// Register the watch (again, after `XS_RESET_WATCHES` or a resume).
pub fn watch<P: RingPage, B: Doorbell>(c: &mut Conn<P, B>) -> Result<(), XsError> {
    c.watch(TARGET, TARGET_TOKEN)
}

#[cfg(target_os = "none")]
#[path = "balloon_kernel.rs"]
mod kernel;
#[cfg(target_os = "none")]
pub use kernel::*;

#[cfg(target_os = "none")]
#[path = "balloon_tests.rs"]
pub mod kernel_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_decimal_kib() {
        assert_eq!(parse_kib(b"32768"), Ok(32768));
        assert_eq!(parse_kib(b"32768\0"), Ok(32768));
        assert_eq!(parse_kib(b"0"), Ok(0));
        assert_eq!(parse_kib(b"18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn untrusted_targets_are_refused_and_named() {
        assert_eq!(parse_kib(b""), Err(BadValue::Empty));
        assert_eq!(parse_kib(b"\0"), Err(BadValue::Empty));
        assert_eq!(parse_kib(b"18446744073709551616"), Err(BadValue::TooLarge));
        assert_eq!(parse_kib(&[b'9'; 100]), Err(BadValue::TooLarge));
        for bad in [
            &b"-1"[..],
            b"+5",
            b" 5",
            b"5 ",
            b"5\n",
            b"0x10",
            b"12k",
            b"1\x002",
            b"\xff",
        ] {
            assert!(
                matches!(parse_kib(bad), Err(BadValue::NotDecimal(_))),
                "{bad:?} accepted"
            );
        }
        let long = parse_kib(&[b'x'; 4096]).unwrap_err().to_string();
        assert!(
            long.len() < 80,
            "a long value is cut in the message: {long}"
        );
        assert_eq!(
            parse_kib(b"12k").unwrap_err().to_string(),
            "\"12k\" is not a decimal number of KiB"
        );
    }

    /// Against the simulated xenstored: the registration fire, a write by
    /// the toolstack (dom0), a missing node, a bad value.
    #[test]
    fn the_watch_fires_and_the_value_is_read_each_time() {
        use crate::xenstore::fake::connect;
        let (mut c, server) = connect(100);
        let events = |c: &mut Conn<_, _>| {
            for _ in 0..50 {
                server.0.borrow_mut().serve();
            }
            c.take_events(TARGET_TOKEN).unwrap().len()
        };
        assert_eq!(read_kib(&mut c, TARGET).unwrap(), TargetValue::Missing);
        watch(&mut c).unwrap();
        assert_eq!(events(&mut c), 1, "the registration fire");
        server.0.borrow_mut().dom0_write(TARGET, b"24576");
        assert!(events(&mut c) >= 1);
        assert_eq!(read_kib(&mut c, TARGET).unwrap(), TargetValue::Kib(24576));
        server.0.borrow_mut().dom0_write(TARGET, b"lots");
        assert!(events(&mut c) >= 1);
        assert!(matches!(
            read_kib(&mut c, TARGET).unwrap(),
            TargetValue::Bad(BadValue::NotDecimal(_))
        ));
    }
}
