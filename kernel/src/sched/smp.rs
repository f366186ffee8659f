//! Bringing up the other CPUs, and the events CPUs send each other.
//!
//! The core decides and the backend performs: the core asks the platform
//! how many CPUs there are, gives each one a stack, IST stacks, a GDT and a
//! TSS, and asks the backend to start it at [`ap_entry`] (natively by
//! INIT-SIPI-SIPI through a real-mode trampoline, under Xen PVH by
//! `VCPUOP_initialise` and `VCPUOP_up`). The CPU then sets up its own
//! per-CPU data, lets the backend set up its local interrupt controller or
//! `vcpu_info`, says it is online, and idles until another CPU sends it an
//! event ([`crate::platform::EventSource::Ipi`]).
//!
//! Once up, a CPU runs the threads placed on it (its own run queue and its
//! own timer list: see `sched` and `time`), answers IPIs and runs the
//! calls other CPUs post in its mailbox ([`call_on`]). What stays on CPU 0,
//! and why:
//! - devices: their interrupts are routed to CPU 0, so the threads that
//!   wait for them (processes) are placed there;
//! - the test harness and its watchdog: the fault-catch stack in
//!   `interrupts` is the main line's, and only CPU 0's main line catches;
//!   a fault anywhere else is a crash reported with its CPU's number;
//! - the console: one lock shared by all CPUs; the crash path writes
//!   without it (a crash ends the machine, whichever CPU it is on).
//!
//! The host may take an AP out of service and give it back (the policy
//! is `sched::hotplug`'s): asked with [`ask_to_leave`], the AP stops
//! itself from its idle loop through the platform, and while it is out
//! every walk over the CPUs ([`online_cpus`]) passes it by.

use crate::arch::percpu::{self, MAX_CPUS};
use crate::mem::stack;
use crate::platform::{CpuStart, EventSource, Platform, PlatformError};
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};

#[path = "smp_leave.rs"]
mod leave;
pub use leave::{ask_to_leave, leave_done, take_stop_error, takes_threads, withdraw_leave};

/// Pages of an AP's main stack.
const STACK_PAGES: u64 = 8;
/// Pages of each of an AP's IST stacks.
const IST_PAGES: u64 = 4;
/// How long a CPU may take to come up.
/// Generous: on the nested bed, with other guests sharing its one
/// physical CPU, an AP has taken 1.9 s.
const START_TIMEOUT_NS: u64 = 10_000_000_000;

/// What each CPU has said, by number.
struct CpuState {
    /// It reached the end of [`ap_entry`]'s set-up.
    online: AtomicBool,
    /// The IST stacks' tops, set before it starts.
    ist_tops: [AtomicU64; crate::arch::gdt::IST_COUNT],
    /// IPIs it has handled.
    ipis: AtomicU64,
    /// A function for it to run (`fn(u64)` as an address, 0 for none), its
    /// argument, and how many it has run.
    call: AtomicU64,
    call_arg: AtomicU64,
    calls_done: AtomicU64,
    /// When it came up, by the platform's clock (ns).
    online_ns: AtomicU64,
    /// Asked to leave service ([`leave`]'s states).
    leave: AtomicU8,
    /// Why it could not stop, for the one who asked.
    stop_error: spin::Mutex<Option<PlatformError>>,
}

static CPUS: [CpuState; MAX_CPUS] = [const {
    CpuState {
        online: AtomicBool::new(false),
        ist_tops: [const { AtomicU64::new(0) }; crate::arch::gdt::IST_COUNT],
        ipis: AtomicU64::new(0),
        call: AtomicU64::new(0),
        call_arg: AtomicU64::new(0),
        calls_done: AtomicU64::new(0),
        online_ns: AtomicU64::new(0),
        leave: AtomicU8::new(leave::STAY),
        stop_error: spin::Mutex::new(None),
    }
}; MAX_CPUS];

/// CPUs online, the boot CPU included.
static ONLINE: AtomicUsize = AtomicUsize::new(1);
/// CPUs the platform offered (capped at [`MAX_CPUS`]).
static OFFERED: AtomicUsize = AtomicUsize::new(1);

/// Why a CPU did not come up.
#[derive(Debug)]
pub enum StartError {
    /// No memory for its stacks.
    NoMemory,
    /// The backend could not start it.
    Platform(PlatformError),
    /// Started, but it did not report in within the time allowed.
    Silent,
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoMemory => f.write_str("no memory for its stacks"),
            Self::Platform(e) => write!(f, "the platform could not start it: {e}"),
            Self::Silent => write!(
                f,
                "it did not report in within {} ms",
                START_TIMEOUT_NS / 1_000_000
            ),
        }
    }
}

/// Bring up every CPU the platform offers, one at a time; log each. Called
/// once by the boot CPU after interrupts and the clock work. Returns how
/// many are online (the boot CPU included).
pub fn start_all(platform: &dyn Platform) -> usize {
    if let Err(e) = platform.attach(EventSource::Ipi, ipi_received) {
        log::warn!("smp: no inter-processor events ({e}); staying on one CPU");
        return 1;
    }
    let offered = platform.cpu_count();
    if offered > MAX_CPUS {
        log::warn!("smp: {offered} CPUs offered, bringing up the first {MAX_CPUS}");
    }
    let offered = offered.clamp(1, MAX_CPUS);
    OFFERED.store(offered, Ordering::Relaxed);
    for (cpu, state) in CPUS.iter().enumerate().take(offered).skip(1) {
        let started = platform.now_ns();
        match start(platform, cpu) {
            Ok(()) => log::info!(
                "smp: cpu {cpu} online in {} us",
                state
                    .online_ns
                    .load(Ordering::Acquire)
                    .saturating_sub(started)
                    / 1000
            ),
            Err(e) => log::error!("smp: cpu {cpu} did not come up: {e}"),
        }
    }
    online()
}

fn start(platform: &dyn Platform, cpu: usize) -> Result<(), StartError> {
    let main = stack::allocate("AP stack", STACK_PAGES).map_err(|_| StartError::NoMemory)?;
    for slot in &CPUS[cpu].ist_tops {
        let ist = stack::allocate("AP IST stack", IST_PAGES).map_err(|_| StartError::NoMemory)?;
        slot.store(ist.top, Ordering::Relaxed);
    }
    let ist_tops = core::array::from_fn(|i| CPUS[cpu].ist_tops[i].load(Ordering::Relaxed));
    let tables = crate::arch::gdt::build_ap(cpu, ist_tops);
    AP_TABLES[cpu].call_once(|| tables);
    let start = CpuStart {
        cpu,
        entry: ap_entry as *const () as u64,
        stack_top: main.top,
        page_table: crate::mem::kernel_root(),
    };
    platform.start_cpu(&start).map_err(StartError::Platform)?;
    if !spin_until(START_TIMEOUT_NS, || {
        CPUS[cpu].online.load(Ordering::Acquire)
    }) {
        return Err(StartError::Silent);
    }
    ONLINE.fetch_add(1, Ordering::AcqRel);
    Ok(())
}

static AP_TABLES: [spin::Once<crate::arch::gdt::ApTables>; MAX_CPUS] =
    [const { spin::Once::new() }; MAX_CPUS];

/// Where an AP starts, on its own stack, in 64-bit mode with the kernel's
/// page tables and interrupts off (the backend's contract, see
/// [`CpuStart`]).
extern "C" fn ap_entry(cpu: usize) -> ! {
    percpu::install(cpu);
    if let Some(tables) = AP_TABLES[cpu].get() {
        crate::arch::gdt::load_ap(tables);
    }
    crate::arch::idt::load();
    crate::arch::user::init_cpu();
    let platform = crate::platform();
    if let Err(e) = platform.cpu_init_local(cpu) {
        use core::fmt::Write;
        let _ = writeln!(
            crate::diag::RawConsole,
            "smp: cpu {cpu}: local set-up failed: {e}"
        );
        halt_forever();
    }
    super::adopt_cpu(cpu);
    CPUS[cpu]
        .online_ns
        .store(platform.now_ns(), Ordering::Release);
    CPUS[cpu].online.store(true, Ordering::Release);
    // The CPU's main line: run the threads placed on it, free those that
    // ended, and idle when none is eligible (as CPU 0's `time::wait_for`).
    platform.interrupts_disable();
    loop {
        run_pending_call(cpu);
        // Idle, interrupts off: the one place an AP leaves service.
        if leave::leaving(cpu) {
            leave::stop_here(cpu);
        }
        if !super::park_idle_loop() {
            platform.wait_for_event();
            platform.interrupts_disable();
        }
        super::reap();
    }
}

/// A CPU that could not finish its set-up: halted for good, interrupts off.
fn halt_forever() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}

/// The core's handler for [`EventSource::Ipi`], on the CPU that got it.
fn ipi_received() {
    let cpu = percpu::current();
    CPUS[cpu].ipis.fetch_add(1, Ordering::AcqRel);
    if cpu != 0 {
        run_pending_call(cpu);
    }
}

fn run_pending_call(cpu: usize) {
    // The function first: `call_on` stores the argument before it.
    let raw = CPUS[cpu].call.swap(0, Ordering::AcqRel);
    let arg = CPUS[cpu].call_arg.load(Ordering::Acquire);
    if raw != 0 {
        // SAFETY: only `call_on` stores here, and it stores a `fn(u64)`.
        let f: fn(u64) = unsafe { core::mem::transmute::<u64, fn(u64)>(raw) };
        f(arg);
        CPUS[cpu].calls_done.fetch_add(1, Ordering::AcqRel);
    }
}

/// CPUs online, the boot CPU included. Not a bound on their numbers: a
/// CPU taken offline (`sched::hotplug`) leaves a gap; walk
/// [`online_cpus`] instead.
pub fn online() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// The numbers of the CPUs online now, the boot CPU first.
pub fn online_cpus() -> impl Iterator<Item = usize> {
    (0..offered()).filter(|&cpu| is_online(cpu))
}

/// The APs online now (every CPU online but the boot CPU).
pub fn online_aps() -> impl Iterator<Item = usize> {
    online_cpus().filter(|&cpu| cpu != 0)
}

/// CPU `cpu` (an AP) enters or leaves service: [`leave`], on that CPU,
/// as it stops and once it runs again.
fn set_online(cpu: usize, up: bool) {
    let Some(state) = CPUS.get(cpu).filter(|_| cpu != 0) else {
        return;
    };
    if up {
        state
            .online_ns
            .store(crate::platform().now_ns(), Ordering::Release);
    }
    if state.online.swap(up, Ordering::AcqRel) != up {
        if up {
            ONLINE.fetch_add(1, Ordering::AcqRel);
        } else {
            ONLINE.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// CPUs the platform offered (capped at [`MAX_CPUS`]).
pub fn offered() -> usize {
    OFFERED.load(Ordering::Relaxed)
}

/// Whether CPU `cpu` is online.
pub fn is_online(cpu: usize) -> bool {
    cpu == 0
        || CPUS
            .get(cpu)
            .is_some_and(|c| c.online.load(Ordering::Acquire))
}

/// IPIs CPU `cpu` has handled.
pub fn ipis(cpu: usize) -> u64 {
    CPUS.get(cpu).map_or(0, |c| c.ipis.load(Ordering::Acquire))
}

/// Calls CPU `cpu` has run from [`call_on`].
pub fn calls_done(cpu: usize) -> u64 {
    CPUS.get(cpu)
        .map_or(0, |c| c.calls_done.load(Ordering::Acquire))
}

/// Ask CPU `cpu` (an AP, online) to run `f(arg)` in its interrupt handler,
/// and send it the event. Returns at once; [`calls_done`] counts the runs.
/// `f` runs with interrupts off on that CPU and must only touch atomics.
/// One call at a time per CPU: the caller waits for [`calls_done`] before
/// the next.
pub fn call_on(cpu: usize, f: fn(u64), arg: u64) -> Result<(), PlatformError> {
    if cpu == 0 || !is_online(cpu) {
        return Err(PlatformError::Unavailable("such CPU online"));
    }
    CPUS[cpu].call_arg.store(arg, Ordering::Release);
    CPUS[cpu]
        .call
        .store(f as *const () as u64, Ordering::Release);
    crate::platform().send_ipi(cpu)
}

/// Run `f(arg)` on CPU `cpu` (an AP, online) and wait until it has:
/// [`call_on`], then [`spin_until`] its count of calls moves. Fails if the
/// event cannot be sent or the CPU did not run the call in `timeout_ns`.
pub fn run_on(cpu: usize, f: fn(u64), arg: u64, timeout_ns: u64) -> Result<(), CallError> {
    let done = calls_done(cpu);
    call_on(cpu, f, arg).map_err(|e| CallError::Send(cpu, e))?;
    if spin_until(timeout_ns, || calls_done(cpu) > done) {
        Ok(())
    } else {
        Err(CallError::Silent(cpu))
    }
}

/// Run `f(arg)` on every other online CPU and wait until each has; how
/// long it took (ns). Fails naming the first CPU that did not answer in
/// `timeout_ns`.
pub fn call_on_others(f: fn(u64), arg: u64, timeout_ns: u64) -> Result<u64, CallError> {
    let platform = crate::platform();
    let started = platform.now_ns();
    // The CPUs asked, so that the wait is for them alone.
    let mut asked = [false; MAX_CPUS];
    let mut before = [0u64; MAX_CPUS];
    for cpu in online_aps() {
        before[cpu] = calls_done(cpu);
        call_on(cpu, f, arg).map_err(|e| CallError::Send(cpu, e))?;
        asked[cpu] = true;
    }
    let deadline = started.saturating_add(timeout_ns);
    for cpu in (0..MAX_CPUS).filter(|&cpu| asked[cpu]) {
        let done = before[cpu];
        let left = deadline.saturating_sub(platform.now_ns());
        if !spin_until(left, || calls_done(cpu) != done) {
            return Err(CallError::Silent(cpu));
        }
    }
    Ok(platform.now_ns() - started)
}

/// Spin until `done()`, giving way with [`Platform::relax`] between looks
/// (on Xen, the vCPU being waited for may need this one's physical CPU);
/// false if `timeout_ns` passed first. The one wait for another CPU.
pub fn spin_until(timeout_ns: u64, done: impl Fn() -> bool) -> bool {
    let platform = crate::platform();
    let deadline = platform.now_ns().saturating_add(timeout_ns);
    while !done() {
        if platform.now_ns() > deadline {
            return false;
        }
        platform.relax();
    }
    true
}

/// Why [`call_on_others`] failed.
#[derive(Debug)]
pub enum CallError {
    /// The event to this CPU could not be sent.
    Send(usize, PlatformError),
    /// This CPU did not run the call in time.
    Silent(usize),
    /// The platform's flush of every CPU's TLB failed or does not exist.
    Flush(PlatformError),
}

impl core::fmt::Display for CallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Send(cpu, e) => write!(f, "cannot send cpu {cpu} the call: {e}"),
            Self::Silent(cpu) => write!(f, "cpu {cpu} did not run the call in time"),
            Self::Flush(e) => write!(f, "no TLB flush through the platform: {e}"),
        }
    }
}

/// Make a change to the kernel's mapping of the page at `virt` visible on
/// every CPU: through the platform where it can flush every CPU's TLB
/// itself (under Xen PVH, `HVMOP_flush_tlbs`: no CPU is interrupted), by
/// IPIs otherwise ([`shootdown_by_ipi`]). The caller changed the page
/// tables first. Returns the time taken.
pub fn shootdown(virt: u64) -> Result<u64, CallError> {
    match shootdown_by_platform(virt) {
        Err(CallError::Flush(PlatformError::Unavailable(_))) => shootdown_by_ipi(virt),
        done => done,
    }
}

/// [`shootdown`] by IPIs: this CPU invalidates its own entry, and every
/// other online CPU does the same on request (an IPI each, then the wait
/// for all).
pub fn shootdown_by_ipi(virt: u64) -> Result<u64, CallError> {
    crate::mem::paging::flush(virt);
    call_on_others(crate::mem::paging::flush, virt, 2_000_000_000)
}

/// [`shootdown`] through the platform's own flush of every CPU's TLB
/// (the whole TLB: Xen's flush has no per-page form); fails with
/// [`CallError::Flush`] where the platform has none.
pub fn shootdown_by_platform(virt: u64) -> Result<u64, CallError> {
    let platform = crate::platform();
    let started = platform.now_ns();
    crate::mem::paging::flush(virt);
    platform.flush_tlb_all_cpus().map_err(CallError::Flush)?;
    Ok(platform.now_ns() - started)
}
