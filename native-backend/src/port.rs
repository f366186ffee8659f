//! x86 port I/O, fenced: the only place in the native backend that executes
//! `in`/`out`.
//!
//! Creating a port is `unsafe` (the caller vouches that the port number
//! belongs to the device it means to drive and that no one else drives it);
//! reading and writing an owned port is then safe.

use core::arch::asm;

/// An 8-bit I/O port.
#[derive(Debug)]
pub struct Port8(u16);

impl Port8 {
    /// # Safety
    /// `port` must address the device the caller intends to drive, and every
    /// access through this handle must be valid for that device (reads and
    /// writes of I/O ports can have side effects on the machine).
    pub const unsafe fn new(port: u16) -> Self {
        Self(port)
    }

    /// Read one byte.
    pub fn read(&self) -> u8 {
        let value: u8;
        // SAFETY: the constructor's contract makes accesses to this port valid;
        // `in` touches no memory.
        unsafe {
            asm!("in al, dx", out("al") value, in("dx") self.0, options(nomem, nostack, preserves_flags))
        };
        value
    }

    /// Write one byte.
    pub fn write(&self, value: u8) {
        // SAFETY: as for `read`; `out` touches no memory.
        unsafe {
            asm!("out dx, al", in("dx") self.0, in("al") value, options(nomem, nostack, preserves_flags))
        };
    }
}

impl Port8 {
    /// Write `bytes` with one `rep outsb`: under a hypervisor, one exit to
    /// the device model for all of them instead of one per byte.
    pub fn write_all(&self, bytes: &[u8]) {
        // SAFETY: as for `write`, each byte written to this port is valid;
        // `outsb` reads exactly `bytes.len()` bytes from `bytes` (rsi
        // advances: the direction flag is clear, as the ABI requires at
        // every call), and writes no memory.
        unsafe {
            asm!("rep outsb", in("dx") self.0, inout("rsi") bytes.as_ptr() => _,
                 inout("rcx") bytes.len() => _, options(readonly, nostack, preserves_flags))
        };
    }

    /// Fill `out` with one `rep insb` (one exit, as [`Self::write_all`]).
    /// The device must have `out.len()` bytes to give.
    pub fn read_into(&self, out: &mut [u8]) {
        // SAFETY: as for `read`, reading this port is valid; `insb` writes
        // exactly `out.len()` bytes to `out`, which we borrow mutably (rdi
        // advances: the direction flag is clear).
        unsafe {
            asm!("rep insb", in("dx") self.0, inout("rdi") out.as_mut_ptr() => _,
                 inout("rcx") out.len() => _, options(nostack, preserves_flags))
        };
    }
}

/// A 16-bit I/O port (ACPI PM1 control blocks).
#[derive(Debug)]
pub struct Port16(u16);

impl Port16 {
    /// # Safety
    /// Same contract as [`Port8::new`].
    pub const unsafe fn new(port: u16) -> Self {
        Self(port)
    }

    /// Read one 16-bit word.
    pub fn read(&self) -> u16 {
        let value: u16;
        // SAFETY: the constructor's contract makes accesses to this port valid.
        unsafe {
            asm!("in ax, dx", out("ax") value, in("dx") self.0, options(nomem, nostack, preserves_flags))
        };
        value
    }

    /// Write one 16-bit word.
    pub fn write(&self, value: u16) {
        // SAFETY: the constructor's contract makes accesses to this port valid.
        unsafe {
            asm!("out dx, ax", in("dx") self.0, in("ax") value, options(nomem, nostack, preserves_flags))
        };
    }
}

/// A 32-bit I/O port (isa-debug-exit, ACPI PM timer).
#[derive(Debug)]
pub struct Port32(u16);

impl Port32 {
    /// # Safety
    /// Same contract as [`Port8::new`].
    pub const unsafe fn new(port: u16) -> Self {
        Self(port)
    }

    /// Read one 32-bit word.
    pub fn read(&self) -> u32 {
        let value: u32;
        // SAFETY: the constructor's contract makes accesses to this port valid.
        unsafe {
            asm!("in eax, dx", out("eax") value, in("dx") self.0, options(nomem, nostack, preserves_flags))
        };
        value
    }

    /// Write one 32-bit word.
    pub fn write(&self, value: u32) {
        // SAFETY: the constructor's contract makes accesses to this port valid.
        unsafe {
            asm!("out dx, eax", in("dx") self.0, in("eax") value, options(nomem, nostack, preserves_flags))
        };
    }
}
