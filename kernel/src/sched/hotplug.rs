//! Taking a CPU out of service and back, when the host asks (Xen: `xl
//! vcpu-set`, which the backend reads from xenstore's
//! `cpu/N/availability`). The core decides; the backend only stops and
//! restarts the CPU ([`Platform::stop_this_cpu`],
//! [`Platform::restart_cpu`]).
//!
//! Going offline: [`request`] asks the CPU to leave and sends it an event
//! (`smp::ask_to_leave`). The CPU notices in its idle loop, interrupts
//! off, and stops itself through the platform, which calls back just
//! before the point of no return: from then on the CPU is not online (`smp::is_online`, `smp::online_cpus`; `call_on`
//! refuses it), and [`request`] returns. Coming back: [`request`] asks the
//! platform to restart it and waits until the CPU, returning from its
//! stop, says it is online again. Requests are idempotent (a CPU already
//! in the state asked for is left alone, silently) and one at a time; the
//! boot CPU never leaves, and a CPU the platform never offered is refused.
//!
//! The scheduler's part: a thread stays on its CPU for life (`sched`), so
//! a CPU with live threads is not taken offline (the request is refused,
//! saying how many); the CPU counts them again as it stops, for a
//! thread placed meanwhile. Placement must not choose a
//! CPU asked to leave: `smp::takes_threads` says which may take one.

use crate::arch::percpu::MAX_CPUS;
use crate::platform::PlatformError;
use crate::sched::smp;
use core::sync::atomic::{AtomicBool, Ordering};

/// Taken offline by a request here (so not "never started").
static OFF: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// A request is under way (they are served one at a time).
static BUSY: AtomicBool = AtomicBool::new(false);

/// How long a CPU may take to notice it must stop, or to report in after
/// a restart. Generous for the same reason as `smp`'s start-up timeout:
/// on the nested bed vCPUs wait their turn on one physical CPU.
const TIMEOUT_NS: u64 = 10_000_000_000;

/// What a request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The CPU already was as asked.
    Unchanged,
    /// It went offline or came back, in this many microseconds.
    Done { us: u64 },
}

/// Why a request was refused or failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HotplugError {
    /// CPU 0 runs the kernel's main line and never leaves.
    BootCpu,
    /// No such CPU: the platform offered `offered`.
    NotOffered { cpu: usize, offered: usize },
    /// The CPU never came up at boot; there is nothing to stop or restart.
    NeverStarted,
    /// Another request is being served.
    Busy,
    /// It runs this many threads, which stay on their CPU for life.
    HasThreads(usize),
    /// The platform could not stop or restart it.
    Platform(PlatformError),
    /// It did not stop (`online` false) or come back (true) in time.
    Silent { online: bool },
}

impl core::fmt::Display for HotplugError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BootCpu => f.write_str("cpu 0 is the boot CPU and stays online"),
            Self::NotOffered { cpu, offered } => {
                write!(f, "no cpu {cpu}: the platform offered {offered}")
            }
            Self::NeverStarted => f.write_str("it never came up at boot"),
            Self::Busy => f.write_str("another CPU request is under way"),
            Self::HasThreads(n) => write!(f, "it runs {n} thread(s), which stay on it for life"),
            Self::Platform(e) => write!(f, "the platform cannot: {e}"),
            Self::Silent { online: false } => {
                write!(f, "it did not stop within {} ms", TIMEOUT_NS / 1_000_000)
            }
            Self::Silent { online: true } => write!(
                f,
                "it did not report in within {} ms",
                TIMEOUT_NS / 1_000_000
            ),
        }
    }
}

/// The host asks for CPU `cpu` online or offline. Main line only: it
/// waits for the CPU.
pub fn request(cpu: usize, online: bool) -> Result<Change, HotplugError> {
    set(cpu, online, "host request")
}

/// [`request`] for another reason (`why`, for the log: a test).
pub fn set(cpu: usize, online: bool, why: &str) -> Result<Change, HotplugError> {
    let offered = smp::offered();
    if cpu >= offered {
        return Err(HotplugError::NotOffered { cpu, offered });
    }
    if cpu == 0 {
        return if online {
            Ok(Change::Unchanged)
        } else {
            Err(HotplugError::BootCpu)
        };
    }
    if BUSY.swap(true, Ordering::AcqRel) {
        return Err(HotplugError::Busy);
    }
    let result = if online {
        bring_back(cpu, why)
    } else {
        take_offline(cpu, why)
    };
    BUSY.store(false, Ordering::Release);
    result
}

fn take_offline(cpu: usize, why: &str) -> Result<Change, HotplugError> {
    if !smp::is_online(cpu) {
        return if OFF[cpu].load(Ordering::Acquire) {
            Ok(Change::Unchanged)
        } else {
            Err(HotplugError::NeverStarted)
        };
    }
    let threads = crate::sched::load(cpu);
    if threads > 0 {
        log::warn!("smp: cpu {cpu} stays online: it runs {threads} thread(s)");
        return Err(HotplugError::HasThreads(threads));
    }
    let platform = crate::platform();
    log::info!("smp: cpu {cpu} going offline ({why})");
    let started = platform.now_ns();
    if let Err(e) = smp::ask_to_leave(cpu) {
        log::warn!("smp: cpu {cpu} stays online: cannot send it the event: {e}");
        return Err(HotplugError::Platform(e));
    }
    if !smp::spin_until(TIMEOUT_NS, || smp::leave_done(cpu)) {
        if smp::withdraw_leave(cpu) {
            log::warn!("smp: cpu {cpu} stays online: it did not stop in time; request withdrawn");
            return Err(HotplugError::Silent { online: false });
        }
        // Taken up just now: it is inside the platform's stop.
        smp::spin_until(TIMEOUT_NS, || smp::leave_done(cpu));
    }
    let us = platform.now_ns().saturating_sub(started) / 1000;
    if !smp::is_online(cpu) {
        OFF[cpu].store(true, Ordering::Release);
        log::info!("smp: cpu {cpu} offline");
        return Ok(Change::Done { us });
    }
    let e = smp::take_stop_error(cpu).unwrap_or(PlatformError::Device("it did not stop"));
    log::warn!("smp: cpu {cpu} stays online: the platform cannot stop it: {e}");
    Err(HotplugError::Platform(e))
}

fn bring_back(cpu: usize, why: &str) -> Result<Change, HotplugError> {
    if smp::is_online(cpu) {
        // Also a CPU whose stop failed after it said it was stopping.
        OFF[cpu].store(false, Ordering::Release);
        return Ok(Change::Unchanged);
    }
    if !OFF[cpu].load(Ordering::Acquire) {
        return Err(HotplugError::NeverStarted);
    }
    let platform = crate::platform();
    log::info!("smp: cpu {cpu} coming back online ({why})");
    let started = platform.now_ns();
    if let Err(e) = platform.restart_cpu(cpu) {
        log::warn!("smp: cpu {cpu} stays offline: the platform cannot restart it: {e}");
        return Err(HotplugError::Platform(e));
    }
    if !smp::spin_until(TIMEOUT_NS, || smp::is_online(cpu)) {
        log::error!("smp: cpu {cpu} was restarted but did not report in");
        return Err(HotplugError::Silent { online: true });
    }
    OFF[cpu].store(false, Ordering::Release);
    let us = platform.now_ns().saturating_sub(started) / 1000;
    log::info!("smp: cpu {cpu} online again in {us} us");
    Ok(Change::Done { us })
}

/// Answers of [`shell`]'s call, by CPU (its own number, as it saw it).
static ANSWER: [core::sync::atomic::AtomicU64; MAX_CPUS] =
    [const { core::sync::atomic::AtomicU64::new(u64::MAX) }; MAX_CPUS];

fn answer(_: u64) {
    let me = crate::arch::percpu::current();
    ANSWER[me].store(me as u64, Ordering::Release);
}

/// The shell's `cpus`: each CPU the platform offered, and for each AP
/// online, a call run there (an event, and its answer) and how long it
/// took.
pub fn shell() {
    let platform = crate::platform();
    crate::kprintln!("{} of {} CPUs online", smp::online(), smp::offered());
    for (cpu, said) in ANSWER.iter().enumerate().take(smp::offered()) {
        if cpu == 0 {
            crate::kprintln!("cpu 0: online (the boot CPU)");
        } else if !smp::is_online(cpu) {
            crate::kprintln!("cpu {cpu}: offline");
        } else {
            said.store(u64::MAX, Ordering::Release);
            let started = platform.now_ns();
            if let Err(e) = smp::call_on(cpu, answer, 0) {
                crate::kprintln!("cpu {cpu}: online, but the call was not sent: {e}");
                continue;
            }
            if smp::spin_until(2_000_000_000, || said.load(Ordering::Acquire) != u64::MAX) {
                crate::kprintln!(
                    "cpu {cpu}: online, answered as cpu {} in {} us",
                    said.load(Ordering::Acquire),
                    platform.now_ns().saturating_sub(started) / 1000
                );
            } else {
                crate::kprintln!("cpu {cpu}: online, but did not answer within 2 s");
            }
        }
    }
}
