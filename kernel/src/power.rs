//! What the kernel does when the host asks it to stop, restart or show
//! itself: the policy behind [`HostRequest`], the same in every column.
//!
//! A request arrives in two steps. The backend signals
//! [`EventSource::HostRequest`] from its interrupt or upcall (the ACPI
//! power button's SCI natively, the xenstore event channel under Xen), and
//! [`on_host_event`] only notes it. The kernel's main line (the shell
//! waiting for input, the test and benchmark runners between two items)
//! then calls [`serve`], which fetches each request with
//! [`Platform::host_request`] — possibly a round trip to xenstored, so
//! never in interrupt context — and acts on it there, where nothing is
//! half done: the shell or the run stops, the console is drained by the
//! backend's `shutdown`, and the machine goes down with the matching
//! [`ExitStatus`].

use crate::platform::{EventSource, ExitStatus, HostRequest, Platform, PlatformError};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Set by the event, cleared by [`serve`] before it asks the backend.
static PENDING: AtomicBool = AtomicBool::new(false);
/// Requests served since boot, for `info` and the tests.
static SERVED: AtomicU64 = AtomicU64::new(0);

/// The SysRq keys the kernel answers, for the help line.
pub const SYSRQ_KEYS: &str =
    "h help, m show the kernel's state, c crash on purpose, o power off, b reboot";

/// Attach the handler. A machine with no way to ask is not an error.
/// Also looks once for a request the host made before the kernel listened
/// (a `control/shutdown` written while the guest was booting).
pub fn init(platform: &dyn Platform) {
    match platform.attach(EventSource::HostRequest, on_host_event) {
        Ok(()) => PENDING.store(true, Ordering::Release),
        Err(PlatformError::Unsupported(_)) => {
            log::debug!("power: this machine cannot send requests");
        }
        Err(e) => log::warn!("power: host requests will be ignored: {e}"),
    }
}

/// Handler for [`EventSource::HostRequest`] (interrupt context): note it.
fn on_host_event() {
    PENDING.store(true, Ordering::Release);
}

/// Whether a request may be waiting; cheap enough for a wait condition.
pub fn pending() -> bool {
    PENDING.load(Ordering::Acquire)
}

/// How many requests the kernel has acted on since boot.
pub fn served() -> u64 {
    SERVED.load(Ordering::Relaxed)
}

/// Take and act on every request the host has made. Returns when none is
/// left (or none was pending); does not return from one that stops the
/// machine. Call it from the main line only, at a point where stopping is
/// clean.
pub fn serve() {
    if !PENDING.swap(false, Ordering::AcqRel) {
        return;
    }
    let platform = crate::platform();
    while let Some(request) = platform.host_request() {
        SERVED.fetch_add(1, Ordering::Relaxed);
        act(platform, request);
    }
}

/// The policy: one orderly way down for every stop request, and a few
/// diagnostic keys.
fn act(platform: &dyn Platform, request: HostRequest) {
    match request {
        HostRequest::PowerOff => stop(platform, "power off", ExitStatus::Success),
        // Nothing in Virtus needs the machine kept on once halted, and no
        // platform offers a "halted" state the host could observe apart
        // from off (Xen has no halt reason): halt ends like power-off.
        HostRequest::Halt => stop(platform, "halt", ExitStatus::Success),
        HostRequest::Reboot => stop(platform, "reboot", ExitStatus::Reboot),
        HostRequest::SysRq(key) => sysrq(platform, key),
        HostRequest::Suspend => crate::suspend::run(platform),
        // Not a stop: the balloon moves and says so in one line.
        HostRequest::MemoryTarget { kib } => {
            crate::mem::balloon::set_target(platform, kib);
        }
    }
}

/// The orderly shutdown: say why, stop the timers the core armed, and let
/// the backend drain the console and end the machine.
fn stop(platform: &dyn Platform, what: &str, status: ExitStatus) -> ! {
    crate::kprintln!("power: the host asks to {what}; stopping");
    log::info!("power: {what} requested by the host");
    platform.timer_cancel();
    platform.shutdown(status)
}

fn sysrq(platform: &dyn Platform, key: u8) {
    let shown = if key.is_ascii_graphic() {
        key as char
    } else {
        '?'
    };
    match key {
        b'm' => {
            crate::kprintln!("sysrq: m: the kernel's state");
            crate::report::info();
        }
        b'c' => {
            crate::kprintln!("sysrq: c: crashing on purpose");
            crate::tests::crash_on_purpose("pagefault");
        }
        b'o' => stop(platform, "power off (sysrq)", ExitStatus::Success),
        b'b' => stop(platform, "reboot (sysrq)", ExitStatus::Reboot),
        b'h' => crate::kprintln!("sysrq: keys: {SYSRQ_KEYS}"),
        _ => crate::kprintln!("sysrq: unknown key {shown:?} (0x{key:02x}); keys: {SYSRQ_KEYS}"),
    }
}
