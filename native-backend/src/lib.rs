//! Virtus on real hardware (and on QEMU's emulation of it): the `Platform`
//! implemented with a 16550 UART, the local APIC and TSC, the IOAPIC, the
//! legacy PIC (masked), the PIT and ACPI.
//!
//! Nothing here asks whether a hypervisor is underneath: the same image must
//! run unchanged on bare metal, in QEMU and as a fully virtualised Xen HVM
//! guest, finding its way with the mechanisms real firmware provides (ACPI
//! tables, CPUID feature bits).

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod acpi;
pub mod ahci;
pub mod cpu;
pub mod ioapic;
#[cfg(target_os = "none")]
pub mod lapic;
pub mod pci;
pub mod pic;
pub mod pit;
pub mod pm_timer;
pub mod port;
pub mod power;
pub mod power_button;
pub mod rtc;
pub mod tsc;
pub mod uart16550;

#[cfg(target_os = "none")]
mod ap_trampoline;
#[cfg(target_os = "none")]
mod bench;
#[cfg(target_os = "none")]
mod platform;
#[cfg(target_os = "none")]
mod sci;
#[cfg(target_os = "none")]
mod smp;
#[cfg(target_os = "none")]
mod smp_tests;
#[cfg(target_os = "none")]
mod tests;

#[cfg(target_os = "none")]
pub use platform::boot;
