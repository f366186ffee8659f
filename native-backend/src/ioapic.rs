//! The I/O APIC (Intel 82093AA and its descendants): routes Global System
//! Interrupts to local APIC vectors.
//!
//! Its registers are reached indirectly: the index goes into IOREGSEL, the
//! value is read or written through IOWIN. That pair is not atomic, so the
//! driver takes `&mut self` for every access and callers share it behind a
//! lock.

use core::fmt;
use core::ptr::NonNull;

use virtus_kernel::mem::{MapError, map_mmio};

/// Offset of IOREGSEL (register index) in the register block.
const IOREGSEL: usize = 0x00;
/// Offset of IOWIN (register data) in the register block.
const IOWIN: usize = 0x10;
/// Bytes of register block to map.
const REGISTER_BLOCK_LEN: u64 = 0x20;

const IOAPICID: u32 = 0x00;
const IOAPICVER: u32 = 0x01;
/// Redirection entry `n` is the register pair `IOREDTBL + 2n` (low dword)
/// and `IOREDTBL + 2n + 1` (high dword).
const IOREDTBL: u32 = 0x10;

/// Redirection entry low dword bits (fixed delivery mode and physical
/// destination mode are zero).
const INTPOL_ACTIVE_LOW: u32 = 1 << 13;
const TRIGGER_LEVEL: u32 = 1 << 15;
const INTERRUPT_MASK: u32 = 1 << 16;
/// Destination field: bits 56-63 of the entry, bits 24-31 of the high dword.
const DESTINATION_SHIFT: u32 = 24;

/// Vectors below this are CPU exceptions (0-31); the local APIC also rejects
/// 0-15 as illegal.
const FIRST_INTERRUPT_VECTOR: u8 = 0x20;

/// Why an I/O APIC operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoApicError {
    /// The register block could not be mapped.
    Map(MapError),
    /// The GSI is not served by this I/O APIC.
    GsiOutOfRange { gsi: u32, gsi_base: u32, count: u32 },
    /// The vector is one of the CPU exception vectors.
    ReservedVector(u8),
}

impl fmt::Display for IoApicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Map(e) => write!(f, "I/O APIC: cannot map registers: {e:?}"),
            Self::GsiOutOfRange { gsi, gsi_base, count } => {
                write!(f, "I/O APIC: GSI {gsi} outside {gsi_base}..{}", u64::from(gsi_base) + u64::from(count))
            }
            Self::ReservedVector(v) => write!(f, "I/O APIC: vector {v:#x} is a CPU exception vector"),
        }
    }
}

/// One I/O APIC.
#[derive(Debug)]
pub struct IoApic {
    registers: NonNull<u8>,
    id: u8,
    version: u8,
    max_redirection_entry: u8,
    gsi_base: u32,
}

// SAFETY: the pointer is to device registers, not to memory that belongs to a
// thread; every access goes through `&self`/`&mut self`, so moving the driver
// to another CPU is as sound as using it on this one.
unsafe impl Send for IoApic {}

impl IoApic {
    /// Map the I/O APIC whose register block is at `paddr` and which serves
    /// GSIs from `gsi_base` on (both from the MADT), and mask every
    /// redirection entry: whatever firmware left programmed must not fire
    /// before a handler exists.
    ///
    /// # Safety
    /// `paddr` must be the register block of an I/O APIC, and no other
    /// `IoApic` may drive the same one (the IOREGSEL/IOWIN pair is shared
    /// state).
    pub unsafe fn new(paddr: u64, gsi_base: u32) -> Result<Self, IoApicError> {
        let registers = map_mmio(paddr, REGISTER_BLOCK_LEN).map_err(IoApicError::Map)?;
        let mut ioapic = Self { registers, id: 0, version: 0, max_redirection_entry: 0, gsi_base };
        ioapic.id = (ioapic.read(IOAPICID) >> 24) as u8;
        let version = ioapic.read(IOAPICVER);
        ioapic.version = version as u8;
        ioapic.max_redirection_entry = (version >> 16) as u8;
        for entry in 0..=u32::from(ioapic.max_redirection_entry) {
            ioapic.write(IOREDTBL + 2 * entry, INTERRUPT_MASK);
        }
        Ok(ioapic)
    }

    fn read(&mut self, register: u32) -> u32 {
        // SAFETY: `new`'s contract makes `registers` a mapped, uncached I/O
        // APIC register block of REGISTER_BLOCK_LEN bytes, which IOREGSEL and
        // IOWIN (aligned dwords) lie in; `&mut self` keeps the select-then-
        // access pair from interleaving with another.
        unsafe {
            self.registers.as_ptr().add(IOREGSEL).cast::<u32>().write_volatile(register);
            self.registers.as_ptr().add(IOWIN).cast::<u32>().read_volatile()
        }
    }

    fn write(&mut self, register: u32, value: u32) {
        // SAFETY: as in `read`.
        unsafe {
            self.registers.as_ptr().add(IOREGSEL).cast::<u32>().write_volatile(register);
            self.registers.as_ptr().add(IOWIN).cast::<u32>().write_volatile(value);
        }
    }

    /// The APIC ID in IOAPICID (bits 24-27; the bits above are reserved as 0).
    pub fn id(&self) -> u8 {
        self.id
    }

    /// IOAPICVER's version field (0x11 for the 82093AA, 0x20 for newer ones).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Index of the last redirection entry (one less than their number).
    pub fn max_redirection_entry(&self) -> u8 {
        self.max_redirection_entry
    }

    pub fn gsi_base(&self) -> u32 {
        self.gsi_base
    }

    /// How many GSIs this I/O APIC serves.
    pub fn gsi_count(&self) -> u32 {
        u32::from(self.max_redirection_entry) + 1
    }

    /// Whether `gsi` is one of this I/O APIC's inputs.
    pub fn serves(&self, gsi: u32) -> bool {
        self.entry(gsi).is_ok()
    }

    fn entry(&self, gsi: u32) -> Result<u32, IoApicError> {
        gsi.checked_sub(self.gsi_base).filter(|&pin| pin < self.gsi_count()).ok_or(IoApicError::GsiOutOfRange {
            gsi,
            gsi_base: self.gsi_base,
            count: self.gsi_count(),
        })
    }

    /// Route `gsi` to `vector` on the local APIC `dest_apic_id` (physical
    /// destination, fixed delivery), with the given polarity and trigger
    /// mode. The entry is left masked: unmask it once the handler for
    /// `vector` is installed, so an interrupt never lands on an empty vector.
    pub fn route(&mut self, gsi: u32, vector: u8, dest_apic_id: u8, active_low: bool, level: bool) -> Result<(), IoApicError> {
        let entry = self.entry(gsi)?;
        if vector < FIRST_INTERRUPT_VECTOR {
            return Err(IoApicError::ReservedVector(vector));
        }
        let mut low = u32::from(vector) | INTERRUPT_MASK;
        if active_low {
            low |= INTPOL_ACTIVE_LOW;
        }
        if level {
            low |= TRIGGER_LEVEL;
        }
        // Mask first, so no interrupt is delivered with half an update
        // (new destination, old vector) while the two dwords change.
        self.write(IOREDTBL + 2 * entry, INTERRUPT_MASK);
        self.write(IOREDTBL + 2 * entry + 1, u32::from(dest_apic_id) << DESTINATION_SHIFT);
        self.write(IOREDTBL + 2 * entry, low);
        Ok(())
    }

    /// Stop `gsi` from being delivered.
    pub fn mask(&mut self, gsi: u32) -> Result<(), IoApicError> {
        self.set_mask(gsi, true)
    }

    /// Let `gsi` be delivered as routed.
    pub fn unmask(&mut self, gsi: u32) -> Result<(), IoApicError> {
        self.set_mask(gsi, false)
    }

    fn set_mask(&mut self, gsi: u32, masked: bool) -> Result<(), IoApicError> {
        let register = IOREDTBL + 2 * self.entry(gsi)?;
        let low = self.read(register);
        self.write(register, if masked { low | INTERRUPT_MASK } else { low & !INTERRUPT_MASK });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A driver whose registers are never touched: only the checks that
    /// come before any register access are exercised on the host.
    fn unmapped(gsi_base: u32, max_redirection_entry: u8) -> IoApic {
        IoApic { registers: NonNull::dangling(), id: 0, version: 0x20, max_redirection_entry, gsi_base }
    }

    #[test]
    fn gsis_outside_the_redirection_table_are_refused() {
        let mut ioapic = unmapped(24, 23);
        assert_eq!(ioapic.gsi_count(), 24);
        assert!(ioapic.serves(24) && ioapic.serves(47));
        assert!(!ioapic.serves(23) && !ioapic.serves(48));
        let err = IoApicError::GsiOutOfRange { gsi: 48, gsi_base: 24, count: 24 };
        assert_eq!(ioapic.route(48, 0x30, 0, false, false), Err(err));
        assert_eq!(ioapic.mask(3), Err(IoApicError::GsiOutOfRange { gsi: 3, gsi_base: 24, count: 24 }));
        assert_eq!(ioapic.unmask(u32::MAX).map_err(|e| e.to_string()), Err("I/O APIC: GSI 4294967295 outside 24..48".into()));
    }

    #[test]
    fn exception_vectors_are_refused() {
        let mut ioapic = unmapped(0, 23);
        assert_eq!(ioapic.route(2, 0x0e, 0, false, false), Err(IoApicError::ReservedVector(0x0e)));
    }
}
