//! Virtus as a Xen PVH guest: the `Platform` implemented with hypercalls and
//! memory shared with Xen and with the other domains, instead of devices.
//!
//! A module per Xen facility, named as in Xen's public headers:
//! `hypercall` (detection and the raw calls), `sched`, `hvm`, `memory`,
//! `shared_info`, `evtchn`, `console`, `time`, `xenstore` (and `control`, the
//! toolstack's requests through it), `smp` (the other vCPUs and their
//! IPI channels), `hotplug` (`xl vcpu-set`: a vCPU stopped and restarted), `debug_console` (Xen's own
//! console, for when the PV console is gone), and `lapic` (the one emulated
//! device a PVH guest still needs: the event-channel upcall arrives as a
//! local APIC vector that must be acknowledged).

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod abi;
pub mod balloon;
pub mod blkfront;
pub mod console;
pub mod control;
pub mod debug_console;
pub mod evtchn;
pub mod grant;
pub mod hotplug;
pub mod hvm;
pub mod hypercall;
pub mod lapic;
pub mod memory;
pub mod sched;
pub mod shared_info;
pub mod time;
pub mod vcpu;
pub mod xenbus;
pub mod xenstore;

#[cfg(target_os = "none")]
mod bench;
#[cfg(target_os = "none")]
mod platform;
#[cfg(target_os = "none")]
mod smp;
#[cfg(target_os = "none")]
#[cfg(target_os = "none")]
mod suspend;
#[cfg(target_os = "none")]
mod suspend_tests;
#[cfg(target_os = "none")]
mod tests;
#[cfg(target_os = "none")]
mod xs_shell;

#[cfg(target_os = "none")]
pub use platform::boot;
