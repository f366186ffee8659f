//! The KTAP line grammar against real and mangled console lines.

use super::*;

fn result(ok: bool, number: usize, name: &str) -> ResultLine {
    ResultLine {
        ok,
        number,
        name: name.into(),
        skip: None,
        directive: None,
    }
}

#[test]
fn end_marker_and_empty_selection() {
    assert_eq!(KtapLine::parse("# end of run"), KtapLine::EndOfRun);
    assert_eq!(KtapLine::parse("# end of run\r"), KtapLine::EndOfRun);
    assert_eq!(
        KtapLine::parse("# error: no test matches the filter \"zzz\""),
        KtapLine::NoMatch("zzz".into())
    );
    assert_eq!(
        KtapLine::parse("# error: no benchmark matches the filter \"q\""),
        KtapLine::NoMatch("q".into())
    );
    assert_eq!(
        KtapLine::parse("# end of run, almost"),
        KtapLine::Diagnostic("end of run, almost".into())
    );
}

#[test]
fn unsafe_after_abort_names_lock_and_test() {
    assert_eq!(
        KtapLine::parse(
            "# state unsafe after abort: timer lock held by aborted test injected_panic_locked\r"
        ),
        KtapLine::UnsafeAfterAbort {
            lock: "timer lock".into(),
            test: "injected_panic_locked".into()
        }
    );
    assert_eq!(
        KtapLine::parse("# state unsafe after abort: held by aborted test "),
        KtapLine::Diagnostic("state unsafe after abort: held by aborted test".into())
    );
}

#[test]
fn header_and_plan() {
    assert_eq!(KtapLine::parse("KTAP version 1"), KtapLine::Version(1));
    assert_eq!(KtapLine::parse("1..42"), KtapLine::Plan(42));
    assert_eq!(KtapLine::parse("1..x"), KtapLine::Other);
}

#[test]
fn ok_and_not_ok() {
    assert_eq!(
        KtapLine::parse("ok 1 frame_alloc_basic"),
        KtapLine::Result(result(true, 1, "frame_alloc_basic"))
    );
    assert_eq!(
        KtapLine::parse("not ok 2 heap_vec"),
        KtapLine::Result(result(false, 2, "heap_vec"))
    );
}

#[test]
fn skip_directive_carries_its_reason() {
    let KtapLine::Result(r) = KtapLine::parse("ok 3 mem_above_4g # SKIP no memory above 4 GiB")
    else {
        panic!("not a result");
    };
    assert_eq!(r.name, "mem_above_4g");
    assert_eq!(r.skip.as_deref(), Some("no memory above 4 GiB"));
    assert_eq!(r.outcome(), Outcome::Skip);
}

#[test]
fn not_ok_with_skip_is_still_a_failure() {
    let KtapLine::Result(r) = KtapLine::parse("not ok 3 x # SKIP why") else {
        panic!("not a result");
    };
    assert_eq!(r.outcome(), Outcome::Fail);
}

#[test]
fn other_directives_are_kept() {
    let KtapLine::Result(r) = KtapLine::parse("not ok 7 injected_hang # TIMEOUT watchdog") else {
        panic!("not a result");
    };
    assert_eq!(r.directive.as_deref(), Some("TIMEOUT watchdog"));
    assert_eq!(r.skip, None);
}

#[test]
fn anonymous_result() {
    let KtapLine::Result(r) = KtapLine::parse("ok 4") else {
        panic!("not a result");
    };
    assert_eq!(r.display_name(), "#4");
}

#[test]
fn result_without_number_is_not_a_result() {
    assert_eq!(KtapLine::parse("ok then"), KtapLine::Other);
}

#[test]
fn summary_with_and_without_skips() {
    assert_eq!(
        KtapLine::parse("40 passed, 1 failed, 1 skipped"),
        KtapLine::Summary(Summary {
            passed: 40,
            failed: 1,
            skipped: 1
        })
    );
    assert_eq!(
        KtapLine::parse("3 passed, 0 failed"),
        KtapLine::Summary(Summary {
            passed: 3,
            failed: 0,
            skipped: 0
        })
    );
    assert_eq!(
        KtapLine::parse("3 passed, 0 failed, 1 skipped, 2 more"),
        KtapLine::Other
    );
    assert_eq!(KtapLine::parse("all passed, 0 failed"), KtapLine::Other);
}

#[test]
fn running_and_listing() {
    assert_eq!(
        KtapLine::parse("# running: heap_vec"),
        KtapLine::Running("heap_vec".into())
    );
    assert_eq!(
        KtapLine::parse("# test: heap_vec"),
        KtapLine::Listed("heap_vec".into())
    );
}

#[test]
fn diagnostics() {
    assert_eq!(
        KtapLine::parse("# left 1, right 2"),
        KtapLine::Diagnostic("left 1, right 2".into())
    );
    assert_eq!(KtapLine::parse("#"), KtapLine::Diagnostic(String::new()));
}

#[test]
fn boot_log_is_other() {
    assert_eq!(KtapLine::parse("[ INFO] memory: 128 MiB"), KtapLine::Other);
    assert_eq!(KtapLine::parse(""), KtapLine::Other);
    // Indented lines would be a nested (sub-test) report, which the
    // kernel does not emit: they must not count as top-level results.
    assert_eq!(KtapLine::parse("    ok 1 nested"), KtapLine::Other);
}

#[test]
fn serial_noise_is_cleaned() {
    assert_eq!(
        KtapLine::parse("ok 1 a\r"),
        KtapLine::Result(result(true, 1, "a"))
    );
    assert_eq!(
        KtapLine::parse("\x1b[32mok 1 a\x1b[0m"),
        KtapLine::Result(result(true, 1, "a"))
    );
    assert_eq!(clean("\0\0KTAP version 1  "), "KTAP version 1");
}
