//! Per-CPU data, found through the GS base: each CPU's [`CpuLocal`] holds
//! its number, the kernel stack its `syscall` entry switches to, and its
//! TSS. The GS base MSR is the only CPU register that differs between CPUs
//! and that kernel code can read without a lock or a table lookup.
//!
//! User code may load GS with a selector of its own (which clears the GS
//! base), so every entry from user mode (`syscall`, an interrupt or an
//! exception that arrives in ring 3) runs `swapgs` first and every return
//! to user mode runs it last: in the kernel, GS always holds the CPU's own
//! base, in user mode KERNEL_GS_BASE does.
//!
//! The layout is shared with the assembly entries in `user.rs`: keep the
//! offsets below in step with the struct.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The most CPUs the kernel brings up; further ones stay down.
pub const MAX_CPUS: usize = 8;

/// One CPU's own data. Fields are atomics so the array can be a plain
/// static; each CPU writes only its own entry (`kernel_rsp`, `user_rsp`),
/// or the boot CPU writes an entry before that CPU starts.
#[repr(C)]
pub struct CpuLocal {
    /// The entry's own address: `gs:0` gives a pointer to it.
    self_ptr: AtomicU64,
    /// Kernel stack for the next `syscall` (the running thread's).
    kernel_rsp: AtomicU64,
    /// Scratch for the user stack pointer between `syscall` and its push.
    user_rsp: AtomicU64,
    /// This CPU's number (0 for the boot CPU).
    index: AtomicU64,
    /// This CPU's TSS (whose RSP0 the scheduler sets).
    tss: AtomicU64,
}

/// `gs:` offset of [`CpuLocal::kernel_rsp`], for the `syscall` entry.
pub const KERNEL_RSP_OFFSET: usize = 8;
/// `gs:` offset of [`CpuLocal::user_rsp`].
pub const USER_RSP_OFFSET: usize = 16;
const INDEX_OFFSET: usize = 24;

const _: () = {
    assert!(core::mem::offset_of!(CpuLocal, kernel_rsp) == KERNEL_RSP_OFFSET);
    assert!(core::mem::offset_of!(CpuLocal, user_rsp) == USER_RSP_OFFSET);
    assert!(core::mem::offset_of!(CpuLocal, index) == INDEX_OFFSET);
};

static CPUS: [CpuLocal; MAX_CPUS] = [const {
    CpuLocal {
        self_ptr: AtomicU64::new(0),
        kernel_rsp: AtomicU64::new(0),
        user_rsp: AtomicU64::new(0),
        index: AtomicU64::new(0),
        tss: AtomicU64::new(0),
    }
}; MAX_CPUS];

/// Set once the boot CPU's GS base points at its entry; before that (the
/// first steps of boot, on the boot CPU only) [`current`] is 0.
static INSTALLED: AtomicBool = AtomicBool::new(false);

const MSR_GS_BASE: u32 = 0xc000_0101;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;

/// Point this CPU's GS base at entry `cpu` (and KERNEL_GS_BASE, the user
/// side, at nothing). Called first thing on each CPU, interrupts off.
pub fn install(cpu: usize) {
    let local = &CPUS[cpu];
    let address = local as *const CpuLocal as u64;
    local.self_ptr.store(address, Ordering::Relaxed);
    local.index.store(cpu as u64, Ordering::Relaxed);
    for (msr, value) in [(MSR_GS_BASE, address), (MSR_KERNEL_GS_BASE, 0)] {
        // SAFETY: GS_BASE and KERNEL_GS_BASE exist on every x86_64 CPU;
        // writing them changes only where `gs:` points, and no code uses
        // `gs:` before this (the boot CPU) or before its own install (APs).
        unsafe {
            core::arch::asm!("wrmsr", in("ecx") msr, in("eax") value as u32,
                in("edx") (value >> 32) as u32, options(nomem, nostack, preserves_flags));
        }
    }
    INSTALLED.store(true, Ordering::Release);
}

/// The number of the CPU this runs on (0 before per-CPU data is set up).
pub fn current() -> usize {
    if !INSTALLED.load(Ordering::Acquire) {
        return 0;
    }
    let index: u64;
    // SAFETY: in the kernel GS holds this CPU's base (see the module
    // comment), and `index` is an aligned 8-byte field of its entry.
    unsafe {
        core::arch::asm!("mov {}, gs:[{}]", out(reg) index, const INDEX_OFFSET,
            options(nostack, preserves_flags, readonly));
    }
    index as usize
}

/// Set the kernel stack this CPU's next `syscall` switches to.
pub fn set_syscall_stack(top: u64) {
    CPUS[current()].kernel_rsp.store(top, Ordering::Relaxed);
}

/// Record where CPU `cpu`'s TSS is.
pub fn set_tss(cpu: usize, tss: u64) {
    CPUS[cpu].tss.store(tss, Ordering::Release);
}

/// This CPU's TSS, as [`set_tss`] recorded it (0 if none yet).
pub fn tss() -> u64 {
    CPUS[current()].tss.load(Ordering::Acquire)
}
