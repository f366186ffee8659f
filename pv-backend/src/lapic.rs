//! The local APIC, the one piece of emulated hardware a PVH guest still
//! needs: with the per-vCPU upcall vector, Xen raises event upcalls as
//! ordinary local APIC interrupts, which need a software-enabled APIC to be
//! accepted at all and an EOI to let the next one in.
//!
//! x2APIC (MSRs) when CPUID.1:ECX[21] offers it, which also avoids an
//! emulated MMIO access per EOI; xAPIC (uncached MMIO mapping) otherwise.

use core::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use x86_64::registers::model_specific::Msr;

const IA32_APIC_BASE: u32 = 0x1B;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// x2APIC MSRs are 0x800 + (xAPIC offset >> 4).
const X2APIC_MSR_BASE: u32 = 0x800;

/// Register offsets in the xAPIC page.
const REG_TPR: usize = 0x80;
const REG_EOI: usize = 0xB0;
const REG_SVR: usize = 0xF0;
const REG_ICR_LOW: usize = 0x300;
const REG_LVT_TIMER: usize = 0x320;
const REG_TIMER_INITIAL: usize = 0x380;
const REG_TIMER_CURRENT: usize = 0x390;
const REG_TIMER_DIVIDE: usize = 0x3E0;
/// x2APIC only.
const REG_SELF_IPI: usize = 0x3F0;

/// SVR: bit 8 software-enables the APIC; the low byte is the spurious
/// vector, 0xFF so that it is out of the way of real vectors.
const SVR_ENABLE_SPURIOUS_FF: u32 = 0x1FF;
/// ICR destination shorthand "self", fixed delivery.
const ICR_DEST_SELF: u32 = 0b01 << 18;

/// How the registers are reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApicMode {
    X2Apic,
    XApic,
}

const MODE_NONE: u8 = 0;
const MODE_X2APIC: u8 = 1;
const MODE_XAPIC: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(MODE_NONE);
static MMIO: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());

/// The mode [`enable`] chose, if it has run and succeeded.
pub fn mode() -> Option<ApicMode> {
    match MODE.load(Ordering::Acquire) {
        MODE_X2APIC => Some(ApicMode::X2Apic),
        MODE_XAPIC => Some(ApicMode::XApic),
        _ => None,
    }
}

/// Software-enable the local APIC with spurious vector 0xFF and accept all
/// priorities (TPR 0). Idempotent. On failure (the xAPIC page cannot be
/// mapped) the error is logged and [`mode`] stays `None`.
pub fn enable() {
    if mode().is_some() {
        return;
    }
    let x2apic = core::arch::x86_64::__cpuid(1).ecx & (1 << 21) != 0;
    let mut base_msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every CPU with a local APIC, which
    // every x86_64 CPU and every PVH vCPU has.
    let base = unsafe { base_msr.read() };
    if x2apic {
        // Enabling x2APIC from xAPIC mode is a single write with both bits.
        if base & APIC_BASE_X2APIC == 0 {
            // SAFETY: the transition xAPIC -> x2APIC is architecturally
            // allowed, and nothing else in the kernel holds xAPIC state.
            unsafe { base_msr.write(base | APIC_BASE_ENABLE | APIC_BASE_X2APIC) };
        }
        MODE.store(MODE_X2APIC, Ordering::Release);
    } else {
        let Some(regs) = map_xapic(base & APIC_BASE_ADDR_MASK) else {
            return;
        };
        MMIO.store(regs, Ordering::Release);
        MODE.store(MODE_XAPIC, Ordering::Release);
    }
    write(REG_TPR, 0);
    write(REG_SVR, SVR_ENABLE_SPURIOUS_FF);
}

/// On an AP, after [`enable`] ran on the boot CPU: software-enable this
/// CPU's own local APIC in the mode the boot CPU chose (each CPU has its
/// own: the x2APIC switch and the SVR are per CPU; the xAPIC page's
/// address is the same for all, each CPU reaching its own registers
/// there). False if the boot CPU found no usable APIC.
pub fn enable_this_cpu() -> bool {
    match mode() {
        Some(ApicMode::X2Apic) => {
            let mut base_msr = Msr::new(IA32_APIC_BASE);
            // SAFETY: as in `enable`; this CPU's APIC_BASE, on a CPU
            // whose boot-CPU twin offered x2APIC (CPUID is the domain's).
            let base = unsafe { base_msr.read() };
            if base & APIC_BASE_X2APIC == 0 {
                // SAFETY: the xAPIC -> x2APIC transition, as in `enable`.
                unsafe { base_msr.write(base | APIC_BASE_ENABLE | APIC_BASE_X2APIC) };
            }
        }
        Some(ApicMode::XApic) => {}
        None => return false,
    }
    write(REG_TPR, 0);
    write(REG_SVR, SVR_ENABLE_SPURIOUS_FF);
    true
}

#[cfg(target_os = "none")]
fn map_xapic(paddr: u64) -> Option<*mut u8> {
    match virtus_kernel::mem::map_mmio(paddr, 0x1000) {
        Ok(p) => Some(p.as_ptr()),
        Err(e) => {
            log::error!("lapic: cannot map xAPIC registers at {paddr:#x}: {e:?}");
            None
        }
    }
}

#[cfg(not(target_os = "none"))]
fn map_xapic(_paddr: u64) -> Option<*mut u8> {
    None
}

fn write(reg: usize, value: u32) {
    match MODE.load(Ordering::Acquire) {
        MODE_X2APIC => {
            let mut msr = Msr::new(X2APIC_MSR_BASE + (reg as u32 >> 4));
            // SAFETY: only the x2APIC registers named above are written,
            // with values valid for them, and x2APIC mode is on.
            unsafe { msr.write(u64::from(value)) };
        }
        MODE_XAPIC => {
            let regs = MMIO.load(Ordering::Acquire);
            // SAFETY: `regs` is the uncached mapping of the 4 KiB register
            // page made by `enable`, and `reg` is an aligned register.
            unsafe { regs.add(reg).cast::<u32>().write_volatile(value) };
        }
        _ => {}
    }
}

fn read(reg: usize) -> u32 {
    match MODE.load(Ordering::Acquire) {
        MODE_X2APIC => {
            let msr = Msr::new(X2APIC_MSR_BASE + (reg as u32 >> 4));
            // SAFETY: only readable x2APIC registers named above are read,
            // and x2APIC mode is on.
            unsafe { msr.read() as u32 }
        }
        MODE_XAPIC => {
            let regs = MMIO.load(Ordering::Acquire);
            // SAFETY: as in `write`.
            unsafe { regs.add(reg).cast::<u32>().read_volatile() }
        }
        _ => 0,
    }
}

/// LVT bit 16: the timer counts but raises no interrupt.
pub const LVT_MASKED: u32 = 1 << 16;

/// The timer's LVT entry. Nothing in this backend uses the APIC timer (the
/// timer is Xen's single-shot timer); only the benchmark of the emulated
/// timer it replaces programs it, masked.
pub fn lvt_timer() -> u32 {
    read(REG_LVT_TIMER)
}

/// Replace the timer's LVT entry.
pub fn set_lvt_timer(value: u32) {
    write(REG_LVT_TIMER, value);
}

/// Start (or with 0, stop) the APIC timer's one-shot count-down.
pub fn set_timer_initial_count(count: u32) {
    write(REG_TIMER_INITIAL, count);
}

/// The APIC timer's current count (it counts down from the initial count
/// in one-shot mode, even masked; Xen computes it from its own system time
/// at each read).
pub fn timer_current_count() -> u32 {
    read(REG_TIMER_CURRENT)
}

/// Divide configuration value for "divide by 1" (bits 0, 1 and 3 set).
pub const TIMER_DIVIDE_BY_1: u32 = 0b1011;

/// Xen's emulated APIC bus: one timer tick every 10 ns before the divider
/// (`APIC_BUS_CYCLE_NS` in Xen's asm/hvm/vlapic.h), the same for every
/// HVM and PVH guest whatever the host runs at.
pub const XEN_APIC_BUS_HZ: u64 = 100_000_000;

/// The timer's divide configuration register.
pub fn timer_divide() -> u32 {
    read(REG_TIMER_DIVIDE)
}

/// Replace the timer's divide configuration.
pub fn set_timer_divide(value: u32) {
    write(REG_TIMER_DIVIDE, value);
}

/// Signal end of interrupt for the vector being serviced.
pub fn eoi() {
    write(REG_EOI, 0);
}

/// Send `vector` to this CPU.
pub fn self_ipi(vector: u8) {
    match mode() {
        // The dedicated register: one MSR write.
        Some(ApicMode::X2Apic) => write(REG_SELF_IPI, u32::from(vector)),
        Some(ApicMode::XApic) => write(REG_ICR_LOW, ICR_DEST_SELF | u32::from(vector)),
        None => {}
    }
}
