//! The HBA's memory-mapped registers (ABAR, PCI BAR5; AHCI 1.3 section 3):
//! the one place that touches them. Every access is a 32-bit `volatile`
//! read or write at a checked offset, and is counted, because under Xen
//! HVM each one is a VM exit to the device model in dom0: the count is the
//! driver's cost, measured rather than guessed.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use volatile::VolatilePtr;

// Generic host control.
pub const CAP: usize = 0x00;
pub const GHC: usize = 0x04;
pub const IS: usize = 0x08;
pub const PI: usize = 0x0c;
pub const VS: usize = 0x10;

pub const CAP_S64A: u32 = 1 << 31;
pub const GHC_HR: u32 = 1 << 0;
pub const GHC_IE: u32 = 1 << 1;
pub const GHC_AE: u32 = 1 << 31;

// Port registers, relative to the port's block.
pub const PX_CLB: usize = 0x00;
pub const PX_CLBU: usize = 0x04;
pub const PX_FB: usize = 0x08;
pub const PX_FBU: usize = 0x0c;
pub const PX_IS: usize = 0x10;
pub const PX_IE: usize = 0x14;
pub const PX_CMD: usize = 0x18;
pub const PX_TFD: usize = 0x20;
pub const PX_SIG: usize = 0x24;
pub const PX_SSTS: usize = 0x28;
pub const PX_SCTL: usize = 0x2c;
pub const PX_SERR: usize = 0x30;
pub const PX_CI: usize = 0x38;

pub const CMD_ST: u32 = 1 << 0;
pub const CMD_SUD: u32 = 1 << 1;
pub const CMD_POD: u32 = 1 << 2;
pub const CMD_FRE: u32 = 1 << 4;
pub const CMD_FR: u32 = 1 << 14;
pub const CMD_CR: u32 = 1 << 15;

pub const IS_DHRS: u32 = 1 << 0;
pub const IS_PSS: u32 = 1 << 1;
pub const IS_DSS: u32 = 1 << 2;
pub const IS_SDBS: u32 = 1 << 3;
pub const IS_OFS: u32 = 1 << 24;
pub const IS_INFS: u32 = 1 << 26;
pub const IS_IFS: u32 = 1 << 27;
pub const IS_HBDS: u32 = 1 << 28;
pub const IS_HBFS: u32 = 1 << 29;
pub const IS_TFES: u32 = 1 << 30;
/// The port events that mean a command failed.
pub const IS_ERRORS: u32 = IS_TFES | IS_HBFS | IS_HBDS | IS_IFS | IS_OFS;
/// What PxIE enables: completions and errors, all write-1-to-clear. PCS,
/// PRCS and UFS are left out: they mirror PxSERR bits and stay set after a
/// write to PxIS, so on a level-triggered line they would storm.
pub const IE_ENABLED: u32 = IS_DHRS | IS_PSS | IS_DSS | IS_SDBS | IS_ERRORS | IS_INFS;

pub const TFD_BSY: u32 = 0x80;
pub const TFD_DRQ: u32 = 0x08;
pub const TFD_ERR: u32 = 0x01;

pub const SSTS_DET_PRESENT: u32 = 3;
pub const SIG_ATA_DISK: u32 = 0x0000_0101;

/// Port `n`'s register block starts here.
const PORTS: usize = 0x100;
const PORT_STRIDE: usize = 0x80;

/// A mapped ABAR.
pub struct Registers {
    base: NonNull<u32>,
    /// Bytes mapped: offsets at or past this are refused.
    len: usize,
    accesses: AtomicU64,
}

// SAFETY: device registers, reached only through volatile 32-bit accesses;
// concurrent accesses from the main line and the interrupt handler are what
// the hardware is built for (each register access is atomic on the bus).
unsafe impl Send for Registers {}
// SAFETY: as above.
unsafe impl Sync for Registers {}

impl Registers {
    /// # Safety
    /// `base` must map `len` bytes of an AHCI controller's ABAR uncached,
    /// for the rest of the kernel's life, and nothing else may drive the
    /// controller.
    pub unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        Self {
            base: base.cast(),
            len,
            accesses: AtomicU64::new(0),
        }
    }

    /// How many ports' register blocks lie inside the mapping.
    pub fn ports_mapped(&self) -> usize {
        self.len.saturating_sub(PORTS) / PORT_STRIDE
    }

    fn at(&self, offset: usize) -> VolatilePtr<'static, u32> {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "AHCI register {offset:#x} outside the {:#x}-byte ABAR",
            self.len
        );
        self.accesses.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the offset is dword-aligned and inside the mapping (just
        // checked), which `new`'s caller guarantees is the live ABAR.
        unsafe { VolatilePtr::new(self.base.add(offset / 4)) }
    }

    pub fn read(&self, offset: usize) -> u32 {
        self.at(offset).read()
    }

    pub fn write(&self, offset: usize, value: u32) {
        self.at(offset).write(value);
    }

    fn port_offset(&self, port: u8, offset: usize) -> usize {
        PORTS + PORT_STRIDE * usize::from(port) + offset
    }

    pub fn port_read(&self, port: u8, offset: usize) -> u32 {
        self.read(self.port_offset(port, offset))
    }

    pub fn port_write(&self, port: u8, offset: usize, value: u32) {
        self.write(self.port_offset(port, offset), value);
    }

    /// Register accesses made so far (every read and write).
    pub fn accesses(&self) -> u64 {
        self.accesses.load(Ordering::Relaxed)
    }
}
