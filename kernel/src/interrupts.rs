//! Interrupt and exception dispatch (the policy; entry stubs are in
//! `arch::trap`).
//!
//! Exceptions are the core's business: an exception that a test expects is
//! turned into a value through the active catch point, anything else prints
//! a full diagnostic and shuts the machine down as crashed. Device interrupts
//! belong to the backend: it registers a handler per vector and
//! acknowledges its own interrupt controller.

use crate::arch::catch::{self, CatchPoint};
use crate::arch::trap::TrapFrame;
use crate::platform::ExitStatus;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use spin::Mutex;

/// Backend handler for a device interrupt vector (32..=255).
pub type VectorHandler = fn(&mut TrapFrame);

static VECTOR_HANDLERS: Mutex<[Option<VectorHandler>; 256]> = Mutex::new([None; 256]);
static SPURIOUS: AtomicU64 = AtomicU64::new(0);

/// CPU exception names, by vector, as in the Intel SDM.
pub const EXCEPTION_NAMES: [&str; 32] = [
    "divide error (#DE)",
    "debug (#DB)",
    "non-maskable interrupt (NMI)",
    "breakpoint (#BP)",
    "overflow (#OF)",
    "bound range exceeded (#BR)",
    "invalid opcode (#UD)",
    "device not available (#NM)",
    "double fault (#DF)",
    "coprocessor segment overrun",
    "invalid TSS (#TS)",
    "segment not present (#NP)",
    "stack-segment fault (#SS)",
    "general protection fault (#GP)",
    "page fault (#PF)",
    "reserved (15)",
    "x87 floating-point error (#MF)",
    "alignment check (#AC)",
    "machine check (#MC)",
    "SIMD floating-point error (#XM)",
    "virtualization exception (#VE)",
    "control protection (#CP)",
    "reserved (22)",
    "reserved (23)",
    "reserved (24)",
    "reserved (25)",
    "reserved (26)",
    "reserved (27)",
    "hypervisor injection (#HV)",
    "VMM communication (#VC)",
    "security exception (#SX)",
    "reserved (31)",
];

/// Well-known exception vectors.
#[allow(missing_docs)]
pub mod vector {
    pub const DIVIDE_ERROR: u8 = 0;
    pub const BREAKPOINT: u8 = 3;
    pub const INVALID_OPCODE: u8 = 6;
    pub const DOUBLE_FAULT: u8 = 8;
    pub const GENERAL_PROTECTION: u8 = 13;
    pub const PAGE_FAULT: u8 = 14;
}

/// Install `handler` for device vector `vector`. Returns false if the
/// vector is an exception vector or already taken.
pub fn register_vector(vector: u8, handler: VectorHandler) -> bool {
    if vector < 32 {
        return false;
    }
    // Interrupts off: the dispatcher takes the same lock in interrupt context.
    without_interrupts(|| {
        let mut table = VECTOR_HANDLERS.lock();
        if table[usize::from(vector)].is_some() {
            return false;
        }
        table[usize::from(vector)] = Some(handler);
        true
    })
}

/// Number of interrupts that arrived on a vector nobody registered.
pub fn spurious_count() -> u64 {
    SPURIOUS.load(Ordering::Relaxed)
}

/// A CPU fault recorded by a catch point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Exception vector.
    pub vector: u8,
    /// Error code pushed by the CPU (0 where none).
    pub error_code: u64,
    /// Faulting instruction.
    pub rip: u64,
    /// CR2 for page faults and double faults (the address that faulted).
    pub address: u64,
    /// The address lies in a stack guard page.
    pub stack_overflow: bool,
}

/// Why a catch point was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caught {
    /// A CPU exception.
    Fault(Fault),
    /// A panic (the message was printed by the panic handler).
    Panic,
    /// The watchdog expired.
    Timeout,
}

const MAX_CATCH_DEPTH: usize = 4;

struct CatchSlot {
    point: CatchPoint,
    caught: Option<Caught>,
    /// Whether a watchdog timeout may abandon this context.
    abortable: bool,
}

static mut CATCH_STACK: [Option<CatchSlot>; MAX_CATCH_DEPTH] = [const { None }; MAX_CATCH_DEPTH];
static CATCH_DEPTH: AtomicUsize = AtomicUsize::new(0);
static ABORT_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Pointer to catch slot `index` (< MAX_CATCH_DEPTH), without creating a
/// reference to the whole `static mut`.
fn slot_ptr(index: usize) -> *mut Option<CatchSlot> {
    debug_assert!(index < MAX_CATCH_DEPTH);
    (&raw mut CATCH_STACK)
        .cast::<Option<CatchSlot>>()
        .wrapping_add(index)
}

/// Run `f`; if it faults, panics, or (when `abortable`) the watchdog fires
/// while it runs, return what happened instead of crashing the kernel.
pub fn catch<F: FnOnce()>(abortable: bool, f: F) -> Result<(), Caught> {
    let depth = CATCH_DEPTH.load(Ordering::Acquire);
    assert!(
        depth < MAX_CATCH_DEPTH,
        "catch points nested deeper than {MAX_CATCH_DEPTH}"
    );
    // SAFETY: slots at index >= depth belong to no active catch point; only
    // this CPU touches the stack, and handlers read slots below the depth.
    let slot = unsafe {
        let slot = &mut *slot_ptr(depth);
        slot.insert(CatchSlot {
            point: CatchPoint::default(),
            caught: None,
            abortable,
        })
    };
    let point: *mut CatchPoint = &mut slot.point;
    CATCH_DEPTH.store(depth + 1, Ordering::Release);
    // SAFETY: `point` is in a static slot that stays valid for the call.
    let completed = catch::catch(unsafe { &mut *point }, f);
    CATCH_DEPTH.store(depth, Ordering::Release);
    // SAFETY: the slot at `depth` is ours again; no handler looks at it now.
    let caught = unsafe { (*slot_ptr(depth)).take() }.and_then(|s| s.caught);
    match (completed, caught) {
        (true, _) => Ok(()),
        (false, Some(c)) => Err(c),
        (false, None) => Err(Caught::Panic),
    }
}

/// The innermost active catch slot, if any.
fn innermost() -> Option<&'static mut CatchSlot> {
    let depth = CATCH_DEPTH.load(Ordering::Acquire);
    if depth == 0 {
        return None;
    }
    // SAFETY: slot depth-1 is active; we are on the same CPU as its owner,
    // in a handler that runs to completion before the owner continues.
    unsafe { (*slot_ptr(depth - 1)).as_mut() }
}

/// Abandon the innermost catch point from non-interrupt context (the panic
/// handler). Returns only if there is none.
pub fn resume_innermost_after_panic() {
    if let Some(slot) = innermost() {
        slot.caught = Some(Caught::Panic);
        // SAFETY: the slot is active, so its `catch_call` frame is live below
        // us on this CPU's stack (or on a stack we abandon).
        unsafe { slot.point.resume() }
    }
}

/// Ask that the innermost abortable catch point be abandoned at the next
/// interrupt that lands in it (the harness watchdog calls this).
pub fn request_abort() {
    ABORT_REQUESTED.store(true, Ordering::Release);
}

/// Withdraw a pending abort request.
pub fn clear_abort() {
    ABORT_REQUESTED.store(false, Ordering::Release);
}

pub(crate) fn exception(frame: &mut TrapFrame) {
    let vector = frame.vector as u8;
    let address = if vector == vector::PAGE_FAULT || vector == vector::DOUBLE_FAULT {
        x86_64::registers::control::Cr2::read_raw()
    } else {
        0
    };
    let overflow = crate::mem::stack::guard_containing(address);
    if let Some(slot) = innermost() {
        slot.caught = Some(Caught::Fault(Fault {
            vector,
            error_code: frame.error_code,
            rip: frame.rip,
            address,
            stack_overflow: overflow.is_some(),
        }));
        slot.point.redirect(frame);
        return;
    }
    crate::diag::report_exception(frame, address, overflow);
    crate::platform().shutdown(ExitStatus::Crash);
}

pub(crate) fn device_interrupt(frame: &mut TrapFrame) {
    let handler = VECTOR_HANDLERS.lock()[frame.vector as usize];
    match handler {
        Some(handler) => handler(frame),
        None => {
            SPURIOUS.fetch_add(1, Ordering::Relaxed);
        }
    }
    // The watchdog: abandon a hanging test if the interrupt landed in it
    // (kernel mode, and no deeper catch point than the test's own).
    if ABORT_REQUESTED.load(Ordering::Acquire)
        && let Some(slot) = innermost()
        && slot.abortable
    {
        ABORT_REQUESTED.store(false, Ordering::Release);
        slot.caught = Some(Caught::Timeout);
        slot.point.redirect(frame);
    }
}

/// Run `f` with interrupts disabled, restoring the previous state after.
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    let Some(platform) = crate::try_platform() else {
        return f();
    };
    let was_enabled = platform.interrupts_enabled();
    if was_enabled {
        platform.interrupts_disable();
    }
    let result = f();
    if was_enabled {
        platform.interrupts_enable();
    }
    result
}
