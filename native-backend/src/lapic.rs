//! The local APIC: x2APIC (MSRs) where the CPU has it, xAPIC (MMIO)
//! otherwise; its timer in TSC-deadline mode where available, one-shot
//! count-down mode otherwise; self-IPIs, IPIs to other CPUs and the
//! INIT and STARTUP messages that start them; end of interrupt.
//!
//! One `LocalApic` serves every CPU: each CPU reaches its own APIC at the
//! same MMIO address or MSRs, so the value only says how to get there (and
//! how every CPU's timer is programmed: each CPU arms its own).

use crate::cpu::{self, MSR_APIC_BASE, MSR_TSC_DEADLINE, MSR_X2APIC_BASE};
use core::ptr::NonNull;

/// Register offsets (xAPIC MMIO offsets; x2APIC MSR = 0x800 + offset/16).
mod reg {
    pub const ID: u32 = 0x20;
    pub const VERSION: u32 = 0x30;
    pub const EOI: u32 = 0xb0;
    pub const SPURIOUS: u32 = 0xf0;
    pub const ICR_LOW: u32 = 0x300;
    pub const ICR_HIGH: u32 = 0x310;
    pub const TPR: u32 = 0x80;
    pub const LVT_TIMER: u32 = 0x320;
    pub const LVT_LINT0: u32 = 0x350;
    pub const LVT_LINT1: u32 = 0x360;
    pub const LVT_ERROR: u32 = 0x370;
    pub const TIMER_INITIAL: u32 = 0x380;
    pub const TIMER_CURRENT: u32 = 0x390;
    pub const TIMER_DIVIDE: u32 = 0x3e0;
    pub const SELF_IPI: u32 = 0x3f0; // x2APIC only
}

const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const LVT_MASKED: u32 = 1 << 16;
const LVT_TSC_DEADLINE: u32 = 0b10 << 17;
const DIVIDE_BY_16: u32 = 0b0011;
/// ICR delivery modes (bits 8-10) and bits (Intel SDM 11.6.1).
const ICR_FIXED: u32 = 0b000 << 8;
const ICR_INIT: u32 = 0b101 << 8;
const ICR_STARTUP: u32 = 0b110 << 8;
/// Level "assert": required for every message but INIT de-assert.
const ICR_ASSERT: u32 = 1 << 14;
/// xAPIC only: the previous message is still being sent.
const ICR_SEND_PENDING: u32 = 1 << 12;
/// How long an xAPIC's ICR may stay busy before a send is given up.
const ICR_IDLE_TIMEOUT_NS: u64 = 10_000_000;

/// How registers are reached.
#[derive(Clone, Copy, Debug)]
enum Access {
    X2Apic,
    /// The page as mapped, and its physical address (which every CPU's
    /// IA32_APIC_BASE must name for the mapping to reach its APIC).
    XApic(NonNull<u8>, u64),
}

/// How the one-shot timer is programmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerMode {
    /// IA32_TSC_DEADLINE takes an absolute TSC value.
    TscDeadline,
    /// The count-down timer, divided by 16, at this many ticks per second.
    OneShot {
        /// Measured timer ticks per second.
        ticks_per_sec: u64,
    },
}

/// The local APIC, as every CPU reaches its own.
#[derive(Debug)]
pub struct LocalApic {
    access: Access,
    timer: TimerMode,
    timer_vector: u8,
}

// SAFETY: the MMIO pointer refers to the APIC page, mapped for the
// kernel's lifetime, where each CPU reaches its own APIC.
unsafe impl Send for LocalApic {}
// SAFETY: as above; register accesses are single loads/stores to the
// running CPU's own APIC, and the one two-register write (the xAPIC ICR)
// runs with interrupts off.
unsafe impl Sync for LocalApic {}

/// Errors bringing up the APIC or sending through it.
#[derive(Debug)]
pub enum ApicError {
    /// Mapping the xAPIC page failed.
    Map(virtus_kernel::mem::MapError),
    /// This CPU's APIC sits elsewhere than the boot CPU's mapping.
    MovedBase(u64),
    /// An xAPIC addresses 8-bit IDs; this one is wider.
    IdTooWide(u32),
    /// The xAPIC's ICR stayed busy with an earlier message.
    Busy,
}

impl core::fmt::Display for ApicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Map(e) => write!(f, "cannot map the local APIC: {e:?}"),
            Self::MovedBase(b) => write!(f, "this CPU's APIC is at {b:#x}, not the boot CPU's"),
            Self::IdTooWide(id) => write!(f, "APIC ID {id} does not fit an xAPIC destination"),
            Self::Busy => f.write_str("the APIC's ICR stayed busy"),
        }
    }
}

impl LocalApic {
    /// Enable the APIC (x2APIC if `use_x2apic`), with `spurious_vector`.
    pub fn enable(use_x2apic: bool, spurious_vector: u8) -> Result<Self, ApicError> {
        // SAFETY: IA32_APIC_BASE exists on every CPU with an APIC (all x86_64).
        let base = unsafe { cpu::rdmsr(MSR_APIC_BASE) };
        let access = if use_x2apic {
            // SAFETY: x2APIC support was checked by the caller (CPUID); the
            // architecture requires enabling xAPIC mode before x2APIC mode.
            unsafe {
                cpu::wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
                cpu::wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE | APIC_BASE_X2APIC);
            }
            Access::X2Apic
        } else {
            // SAFETY: setting the global enable bit keeps the base address.
            unsafe { cpu::wrmsr(MSR_APIC_BASE, (base | APIC_BASE_ENABLE) & !APIC_BASE_X2APIC) };
            let phys = base & 0x000f_ffff_ffff_f000;
            let page = virtus_kernel::mem::map_mmio(phys, 4096).map_err(ApicError::Map)?;
            Access::XApic(page, phys)
        };
        let apic = Self {
            access,
            timer: TimerMode::OneShot { ticks_per_sec: 0 },
            timer_vector: 0,
        };
        apic.write(reg::SPURIOUS, 0x100 | u32::from(spurious_vector));
        apic.write(reg::LVT_TIMER, LVT_MASKED);
        Ok(apic)
    }

    fn read(&self, offset: u32) -> u32 {
        match self.access {
            // SAFETY: x2APIC mode is on and `offset` names an existing
            // register (all offsets come from `reg`).
            Access::X2Apic => unsafe { cpu::rdmsr(MSR_X2APIC_BASE + offset / 16) as u32 },
            // SAFETY: `base` maps the 4 KiB APIC page uncached; offsets are
            // aligned registers inside it.
            Access::XApic(base, _) => unsafe {
                base.as_ptr()
                    .add(offset as usize)
                    .cast::<u32>()
                    .read_volatile()
            },
        }
    }

    fn write(&self, offset: u32, value: u32) {
        match self.access {
            // SAFETY: as in `read`; the value is valid for the register.
            Access::X2Apic => unsafe {
                cpu::wrmsr(MSR_X2APIC_BASE + offset / 16, u64::from(value))
            },
            // SAFETY: as in `read`.
            Access::XApic(base, _) => unsafe {
                base.as_ptr()
                    .add(offset as usize)
                    .cast::<u32>()
                    .write_volatile(value)
            },
        }
    }

    /// On a CPU other than the boot CPU, first thing: enable its own APIC
    /// in the boot CPU's mode, with `spurious_vector`, its timer set up as
    /// the boot CPU's (same vector and mode, disarmed: see
    /// [`Self::start_timer_on_this_cpu`]), the other local sources masked
    /// (LINT0, LINT1, error: no device is wired to an AP) and every
    /// priority accepted.
    pub fn enable_on_this_cpu(&self, spurious_vector: u8) -> Result<(), ApicError> {
        // SAFETY: IA32_APIC_BASE exists on every CPU with an APIC.
        let base = unsafe { cpu::rdmsr(MSR_APIC_BASE) };
        match self.access {
            // SAFETY: the boot CPU found x2APIC support, and every CPU of
            // the machine has the same features; xAPIC mode comes first.
            Access::X2Apic => unsafe {
                cpu::wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
                cpu::wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE | APIC_BASE_X2APIC);
            },
            Access::XApic(_, phys) => {
                if base & 0x000f_ffff_ffff_f000 != phys {
                    return Err(ApicError::MovedBase(base & 0x000f_ffff_ffff_f000));
                }
                // SAFETY: setting the global enable bit keeps the base address.
                unsafe { cpu::wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE) };
            }
        }
        self.write(reg::SPURIOUS, 0x100 | u32::from(spurious_vector));
        for lvt in [
            reg::LVT_TIMER,
            reg::LVT_LINT0,
            reg::LVT_LINT1,
            reg::LVT_ERROR,
        ] {
            self.write(lvt, LVT_MASKED);
        }
        self.write(reg::TPR, 0);
        self.start_timer_on_this_cpu();
        Ok(())
    }

    /// Give the running CPU's timer the mode and vector
    /// [`Self::configure_timer`] gave the boot CPU's, disarmed. Every CPU
    /// has its own timer (count, divider, LVT entry, IA32_TSC_DEADLINE), so
    /// [`Self::arm`] on a CPU arms that CPU's alone, and its interrupt
    /// comes to that CPU. The one-shot calibration is the boot CPU's: the
    /// timers of one machine count the same bus clock. Disarmed before the
    /// entry is unmasked, so no deadline from before (firmware's, or a
    /// previous life of this CPU) fires.
    fn start_timer_on_this_cpu(&self) {
        self.disarm();
        if let TimerMode::OneShot { .. } = self.timer {
            self.write(reg::TIMER_DIVIDE, DIVIDE_BY_16);
        }
        self.write(reg::LVT_TIMER, self.lvt_timer());
    }

    /// Send the APIC `apic_id` an interrupt on `vector` (fixed delivery).
    pub fn send_ipi(
        &self,
        apic_id: u32,
        vector: u8,
        now_ns: impl Fn() -> u64,
    ) -> Result<(), ApicError> {
        self.send(apic_id, ICR_FIXED | ICR_ASSERT | u32::from(vector), now_ns)
    }

    /// Send the APIC `apic_id` an INIT (edge, assert): the CPU resets and
    /// waits for a STARTUP.
    pub fn send_init(&self, apic_id: u32, now_ns: impl Fn() -> u64) -> Result<(), ApicError> {
        self.send(apic_id, ICR_INIT | ICR_ASSERT, now_ns)
    }

    /// Send the APIC `apic_id` a STARTUP: it begins in real mode at
    /// `page << 12` (CS = `page << 8`, IP = 0).
    pub fn send_startup(
        &self,
        apic_id: u32,
        page: u8,
        now_ns: impl Fn() -> u64,
    ) -> Result<(), ApicError> {
        self.send(apic_id, ICR_STARTUP | ICR_ASSERT | u32::from(page), now_ns)
    }

    /// Write the ICR: the destination and `low` (no shorthand). An xAPIC
    /// takes two writes, the one to the low half sending; it must not be
    /// busy with an earlier message, and interrupts stay off in between so
    /// that a handler's own send cannot come between the halves.
    fn send(&self, apic_id: u32, low: u32, now_ns: impl Fn() -> u64) -> Result<(), ApicError> {
        match self.access {
            // SAFETY: x2APIC mode is on; the ICR is one 64-bit MSR with the
            // 32-bit destination in its high half.
            Access::X2Apic => unsafe {
                cpu::wrmsr(
                    MSR_X2APIC_BASE + reg::ICR_LOW / 16,
                    u64::from(apic_id) << 32 | u64::from(low),
                );
                Ok(())
            },
            Access::XApic(..) => {
                let id = u8::try_from(apic_id).map_err(|_| ApicError::IdTooWide(apic_id))?;
                virtus_kernel::arch::irq::without_interrupts(|| {
                    self.wait_icr_idle(&now_ns)?;
                    self.write(reg::ICR_HIGH, u32::from(id) << 24);
                    self.write(reg::ICR_LOW, low);
                    self.wait_icr_idle(&now_ns)
                })
            }
        }
    }

    /// Wait (by the platform clock, bounded) for an xAPIC's ICR to finish
    /// sending.
    fn wait_icr_idle(&self, now_ns: &impl Fn() -> u64) -> Result<(), ApicError> {
        let deadline = now_ns().saturating_add(ICR_IDLE_TIMEOUT_NS);
        while self.read(reg::ICR_LOW) & ICR_SEND_PENDING != 0 {
            if now_ns() > deadline {
                return Err(ApicError::Busy);
            }
            core::hint::spin_loop();
        }
        Ok(())
    }

    /// Whether registers are reached through MSRs.
    pub fn is_x2apic(&self) -> bool {
        matches!(self.access, Access::X2Apic)
    }

    /// This APIC's ID (for IOAPIC destinations).
    pub fn id(&self) -> u32 {
        match self.access {
            Access::X2Apic => self.read(reg::ID),
            Access::XApic(..) => self.read(reg::ID) >> 24,
        }
    }

    /// The running CPU's spurious-vector register, its timer, LINT0 and
    /// LINT1 entries and its timer's divide configuration, for tests of
    /// what `enable_on_this_cpu` left.
    pub fn local_vectors(&self) -> [u32; 5] {
        [
            reg::SPURIOUS,
            reg::LVT_TIMER,
            reg::LVT_LINT0,
            reg::LVT_LINT1,
            reg::TIMER_DIVIDE,
        ]
        .map(|r| self.read(r))
    }

    /// The LVT timer entry every CPU's timer should have (the boot CPU's),
    /// for the same tests.
    pub fn expected_lvt_timer(&self) -> u32 {
        self.lvt_timer()
    }

    /// The version register (version and number of LVT entries).
    pub fn version(&self) -> u32 {
        self.read(reg::VERSION)
    }

    /// Signal end of interrupt.
    pub fn eoi(&self) {
        self.write(reg::EOI, 0);
    }

    /// Send `vector` to this CPU.
    pub fn self_ipi(&self, vector: u8) {
        match self.access {
            Access::X2Apic => self.write(reg::SELF_IPI, u32::from(vector)),
            Access::XApic(..) => {
                // Destination shorthand "self" (bits 18-19 = 01), fixed delivery.
                self.write(reg::ICR_HIGH, 0);
                self.write(reg::ICR_LOW, (1 << 18) | u32::from(vector));
            }
        }
    }

    /// Measure the count-down timer against `wait_10ms`, which must busy-wait
    /// 10 ms on an independent clock.
    pub fn measure_timer(&self, wait_10ms: impl Fn()) -> u64 {
        self.write(reg::TIMER_DIVIDE, DIVIDE_BY_16);
        self.write(reg::LVT_TIMER, LVT_MASKED);
        self.write(reg::TIMER_INITIAL, u32::MAX);
        wait_10ms();
        let elapsed = u32::MAX - self.read(reg::TIMER_CURRENT);
        self.write(reg::TIMER_INITIAL, 0);
        u64::from(elapsed) * 100
    }

    /// Let the count-down timer run free from its maximum, divided by 16 and
    /// masked, while `f` runs with a reader of the ticks elapsed since it
    /// started; then stop it. For measuring its rate against a known clock
    /// with the bracketed calibration (`pit::measure_hz`), which a fixed
    /// busy-wait cannot match where register reads are slow (trapped). The
    /// count lasts 2^32 ticks: minutes at any real APIC bus rate.
    pub fn with_free_running_count<R>(&self, f: impl FnOnce(&mut dyn FnMut() -> u64) -> R) -> R {
        self.write(reg::TIMER_DIVIDE, DIVIDE_BY_16);
        self.write(reg::LVT_TIMER, LVT_MASKED);
        self.write(reg::TIMER_INITIAL, u32::MAX);
        let r = f(&mut || u64::from(u32::MAX - self.read(reg::TIMER_CURRENT)));
        self.write(reg::TIMER_INITIAL, 0);
        r
    }

    /// Set up the timer to interrupt on `vector` in `mode`.
    pub fn configure_timer(&mut self, mode: TimerMode, vector: u8) {
        self.timer = mode;
        self.timer_vector = vector;
        match mode {
            TimerMode::TscDeadline => {
                self.write(reg::LVT_TIMER, LVT_TSC_DEADLINE | u32::from(vector))
            }
            TimerMode::OneShot { .. } => {
                self.write(reg::TIMER_DIVIDE, DIVIDE_BY_16);
                self.write(reg::LVT_TIMER, u32::from(vector));
            }
        }
    }

    /// The timer mode in use.
    pub fn timer_mode(&self) -> TimerMode {
        self.timer
    }

    /// Arm: TSC-deadline takes an absolute TSC; one-shot takes a delay in
    /// nanoseconds (both computed by the caller from the same deadline).
    pub fn arm(&self, tsc_deadline: u64, delay_ns: u64) {
        match self.timer {
            TimerMode::TscDeadline => {
                // SAFETY: IA32_TSC_DEADLINE exists (CPUID checked before this
                // mode was chosen); 0 would disarm, so use at least 1.
                unsafe { cpu::wrmsr(MSR_TSC_DEADLINE, tsc_deadline.max(1)) };
            }
            TimerMode::OneShot { ticks_per_sec } => {
                let ticks = (u128::from(delay_ns) * u128::from(ticks_per_sec) / 1_000_000_000)
                    .clamp(1, u128::from(u32::MAX)) as u32;
                self.write(reg::TIMER_INITIAL, ticks);
            }
        }
    }

    /// The timer's LVT entry for the configured mode and vector.
    fn lvt_timer(&self) -> u32 {
        match self.timer {
            TimerMode::TscDeadline => LVT_TSC_DEADLINE | u32::from(self.timer_vector),
            TimerMode::OneShot { .. } => u32::from(self.timer_vector),
        }
    }

    /// Run `f` with the timer's interrupt masked, so that whatever `f` arms
    /// never fires; then disarm and unmask. (For benchmarks of the arming
    /// itself; the caller re-arms any deadline it needs afterwards.)
    pub fn with_timer_masked<R>(&self, f: impl FnOnce(&Self) -> R) -> R {
        self.write(reg::LVT_TIMER, self.lvt_timer() | LVT_MASKED);
        let r = f(self);
        self.disarm();
        self.write(reg::LVT_TIMER, self.lvt_timer());
        r
    }

    /// Disarm the timer.
    pub fn disarm(&self) {
        match self.timer {
            // SAFETY: as in `arm`; writing 0 disarms the deadline.
            TimerMode::TscDeadline => unsafe { cpu::wrmsr(MSR_TSC_DEADLINE, 0) },
            TimerMode::OneShot { .. } => self.write(reg::TIMER_INITIAL, 0),
        }
    }
}
