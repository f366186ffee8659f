//! The core's side of a suspend (`xl save`, `xl restore`, `xl migrate`,
//! a checkpoint): what must be quiet before the machine is saved, and what
//! the core redoes when it runs again. The backend does the machine's part
//! ([`Platform::suspend`]); drivers do theirs through the block devices'
//! `suspend`/`resume` hooks; this module puts them in order.
//!
//! 1. Quiesce: every disk finishes what it has in flight (the shell and the
//!    runners only serve host requests between two operations, so normally
//!    nothing is), then each driver is told. A disk that cannot finish in
//!    time makes the suspend fail, and the machine carries on.
//! 2. The core's timer is cancelled: a deadline armed on this host means
//!    nothing on the next.
//! 3. The backend suspends and comes back, in the same machine (cancelled,
//!    checkpoint) or a new one, with its clock carrying on from where it
//!    stopped: the kernel's clock does not count the time away (the host's
//!    wall clock does, and says how long that was).
//! 4. Drivers resume (in a new machine they reconnect), then the timers are
//!    armed again: a timer due 300 ms after the suspend fires 300 ms after
//!    the resume.

use crate::block::DISKS;
use crate::kprintln;
use crate::platform::{Platform, Resumed};
use crate::time::{self, NS_PER_MS, NS_PER_SEC};
use alloc::string::String;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

/// How long a disk may take to finish what it has in flight.
const DRAIN_NS: u64 = 10 * NS_PER_SEC;

static NEW_DOMAIN: AtomicU64 = AtomicU64::new(0);
static SAME_DOMAIN: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);

/// Suspends so far: (resumed in a new machine, resumed in the same one,
/// failed and carried on), for `info` and the tests.
pub fn counts() -> (u64, u64, u64) {
    (
        NEW_DOMAIN.load(Ordering::Relaxed),
        SAME_DOMAIN.load(Ordering::Relaxed),
        FAILED.load(Ordering::Relaxed),
    )
}

/// Serve the host's request to suspend: says so, suspends, and says how
/// the machine came back. Main line only (from `power`).
pub fn run(platform: &dyn Platform) {
    kprintln!("power: the host asks to suspend; suspending");
    match suspend(platform) {
        Ok((resumed, clock_before, notes)) => {
            let clock_after = time::now_ns();
            let how = if resumed.new_domain {
                NEW_DOMAIN.fetch_add(1, Ordering::Relaxed);
                "resumed in a new domain"
            } else {
                SAME_DOMAIN.fetch_add(1, Ordering::Relaxed);
                "suspend cancelled; resumed in the same domain"
            };
            let mut away = String::new();
            match resumed.away_ns {
                Some(ns) => {
                    let _ = write!(away, "away {} ms by the host's wall clock", ns / NS_PER_MS);
                }
                None => away.push_str("time away unknown: the host's wall clock is not set here"),
            }
            kprintln!(
                "power: {how} ({away}; kernel clock {} ms before, {} ms after{notes})",
                clock_before / NS_PER_MS,
                clock_after / NS_PER_MS
            );
        }
        Err(why) => {
            FAILED.fetch_add(1, Ordering::Relaxed);
            kprintln!("power: suspend failed: {why}; carrying on");
        }
    }
}

/// The sequence (module documentation). Returns how the machine came back,
/// the kernel's clock at the suspend, and notes on the drivers.
fn suspend(platform: &dyn Platform) -> Result<(Resumed, u64, String), String> {
    quiesce()?;
    let clock_before = time::now_ns();
    platform.timer_cancel();
    let result = platform.suspend();
    // Whatever happened, the drivers and the timers carry on.
    let new_domain = result.as_ref().is_ok_and(|r| r.new_domain);
    let notes = resume_disks(new_domain);
    time::resync_platform_timer();
    match result {
        Ok(resumed) => Ok((resumed, clock_before, notes)),
        Err(e) => Err(alloc::format!("{e}{notes}")),
    }
}

/// Every disk finishes its requests, then its driver is told. A failure
/// resumes the drivers already told, in the same machine.
fn quiesce() -> Result<(), String> {
    for (told, disk) in DISKS.iter().enumerate() {
        let deadline = time::now_ns().saturating_add(DRAIN_NS);
        let drained = time::wait_until(deadline, || {
            let _ = disk.poll();
            disk.in_flight() == 0
        });
        let result = if drained {
            disk.suspend()
                .map_err(|e| alloc::format!("{}: {e}", disk.name()))
        } else {
            Err(alloc::format!(
                "{}: {} requests still in flight after {} s",
                disk.name(),
                disk.in_flight(),
                DRAIN_NS / NS_PER_SEC
            ))
        };
        if let Err(why) = result {
            for disk in DISKS.iter().take(told) {
                let _ = disk.resume(false);
            }
            return Err(why);
        }
    }
    Ok(())
}

/// Resume every disk; returns notes for the report line ("; xvda
/// reconnected").
fn resume_disks(new_domain: bool) -> String {
    let mut notes = String::new();
    for disk in DISKS.iter() {
        match disk.resume(new_domain) {
            Ok(()) if new_domain => {
                let _ = write!(notes, "; {} reconnected", disk.name());
            }
            Ok(()) => {}
            Err(e) => {
                let _ = write!(notes, "; {} lost: {e}", disk.name());
            }
        }
    }
    notes
}
