//! The xenstore client: the domain's view of the store that xenstored in
//! dom0 keeps, reached through one shared page (`HVM_PARAM_STORE_PFN`) and
//! one event channel (`HVM_PARAM_STORE_EVTCHN`).
//!
//! [`wire`] is the message format, [`ring`] moves bytes through the shared
//! page, [`conn`] is the protocol (requests, replies, watch events queued
//! in [`events`], transactions). All of it is pure and tested on the host
//! against a simulated xenstored; [`client`] plugs in the kernel's page
//! accessor and event channel.

#[cfg(target_os = "none")]
pub mod client;
pub mod conn;
pub mod events;
#[cfg(any(test, feature = "fake-xenstored"))]
pub mod fake;
pub mod page;
pub mod ring;
pub mod wire;

#[cfg(target_os = "none")]
#[path = "kernel_tests.rs"]
pub mod kernel_tests;

#[cfg(target_os = "none")]
pub use client::{Client, with_client};
pub use conn::XsError;
