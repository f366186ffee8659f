//! What an aborted test leaves behind, and whether the run may go on.
//!
//! A test abandoned through its catch point (a fault, a panic, the
//! watchdog) never runs again, so nothing releases what it held. Its heap
//! allocations only leak (counted, and said). Its locks are worse: the next
//! user of a spin lock that nobody will release spins forever, and since
//! the kernel's locks are taken with interrupts off, not even the watchdog
//! can end that. So [`interrupts::catch`] audits the kernel's spin locks
//! with interrupts still off, and for every lock that the abandoned context
//! took:
//!
//! - the console lock is released: it guards no data, and its holder will
//!   never write again (`console`'s introduction);
//! - any other lock guards data that the holder may have left half updated
//!   (the heap's free list, the timer table, the frame bitmap, the page
//!   tables, the frames shared with another domain, the MMIO mappings, the
//!   stack registry, the balloon's list), which cannot be released soundly. The
//!   state is unsafe: interrupts stay off, and the harness reports
//!   "state unsafe after abort: <lock> held by aborted test <name>" and
//!   stops the run instead of deadlocking in the next test.
//!
//! The backends' own locks (the native UART's input ring, the IOAPIC's
//! registers) are not audited: nothing the core can see says whether they
//! are held. Nor is the physical-read window (`mem::phys`), which is only
//! ever `try_lock`ed.

use crate::interrupts::{self, AbandonAudit};
use core::sync::atomic::{AtomicU32, Ordering};

/// A lock the audit can look at without taking it.
trait Probe: Sync {
    fn is_locked(&self) -> bool;
}

impl<T: Send> Probe for spin::Mutex<T> {
    fn is_locked(&self) -> bool {
        spin::Mutex::is_locked(self)
    }
}

/// Bit 0 of the audit: the one lock that may be released.
const CONSOLE: u32 = 1 << 0;

/// The kernel's spin locks, by bit. The console lock comes first (bit
/// [`CONSOLE`]).
fn locks() -> [(&'static str, &'static dyn Probe); 9] {
    [
        ("console lock", &crate::console::LOCK),
        ("heap lock", &crate::mem::heap::HEAP.heap),
        ("timer lock", &crate::time::TIMERS[0]),
        ("frame allocator lock", &crate::mem::FRAMES),
        ("page table lock", &crate::mem::TABLES),
        ("shared frames lock", &crate::mem::SHARED),
        ("MMIO mappings lock", &crate::mem::mmio::MAPPINGS),
        ("stack registry lock", &crate::mem::stack::STACKS),
        ("balloon lock", &crate::mem::balloon::BALLOON),
    ]
}

/// Locks released since the harness last asked ([`take_released`]).
static RELEASED: AtomicU32 = AtomicU32::new(0);

/// The audit [`interrupts::catch`] runs on every abandoned context.
struct KernelLocks;

impl AbandonAudit for KernelLocks {
    fn held(&self) -> u32 {
        locks()
            .iter()
            .enumerate()
            .filter(|(_, (_, lock))| lock.is_locked())
            .fold(0, |bits, (i, _)| bits | 1 << i)
    }

    fn settle(&self, left: u32) -> Option<&'static str> {
        if left & CONSOLE != 0 {
            // SAFETY: `left` holds only locks that were free when the catch
            // point was entered and are held now, so the abandoned context
            // took this one, and it never runs again.
            unsafe { crate::console::release_abandoned() };
            RELEASED.fetch_or(CONSOLE, Ordering::Relaxed);
        }
        locks()
            .iter()
            .enumerate()
            .find(|(i, _)| left & !CONSOLE & (1 << i) != 0)
            .map(|(_, (name, _))| *name)
    }
}

static AUDIT: KernelLocks = KernelLocks;

/// Make every later catch point audit the kernel's locks when it abandons
/// a context. Called once at start-up, before anything runs in a catch
/// point.
pub fn install() {
    interrupts::set_abandon_audit(&AUDIT);
    crate::sched::set_park_veto(keep_awake);
}

/// Whether the console lock was released after an abandoned context since
/// the last call.
pub fn console_released() -> bool {
    RELEASED.swap(0, Ordering::Relaxed) & CONSOLE != 0
}

/// The audit's view of the locks held now, by name (for the test that
/// proves each lock is seen).
pub fn held_names() -> impl Iterator<Item = &'static str> {
    let held = KernelLocks.held();
    locks()
        .into_iter()
        .enumerate()
        .filter(move |(i, _)| held & (1 << i) != 0)
        .map(|(_, (name, _))| name)
}

/// The scheduler asks before a thread sleeps. Not while it holds one of
/// the audited locks: asleep with a spin lock, it would leave every other
/// thread that wants it spinning. Not the main line while the watchdog's
/// abort is pending: the abort lands only there.
fn keep_awake() -> bool {
    KernelLocks.held() != 0 || (crate::sched::on_main_thread() && interrupts::abort_requested())
}
