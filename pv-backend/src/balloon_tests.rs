//! Ballooning against the real Xen: every count the balloon changes is
//! checked against Xen's own (`XENMEM_current_reservation`), which the
//! balloon's code never reads to decide anything.

use crate::memory;
use alloc::vec::Vec;
use virtus_kernel::harness::{Test, TestError, TestResult};
use virtus_kernel::mem::{self, PAGE_SIZE, balloon};
use virtus_kernel::{check, check_eq};

pub const TESTS: &[Test] = &[
    Test {
        name: "pv_balloon_release_reclaim_moves_xen_count",
        run: release_reclaim_moves_xen_count,
    },
    Test {
        name: "pv_balloon_reclaimed_frames_usable",
        run: reclaimed_frames_usable,
    },
    Test {
        name: "pv_balloon_target_stops_at_floor",
        run: target_stops_at_floor,
    },
];

/// Xen's count of this domain's pages.
fn xen_pages() -> Result<u64, TestError> {
    memory::current_reservation()
        .map_err(|e| TestError::Fail(alloc::format!("XENMEM_current_reservation: {e}")))
}

/// 1 MiB (or what is above the floor) through the core's balloon: Xen's count drops by exactly as many
/// pages, the frames leave the allocator, and come back with the count.
fn release_reclaim_moves_xen_count() -> TestResult {
    let (free, total) = mem::frame_stats();
    let n = free.saturating_sub(balloon::floor_frames(total)).min(256);
    if n == 0 {
        virtus_kernel::skip!("no free memory above the balloon's floor");
    }
    let platform = virtus_kernel::platform();
    let before = xen_pages()?;
    let moved = balloon::release(platform, n);
    check!(
        moved.frames == n,
        "released {} of {n} frames: {:?}",
        moved.frames,
        moved.stop
    );
    let frames = balloon::newest_released(n as usize);
    let after = xen_pages()?;
    check_eq!(before - after, n);
    check!(
        frames.iter().all(|&f| !mem::frame_is_free(f)),
        "a released frame is free in the allocator"
    );
    let back = balloon::reclaim(platform, n);
    check!(
        back.frames == n,
        "reclaimed {} of {n} frames: {:?}",
        back.frames,
        back.stop
    );
    let again = xen_pages()?;
    check_eq!(again - after, n);
    check!(
        frames.iter().all(|&f| mem::frame_is_free(f)),
        "a reclaimed frame is not back in the allocator"
    );
    Ok(())
}

/// Frames of the test's own, given back and backed again through the
/// platform, hold what is written to them afterwards. Whether Xen gave
/// back the same contents is logged only: it scrubs freed pages only in
/// some configurations.
fn reclaimed_frames_usable() -> TestResult {
    const N: usize = 64;
    let platform = virtus_kernel::platform();
    let frames: Vec<u64> = (0..N).filter_map(|_| mem::alloc_frame()).collect();
    let result = cycle(platform, &frames);
    for &f in &frames {
        let _ = mem::free_frame(f);
    }
    result?;
    Ok(())
}

fn word(frame: u64, i: usize, salt: u64) -> u64 {
    frame ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt
}

fn cycle(platform: &dyn virtus_kernel::Platform, frames: &[u64]) -> TestResult {
    check_eq!(frames.len(), 64);
    let words = (PAGE_SIZE / 8) as usize;
    let page = |f: u64| {
        // SAFETY: `f` is a frame this test allocated, identity-mapped and
        // backed whenever this is called (before release, after reclaim).
        unsafe { core::slice::from_raw_parts_mut(f as *mut u64, words) }
    };
    for &f in frames {
        for (i, w) in page(f).iter_mut().enumerate() {
            *w = word(f, i, 1);
        }
    }
    let before = xen_pages()?;
    let took = platform
        .release_frames(frames)
        .map_err(|e| TestError::Fail(alloc::format!("release: {e}")))?;
    check_eq!(took, frames.len());
    check_eq!(before - xen_pages()?, frames.len() as u64);
    let backed = platform
        .reclaim_frames(frames)
        .map_err(|e| TestError::Fail(alloc::format!("reclaim: {e}")))?;
    check_eq!(backed, frames.len());
    check_eq!(xen_pages()?, before);
    let kept = frames
        .iter()
        .filter(|&&f| page(f).iter().enumerate().all(|(i, &w)| w == word(f, i, 1)))
        .count();
    log::info!(
        "balloon: {kept} of {} reclaimed pages still held the old pattern",
        frames.len()
    );
    for &f in frames {
        for (i, w) in page(f).iter_mut().enumerate() {
            // Volatile: the read-back must come from memory.
            // SAFETY: as above; `w` is a valid, aligned u64 of the page.
            unsafe { core::ptr::write_volatile(w, word(f, i, 2)) };
        }
    }
    for &f in frames {
        for (i, w) in page(f).iter().enumerate() {
            // SAFETY: as above.
            let got = unsafe { core::ptr::read_volatile(w) };
            check!(got == word(f, i, 2), "frame {f:#x} word {i}: {got:#x}");
        }
    }
    Ok(())
}

/// A target of 0 through the `MemoryTarget` path: the balloon stops with
/// exactly the floor free, Xen's count dropped by what it released; the
/// ceiling as target takes it all back.
fn target_stops_at_floor() -> TestResult {
    let platform = virtus_kernel::platform();
    let Some(ceiling) = platform.memory_max_kib() else {
        return Err(TestError::Fail("memory/static-max was not read".into()));
    };
    let out_before = balloon::released_frames();
    let xen_before = xen_pages()?;
    let (free_before, total) = mem::frame_stats();
    let expected = free_before.saturating_sub(balloon::floor_frames(total));
    let outcome = balloon::set_target(platform, 0);
    let balloon::Outcome::Stopped {
        moved,
        why: balloon::Stop::Floor { keep_kib },
    } = outcome
    else {
        return Err(TestError::Fail(alloc::format!("target 0 gave {outcome:?}")));
    };
    let floor = balloon::floor_frames(total);
    check_eq!(mem::frame_stats().0, free_before.min(floor));
    check_eq!(keep_kib, floor * 4);
    check_eq!(moved as u64, expected);
    check_eq!(xen_before - xen_pages()?, moved as u64);
    check_eq!(balloon::released_frames() - out_before, moved as u64);
    let up = balloon::set_target(platform, ceiling);
    let all = out_before + moved as u64;
    if all == 0 {
        check_eq!(up, balloon::Outcome::Nothing);
    } else {
        check_eq!(up, balloon::Outcome::Reclaimed(all));
    }
    check_eq!(xen_pages()?, xen_before + out_before);
    check_eq!(balloon::released_frames(), 0);
    Ok(())
}
