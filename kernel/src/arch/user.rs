//! The CPU's side of user mode: the `syscall` entry and `sysret` exit, the
//! first entry into a process (`iretq` to ring 3), the MSRs that make
//! `syscall` work, and the protection bits (SMEP, SMAP) that keep the
//! kernel from running or touching user pages by accident.
//!
//! The entry switches to the kernel's GS (`swapgs`), keeps the user stack
//! pointer in this CPU's [`super::percpu`] scratch for the few instructions
//! before it is pushed, and finds the running thread's kernel stack there,
//! where the scheduler sets it at each switch.

use super::gdt::{KERNEL_CODE_SELECTOR, USER_CODE_SELECTOR, USER_DATA_SELECTOR};
use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Registers saved by the `syscall` entry, lowest address first. The
/// dispatcher reads the number and arguments and writes the result in
/// `rax`; everything else goes back to user mode unchanged.
#[repr(C)]
#[derive(Debug)]
#[allow(missing_docs)]
pub struct SyscallFrame {
    pub rax: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub r10: u64,
    pub r8: u64,
    pub r9: u64,
    /// User RFLAGS (the CPU put them in R11).
    pub rflags: u64,
    /// User RIP (the CPU put it in RCX).
    pub rip: u64,
    pub rsp: u64,
}

static SMAP: AtomicBool = AtomicBool::new(false);
static SMEP: AtomicBool = AtomicBool::new(false);

global_asm!(
    r#"
    .pushsection .text.user, "ax"
    .global syscall_entry
syscall_entry:
    /* IF, DF, TF and AC are clear (FMASK); RCX = user RIP, R11 = user RFLAGS. */
    swapgs
    mov %rsp, %gs:{user_rsp}
    mov %gs:{kernel_rsp}, %rsp
    pushq %gs:{user_rsp}
    push %rcx
    push %r11
    push %r9
    push %r8
    push %r10
    push %rdx
    push %rsi
    push %rdi
    push %rax
    mov %rsp, %rdi
    /* 10 words pushed on a 16-aligned top: aligned for the call. */
    call syscall_dispatch
    cli
    pop %rax
    pop %rdi
    pop %rsi
    pop %rdx
    pop %r10
    pop %r8
    pop %r9
    pop %r11
    pop %rcx
    pop %rsp
    swapgs
    sysretq

    /* enter_user(rip, rsp): the first entry into a process, by IRETQ. */
    .global enter_user
enter_user:
    cli
    pushq ${user_ss}
    push %rsi
    pushq $0x202
    pushq ${user_cs}
    push %rdi
    xor %eax, %eax
    xor %ebx, %ebx
    xor %ecx, %ecx
    xor %edx, %edx
    xor %esi, %esi
    xor %edi, %edi
    xor %ebp, %ebp
    xor %r8d, %r8d
    xor %r9d, %r9d
    xor %r10d, %r10d
    xor %r11d, %r11d
    xor %r12d, %r12d
    xor %r13d, %r13d
    xor %r14d, %r14d
    xor %r15d, %r15d
    swapgs
    iretq
    .popsection
    "#,
    user_ss = const USER_DATA_SELECTOR,
    user_cs = const USER_CODE_SELECTOR,
    user_rsp = const super::percpu::USER_RSP_OFFSET,
    kernel_rsp = const super::percpu::KERNEL_RSP_OFFSET,
    options(att_syntax)
);

unsafe extern "C" {
    fn syscall_entry();
    fn enter_user(rip: u64, rsp: u64) -> !;
}

/// Where the core's system call dispatcher is (set by `proc`).
static DISPATCH: AtomicU64 = AtomicU64::new(0);

/// The core's dispatcher for system calls.
pub type SyscallHandler = fn(&mut SyscallFrame);

#[unsafe(no_mangle)]
extern "C" fn syscall_dispatch(frame: &mut SyscallFrame) {
    let raw = DISPATCH.load(Ordering::Acquire);
    if raw == 0 {
        frame.rax = (-38i64) as u64; // ENOSYS
        return;
    }
    // SAFETY: only `init` stores here, and it stores a `SyscallHandler`.
    let handler: SyscallHandler = unsafe { core::mem::transmute::<u64, SyscallHandler>(raw) };
    // Interrupts on while the kernel works for the process: timers and
    // devices must not wait for a long call (the exit path turns them
    // off again before SYSRET).
    // SAFETY: the entry saved every user register it will restore; the
    // handler may be interrupted like any kernel code.
    unsafe { core::arch::asm!("sti", options(nomem, nostack)) };
    handler(frame);
}

const MSR_EFER: u32 = 0xc000_0080;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_FMASK: u32 = 0xc000_0084;
const EFER_SCE: u64 = 1;
/// RFLAGS cleared on `syscall`: TF, IF, DF, AC.
const FMASK: u64 = (1 << 8) | (1 << 9) | (1 << 10) | (1 << 18);
const CR4_SMEP: u64 = 1 << 20;
const CR4_SMAP: u64 = 1 << 21;

fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reading an architectural MSR this CPU has (long mode implies
    // EFER, STAR, LSTAR and FMASK); no memory is touched.
    unsafe {
        core::arch::asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi,
            options(nomem, nostack, preserves_flags));
    }
    u64::from(hi) << 32 | u64::from(lo)
}

fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the callers write the syscall MSRs with values that point at
    // this module's entry and the GDT's selectors.
    unsafe {
        core::arch::asm!("wrmsr", in("ecx") msr, in("eax") value as u32,
            in("edx") (value >> 32) as u32, options(nomem, nostack, preserves_flags));
    }
}

/// Set up `syscall`/`sysret` with `handler` as the dispatcher, and turn on
/// SMEP and SMAP where the CPU has them. Returns (SMEP, SMAP) as enabled.
pub fn init(handler: SyscallHandler) -> (bool, bool) {
    DISPATCH.store(handler as usize as u64, Ordering::Release);
    init_cpu()
}

/// The per-CPU half of [`init`]: the `syscall` MSRs, SMEP and SMAP, on the
/// CPU this runs on (every CPU, the boot CPU through `init`).
pub fn init_cpu() -> (bool, bool) {
    // STAR[47:32]: kernel CS (SS = +8). STAR[63:48]: base for SYSRET, which
    // loads SS = base + 8 and CS = base + 16 (both with RPL 3).
    let sysret_base = u64::from(USER_DATA_SELECTOR & !3) - 8;
    wrmsr(
        MSR_STAR,
        (sysret_base | 3) << 48 | u64::from(KERNEL_CODE_SELECTOR) << 32,
    );
    wrmsr(MSR_LSTAR, syscall_entry as *const () as u64);
    wrmsr(MSR_FMASK, FMASK);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
    let leaf7 = core::arch::x86_64::__cpuid_count(7, 0);
    let max = core::arch::x86_64::__cpuid(0).eax;
    let smep = max >= 7 && leaf7.ebx & (1 << 7) != 0;
    let smap = max >= 7 && leaf7.ebx & (1 << 20) != 0;
    let mut cr4 = x86_64::registers::control::Cr4::read_raw();
    if smep {
        cr4 |= CR4_SMEP;
    }
    if smap {
        cr4 |= CR4_SMAP;
    }
    // SAFETY: SMEP and SMAP only add checks: the kernel runs no user pages
    // and touches them only inside `with_user_access`.
    unsafe { x86_64::registers::control::Cr4::write_raw(cr4) };
    SMEP.store(smep, Ordering::Relaxed);
    SMAP.store(smap, Ordering::Relaxed);
    (smep, smap)
}

/// Whether SMAP is on.
pub fn smap_enabled() -> bool {
    SMAP.load(Ordering::Relaxed)
}

/// Whether SMEP is on.
pub fn smep_enabled() -> bool {
    SMEP.load(Ordering::Relaxed)
}

/// The kernel stack the next `syscall` uses (the scheduler sets it with
/// TSS.RSP0 at each switch).
pub fn set_syscall_stack(top: u64) {
    super::percpu::set_syscall_stack(top);
}

/// Leave for user mode at `rip` with stack `rsp`, interrupts on, every
/// other register zero. The page tables of the process must be loaded.
///
/// # Safety
/// `rip` and `rsp` must be addresses in the loaded user address space, and
/// the caller's kernel stack must be the one set as RSP0 (it is where the
/// process comes back on its first interrupt).
pub unsafe fn enter(rip: u64, rsp: u64) -> ! {
    // SAFETY: the caller's contract; `enter_user` builds a ring-3 IRETQ
    // frame from the GDT's user selectors.
    unsafe { enter_user(rip, rsp) }
}

/// Run `f` with SMAP opened (STAC .. CLAC): the only way the kernel reads
/// or writes user pages. Callers have checked the range beforehand.
pub fn with_user_access<R>(f: impl FnOnce() -> R) -> R {
    let smap = smap_enabled();
    if smap {
        // SAFETY: STAC only sets RFLAGS.AC; the CPU has SMAP (checked).
        unsafe { core::arch::asm!("stac", options(nostack)) };
    }
    let result = f();
    if smap {
        // SAFETY: CLAC only clears RFLAGS.AC.
        unsafe { core::arch::asm!("clac", options(nostack)) };
    }
    result
}

/// Clear RFLAGS.AC on kernel entry from user mode: an interrupt keeps the
/// user's AC, which would open SMAP for the whole handler.
pub fn close_user_access() {
    if smap_enabled() {
        // SAFETY: CLAC only clears RFLAGS.AC.
        unsafe { core::arch::asm!("clac", options(nostack)) };
    }
}
