//! The kernel's balloon: one [`Balloon`] over the kernel's frame
//! allocator and the active [`Platform`]. Main line only (the host
//! request path, tests, benchmarks, the shell): the lock is held across
//! hypercalls, with interrupts enabled.

use super::{Balloon, FramePool, Host, Moved, Outcome, floor_frames, write_line};
use crate::arch::irq::without_interrupts;
use crate::mem::{FRAMES, PAGE_SIZE};
use crate::platform::{Platform, PlatformError};
use spin::Mutex;

/// Lock order: BALLOON, then FRAMES (taken briefly per batch). Audited
/// when a test is aborted (`harness::abort`): a balloon left half moved
/// is unsafe state.
pub(crate) static BALLOON: Mutex<Balloon> = Mutex::new(Balloon::new());

/// The kernel's frame allocator, keeping the floor free.
struct KernelFrames {
    floor: u64,
}

impl KernelFrames {
    fn new() -> Self {
        let (_, total) = crate::mem::frame_stats();
        Self {
            floor: floor_frames(total),
        }
    }
}

impl FramePool for KernelFrames {
    fn take(&mut self, out: &mut [u64]) -> usize {
        without_interrupts(|| {
            FRAMES
                .lock()
                .as_mut()
                .map_or(0, |f| f.alloc_keeping(out, self.floor))
        })
    }

    fn put_back(&mut self, frames: &[u64]) {
        for &frame in frames {
            // Only frames the balloon took come back: a refusal here is a
            // bug in the balloon, said loudly, never hidden.
            if let Err(e) = crate::mem::free_frame(frame) {
                log::error!("balloon: cannot return frame {frame:#x}: {e}");
            }
        }
    }

    fn floor(&self) -> u64 {
        self.floor
    }
}

/// The platform's two operations.
struct PlatformHost<'a>(&'a dyn Platform);

impl Host for PlatformHost<'_> {
    fn release(&mut self, frames: &[u64]) -> Result<usize, PlatformError> {
        self.0.release_frames(frames)
    }

    fn reclaim(&mut self, frames: &[u64]) -> Result<usize, PlatformError> {
        self.0.reclaim_frames(frames)
    }
}

/// The machine's RAM at boot, in KiB: the boot memory map's usable bytes.
fn boot_ram_kib(platform: &dyn Platform) -> u64 {
    platform
        .boot_info()
        .memory_map
        .as_ref()
        .map_or(0, |m| m.total_usable() / 1024)
}

/// The ceiling a target is measured against: the host's, or else all the
/// RAM the machine booted with.
pub fn ceiling_kib(platform: &dyn Platform) -> u64 {
    platform
        .memory_max_kib()
        .unwrap_or_else(|| boot_ram_kib(platform))
}

/// Frames currently given to the host.
pub fn released_frames() -> u64 {
    BALLOON.lock().frames()
}

/// What the machine holds: the host's count, or (without a host) its own
/// RAM less what is ballooned out.
pub fn held_kib(platform: &dyn Platform) -> u64 {
    platform.memory_held_kib().unwrap_or_else(|| {
        boot_ram_kib(platform).saturating_sub(released_frames() * (PAGE_SIZE / 1024))
    })
}

/// The `HostRequest::MemoryTarget` policy: move towards `target_kib` and
/// print the one line that says what happened.
pub fn set_target(platform: &dyn Platform, target_kib: u64) -> Outcome {
    let ceiling = ceiling_kib(platform);
    let start = crate::time::now_ns();
    let outcome = BALLOON.lock().steer(
        &mut KernelFrames::new(),
        &mut PlatformHost(platform),
        target_kib,
        ceiling,
    );
    let us = crate::time::now_ns().saturating_sub(start) / 1000;
    let held = held_kib(platform);
    let mut line = alloc::string::String::new();
    let _ = write_line(&mut line, target_kib, &outcome, us, held);
    crate::kprintln!("{line}");
    log::info!(
        "balloon: ceiling {ceiling} KiB; {} frames out",
        released_frames()
    );
    outcome
}

/// Give up to `n` free frames to the host (tests, benchmarks, the shell).
pub fn release(platform: &dyn Platform, n: u64) -> Moved {
    BALLOON
        .lock()
        .inflate(&mut KernelFrames::new(), &mut PlatformHost(platform), n)
}

/// Take up to `n` frames back from the host, newest first.
pub fn reclaim(platform: &dyn Platform, n: u64) -> Moved {
    BALLOON
        .lock()
        .deflate(&mut KernelFrames::new(), &mut PlatformHost(platform), n)
}

/// The most recently released `n` frames (the next `reclaim` takes them
/// back first), for tests.
pub fn newest_released(n: usize) -> alloc::vec::Vec<u64> {
    let balloon = BALLOON.lock();
    let all = balloon.released();
    all[all.len().saturating_sub(n)..].to_vec()
}

/// The `info` line: what is ballooned out and the host's own count.
pub fn describe(platform: &dyn Platform, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
    let out_kib = released_frames() * (PAGE_SIZE / 1024);
    match platform.memory_held_kib() {
        Some(held) => writeln!(
            out,
            "balloon    {out_kib} KiB given back to the host; the host counts {held} KiB \
             (ceiling {} KiB)",
            ceiling_kib(platform)
        ),
        None => writeln!(
            out,
            "balloon    {out_kib} KiB given back; this machine has no host to count it"
        ),
    }
}

/// The shell's `balloon [MIB]`: the state, or a target set here as the
/// host would (through [`set_target`]); the host's next `memory/target`
/// replaces it.
pub fn shell(arg: Option<&str>) {
    let platform = crate::platform();
    let Some(arg) = arg else {
        let _ = describe(platform, &mut crate::console::Writer);
        let (free, total) = crate::mem::frame_stats();
        let floor = floor_frames(total);
        crate::kprintln!(
            "balloon    {} KiB free, the floor keeps {} KiB of it",
            free * (PAGE_SIZE / 1024),
            floor * (PAGE_SIZE / 1024)
        );
        return;
    };
    match arg
        .parse::<u64>()
        .ok()
        .and_then(|mib| mib.checked_mul(1024))
    {
        Some(kib) => {
            set_target(platform, kib);
        }
        None => crate::kprintln!("balloon: {arg:?} is not a size in MiB"),
    }
}
