//! PCI configuration space through mechanism #1 (ports 0xCF8/0xCFC), BAR
//! decoding and sizing, and enumeration of the buses the host bridge and the
//! PCI-to-PCI bridges lead to.
//!
//! Every value read from a device is untrusted: bus numbers, header types
//! and BAR encodings are checked before they steer anything, the list of
//! functions is bounded, and a bus is scanned at most once however the
//! bridges' secondary bus numbers are set.

mod decode;
pub use decode::{Address, Bar, BarError, Function, bar_layout, decode_bar};

#[cfg(target_os = "none")]
mod config;
#[cfg(target_os = "none")]
pub use config::*;
