//! Running several boots at once. QEMU under TCG is single-threaded per
//! vCPU, so a matrix finishes about `jobs` times sooner on a multi-core
//! host; the prefixed live console keeps interleaved output readable.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// Applies `work` to every item on up to `jobs` threads and returns the
/// results in the order of `items`, whatever order they finished in.
pub fn map_parallel<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(index) else { break };
                    let result = work(item);
                    // A panicking worker poisons the lock; the results
                    // already stored are still sound.
                    results.lock().unwrap_or_else(|poison| poison.into_inner())[index] =
                        Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|poison| poison.into_inner())
        .into_iter()
        .map(|result| result.expect("every item was processed"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_of_items() {
        let items: Vec<u64> = (0..20).collect();
        let squares = map_parallel(&items, 4, |n| {
            thread::sleep(std::time::Duration::from_millis(20 - n));
            n * n
        });
        assert_eq!(squares, items.iter().map(|n| n * n).collect::<Vec<_>>());
    }

    #[test]
    fn handles_no_items_and_zero_jobs() {
        assert!(map_parallel(&[] as &[u8], 3, |n| *n).is_empty());
        assert_eq!(map_parallel(&[1, 2], 0, |n| n + 1), [2, 3]);
    }
}
