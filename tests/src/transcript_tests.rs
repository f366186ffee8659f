//! Tests of `transcript`.

use super::*;

const GOOD: &str = "\
[ INFO] virtus booting
KTAP version 1
1..3
# running: frame_alloc_basic
ok 1 frame_alloc_basic
# running: heap_vec
[ WARN] heap grew
# left 1, right 2
not ok 2 heap_vec
# running: mem_above_4g
ok 3 mem_above_4g # SKIP no memory above 4 GiB
1 passed, 1 failed, 1 skipped
[ INFO] shutting down
";

#[test]
fn follows_a_whole_run() {
    let t = Transcript::from_console(GOOD);
    assert_eq!(t.headers, 1);
    assert_eq!(t.plan, Some(3));
    assert_eq!(t.reports.len(), 3);
    let one_each = Summary {
        passed: 1,
        failed: 1,
        skipped: 1,
    };
    assert_eq!((t.summary, t.counted()), (Some(one_each), one_each));
    assert_eq!(t.running(), None);
    assert_eq!(t.last_finished().as_deref(), Some("mem_above_4g"));
}

#[test]
fn diagnostics_and_log_attach_to_the_following_result() {
    let t = Transcript::from_console(GOOD);
    let heap = &t.reports[1];
    assert_eq!(heap.diagnostics, ["left 1, right 2"]);
    assert_eq!(heap.log, ["[ WARN] heap grew"]);
    assert!(t.reports[0].diagnostics.is_empty());
    // The boot log before the first `# running:` belongs to no test.
    assert!(t.reports[0].log.is_empty());
    let failed: Vec<_> = t.failures().map(|r| r.result.name.as_str()).collect();
    assert_eq!(failed, ["heap_vec"]);
}

#[test]
fn knows_the_running_test_mid_run() {
    let mut t =
        Transcript::from_console("KTAP version 1\n1..2\n# running: a\nok 1 a\n# running: b");
    assert_eq!(t.running(), Some("b"));
    t.feed("panicked at kernel/src/mem/heap.rs:12: out of memory");
    assert_eq!(
        t.running_output(),
        ["panicked at kernel/src/mem/heap.rs:12: out of memory"]
    );
    assert!(t.mentions("PANICKED"));
}

#[test]
fn records_a_stop_for_unsafe_state() {
    let t = Transcript::from_console(
        "KTAP version 1\n1..1\n# running: x\n# test panicked\nnot ok 1 x\n\
         # state unsafe after abort: heap lock held by aborted test x\n",
    );
    assert_eq!(
        t.unsafe_after_abort,
        Some(("heap lock".to_string(), "x".to_string()))
    );
    // The stop line is not a diagnostic of the (absent) next result.
    assert_eq!(t.reports[0].diagnostics, ["test panicked"]);
    assert!(t.running_output().is_empty());
}

#[test]
fn collects_the_test_listing() {
    let t = Transcript::from_console("# test: a\n# test: b\n");
    assert_eq!(t.listed, ["a", "b"]);
    assert!(t.reports.is_empty());
}

#[test]
fn keeps_only_a_bounded_tail() {
    let mut t = Transcript::default();
    for i in 0..(TAIL_LINES + 10) {
        t.feed(&format!("line {i}"));
    }
    assert_eq!(
        t.tail(2),
        [
            format!("line {}", TAIL_LINES + 8),
            format!("line {}", TAIL_LINES + 9)
        ]
    );
    assert!(!t.mentions("line 0"));
}

#[test]
fn silence_and_emulator_messages() {
    let mut t = Transcript::default();
    t.feed("");
    assert!(t.is_silent());
    t.feed_emulator("qemu-system-x86_64: Error loading uncompressed kernel");
    assert!(t.is_silent());
    assert_eq!(t.emulator_messages.len(), 1);
}
