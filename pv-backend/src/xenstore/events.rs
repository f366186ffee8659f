//! Watch events waiting for their reader. xenstored sends an
//! `XS_WATCH_EVENT` whenever a watched node changes, between our replies
//! or while the domain sits idle; the client keeps them here until the
//! watch's owner takes them (`control` for `control/shutdown`, the shell's
//! `xs watch`).
//!
//! The queue is bounded: the other end decides how many events arrive,
//! so memory must not. A reader re-reads the node when its watch fires
//! (the event says *that* something changed, not what), so an event equal
//! to one already queued adds nothing and is merged; one arriving at a
//! full queue is dropped and counted, and the counts are reported.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

/// The most events kept at once.
pub const QUEUE_MAX: usize = 32;

/// One `XS_WATCH_EVENT`: the node that changed and the watch's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub path: String,
    pub token: String,
}

/// What happened to the events that were not simply queued.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// Queued, then taken by their reader.
    pub delivered: u64,
    /// Equal to one already waiting: merged into it.
    pub merged: u64,
    /// Arrived at a full queue: lost (their reader may miss a change).
    pub dropped: u64,
    /// For a token no watch of ours has: ignored.
    pub stray: u64,
    /// Not two NUL-terminated UTF-8 strings: ignored.
    pub malformed: u64,
}

/// The bounded queue.
#[derive(Debug, Default)]
pub struct EventQueue {
    queue: VecDeque<WatchEvent>,
    pub counts: EventCounts,
}

impl EventQueue {
    /// Queue `event`, which belongs to a watch of ours if `registered`;
    /// true if it was queued as a new event.
    pub fn push(&mut self, event: WatchEvent, registered: bool) -> bool {
        if !registered {
            self.counts.stray += 1;
        } else if self.queue.contains(&event) {
            self.counts.merged += 1;
        } else if self.queue.len() >= QUEUE_MAX {
            self.counts.dropped += 1;
        } else {
            self.queue.push_back(event);
            return true;
        }
        false
    }

    /// Take every event for `token`, oldest first; the others stay.
    pub fn take(&mut self, token: &str) -> Vec<WatchEvent> {
        let mut taken = Vec::new();
        self.queue.retain(|e| {
            let mine = e.token == token;
            if mine {
                taken.push(e.clone());
            }
            !mine
        });
        self.counts.delivered += taken.len() as u64;
        taken
    }

    /// Forget the events of a watch that is gone (`XS_UNWATCH`).
    pub fn forget(&mut self, token: &str) {
        self.queue.retain(|e| e.token != token);
    }

    /// Forget them all (`XS_RESET_WATCHES`).
    pub fn clear(&mut self) {
        self.queue.clear();
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(path: &str, token: &str) -> WatchEvent {
        WatchEvent {
            path: path.into(),
            token: token.into(),
        }
    }

    #[test]
    fn events_wait_for_their_token_and_duplicates_merge() {
        let mut q = EventQueue::default();
        q.push(ev("control/shutdown", "ctl"), true);
        q.push(ev("data/x", "shell"), true);
        q.push(ev("control/shutdown", "ctl"), true);
        q.push(ev("data/y", "gone"), false);
        assert_eq!(q.counts.merged, 1);
        assert_eq!(q.counts.stray, 1);
        assert_eq!(q.take("ctl"), [ev("control/shutdown", "ctl")]);
        assert_eq!(q.take("ctl"), []);
        assert_eq!(q.len(), 1, "the shell's event is still there");
        q.forget("shell");
        assert!(q.is_empty());
    }

    #[test]
    fn a_flood_is_bounded_and_counted() {
        let mut q = EventQueue::default();
        for i in 0..1000 {
            q.push(ev(&alloc::format!("data/{i}"), "t"), true);
        }
        assert_eq!(q.len(), QUEUE_MAX);
        assert_eq!(q.counts.dropped, 1000 - QUEUE_MAX as u64);
        // The oldest are the ones kept: the first change is not lost.
        assert_eq!(q.take("t")[0], ev("data/0", "t"));
    }
}
