//! The core's suspend sequence (`suspend.rs`) in every column, without a
//! real save: the machine is wrapped in a rehearsal platform whose
//! `suspend` returns a scripted outcome at once and passes everything else
//! through. What is checked is the core's side: the timer is cancelled
//! before the platform is asked and armed again after (a core timer set
//! before the suspend still fires, and not early), the disks are drained
//! and resumed and still work, and the outcome is counted. The real thing
//! (`xl save`/`restore`, `xl save -c`) is the runner's lifecycle scenarios.

use crate::block::{DISKS, MachineWaiter};
use crate::boot::BootInfo;
use crate::harness::{Test, TestResult};
use crate::platform::{
    CpuInfo, EventHandler, EventSource, ExitStatus, HostRequest, MmioRegion, Platform,
    PlatformError, Resumed, ShellCommand,
};
use crate::time::{self, NS_PER_MS, NS_PER_SEC};
use crate::{check, check_eq, suspend};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub const TESTS: &[Test] = &[
    Test {
        name: "suspend_cancelled_keeps_timers_and_disks",
        run: cancelled_keeps_timers_and_disks,
    },
    Test {
        name: "suspend_refused_carries_on",
        run: refused_carries_on,
    },
];

/// The machine, with a scripted `suspend`.
struct Rehearsal {
    inner: &'static dyn Platform,
    outcome: Result<Resumed, PlatformError>,
    suspends: AtomicU32,
    cancels: AtomicU32,
    /// Timer cancels seen when `suspend` was called.
    cancels_at_suspend: AtomicU32,
}

impl Rehearsal {
    fn new(outcome: Result<Resumed, PlatformError>) -> Self {
        Self {
            inner: crate::platform(),
            outcome,
            suspends: AtomicU32::new(0),
            cancels: AtomicU32::new(0),
            cancels_at_suspend: AtomicU32::new(0),
        }
    }
}

impl Platform for Rehearsal {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn boot_info(&self) -> &BootInfo {
        self.inner.boot_info()
    }
    fn start_devices(&self) -> Result<(), PlatformError> {
        Err(PlatformError::Unavailable("second start in a rehearsal"))
    }
    fn tests(&self) -> &'static [Test] {
        self.inner.tests()
    }
    fn benches(&self) -> &'static [crate::bench::Bench] {
        self.inner.benches()
    }
    fn mmio_regions(&self) -> alloc::vec::Vec<MmioRegion> {
        self.inner.mmio_regions()
    }
    fn console_write(&self, bytes: &[u8]) {
        self.inner.console_write(bytes)
    }
    fn console_read(&self, buf: &mut [u8]) -> usize {
        self.inner.console_read(buf)
    }
    fn interrupts_enable(&self) {
        self.inner.interrupts_enable()
    }
    fn interrupts_disable(&self) {
        self.inner.interrupts_disable()
    }
    fn interrupts_enabled(&self) -> bool {
        self.inner.interrupts_enabled()
    }
    fn wait_for_event(&self) {
        self.inner.wait_for_event()
    }
    fn now_ns(&self) -> u64 {
        self.inner.now_ns()
    }
    fn timer_arm(&self, deadline_ns: u64) {
        self.inner.timer_arm(deadline_ns)
    }
    fn timer_cancel(&self) {
        self.cancels.fetch_add(1, Ordering::Relaxed);
        self.inner.timer_cancel()
    }
    fn attach(&self, source: EventSource, handler: EventHandler) -> Result<(), PlatformError> {
        self.inner.attach(source, handler)
    }
    fn send_self_event(&self) {
        self.inner.send_self_event()
    }
    fn cpu_info(&self) -> CpuInfo {
        self.inner.cpu_info()
    }
    fn host_request(&self) -> Option<HostRequest> {
        None
    }
    fn shell_commands(&self) -> &'static [ShellCommand] {
        self.inner.shell_commands()
    }
    fn describe(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
        self.inner.describe(out)
    }
    fn suspend(&self) -> Result<Resumed, PlatformError> {
        self.suspends.fetch_add(1, Ordering::Relaxed);
        self.cancels_at_suspend
            .store(self.cancels.load(Ordering::Relaxed), Ordering::Relaxed);
        self.outcome
    }
    fn shutdown(&self, status: ExitStatus) -> ! {
        self.inner.shutdown(status)
    }
}

static FIRED_AT: AtomicU64 = AtomicU64::new(0);

fn note_fired() {
    FIRED_AT.store(time::now_ns(), Ordering::Relaxed);
}

/// Suspend through `rehearsal` with a core timer due `delay` later, and
/// check the core's side of the sequence; returns the counts' change.
fn rehearse(rehearsal: &Rehearsal) -> Result<(u64, u64, u64), crate::harness::TestError> {
    let before = suspend::counts();
    FIRED_AT.store(0, Ordering::Relaxed);
    let deadline = time::now_ns() + 200 * NS_PER_MS;
    let id = time::add_timer(deadline, note_fired);
    check!(id.is_some(), "no timer slot");
    suspend::run(rehearsal);
    check_eq!(rehearsal.suspends.load(Ordering::Relaxed), 1);
    check!(
        rehearsal.cancels_at_suspend.load(Ordering::Relaxed) >= 1,
        "the platform was asked to suspend with the core's timer still armed"
    );
    // The suspend cancelled the platform timer: only the core's re-arm
    // after it makes this timer fire.
    let fired = time::wait_until(deadline + 2 * NS_PER_SEC, || {
        FIRED_AT.load(Ordering::Relaxed) != 0
    });
    if !fired && let Some(id) = id {
        time::cancel_timer(id);
    }
    check!(
        fired,
        "a timer armed before the suspend never fired after it"
    );
    let at = FIRED_AT.load(Ordering::Relaxed);
    check!(at >= deadline, "the timer fired {} ns early", deadline - at);
    // Every disk was resumed and still answers.
    for disk in DISKS.iter() {
        let size = disk.info().sector_size as usize;
        let mut sector = alloc::vec![0u8; size];
        let read = disk.read(0, &mut sector, &MachineWaiter, 10 * NS_PER_SEC);
        check!(
            read.is_ok(),
            "{} after the suspend: {:?}",
            disk.name(),
            read
        );
    }
    let after = suspend::counts();
    Ok((after.0 - before.0, after.1 - before.1, after.2 - before.2))
}

fn cancelled_keeps_timers_and_disks() -> TestResult {
    let rehearsal = Rehearsal::new(Ok(Resumed {
        new_domain: false,
        away_ns: Some(5 * NS_PER_MS),
    }));
    check_eq!(rehearse(&rehearsal)?, (0, 1, 0));
    Ok(())
}

fn refused_carries_on() -> TestResult {
    let rehearsal = Rehearsal::new(Err(PlatformError::Unavailable("suspend (rehearsal)")));
    check_eq!(rehearse(&rehearsal)?, (0, 0, 1));
    Ok(())
}
