//! Interrupt and exception dispatch (the policy; entry stubs are in
//! `arch::trap`).
//!
//! Exceptions are the core's business: an exception that a test expects is
//! turned into a value through the active catch point, anything else prints
//! a full diagnostic and shuts the machine down as crashed. Device interrupts
//! belong to the backend: it registers a handler per vector and
//! acknowledges its own interrupt controller.

use crate::arch::catch::{self, CatchPoint};
pub use crate::arch::trap::EXCEPTION_NAMES;
use crate::arch::trap::TrapFrame;
use crate::platform::ExitStatus;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// Backend handler for a device interrupt vector (32..=255).
pub type VectorHandler = fn(&mut TrapFrame);

/// The handler of each vector, as a type-erased function pointer (null:
/// none). Atomics rather than a lock: the dispatcher runs in interrupt
/// context, where a lock left held by an abandoned context (or by a fault
/// in [`register_vector`]) would deadlock every later interrupt.
static VECTOR_HANDLERS: [AtomicPtr<()>; 256] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; 256];
static SPURIOUS: AtomicU64 = AtomicU64::new(0);

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
    VECTOR_HANDLERS[usize::from(vector)]
        .compare_exchange(
            core::ptr::null_mut(),
            handler as *mut (),
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
}

/// The handler registered for `vector`, if any.
fn vector_handler(vector: usize) -> Option<VectorHandler> {
    let erased = VECTOR_HANDLERS.get(vector)?.load(Ordering::Acquire);
    if erased.is_null() {
        return None;
    }
    // SAFETY: the only non-null values ever stored are `VectorHandler`s
    // cast to `*mut ()` by `register_vector`; function and data pointers
    // have the same size and representation on x86_64.
    Some(unsafe { core::mem::transmute::<*mut (), VectorHandler>(erased) })
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

/// One catch point. Reached only through raw pointers (see [`CatchStack`]).
struct CatchSlot {
    point: CatchPoint,
    caught: Option<Caught>,
    /// Whether a watchdog timeout may abandon this context.
    abortable: bool,
}

impl CatchSlot {
    const EMPTY: Self = Self {
        point: CatchPoint::new(),
        caught: None,
        abortable: false,
    };
}

/// The active catch points of the CPU, innermost at `CATCH_DEPTH - 1`.
///
/// No reference to a slot is ever held across code that a handler can
/// interrupt: [`catch`] owns its slot, and while it runs `f` the exception,
/// interrupt and panic paths read and write the same slot. So both sides
/// go through the raw pointer from [`slot_ptr`], one place expression at a
/// time, and `catch_call` writes the saved stack pointer through its own.
struct CatchStack([UnsafeCell<CatchSlot>; MAX_CATCH_DEPTH]);

// SAFETY: the kernel runs on one CPU. A slot is written by `catch` before
// it is published (CATCH_DEPTH raised past it) and read back after it is
// withdrawn; while it is published only handlers on the same CPU touch it,
// each running to completion before `catch`'s owner continues, and none
// keeps a reference beyond one statement (see above).
unsafe impl Sync for CatchStack {}

static CATCH_STACK: CatchStack =
    CatchStack([const { UnsafeCell::new(CatchSlot::EMPTY) }; MAX_CATCH_DEPTH]);
static CATCH_DEPTH: AtomicUsize = AtomicUsize::new(0);
static ABORT_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Raw pointer to catch slot `index` (< MAX_CATCH_DEPTH).
fn slot_ptr(index: usize) -> *mut CatchSlot {
    CATCH_STACK.0[index].get()
}

/// What [`catch`] asks about the kernel's locks when it abandons a context
/// (a fault, a panic, the watchdog): the abandoned code never runs again,
/// so whatever lock it held stays held. The harness provides it
/// (`harness::abort`), which keeps this module free of the modules whose
/// locks it lists.
pub trait AbandonAudit: Sync {
    /// The locks held now, one bit each.
    fn held(&self) -> u32;
    /// `left` are the locks held now that were free when the catch point
    /// was entered, so taken by the abandoned context. Release those that
    /// are sound to release; return the name of the first that is not.
    fn settle(&self, left: u32) -> Option<&'static str>;
}

static AUDIT: spin::Once<&'static dyn AbandonAudit> = spin::Once::new();
static UNSAFE_AFTER_ABORT: spin::Once<&'static str> = spin::Once::new();

/// Install the audit every later [`catch`] uses. Only the first call counts.
pub fn set_abandon_audit(audit: &'static dyn AbandonAudit) {
    AUDIT.call_once(|| audit);
}

/// The lock an abandoned context left held that could not be released, if
/// any: from then on the kernel's state is unsafe (the next user of that
/// lock spins forever), interrupts stay off, and nothing may run that could
/// take the lock; the harness reports it and stops.
pub fn unsafe_after_abort() -> Option<&'static str> {
    UNSAFE_AFTER_ABORT.get().copied()
}

fn interrupts_enabled() -> bool {
    crate::try_platform().is_some_and(|p| p.interrupts_enabled())
}

/// Run `f`; if it faults, panics, or (when `abortable`) the watchdog fires
/// while it runs, return what happened instead of crashing the kernel.
///
/// After an abandoned context the kernel's locks are audited (see
/// [`AbandonAudit`]) with interrupts off; the interrupt state `catch` was
/// entered with comes back only if no lock was left held that could not
/// be released ([`unsafe_after_abort`]).
pub fn catch<F: FnOnce()>(abortable: bool, f: F) -> Result<(), Caught> {
    let depth = CATCH_DEPTH.load(Ordering::Acquire);
    assert!(
        depth < MAX_CATCH_DEPTH,
        "catch points nested deeper than {MAX_CATCH_DEPTH}"
    );
    let audit = AUDIT.get().copied();
    let held_at_entry = audit.map_or(0, |a| a.held());
    let irqs_were_on = interrupts_enabled();
    let slot = slot_ptr(depth);
    // SAFETY: slot `depth` is not published (handlers look only below
    // CATCH_DEPTH), so nothing else reads or writes it now.
    unsafe {
        slot.write(CatchSlot {
            point: CatchPoint::new(),
            caught: None,
            abortable,
        })
    };
    CATCH_DEPTH.store(depth + 1, Ordering::Release);
    // SAFETY: the point lives in a static slot, valid for the whole call;
    // while the call is active only `catch_call` writes it (handlers read
    // it through their own raw pointer).
    let completed = unsafe { catch::catch(&raw mut (*slot).point, f) };
    CATCH_DEPTH.store(depth, Ordering::Release);
    // SAFETY: the slot is withdrawn: nothing else touches it now.
    let caught = unsafe { (*slot).caught.take() };
    if completed {
        return Ok(());
    }
    // Abandoned: interrupts are off here (see `catch::redirect`).
    let left = audit.map_or(0, |a| a.held() & !held_at_entry);
    match audit.filter(|_| left != 0).and_then(|a| a.settle(left)) {
        Some(lock) => {
            UNSAFE_AFTER_ABORT.call_once(|| lock);
        }
        None if irqs_were_on => {
            if let Some(p) = crate::try_platform() {
                p.interrupts_enable();
            }
        }
        None => {}
    }
    Err(caught.unwrap_or(Caught::Panic))
}

/// The innermost catch slot that is armed (its `catch_call` frame is live
/// and may be jumped to), if any.
fn innermost_armed() -> Option<*mut CatchSlot> {
    let depth = CATCH_DEPTH.load(Ordering::Acquire);
    let slot = slot_ptr(depth.checked_sub(1)?);
    // SAFETY: slot depth-1 is published; its saved stack pointer is read as
    // a place, creating no reference (see `CatchStack`).
    let armed = unsafe { (*slot).point.saved_rsp } != 0;
    armed.then_some(slot)
}

/// Abandon the innermost catch point from non-interrupt context (the panic
/// handler). Returns only if there is none.
pub fn resume_innermost_after_panic() {
    if !crate::sched::on_main_thread() {
        return;
    }
    if let Some(slot) = innermost_armed() {
        // SAFETY: the slot is published and armed; its owner reads `caught`
        // back only after this jump (see `CatchStack`).
        let saved_rsp = unsafe {
            (*slot).caught = Some(Caught::Panic);
            (*slot).point.saved_rsp
        };
        // SAFETY: the slot is armed, so its `catch_call` frame is live below
        // us on this CPU's stack (or on a stack we abandon).
        unsafe { catch::resume(saved_rsp) }
    }
}

/// Ask that the innermost abortable catch point be abandoned at the next
/// interrupt that lands in it (the harness watchdog calls this).
pub fn request_abort() {
    ABORT_REQUESTED.store(true, Ordering::Release);
}

/// Whether the watchdog asked for an abort that has not happened yet (the
/// scheduler then keeps the main line awake, where the abort lands).
pub fn abort_requested() -> bool {
    ABORT_REQUESTED.load(Ordering::Acquire)
}

/// Withdraw a pending abort request.
pub fn clear_abort() {
    ABORT_REQUESTED.store(false, Ordering::Release);
}

/// Take over the CPU's traps: register the dispatch of the trap layer,
/// then load the IDT. Called once, at the start of the kernel's main path.
pub fn init() {
    crate::arch::trap::set_dispatch(exception, device_interrupt);
    crate::arch::idt::init();
}

/// What ends a process that faulted: (vector, error code, rip, address).
pub type UserFaultHandler = fn(u8, u64, u64, u64) -> !;

/// Registered by `proc`, so that this module, below it, never names it.
static USER_FAULT: spin::Once<UserFaultHandler> = spin::Once::new();

/// Send CPU exceptions from user mode to `kill`.
pub fn set_user_fault_handler(kill: UserFaultHandler) {
    USER_FAULT.call_once(|| kill);
}

/// Whether the trap came from user mode (CPL 3).
fn from_user(frame: &TrapFrame) -> bool {
    frame.cs & 3 == 3
}

fn exception(frame: &mut TrapFrame) {
    let vector = frame.vector as u8;
    let address = if vector == vector::PAGE_FAULT || vector == vector::DOUBLE_FAULT {
        x86_64::registers::control::Cr2::read_raw()
    } else {
        0
    };
    if from_user(frame)
        && let Some(kill) = USER_FAULT.get()
    {
        // A process's fault is the process's end, never the kernel's.
        crate::arch::user::close_user_access();
        kill(vector, frame.error_code, frame.rip, address);
    }
    let overflow = crate::mem::stack::guard_containing(address);
    // Catch points belong to the main line on CPU 0: a fault in another
    // thread's kernel code, or on another CPU, is a kernel bug, reported
    // as a crash below (with the CPU's number).
    let on_main_line = crate::arch::percpu::current() == 0 && crate::sched::on_main_thread();
    if let Some(slot) = innermost_armed().filter(|_| on_main_line) {
        let fault = Fault {
            vector,
            error_code: frame.error_code,
            rip: frame.rip,
            address,
            stack_overflow: overflow.is_some(),
        };
        // SAFETY: the slot is published and armed, and this handler runs to
        // completion before its owner continues (see `CatchStack`).
        let saved_rsp = unsafe {
            (*slot).caught = Some(Caught::Fault(fault));
            (*slot).point.saved_rsp
        };
        catch::redirect(frame, saved_rsp);
        return;
    }
    crate::diag::report_exception(frame, address, overflow);
    crate::platform().shutdown(ExitStatus::Crash);
}

fn device_interrupt(frame: &mut TrapFrame) {
    let user = from_user(frame);
    if user {
        crate::arch::user::close_user_access();
    }
    match vector_handler(frame.vector as usize) {
        Some(handler) => handler(frame),
        None => {
            SPURIOUS.fetch_add(1, Ordering::Relaxed);
        }
    }
    crate::sched::note_event();
    if user {
        crate::sched::preempt_if_due();
        return;
    }
    // The harness's watchdog below is CPU 0's alone: the catch points
    // belong to its main line.
    if crate::arch::percpu::current() != 0 {
        return;
    }
    // The watchdog: abandon a hanging test if the interrupt landed in it
    // (kernel mode on the main line, and no deeper catch point than the
    // test's own).
    if !ABORT_REQUESTED.load(Ordering::Acquire) || !crate::sched::on_main_thread() {
        return;
    }
    let Some(slot) = innermost_armed() else {
        return;
    };
    // SAFETY: as in `exception`.
    let abortable = unsafe { (*slot).abortable };
    if abortable {
        ABORT_REQUESTED.store(false, Ordering::Release);
        // SAFETY: as in `exception`.
        let saved_rsp = unsafe {
            (*slot).caught = Some(Caught::Timeout);
            (*slot).point.saved_rsp
        };
        catch::redirect(frame, saved_rsp);
    }
}
