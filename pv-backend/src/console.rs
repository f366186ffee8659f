//! The PV console: a pair of byte rings in a page shared with dom0's
//! xenconsoled (`struct xencons_interface`), plus an event channel to
//! signal it. The only console a domU has on a release build of Xen.
//!
//! Ring indices are free-running `u32`s, masked by the ring size on use.
//! We own `out_prod` and `in_cons`; the backend writes `out_cons` and
//! `in_prod`, so those are validated before they are trusted: a backend
//! that claims more than a ring's worth of data has corrupted the ring,
//! which is then abandoned rather than indexed out of bounds. A full output
//! ring whose backend takes nothing for [`STALL_NS`] is abandoned too,
//! rather than waited on for ever with interrupts off. Either way the
//! writer gets the [`RingFault`] once, to report it through whatever output
//! remains, and the fault is counted in [`Console::ring_errors`], which the
//! platform turns into a failed run.
//!
//! Bytes pass through unchanged: xenconsoled does no "\n" to "\r\n".

use crate::abi::{XENCONS_IN_SIZE, XENCONS_OUT_SIZE, XenconsInterface};
use crate::evtchn::{self, Port};
use crate::{sched, shared_info, time};
use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering, fence};
use volatile::{VolatilePtr, map_field};

const OUT_SIZE: u32 = XENCONS_OUT_SIZE as u32;
const IN_SIZE: u32 = XENCONS_IN_SIZE as u32;
/// How long a writer waiting for ring space sleeps before looking again,
/// in case the backend's notification was consumed by someone else.
const FULL_RING_WAIT_NS: u64 = 10_000_000;
/// How long a full output ring may go without the backend taking a byte
/// before the writer gives up on it. xenconsoled normally empties the ring
/// within milliseconds of a notification; on the nested, emulated test bed
/// with two other guests running, the longest wait seen was well below a
/// second (see `Console::longest_full_wait_ns`). Ten seconds leaves a wide
/// margin and still ends a run long before any outer time limit.
pub const STALL_NS: u64 = 10_000_000_000;
/// The same bound where there is no clock (before shared_info is mapped,
/// a wait is a `SCHEDOP_yield`): this many waits without progress.
pub const STALL_WAITS_WITHOUT_CLOCK: u32 = 100_000;

/// Bytes in flight in a ring of `size` bytes, or `None` if `prod` and
/// `cons` cannot both be right (more than `size` apart).
pub fn ring_used(prod: u32, cons: u32, size: u32) -> Option<u32> {
    let used = prod.wrapping_sub(cons);
    (used <= size).then_some(used)
}

/// Byte `at` of a byte array in shared memory (a ring's data area).
pub(crate) fn ring_byte<const N: usize>(
    array: VolatilePtr<'_, [u8; N]>,
    at: usize,
) -> VolatilePtr<'_, u8> {
    assert!(at < N, "ring offset {at} beyond {N} bytes");
    // SAFETY: `at` < N: a byte inside the array, valid as long as `array` is.
    unsafe { array.map(|bytes| bytes.cast::<u8>().add(at)) }
}

/// Which of the console's two rings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ring {
    /// Guest to xenconsoled.
    Output,
    /// xenconsoled to guest.
    Input,
}

/// Why a ring was abandoned. Each ring reports its fault once; every later
/// use of an abandoned ring says [`RingFault::Abandoned`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingFault {
    /// The backend's index cannot be right: `prod` and `cons` are more
    /// than a ring apart.
    Corrupt { ring: Ring, prod: u32, cons: u32 },
    /// The output ring stayed full with the backend taking nothing, for
    /// `waited_ns` (0 without a clock) over `waits` waits.
    Stalled {
        waited_ns: u64,
        waits: u32,
        prod: u32,
        cons: u32,
    },
    /// The ring was abandoned earlier, and its fault reported then; the
    /// bytes were dropped (or none were read).
    Abandoned,
}

impl fmt::Display for RingFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Corrupt { ring, prod, cons } => write!(
                f,
                "{} ring corrupt (prod {prod:#x}, cons {cons:#x}: more than a ring apart); ring abandoned",
                match ring {
                    Ring::Output => "output",
                    Ring::Input => "input",
                }
            ),
            Self::Stalled {
                waited_ns,
                waits,
                prod,
                cons,
            } => write!(
                f,
                "output ring full and not drained for {} ms ({waits} waits; prod {prod:#x}, cons {cons:#x}): xenconsoled stalled; ring abandoned",
                waited_ns / 1_000_000
            ),
            Self::Abandoned => f.write_str("ring abandoned earlier"),
        }
    }
}

/// How a writer talks to the backend; the kernel uses event channels and
/// `SCHEDOP_poll`, the host tests a simulated backend.
pub trait Signal {
    /// Tell the backend the ring changed.
    fn notify(&mut self);
    /// Forget earlier notifications from the backend, before re-checking
    /// the ring, so that [`Signal::wait`] sleeps until a new one.
    fn arm(&mut self);
    /// Sleep until the backend notifies (or a timeout passes).
    fn wait(&mut self);
    /// Monotonic time in nanoseconds, if there is a clock; bounds the wait
    /// for a stalled backend.
    fn now_ns(&mut self) -> Option<u64>;
}

/// The event-channel signal of a ring shared with dom0: the console's, and
/// xenstore's. Waits work with interrupts disabled (`SCHEDOP_poll`) and
/// last at most [`FULL_RING_WAIT_NS`]. `arm` clears the port's pending
/// bit, so the port's upcall handler (if any) can miss a notification that
/// arrives while a writer waits for space.
pub(crate) struct PortSignal(pub(crate) Port);

impl Signal for PortSignal {
    fn notify(&mut self) {
        let _ = evtchn::send(self.0);
    }

    fn arm(&mut self) {
        if let Some(si) = shared_info::get() {
            si.test_and_clear_pending(self.0);
        }
    }

    fn wait(&mut self) {
        // Without shared_info there is neither a clock for the timeout nor
        // a way to clear the pending bit, so yield and look again.
        let Some(si) = shared_info::get() else {
            return sched::yield_now();
        };
        let deadline = time::system_time_ns(si).saturating_add(FULL_RING_WAIT_NS);
        if sched::poll(self.0, deadline).is_err() {
            sched::yield_now();
        }
    }

    fn now_ns(&mut self) -> Option<u64> {
        shared_info::get().map(time::system_time_ns)
    }
}

/// A wait for space in a full output ring: since when the backend's
/// `out_cons` has stood still at `cons`.
struct FullWait {
    cons: u32,
    since: Option<u64>,
    waits: u32,
}

impl FullWait {
    /// `Some(waited_ns)` once the wait has lasted past the bound.
    fn expired(&self, now: Option<u64>) -> Option<u64> {
        match (self.since, now) {
            (Some(since), Some(now)) => {
                let waited = now.saturating_sub(since);
                (waited >= STALL_NS).then_some(waited)
            }
            _ => (self.waits >= STALL_WAITS_WITHOUT_CLOCK).then_some(0),
        }
    }
}

/// The PV console ring and its event channel.
pub struct Console {
    ring: NonNull<XenconsInterface>,
    /// Changes once per restore into a new domain ([`Console::resume`]).
    port: AtomicU32,
    errors: AtomicU64,
    out_broken: AtomicBool,
    in_broken: AtomicBool,
    longest_full_wait: AtomicU64,
}

// SAFETY: the ring is shared memory reached only through `VolatilePtr`s
// (no Rust reference to it is formed); callers serialize writers (and
// readers) among themselves, as the kernel's console lock does.
unsafe impl Sync for Console {}
// SAFETY: as above; the struct holds an address and counters.
unsafe impl Send for Console {}

/// Why there is no PV console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleSetupError {
    /// Xen would not say where the ring or its port is.
    Xen(crate::hypercall::XenError),
    /// The ring's frame is not one the kernel may share.
    Frame(virtus_kernel::mem::SharedFrameError),
}

impl fmt::Display for ConsoleSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Xen(e) => write!(f, "HVM_PARAM_CONSOLE_PFN/EVTCHN: {e}"),
            Self::Frame(e) => write!(f, "console ring: {e}"),
        }
    }
}

impl Console {
    /// The console Xen set up for this domain: ring frame from
    /// `HVM_PARAM_CONSOLE_PFN`, port from `HVM_PARAM_CONSOLE_EVTCHN`. The
    /// frame is registered with `mem::reserve_shared` before it is touched:
    /// dom0 writes it, so it must never become heap or a page table, and
    /// the memory map is checked to allow it (Xen puts its special pages,
    /// reserved in the map, just below the local APIC).
    #[cfg(target_os = "none")]
    pub fn from_hvm_params() -> Result<Console, ConsoleSetupError> {
        use crate::abi;
        use crate::hypercall::XenError;
        let pfn =
            crate::hvm::get_param(abi::HVM_PARAM_CONSOLE_PFN).map_err(ConsoleSetupError::Xen)?;
        let port =
            crate::hvm::get_param(abi::HVM_PARAM_CONSOLE_EVTCHN).map_err(ConsoleSetupError::Xen)?;
        let port = Port::try_from(port).map_err(|_| ConsoleSetupError::Xen(XenError::Inval))?;
        let addr = pfn
            .checked_mul(4096)
            .ok_or(ConsoleSetupError::Xen(XenError::Inval))?;
        virtus_kernel::mem::reserve_shared(addr).map_err(ConsoleSetupError::Frame)?;
        let ring = NonNull::new(addr as *mut XenconsInterface)
            .ok_or(ConsoleSetupError::Xen(XenError::NoEnt))?;
        // SAFETY: Xen gave us this page for the console; `reserve_shared`
        // accepted it (not the image, not page 0, mapped by the boot tables
        // now and kept mapped by the kernel's), and nothing else uses it.
        Ok(unsafe { Console::from_raw(ring, port) })
    }

    /// A console over the ring at `ring`, signalled through `port`.
    ///
    /// # Safety
    /// `ring` must point to a mapped `xencons_interface` that lives as long
    /// as the console and that this program reaches only through it.
    pub unsafe fn from_raw(ring: NonNull<XenconsInterface>, port: Port) -> Console {
        Console {
            ring,
            port: AtomicU32::new(port),
            errors: AtomicU64::new(0),
            out_broken: AtomicBool::new(false),
            in_broken: AtomicBool::new(false),
            longest_full_wait: AtomicU64::new(0),
        }
    }

    /// The ring, every access to it volatile: xenconsoled writes it.
    fn ring(&self) -> VolatilePtr<'_, XenconsInterface> {
        // SAFETY: `ring` points to a mapped `xencons_interface` that lives
        // as long as the console and is reached only through it
        // (constructor contract).
        unsafe { VolatilePtr::new(self.ring) }
    }

    /// The console's event channel.
    pub fn port(&self) -> Port {
        self.port.load(Ordering::Relaxed)
    }

    /// After a restore into a new domain: the same ring page, which the
    /// toolstack zeroed (both index pairs start again at 0, and xenconsoled
    /// reads from there), on a new port. A ring abandoned as broken in the
    /// old domain gets a new chance: the fault was the old backend's.
    pub fn resume(&self, port: Port) {
        self.port.store(port, Ordering::Relaxed);
        self.out_broken.store(false, Ordering::Relaxed);
        self.in_broken.store(false, Ordering::Relaxed);
    }

    /// Physical (identity-mapped) address of the ring page.
    pub fn ring_address(&self) -> u64 {
        self.ring.as_ptr() as u64
    }

    /// `(out_prod, out_cons)` as they are in the ring now.
    pub fn out_indices(&self) -> (u32, u32) {
        let r = self.ring();
        (map_field!(r.out_prod).read(), map_field!(r.out_cons).read())
    }

    /// Faults found so far: rings abandoned as corrupt or stalled (each
    /// ring counts once).
    pub fn ring_errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The longest a writer has waited for the backend to take bytes out
    /// of a full output ring and then seen it do so, in nanoseconds.
    pub fn longest_full_wait_ns(&self) -> u64 {
        self.longest_full_wait.load(Ordering::Relaxed)
    }

    /// Abandon the ring behind `flag`: `fault` the first time (counted),
    /// [`RingFault::Abandoned`] after that.
    fn abandon(&self, flag: &AtomicBool, fault: RingFault) -> RingFault {
        if flag.swap(true, Ordering::Relaxed) {
            return RingFault::Abandoned;
        }
        self.errors.fetch_add(1, Ordering::Relaxed);
        fault
    }

    /// Write all of `bytes`, in order, waiting for the backend when the
    /// ring is full. Fails only when the ring is (or has been) abandoned.
    pub fn write(&self, bytes: &[u8]) -> Result<(), RingFault> {
        self.write_with(bytes, &mut PortSignal(self.port()))
    }

    /// [`Console::write`] with an explicit backend signal.
    pub fn write_with(&self, bytes: &[u8], signal: &mut impl Signal) -> Result<(), RingFault> {
        let r = self.ring();
        let mut rest = bytes;
        let mut full: Option<FullWait> = None;
        while !rest.is_empty() {
            if self.out_broken.load(Ordering::Relaxed) {
                return Err(RingFault::Abandoned);
            }
            let (prod, cons) = self.out_indices();
            // The slots `cons` frees must be read as free before we write
            // them (loads are not moved past later stores on x86; this
            // keeps the compiler from doing it).
            fence(Ordering::Acquire);
            let Some(used) = ring_used(prod, cons, OUT_SIZE) else {
                let fault = RingFault::Corrupt {
                    ring: Ring::Output,
                    prod,
                    cons,
                };
                return Err(self.abandon(&self.out_broken, fault));
            };
            if used == OUT_SIZE {
                let now = signal.now_ns();
                // Progress (a new `out_cons`) starts the clock again.
                if full.as_ref().is_some_and(|w| w.cons != cons) {
                    full = None;
                }
                let wait = full.get_or_insert(FullWait {
                    cons,
                    since: now,
                    waits: 0,
                });
                if let Some(waited_ns) = wait.expired(now) {
                    let fault = RingFault::Stalled {
                        waited_ns,
                        waits: wait.waits,
                        prod,
                        cons,
                    };
                    return Err(self.abandon(&self.out_broken, fault));
                }
                signal.notify();
                signal.arm();
                if self.out_indices().1 == cons {
                    signal.wait();
                    wait.waits += 1;
                }
                continue;
            }
            if let Some(FullWait {
                since: Some(since), ..
            }) = full.take()
                && let Some(now) = signal.now_ns()
            {
                self.longest_full_wait
                    .fetch_max(now.saturating_sub(since), Ordering::Relaxed);
            }
            let n = rest.len().min((OUT_SIZE - used) as usize);
            for (i, &byte) in rest[..n].iter().enumerate() {
                let at = (prod.wrapping_add(i as u32) & (OUT_SIZE - 1)) as usize;
                ring_byte(map_field!(r.output), at).write(byte);
            }
            // wmb: the data must be visible before the index that
            // publishes it.
            fence(Ordering::Release);
            // `out_prod` is ours to write.
            map_field!(r.out_prod).write(prod.wrapping_add(n as u32));
            signal.notify();
            rest = &rest[n..];
        }
        Ok(())
    }

    /// Wait, for at most `timeout_ns` of Xen system time, until the backend
    /// has consumed everything written (before shutting down, so the last
    /// lines are not lost with the domain). Works with interrupts off.
    /// Returns whether the ring emptied.
    pub fn drain(&self, timeout_ns: u64) -> bool {
        let mut signal = PortSignal(self.port());
        let deadline = shared_info::get().map(|si| time::system_time_ns(si) + timeout_ns);
        // Without a clock, bound the wait by a number of yields instead.
        let mut yields = 10_000u32;
        loop {
            let (prod, cons) = self.out_indices();
            if prod == cons || self.out_broken.load(Ordering::Relaxed) {
                return prod == cons;
            }
            let now = shared_info::get().map(time::system_time_ns);
            match (deadline, now) {
                (Some(d), Some(n)) if n >= d => return false,
                (None, _) if yields == 0 => return false,
                _ => yields = yields.saturating_sub(1),
            }
            signal.notify();
            signal.arm();
            if self.out_indices().1 == cons {
                signal.wait();
            }
        }
    }

    /// Read up to `out.len()` bytes of input; returns how many were read.
    pub fn read(&self, out: &mut [u8]) -> Result<usize, RingFault> {
        self.read_with(out, &mut PortSignal(self.port()))
    }

    /// [`Console::read`] with an explicit backend signal.
    pub fn read_with(&self, out: &mut [u8], signal: &mut impl Signal) -> Result<usize, RingFault> {
        if self.in_broken.load(Ordering::Relaxed) {
            return Err(RingFault::Abandoned);
        }
        let r = self.ring();
        // `in_cons` is ours, `in_prod` the backend's.
        let (cons, prod) = (map_field!(r.in_cons).read(), map_field!(r.in_prod).read());
        // rmb: the index before the data it covers.
        fence(Ordering::Acquire);
        let Some(avail) = ring_used(prod, cons, IN_SIZE) else {
            let fault = RingFault::Corrupt {
                ring: Ring::Input,
                prod,
                cons,
            };
            return Err(self.abandon(&self.in_broken, fault));
        };
        let n = out.len().min(avail as usize);
        for (i, slot) in out[..n].iter_mut().enumerate() {
            let at = (cons.wrapping_add(i as u32) & (IN_SIZE - 1)) as usize;
            *slot = ring_byte(map_field!(r.input), at).read();
        }
        if n > 0 {
            // mb: finish reading the bytes before handing the slots back.
            fence(Ordering::SeqCst);
            // `in_cons` is ours to write.
            map_field!(r.in_cons).write(cons.wrapping_add(n as u32));
            signal.notify();
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
