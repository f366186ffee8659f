//! The CMOS real-time clock (the Motorola MC146818 and its descendants) at
//! ports 0x70/0x71: only its seconds register, as a clock to check the
//! kernel clock against.
//!
//! It is independent of the TSC, and of the two clocks the TSC is measured
//! with as well: on a PC the RTC runs from its own 32.768 kHz crystal, while
//! the PIT and the ACPI PM timer share the 14.31818 MHz one; QEMU and Xen
//! emulate it from the host's wall clock. Nothing in the kernel calibrates
//! anything with it.

use crate::port::Port8;

const INDEX: u16 = 0x70;
const DATA: u16 = 0x71;
const REG_SECONDS: u8 = 0x00;
const REG_STATUS_A: u8 = 0x0A;
/// Status A bit 7, "update in progress": the time registers are about to
/// change (within 244 us) or changing, and may read inconsistent.
const STATUS_A_UIP: u8 = 0x80;

/// The CMOS RTC's index and data ports.
pub struct Rtc {
    index: Port8,
    data: Port8,
}

impl Rtc {
    /// # Safety
    /// The CMOS RTC must be at ports 0x70/0x71 (as on every PC), and nothing
    /// else may use the CMOS index register while this handle is in use (the
    /// kernel has no other CMOS user).
    pub unsafe fn new() -> Self {
        // SAFETY: the caller's contract; reading RTC registers only selects
        // and reads them.
        unsafe {
            Self {
                index: Port8::new(INDEX),
                data: Port8::new(DATA),
            }
        }
    }

    fn read(&self, register: u8) -> u8 {
        // Bit 7 of the index is the NMI mask on PCs: it stays clear.
        self.index.write(register & 0x7f);
        self.data.read()
    }

    /// The seconds register (BCD or binary, whichever the RTC is set to:
    /// only its changes matter here), or `None` during an update.
    pub fn seconds(&self) -> Option<u8> {
        if self.read(REG_STATUS_A) & STATUS_A_UIP != 0 {
            return None;
        }
        Some(self.read(REG_SECONDS))
    }
}
