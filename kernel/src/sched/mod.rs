//! Threads and the scheduler: one run queue per CPU.
//!
//! Thread 0 is the kernel's main line (boot, the test harness, the kernel
//! shell), on the stack CPU 0 booted on; each other CPU's main line is its
//! idle loop (`smp::ap_entry`), adopted as a thread when the CPU comes up.
//! Every other thread has a guarded kernel stack of its own; a process's
//! thread also has an address space, loaded whenever it runs.
//!
//! Policy:
//! - **Placement.** A thread belongs to one CPU for its whole life: pinned
//!   by its creator ([`Place::Cpu`]), or put on the online CPU with the
//!   fewest live threads ([`Place::Any`]). Processes stay on CPU 0 for now
//!   ([`spawn`]): ending a process that runs on another CPU would need that
//!   CPU to let go of its address space first.
//! - **Round robin** per CPU: the next thread to run is the first eligible
//!   one of this CPU's after the current, in creation order. One lock over
//!   all threads (held briefly, interrupts off); a CPU only ever picks,
//!   saves and frees its own threads, so no thread is picked by one CPU
//!   while another is still switching away from it.
//! - **Sleeping on events.** A thread that waits (`time::wait_for`: console
//!   input, timers, block completions, a child's exit) is parked with its
//!   CPU's count of events; any interrupt on that CPU after that makes it
//!   eligible again, and it re-checks its condition. Another CPU wakes it
//!   with [`wake`] (a thread's exit does). With nothing eligible the CPU
//!   idles in `wait_for_event`.
//! - **Preemption** comes from the CPU's one-shot timer: while a process
//!   runs, a time slice of [`SLICE_NS`] is armed, and when it ends the
//!   interrupt that lands in user mode switches. Kernel code is never
//!   preempted, so a lock is never held by a thread that is not running; a
//!   thread that holds one of the kernel's audited locks does not sleep
//!   either ([`park`] refuses, and the waiter idles instead).

pub mod hotplug;
pub mod smp;
mod switch;

use crate::arch::percpu::{self, MAX_CPUS};
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
    /// Parked until its CPU's event count moves past this value.
    Waiting(u64),
    Dead,
}

struct Thread {
    id: ThreadId,
    name: &'static str,
    state: State,
    /// Stack pointer saved by the last switch away from it.
    saved_rsp: u64,
    /// None for a CPU's main line (a stack that is never freed).
    stack: Option<StackInfo>,
    /// Page-table root of its address space (None: the kernel's).
    root: Option<u64>,
    /// The CPU whose run queue it is on, for its whole life.
    cpu: usize,
    /// A CPU's main line (not counted as load).
    main_line: bool,
}

struct Scheduler {
    /// Boxed so a thread's `saved_rsp` keeps its address while the vector
    /// grows or shrinks (a switch writes it after the lock is dropped).
    #[allow(clippy::vec_box, reason = "switch_away needs stable addresses")]
    threads: Vec<Box<Thread>>,
    /// The thread each CPU runs.
    current: [ThreadId; MAX_CPUS],
    next_id: ThreadId,
}

impl Scheduler {
    fn index_of(&self, id: ThreadId) -> Option<usize> {
        self.threads.iter().position(|t| t.id == id)
    }

    fn running_anywhere(&self, id: ThreadId) -> bool {
        self.threads
            .iter()
            .any(|t| t.id == id && self.current[t.cpu] == id)
    }

    /// Live threads on `cpu`, its main line not counted.
    fn load(&self, cpu: usize) -> usize {
        self.threads
            .iter()
            .filter(|t| t.cpu == cpu && !t.main_line && t.state != State::Dead)
            .count()
    }
}

static SCHED: Mutex<Option<Scheduler>> = Mutex::new(None);
static EVENTS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static NEED_RESCHED: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static SLICE_ARMED: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static SWITCHES: AtomicU64 = AtomicU64::new(0);
static PREEMPTIONS: AtomicU64 = AtomicU64::new(0);
/// The running thread of each CPU (a lock-free copy of `current`).
static CURRENT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Asked before a thread sleeps: true keeps it awake (the harness: while
/// an audited lock is held, or while the watchdog's abort waits to land in
/// the main line). Registered from above, so this module names neither.
static VETO: spin::Once<fn() -> bool> = spin::Once::new();

/// Install the check [`park`] makes first.
pub fn set_park_veto(veto: fn() -> bool) {
    VETO.call_once(|| veto);
}

/// Make the running code thread 0, and let waits run other threads.
/// Called once, early, on CPU 0.
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
                cpu: 0,
                main_line: true,
            })],
            current: [0; MAX_CPUS],
            next_id: 1,
        });
    }
}

/// Make the running code CPU `cpu`'s main line (its idle loop), so that
/// threads placed on it can run. Called once by each other CPU as it comes
/// up, interrupts off.
pub fn adopt_cpu(cpu: usize) {
    let mut guard = SCHED.lock();
    if let Some(sched) = guard.as_mut() {
        let id = sched.next_id;
        sched.next_id += 1;
        sched.threads.push(Box::new(Thread {
            id,
            name: "idle",
            state: State::Ready,
            saved_rsp: 0,
            stack: None,
            root: None,
            cpu,
            main_line: true,
        }));
        sched.current[cpu] = id;
        CURRENT[cpu].store(id, Ordering::Relaxed);
    }
}

/// The running thread (of this CPU).
pub fn current() -> ThreadId {
    CURRENT[percpu::current()].load(Ordering::Relaxed)
}

/// Whether the kernel's main line is running (the only thread with catch
/// points: the test harness and the shell).
pub fn on_main_thread() -> bool {
    current() == 0
}

/// (context switches, preemptions) so far, over all CPUs.
pub fn counts() -> (u64, u64) {
    (
        SWITCHES.load(Ordering::Relaxed),
        PREEMPTIONS.load(Ordering::Relaxed),
    )
}

/// Where a new thread runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Pinned to this CPU.
    Cpu(usize),
    /// The online CPU with the fewest live threads (the lowest number on a
    /// tie).
    Any,
}

/// Why a thread could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// [`init`] has not run.
    NotReady,
    /// No memory for its kernel stack.
    NoStack(crate::mem::paging::MapError),
    /// It was pinned to a CPU that is not online (or is being taken offline).
    NoSuchCpu(usize),
}

impl core::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotReady => f.write_str("the scheduler is not set up"),
            Self::NoStack(e) => write!(f, "no kernel stack: {e}"),
            Self::NoSuchCpu(cpu) => write!(f, "cpu {cpu} is not online, or is leaving"),
        }
    }
}

/// Create a thread on CPU 0 that runs `entry(arg)` (which never returns:
/// it ends with [`exit`]) in the address space at `root` (None: the
/// kernel's). It becomes eligible at once.
pub fn spawn(
    name: &'static str,
    entry: extern "C" fn(u64) -> !,
    arg: u64,
    root: Option<u64>,
) -> Result<ThreadId, SpawnError> {
    spawn_on(Place::Cpu(0), name, entry, arg, root)
}

/// Create a thread that runs `entry(arg)` where `place` says. It starts
/// with interrupts off (an entry that may run long enables them: its CPU
/// answers other CPUs' calls only with interrupts on).
pub fn spawn_on(
    place: Place,
    name: &'static str,
    entry: extern "C" fn(u64) -> !,
    arg: u64,
    root: Option<u64>,
) -> Result<ThreadId, SpawnError> {
    reap();
    if let Place::Cpu(cpu) = place
        && !smp::takes_threads(cpu)
    {
        return Err(SpawnError::NoSuchCpu(cpu));
    }
    let info = stack::allocate(name, STACK_PAGES).map_err(SpawnError::NoStack)?;
    // SAFETY: the stack was just mapped for this thread and nothing else
    // uses it.
    let rsp = unsafe { switch::prepare_stack(info.top, entry, arg) };
    // This CPU wrote the stack's top page; if the thread runs elsewhere,
    // no stale translation of it may stay here once that CPU frees it.
    crate::mem::paging::flush(rsp);
    let placed = crate::arch::irq::without_interrupts(|| {
        let mut guard = SCHED.lock();
        let Some(sched) = guard.as_mut() else {
            return Err(SpawnError::NotReady);
        };
        // Asked again under the lock, where a CPU about to stop counts its
        // threads: either it sees this one, or this sees it leaving.
        let cpu = match place {
            Place::Cpu(cpu) if !smp::takes_threads(cpu) => return Err(SpawnError::NoSuchCpu(cpu)),
            Place::Cpu(cpu) => cpu,
            Place::Any => smp::online_cpus()
                .filter(|&cpu| smp::takes_threads(cpu))
                .min_by_key(|&cpu| sched.load(cpu))
                .unwrap_or(0),
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
            cpu,
            main_line: false,
        }));
        Ok((id, cpu))
    });
    match placed {
        Ok((id, cpu)) => {
            wake(cpu);
            Ok(id)
        }
        Err(e) => {
            stack::free(info);
            Err(e)
        }
    }
}

/// The CPU thread `id` belongs to, if it exists.
pub fn cpu_of(id: ThreadId) -> Option<usize> {
    crate::arch::irq::without_interrupts(|| {
        let guard = SCHED.lock();
        let sched = guard.as_ref()?;
        sched.index_of(id).map(|i| sched.threads[i].cpu)
    })
}

/// Live threads placed on `cpu`, its main line not counted.
pub fn load(cpu: usize) -> usize {
    crate::arch::irq::without_interrupts(|| SCHED.lock().as_ref().map_or(0, |s| s.load(cpu)))
}

/// The top of the running thread's kernel stack (0 for a main line).
pub fn current_stack_top() -> u64 {
    let cpu = percpu::current();
    crate::arch::irq::without_interrupts(|| {
        let guard = SCHED.lock();
        let sched = guard.as_ref()?;
        let i = sched.index_of(sched.current[cpu])?;
        sched.threads[i].stack.map(|s| s.top)
    })
    .unwrap_or(0)
}

/// Free the stacks of this CPU's threads that have ended (never the running
/// one). Only a thread's own CPU frees it: that CPU has certainly finished
/// switching away from it, and holds the only translations of its stack
/// (see [`spawn_on`]).
pub fn reap() {
    let cpu = percpu::current();
    let mut dead: Vec<StackInfo> = Vec::new();
    crate::arch::irq::without_interrupts(|| {
        let mut guard = SCHED.lock();
        let Some(sched) = guard.as_mut() else {
            return;
        };
        let running = sched.current[cpu];
        sched.threads.retain(|t| {
            if t.cpu == cpu && t.state == State::Dead && t.id != running {
                dead.extend(t.stack);
                false
            } else {
                true
            }
        });
    });
    for info in dead {
        stack::free(info);
    }
}

/// Note an interrupt on this CPU: its parked threads become eligible to
/// look again.
pub fn note_event() {
    EVENTS[percpu::current()].fetch_add(1, Ordering::SeqCst);
}

/// Make CPU `cpu`'s parked threads look again, and wake it if it idles
/// (an IPI when it is another CPU).
pub fn wake(cpu: usize) {
    let Some(events) = EVENTS.get(cpu) else {
        return;
    };
    events.fetch_add(1, Ordering::SeqCst);
    if cpu != percpu::current() && smp::is_online(cpu) {
        let _ = crate::platform().send_ipi(cpu);
    }
}

/// [`wake`] every CPU that may have a waiter, this one included: a change
/// that a thread anywhere may be waiting for. That is CPU 0 (its main line
/// waits) and every CPU with a live thread, parked or not: a waiter that
/// has just checked its condition and is about to park is not parked yet,
/// and its CPU's IPI, held until it idles, is what makes it look again.
/// An other CPU with no thread only idles, and is left alone (under Xen
/// HVM each IPI is an emulated APIC write and a vCPU to schedule).
pub fn wake_all() {
    let mut busy = [false; MAX_CPUS];
    busy[0] = true;
    crate::arch::irq::without_interrupts(|| {
        if let Some(sched) = SCHED.lock().as_ref() {
            for t in sched.threads.iter().filter(|t| !t.main_line) {
                busy[t.cpu] |= t.state != State::Dead;
            }
        }
    });
    for (cpu, _) in busy.iter().enumerate().filter(|(_, busy)| **busy) {
        wake(cpu);
    }
}

fn eligible(t: &Thread, cpu: usize, events: u64) -> bool {
    t.cpu == cpu
        && match t.state {
            State::Ready => true,
            State::Waiting(seen) => seen != events,
            State::Dead => false,
        }
}

/// Switch to the next eligible thread of this CPU after the current one,
/// leaving the current one in `leave`. Interrupts must be off. Returns
/// false (and changes nothing) if no other thread is eligible.
fn switch_away(leave: State) -> bool {
    let cpu = percpu::current();
    let events = EVENTS[cpu].load(Ordering::SeqCst);
    let (save, next_rsp, root, top) = {
        let mut guard = SCHED.lock();
        let Some(sched) = guard.as_mut() else {
            return false;
        };
        let n = sched.threads.len();
        let Some(from) = sched.index_of(sched.current[cpu]) else {
            return false;
        };
        let Some(to) = (1..n)
            .map(|k| (from + k) % n)
            .find(|&i| eligible(&sched.threads[i], cpu, events))
        else {
            return false;
        };
        sched.threads[from].state = leave;
        sched.threads[to].state = State::Ready;
        let save = &raw mut sched.threads[from].saved_rsp;
        let next = &sched.threads[to];
        sched.current[cpu] = next.id;
        CURRENT[cpu].store(next.id, Ordering::Relaxed);
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
    // thread that is not freed while it is the one being left (only this
    // CPU frees its threads, `reap` never frees the running one, and this
    // thread is current again before it returns from here); `next_rsp` was
    // saved by a switch or prepared by `spawn_on` on a live stack, and only
    // this CPU runs that thread.
    unsafe { switch::switch(save, next_rsp) };
    true
}

/// Let other eligible threads of this CPU run; returns when this one is
/// picked again (at once if there is no other).
pub fn yield_now() {
    crate::arch::irq::without_interrupts(|| {
        switch_away(State::Ready);
    });
}

/// Park the running thread until the next event, running others of this
/// CPU meanwhile. Interrupts must be off. Returns false without parking if
/// no other thread is eligible, or while one of the kernel's audited locks
/// is held (the running thread may hold it and must not sleep with it; on
/// several CPUs the holder may also be another CPU, briefly): the caller
/// then idles until its CPU's next interrupt, as every waiter with a
/// deadline has a timer.
pub fn park() -> bool {
    if VETO.get().is_some_and(|veto| veto()) {
        return false;
    }
    park_idle_loop()
}

/// [`park`] for a CPU's idle loop, which holds no lock and where no abort
/// lands: never vetoed, so a thread placed on the CPU while another CPU
/// holds a lock is not left waiting for the next interrupt.
pub fn park_idle_loop() -> bool {
    let seen = EVENTS[percpu::current()].load(Ordering::SeqCst);
    switch_away(State::Waiting(seen))
}

/// End the running thread (not a main line). Every CPU is woken (one may wait for this end); the stack is freed later by
/// [`reap`] on this CPU.
pub fn exit() -> ! {
    let platform = crate::platform();
    wake_all();
    platform.interrupts_disable();
    loop {
        switch_away(State::Dead);
        // Nothing else could run: idle until an interrupt makes a parked
        // thread eligible.
        platform.wait_for_event();
        platform.interrupts_disable();
    }
}

/// End thread `id`, which is not running on any CPU (a process the harness
/// cleans up after). It never runs again; [`reap`] on its CPU frees its
/// stack.
pub fn kill(id: ThreadId) {
    let cpu = crate::arch::irq::without_interrupts(|| {
        let mut guard = SCHED.lock();
        let sched = guard.as_mut()?;
        if sched.running_anywhere(id) {
            return None;
        }
        let i = sched.index_of(id)?;
        sched.threads[i].state = State::Dead;
        Some(sched.threads[i].cpu)
    });
    if let Some(cpu) = cpu.filter(|&cpu| cpu != percpu::current()) {
        wake(cpu);
    }
}

fn arm_slice() {
    let cpu = percpu::current();
    if !SLICE_ARMED[cpu].swap(true, Ordering::Relaxed) {
        let deadline = crate::time::now_ns().saturating_add(SLICE_NS);
        if crate::time::add_timer(deadline, slice_ended).is_none() {
            SLICE_ARMED[cpu].store(false, Ordering::Relaxed);
        }
    }
}

/// The slice timer's callback, on the CPU that armed it.
fn slice_ended() {
    let cpu = percpu::current();
    SLICE_ARMED[cpu].store(false, Ordering::Relaxed);
    NEED_RESCHED[cpu].store(true, Ordering::Relaxed);
}

/// On the way out of a device interrupt that came from user mode: if the
/// time slice has ended, let the next eligible thread run (the process
/// continues from this frame when its turn comes back).
pub fn preempt_if_due() {
    if NEED_RESCHED[percpu::current()].swap(false, Ordering::Relaxed) {
        if switch_away(State::Ready) {
            PREEMPTIONS.fetch_add(1, Ordering::Relaxed);
        } else if on_user_thread() {
            arm_slice();
        }
    }
}

fn on_user_thread() -> bool {
    let cpu = percpu::current();
    SCHED
        .try_lock()
        .and_then(|s| {
            let s = s.as_ref()?;
            let i = s.index_of(s.current[cpu])?;
            Some(s.threads[i].root.is_some())
        })
        .unwrap_or(false)
}

/// One line per thread, for `ps`: its number, name, state and CPU.
pub fn for_each(mut f: impl FnMut(ThreadId, &str, &str, usize)) {
    let rows: Vec<(ThreadId, &'static str, &'static str, usize)> =
        crate::arch::irq::without_interrupts(|| {
            SCHED.lock().as_ref().map_or(Vec::new(), |s| {
                s.threads
                    .iter()
                    .map(|t| {
                        let state = match t.state {
                            _ if s.current[t.cpu] == t.id => "running",
                            State::Ready => "ready",
                            State::Waiting(_) => "waiting",
                            State::Dead => "ended",
                        };
                        (t.id, t.name, state, t.cpu)
                    })
                    .collect()
            })
        });
    for (id, name, state, cpu) in rows {
        f(id, name, state, cpu);
    }
}
