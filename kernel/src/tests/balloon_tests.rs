//! The `MemoryTarget` path in every column: a machine whose host counts
//! its memory releases and reclaims through it; one without (natively, and
//! the native image under Xen HVM) ends cleanly with "unavailable",
//! nothing taken from the allocator.

use crate::harness::{Test, TestError, TestResult};
use crate::mem::{self, balloon};
use crate::platform::PlatformError;
use crate::{check, check_eq};

pub const TESTS: &[Test] = &[Test {
    name: "balloon_target_path_ends_cleanly",
    run: target_path_ends_cleanly,
}];

/// 1 MiB below what the balloon holds now (less in a domain with less
/// above the floor), then back.
fn target_path_ends_cleanly() -> TestResult {
    let p = crate::platform();
    let ceiling = balloon::ceiling_kib(p);
    let out = balloon::released_frames();
    let (free, total) = mem::frame_stats();
    let n = free.saturating_sub(balloon::floor_frames(total)).min(256);
    if n == 0 && p.memory_held_kib().is_some() {
        crate::skip!("no free memory above the balloon's floor");
    }
    let target = ceiling.saturating_sub((out + n.max(1)) * 4);
    let outcome = balloon::set_target(p, target);
    let (free_after, _) = mem::frame_stats();
    if p.memory_held_kib().is_none() {
        // No host: the operation is unavailable and nothing moved.
        check!(
            matches!(
                outcome,
                balloon::Outcome::Stopped {
                    moved: 0,
                    why: balloon::Stop::Host(PlatformError::Unavailable(_))
                }
            ),
            "without a host: {outcome:?}"
        );
        check_eq!(free_after, free);
        check_eq!(balloon::released_frames(), out);
        return Ok(());
    }
    check_eq!(outcome, balloon::Outcome::Released(n));
    check_eq!(free - free_after, n);
    let back = balloon::set_target(p, ceiling.saturating_sub(out * 4));
    check_eq!(back, balloon::Outcome::Reclaimed(n));
    check_eq!(mem::frame_stats().0, free);
    if balloon::released_frames() != out {
        return Err(TestError::Fail(
            "the balloon did not return to its size".into(),
        ));
    }
    Ok(())
}
