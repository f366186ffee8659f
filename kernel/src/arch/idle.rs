//! Idling until the next interrupt without losing the wake-up.
//!
//! `sti; hlt` leans on STI's one-instruction interrupt shadow: an interrupt
//! already pending is taken only once HLT has started, wakes it, and saves
//! the address *after* the HLT. The caller's loop then re-checks why it
//! waited.
//!
//! The nested test bed breaks that shadow for Xen HVM and PVH guests: the
//! guest takes the interrupt *before* its HLT (observed, see below). As
//! QEMU's source reads, its software SVM lets a physical interrupt force a
//! #VMEXIT between the STI and the HLT (with V_INTR_MASKING it checks only
//! the host's IF), records the shadow in the VMCB's interrupt state, but
//! does not load it back at VMRUN; Xen sees the shadow and opens an
//! interrupt window instead of injecting, and on re-entry that window
//! opens at once, before the HLT. The handler runs (a one-shot timer's handler
//! disarms the timer), returns to the HLT, and the CPU halts for good,
//! waiting for the interrupt it has just handled. That was the silent hang
//! of `block_wake_timer` under Xen HVM (its guest state at the hang: halted
//! with IF set, timer disarmed, nothing in service or pending). Counted on
//! the bed: 55 interrupts landed before the HLT in about 31,000 timer waits,
//! each one a hang without this rule, none with it.
//!
//! The rule ([`resume_past_halt`], called on every device interrupt): an
//! interrupt that lands on exactly this HLT returns past it, as if HLT had
//! run and been woken. Where the shadow holds the rule never fires.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// Length of the HLT instruction (F4).
const HLT_LEN: u64 = 1;

global_asm!(
    r#"
    .pushsection .text.idle, "ax"
    .global idle_enable_and_halt
    .global idle_halt
    .global idle_halt_unshadowed
idle_enable_and_halt:
    sti
idle_halt:
    hlt
    ret

/* The same HLT, reached with IF set by IRETQ, which opens no shadow: an
 * interrupt already pending is taken at the boundary before the HLT, which
 * is what the broken shadow does. For the test of the rule only. */
idle_halt_unshadowed:
    mov %rsp, %rax
    mov %ss, %ecx
    push %rcx
    push %rax
    pushfq
    orq $0x200, (%rsp)
    mov %cs, %ecx
    push %rcx
    lea idle_halt(%rip), %rcx
    push %rcx
    iretq
    .popsection
    "#,
    options(att_syntax)
);

unsafe extern "C" {
    fn idle_enable_and_halt();
    fn idle_halt_unshadowed();
    static idle_halt: u8;
}

static RESUMED_PAST_HALT: AtomicU64 = AtomicU64::new(0);

/// Enable interrupts and halt until the next one (`sti; hlt`). Returns
/// with interrupts enabled, after one interrupt or at once if one was
/// pending; callers loop on their own condition.
pub fn enable_interrupts_and_halt() {
    // SAFETY: the routine only sets IF and halts; interrupts may run here
    // (the caller asked for them) and the handlers preserve every register
    // the C ABI asks a callee to keep.
    unsafe { idle_enable_and_halt() }
}

/// Set IF with IRETQ and halt on the idle HLT: a pending interrupt is taken
/// just before that HLT, as under the broken shadow. For the test of
/// [`resume_past_halt`]; returns with interrupts enabled.
pub fn halt_without_shadow() {
    // SAFETY: the routine builds an IRETQ frame of the current CS, SS, RSP
    // and RFLAGS | IF, returns into the idle HLT on this same stack (so its
    // RET returns to our caller), and clobbers only RAX and RCX, which the C
    // ABI lets a callee clobber.
    unsafe { idle_halt_unshadowed() }
}

/// On entry of a device interrupt, with `rip` its saved return address: if
/// it landed on the idle HLT, return past it, so that the wait loop
/// re-checks its condition instead of halting after the event it was
/// waiting for.
pub(crate) fn resume_past_halt(rip: &mut u64) {
    let halt = &raw const idle_halt as u64;
    if *rip == halt {
        *rip = halt + HLT_LEN;
        RESUMED_PAST_HALT.fetch_add(1, Ordering::Relaxed);
    }
}

/// How many interrupts arrived just before the idle HLT (each one a lost
/// wake-up without [`resume_past_halt`]).
pub fn resumed_past_halt() -> u64 {
    RESUMED_PAST_HALT.load(Ordering::Relaxed)
}
