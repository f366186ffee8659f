//! The I/O APIC (Intel 82093AA and its descendants): routes Global System
//! Interrupts to local APIC vectors.
//!
//! Its registers are reached indirectly: the index goes into IOREGSEL, the
//! value is read or written through IOWIN. That pair is not atomic, so every
//! access holds a lock, taken with interrupts off so that a handler which
//! masks its own GSI cannot deadlock against the code it interrupted.

use core::fmt;
use core::ptr::NonNull;

use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;

/// Offset of IOREGSEL (register index) in the register block.
const IOREGSEL: usize = 0x00;
/// Offset of IOWIN (register data) in the register block.
const IOWIN: usize = 0x10;
/// Bytes of register block to map (IOREGSEL through IOWIN).
pub const REGISTER_BLOCK_LEN: u64 = 0x20;

const IOAPICID: u32 = 0x00;
const IOAPICVER: u32 = 0x01;
/// Redirection entry `n` is the register pair `IOREDTBL + 2n` (low dword)
/// and `IOREDTBL + 2n + 1` (high dword).
const IOREDTBL: u32 = 0x10;

/// Redirection entry low dword bits (fixed delivery mode and physical
/// destination mode are zero).
const INTPOL_ACTIVE_LOW: u32 = 1 << 13;
/// Read-only: a level-triggered interrupt was accepted and awaits its EOI.
const REMOTE_IRR: u32 = 1 << 14;
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
    #[cfg(target_os = "none")]
    Map(virtus_kernel::mem::MapError),
    /// The GSI is not served by this I/O APIC.
    GsiOutOfRange { gsi: u32, gsi_base: u32, count: u32 },
    /// The vector is one of the CPU exception vectors.
    ReservedVector(u8),
    /// The local APIC ID does not fit the 8-bit destination field.
    DestinationOutOfRange(u32),
}

impl fmt::Display for IoApicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            #[cfg(target_os = "none")]
            Self::Map(e) => write!(f, "I/O APIC: cannot map registers: {e:?}"),
            Self::GsiOutOfRange {
                gsi,
                gsi_base,
                count,
            } => {
                write!(
                    f,
                    "I/O APIC: GSI {gsi} outside {gsi_base}..{}",
                    u64::from(gsi_base) + u64::from(count)
                )
            }
            Self::ReservedVector(v) => {
                write!(f, "I/O APIC: vector {v:#x} is a CPU exception vector")
            }
            Self::DestinationOutOfRange(id) => {
                write!(
                    f,
                    "I/O APIC: APIC ID {id} does not fit the destination field"
                )
            }
        }
    }
}

/// The mapped IOREGSEL/IOWIN window.
#[derive(Debug)]
struct Registers(NonNull<u8>);

// SAFETY: the pointer is to device registers, not to memory that belongs to
// one thread; `IoApic` only reaches it through its lock.
unsafe impl Send for Registers {}

impl Registers {
    /// Put `register`'s index in IOREGSEL; returns IOWIN, through which it
    /// is now reached.
    fn select(&mut self, register: u32) -> *mut u32 {
        let base = self.0.as_ptr();
        // SAFETY: `IoApic::from_registers`' contract makes `base` a mapped, uncached
        // I/O APIC register block of REGISTER_BLOCK_LEN bytes, in which
        // IOREGSEL is an aligned dword.
        unsafe { base.add(IOREGSEL).cast::<u32>().write_volatile(register) };
        base.wrapping_add(IOWIN).cast()
    }

    fn read(&mut self, register: u32) -> u32 {
        let window = self.select(register);
        // SAFETY: IOWIN is an aligned dword of the same mapped block;
        // `&mut self` (the lock) keeps another select from coming between.
        unsafe { window.read_volatile() }
    }

    fn write(&mut self, register: u32, value: u32) {
        let window = self.select(register);
        // SAFETY: as in `read`.
        unsafe { window.write_volatile(value) }
    }
}

/// A redirection entry as the I/O APIC holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redirection {
    pub vector: u8,
    pub masked: bool,
    pub active_low: bool,
    pub level_triggered: bool,
    /// A level-triggered interrupt is in service: no other is delivered
    /// from this input until the local APIC's EOI reaches the I/O APIC.
    pub remote_irr: bool,
    /// Physical destination: the local APIC ID.
    pub destination: u8,
}

/// One I/O APIC.
#[derive(Debug)]
pub struct IoApic {
    registers: Mutex<Registers>,
    id: u8,
    version: u8,
    max_redirection_entry: u8,
    gsi_base: u32,
}

impl IoApic {
    /// Map the I/O APIC whose register block is at `paddr` and which serves
    /// GSIs from `gsi_base` on (both from the MADT), and mask every
    /// redirection entry (see [`IoApic::from_registers`]).
    ///
    /// # Safety
    /// `paddr` must be the register block of an I/O APIC, and no other
    /// `IoApic` may drive the same one (the IOREGSEL/IOWIN pair is shared
    /// state).
    #[cfg(target_os = "none")]
    pub unsafe fn new(paddr: u64, gsi_base: u32) -> Result<Self, IoApicError> {
        let registers =
            virtus_kernel::mem::map_mmio(paddr, REGISTER_BLOCK_LEN).map_err(IoApicError::Map)?;
        // SAFETY: `map_mmio` mapped the block uncached for good; the rest is
        // the caller's promise.
        Ok(unsafe { Self::from_registers(registers, gsi_base) })
    }

    /// Take over the I/O APIC whose registers are mapped at `registers` and
    /// mask every redirection entry: whatever firmware left programmed must
    /// not fire before a handler exists.
    ///
    /// # Safety
    /// `registers` must point to an I/O APIC's register block (at least
    /// [`REGISTER_BLOCK_LEN`] bytes), mapped uncached for as long as the `IoApic` lives, and no other
    /// `IoApic` may drive the same one.
    pub unsafe fn from_registers(registers: NonNull<u8>, gsi_base: u32) -> Self {
        let mut registers = Registers(registers);
        let id = (registers.read(IOAPICID) >> 24) as u8;
        let version = registers.read(IOAPICVER);
        let max_redirection_entry = (version >> 16) as u8;
        for entry in 0..=u32::from(max_redirection_entry) {
            registers.write(IOREDTBL + 2 * entry, INTERRUPT_MASK);
        }
        Self {
            registers: Mutex::new(registers),
            id,
            version: version as u8,
            max_redirection_entry,
            gsi_base,
        }
    }

    fn with_registers<R>(&self, f: impl FnOnce(&mut Registers) -> R) -> R {
        without_interrupts(|| f(&mut self.registers.lock()))
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
        self.pin(gsi).is_ok()
    }

    /// The input pin (redirection entry index) of `gsi`.
    fn pin(&self, gsi: u32) -> Result<u32, IoApicError> {
        gsi.checked_sub(self.gsi_base)
            .filter(|&pin| pin < self.gsi_count())
            .ok_or(IoApicError::GsiOutOfRange {
                gsi,
                gsi_base: self.gsi_base,
                count: self.gsi_count(),
            })
    }

    /// `gsi`'s redirection entry as programmed: `(vector, masked)`.
    pub fn entry(&self, gsi: u32) -> Result<(u8, bool), IoApicError> {
        let register = IOREDTBL + 2 * self.pin(gsi)?;
        let low = self.with_registers(|registers| registers.read(register));
        Ok((low as u8, low & INTERRUPT_MASK != 0))
    }

    /// `gsi`'s whole redirection entry, read from the I/O APIC.
    pub fn redirection(&self, gsi: u32) -> Result<Redirection, IoApicError> {
        let register = IOREDTBL + 2 * self.pin(gsi)?;
        let (low, high) = self
            .with_registers(|registers| (registers.read(register), registers.read(register + 1)));
        Ok(Redirection {
            vector: low as u8,
            masked: low & INTERRUPT_MASK != 0,
            active_low: low & INTPOL_ACTIVE_LOW != 0,
            level_triggered: low & TRIGGER_LEVEL != 0,
            remote_irr: low & REMOTE_IRR != 0,
            destination: (high >> DESTINATION_SHIFT) as u8,
        })
    }

    /// Route `gsi` to `vector` on the local APIC `dest_apic_id` (physical
    /// destination, fixed delivery), with the given polarity and trigger
    /// mode. The entry is left masked: unmask it once the handler for
    /// `vector` is installed, so an interrupt never lands on an empty vector.
    ///
    /// The destination field has 8 bits: an x2APIC ID above 255 would need
    /// interrupt remapping, and is refused.
    pub fn route(
        &self,
        gsi: u32,
        vector: u8,
        dest_apic_id: u32,
        active_low: bool,
        level: bool,
    ) -> Result<(), IoApicError> {
        let entry = self.pin(gsi)?;
        if vector < FIRST_INTERRUPT_VECTOR {
            return Err(IoApicError::ReservedVector(vector));
        }
        let destination = u8::try_from(dest_apic_id)
            .map_err(|_| IoApicError::DestinationOutOfRange(dest_apic_id))?;
        let mut low = u32::from(vector) | INTERRUPT_MASK;
        if active_low {
            low |= INTPOL_ACTIVE_LOW;
        }
        if level {
            low |= TRIGGER_LEVEL;
        }
        self.with_registers(|registers| {
            // Mask first, so no interrupt is delivered with half an update
            // (new destination, old vector) while the two dwords change.
            registers.write(IOREDTBL + 2 * entry, INTERRUPT_MASK);
            registers.write(
                IOREDTBL + 2 * entry + 1,
                u32::from(destination) << DESTINATION_SHIFT,
            );
            registers.write(IOREDTBL + 2 * entry, low);
        });
        Ok(())
    }

    /// Stop `gsi` from being delivered.
    pub fn mask(&self, gsi: u32) -> Result<(), IoApicError> {
        self.set_mask(gsi, true)
    }

    /// Let `gsi` be delivered as routed.
    pub fn unmask(&self, gsi: u32) -> Result<(), IoApicError> {
        self.set_mask(gsi, false)
    }

    fn set_mask(&self, gsi: u32, masked: bool) -> Result<(), IoApicError> {
        let register = IOREDTBL + 2 * self.pin(gsi)?;
        self.with_registers(|registers| {
            let low = registers.read(register);
            registers.write(
                register,
                if masked {
                    low | INTERRUPT_MASK
                } else {
                    low & !INTERRUPT_MASK
                },
            );
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A driver whose registers are never touched: only the checks that
    /// come before any register access are exercised on the host.
    fn unmapped(gsi_base: u32, max_redirection_entry: u8) -> IoApic {
        IoApic {
            registers: Mutex::new(Registers(NonNull::dangling())),
            id: 0,
            version: 0x20,
            max_redirection_entry,
            gsi_base,
        }
    }

    #[test]
    fn gsis_outside_the_redirection_table_are_refused() {
        let ioapic = unmapped(24, 23);
        assert_eq!(ioapic.gsi_count(), 24);
        assert!(ioapic.serves(24) && ioapic.serves(47));
        assert!(!ioapic.serves(23) && !ioapic.serves(48));
        let err = IoApicError::GsiOutOfRange {
            gsi: 48,
            gsi_base: 24,
            count: 24,
        };
        assert_eq!(ioapic.route(48, 0x30, 0, false, false), Err(err));
        let below = IoApicError::GsiOutOfRange {
            gsi: 3,
            gsi_base: 24,
            count: 24,
        };
        assert_eq!(ioapic.entry(3), Err(below));
        assert_eq!(ioapic.mask(3), Err(below));
        assert_eq!(
            ioapic.unmask(u32::MAX).map_err(|e| e.to_string()),
            Err("I/O APIC: GSI 4294967295 outside 24..48".into())
        );
    }

    #[test]
    fn exception_vectors_and_wide_apic_ids_are_refused() {
        let ioapic = unmapped(0, 23);
        assert_eq!(
            ioapic.route(2, 0x0e, 0, false, false),
            Err(IoApicError::ReservedVector(0x0e))
        );
        assert_eq!(
            ioapic.route(2, 0x30, 256, false, false),
            Err(IoApicError::DestinationOutOfRange(256))
        );
    }
}
