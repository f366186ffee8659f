//! Threads and the scheduler (one CPU).
//!
//! Thread 0 is the kernel's main line (boot, the test harness, the kernel
//! shell), on the stack it booted on. Every other thread has a guarded
//! kernel stack of its own; a process's thread also has an address space,
//! loaded whenever it runs.
//!
//! Policy:
//! - **Round robin.** The next thread to run is the first eligible one
//!   after the current, in creation order.
//! - **Sleeping on events.** A thread that waits (`time::wait_for`: console
//!   input, timers, block completions, a child's exit) is parked with the
//!   count of events it has seen; any interrupt after that makes it
//!   eligible again, and it re-checks its condition. With nothing eligible
//!   the CPU idles in `wait_for_event`.
//! - **Preemption** comes from the one-shot timer: while a process runs, a
//!   time slice of [`SLICE_NS`] is armed, and when it ends the interrupt
//!   that lands in user mode switches. Kernel code is never preempted, so a
//!   lock is never held by a thread that is not running; a thread that
//!   holds one of the kernel's audited locks does not sleep either
//!   ([`park`] refuses, and the waiter idles instead).

pub mod smp;
mod switch;

use crate::mem::stack::{self, StackInfo};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spin::Mutex;

/// A thread's number; 0 is the kernel's main line.
pub type ThreadId = u64;

/// How long a process runs before another eligible thread gets the CPU.
pub const SLICE_NS: u64 = 10 * crate::time::NS_PER_MS;
/// Kernel stack of a thread, in pages (plus a guard page below).
const STACK_PAGES: u64 = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ready,
    /// Parked until the event count moves past this value.
    Waiting(u64),
    Dead,
}

struct Thread {
    id: ThreadId,
    name: &'static str,
    state: State,
    /// Stack pointer saved by the last switch away from it.
    saved_rsp: u64,
    /// None for the main line (the boot stack).
    stack: Option<StackInfo>,
    /// Page-table root of its address space (None: the kernel's).
    root: Option<u64>,
}

struct Scheduler {
    /// Boxed so a thread's `saved_rsp` keeps its address while the vector
    /// grows or shrinks (a switch writes it after the lock is dropped).
    #[allow(clippy::vec_box, reason = "switch_away needs stable addresses")]
    threads: Vec<Box<Thread>>,
    current: usize,
    next_id: ThreadId,
}

static SCHED: Mutex<Option<Scheduler>> = Mutex::new(None);
static EVENTS: AtomicU64 = AtomicU64::new(0);
static NEED_RESCHED: AtomicBool = AtomicBool::new(false);
static SLICE_ARMED: AtomicBool = AtomicBool::new(false);
static SWITCHES: AtomicU64 = AtomicU64::new(0);
static PREEMPTIONS: AtomicU64 = AtomicU64::new(0);
static CURRENT: AtomicU64 = AtomicU64::new(0);

/// Asked before a thread sleeps: true keeps it awake (the harness: while
/// an audited lock is held, or while the watchdog's abort waits to land in
/// the main line). Registered from above, so this module names neither.
static VETO: spin::Once<fn() -> bool> = spin::Once::new();

/// Install the check [`park`] makes first.
pub fn set_park_veto(veto: fn() -> bool) {
    VETO.call_once(|| veto);
}

/// Make the running code thread 0, and let waits run other threads.
/// Called once, early.
pub fn init() {
    crate::time::set_park(park);
    let mut sched = SCHED.lock();
    if sched.is_none() {
        *sched = Some(Scheduler {
            threads: alloc::vec![Box::new(Thread {
                id: 0,
                name: "kernel",
                state: State::Ready,
                saved_rsp: 0,
                stack: None,
                root: None,
            })],
            current: 0,
            next_id: 1,
        });
    }
}

/// The running thread.
pub fn current() -> ThreadId {
    CURRENT.load(Ordering::Relaxed)
}

/// Whether the kernel's main line is running (the only thread with catch
/// points: the test harness and the shell).
pub fn on_main_thread() -> bool {
    current() == 0
}

/// (context switches, preemptions) so far.
pub fn counts() -> (u64, u64) {
    (
        SWITCHES.load(Ordering::Relaxed),
        PREEMPTIONS.load(Ordering::Relaxed),
    )
}

/// Why a thread could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// [`init`] has not run.
    NotReady,
    /// No memory for its kernel stack.
    NoStack(crate::mem::paging::MapError),
}

impl core::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotReady => f.write_str("the scheduler is not set up"),
            Self::NoStack(e) => write!(f, "no kernel stack: {e}"),
        }
    }
}

/// Create a thread that runs `entry(arg)` (which never returns: it ends
/// with [`exit`]) in the address space at `root` (None: the kernel's). It
/// becomes eligible at once.
pub fn spawn(
    name: &'static str,
    entry: extern "C" fn(u64) -> !,
    arg: u64,
    root: Option<u64>,
) -> Result<ThreadId, SpawnError> {
    reap();
    let info = stack::allocate(name, STACK_PAGES).map_err(SpawnError::NoStack)?;
    // SAFETY: the stack was just mapped for this thread and nothing else
    // uses it.
    let rsp = unsafe { switch::prepare_stack(info.top, entry, arg) };
    crate::arch::irq::without_interrupts(|| {
        let mut guard = SCHED.lock();
        let Some(sched) = guard.as_mut() else {
            drop(guard);
            stack::free(info);
            return Err(SpawnError::NotReady);
        };
        let id = sched.next_id;
        sched.next_id += 1;
        sched.threads.push(Box::new(Thread {
            id,
            name,
            state: State::Ready,
            saved_rsp: rsp,
            stack: Some(info),
            root,
        }));
        Ok(id)
    })
}

/// The top of the running thread's kernel stack (0 for the main line).
pub fn current_stack_top() -> u64 {
    crate::arch::irq::without_interrupts(|| {
        SCHED
            .lock()
            .as_ref()
            .and_then(|s| s.threads[s.current].stack)
            .map_or(0, |s| s.top)
    })
}

/// Free the stacks of threads that have ended (never the running one).
pub fn reap() {
    let mut dead: Vec<StackInfo> = Vec::new();
    crate::arch::irq::without_interrupts(|| {
        let mut guard = SCHED.lock();
        let Some(sched) = guard.as_mut() else {
            return;
        };
        let current_id = sched.threads[sched.current].id;
        sched.threads.retain(|t| {
            if t.state == State::Dead && t.id != current_id {
                dead.extend(t.stack);
                false
            } else {
                true
            }
        });
        sched.current = sched
            .threads
            .iter()
            .position(|t| t.id == current_id)
            .unwrap_or(0);
    });
    for info in dead {
        stack::free(info);
    }
}

/// Note an interrupt: parked threads become eligible to look again.
pub fn note_event() {
    EVENTS.fetch_add(1, Ordering::Relaxed);
}

fn eligible(t: &Thread, events: u64) -> bool {
    match t.state {
        State::Ready => true,
        State::Waiting(seen) => seen != events,
        State::Dead => false,
    }
}

/// Switch to the next eligible thread after the current one, leaving the
/// current one in `leave`. Interrupts must be off. Returns false (and
/// changes nothing) if no other thread is eligible.
fn switch_away(leave: State) -> bool {
    let events = EVENTS.load(Ordering::Relaxed);
    let (save, next_rsp, root, top) = {
        let mut guard = SCHED.lock();
        let Some(sched) = guard.as_mut() else {
            return false;
        };
        let n = sched.threads.len();
        let from = sched.current;
        let Some(to) = (1..n)
            .map(|k| (from + k) % n)
            .find(|&i| eligible(&sched.threads[i], events))
        else {
            return false;
        };
        sched.threads[from].state = leave;
        sched.threads[to].state = State::Ready;
        sched.current = to;
        let save = &raw mut sched.threads[from].saved_rsp;
        let next = &sched.threads[to];
        CURRENT.store(next.id, Ordering::Relaxed);
        (
            save,
            next.saved_rsp,
            next.root,
            next.stack.map_or(0, |s| s.top),
        )
    };
    SWITCHES.fetch_add(1, Ordering::Relaxed);
    if top != 0 {
        crate::arch::gdt::set_kernel_stack(top);
        crate::arch::user::set_syscall_stack(top);
    }
    crate::mem::switch_address_space(root);
    if root.is_some() {
        arm_slice();
    }
    // SAFETY: interrupts are off (caller); `save` points into a boxed
    // thread that is not freed while it is the one being left (reap never
    // frees the current thread, and this thread is current again before it
    // returns from here); `next_rsp` was saved by a switch or prepared by
    // `spawn` on a live stack.
    unsafe { switch::switch(save, next_rsp) };
    true
}

/// Let other eligible threads run; returns when this one is picked again
/// (at once if there is no other).
pub fn yield_now() {
    crate::arch::irq::without_interrupts(|| {
        switch_away(State::Ready);
    });
}

/// Park the running thread until the next event, running others meanwhile.
/// Interrupts must be off. Returns false without parking if no other thread
/// is eligible or the running thread holds one of the kernel's audited
/// locks (it must not sleep with it): the caller then idles.
pub fn park() -> bool {
    if VETO.get().is_some_and(|veto| veto()) {
        return false;
    }
    let seen = EVENTS.load(Ordering::Relaxed);
    switch_away(State::Waiting(seen))
}

/// End the running thread (not the main line). Its stack is freed later
/// by [`reap`], from another thread.
pub fn exit() -> ! {
    let platform = crate::platform();
    platform.interrupts_disable();
    loop {
        switch_away(State::Dead);
        // Nothing else could run: idle until an interrupt makes a parked
        // thread eligible.
        platform.wait_for_event();
        platform.interrupts_disable();
    }
}

/// End thread `id`, which is not the running one (a process the harness
/// cleans up after). It never runs again; [`reap`] frees its stack.
pub fn kill(id: ThreadId) {
    crate::arch::irq::without_interrupts(|| {
        if let Some(sched) = SCHED.lock().as_mut() {
            let current = sched.threads[sched.current].id;
            if let Some(t) = sched
                .threads
                .iter_mut()
                .find(|t| t.id == id && id != current)
            {
                t.state = State::Dead;
            }
        }
    });
}

fn arm_slice() {
    if !SLICE_ARMED.swap(true, Ordering::Relaxed) {
        let deadline = crate::time::now_ns().saturating_add(SLICE_NS);
        if crate::time::add_timer(deadline, slice_ended).is_none() {
            SLICE_ARMED.store(false, Ordering::Relaxed);
        }
    }
}

fn slice_ended() {
    SLICE_ARMED.store(false, Ordering::Relaxed);
    NEED_RESCHED.store(true, Ordering::Relaxed);
}

/// On the way out of a device interrupt that came from user mode: if the
/// time slice has ended, let the next eligible thread run (the process
/// continues from this frame when its turn comes back).
pub fn preempt_if_due() {
    if NEED_RESCHED.swap(false, Ordering::Relaxed) {
        if switch_away(State::Ready) {
            PREEMPTIONS.fetch_add(1, Ordering::Relaxed);
        } else if on_user_thread() {
            arm_slice();
        }
    }
}

fn on_user_thread() -> bool {
    SCHED
        .try_lock()
        .and_then(|s| s.as_ref().map(|s| s.threads[s.current].root.is_some()))
        .unwrap_or(false)
}

/// One line per thread, for `ps`.
pub fn for_each(mut f: impl FnMut(ThreadId, &str, &str)) {
    let rows: Vec<(ThreadId, &'static str, &'static str)> =
        crate::arch::irq::without_interrupts(|| {
            SCHED.lock().as_ref().map_or(Vec::new(), |s| {
                s.threads
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        let state = match t.state {
                            _ if i == s.current => "running",
                            State::Ready => "ready",
                            State::Waiting(_) => "waiting",
                            State::Dead => "ended",
                        };
                        (t.id, t.name, state)
                    })
                    .collect()
            })
        });
    for (id, name, state) in rows {
        f(id, name, state);
    }
}
