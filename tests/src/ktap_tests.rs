//! The KTAP line grammar against real and mangled console lines.

use super::*;

fn result(ok: bool, number: usize, name: &str) -> KtapLine {
    KtapLine::Result(ResultLine {
        ok,
        number,
        name: name.into(),
        skip: None,
        directive: None,
    })
}

fn summary(passed: usize, failed: usize, skipped: usize) -> KtapLine {
    KtapLine::Summary(Summary {
        passed,
        failed,
        skipped,
    })
}

fn parsed_result(line: &str) -> ResultLine {
    match KtapLine::parse(line) {
        KtapLine::Result(r) => r,
        other => panic!("not a result: {other:?}"),
    }
}

#[test]
fn each_line_parses_to_its_kind() {
    let diagnostic = |text: &str| KtapLine::Diagnostic(text.into());
    let cases = [
        ("# end of run", KtapLine::EndOfRun),
        ("# end of run\r", KtapLine::EndOfRun),
        (
            "# error: no test matches the filter \"zzz\"",
            KtapLine::NoMatch("zzz".into()),
        ),
        (
            "# error: no benchmark matches the filter \"q\"",
            KtapLine::NoMatch("q".into()),
        ),
        ("# end of run, almost", diagnostic("end of run, almost")),
        (
            "# state unsafe after abort: timer lock held by aborted test injected_panic_locked\r",
            KtapLine::UnsafeAfterAbort {
                lock: "timer lock".into(),
                test: "injected_panic_locked".into(),
            },
        ),
        (
            "# state unsafe after abort: held by aborted test ",
            diagnostic("state unsafe after abort: held by aborted test"),
        ),
        ("KTAP version 1", KtapLine::Version(1)),
        ("1..42", KtapLine::Plan(42)),
        ("1..x", KtapLine::Other),
        (
            "ok 1 frame_alloc_basic",
            result(true, 1, "frame_alloc_basic"),
        ),
        ("not ok 2 heap_vec", result(false, 2, "heap_vec")),
        // A result without a number is not a result.
        ("ok then", KtapLine::Other),
        ("40 passed, 1 failed, 1 skipped", summary(40, 1, 1)),
        ("3 passed, 0 failed", summary(3, 0, 0)),
        ("3 passed, 0 failed, 1 skipped, 2 more", KtapLine::Other),
        ("all passed, 0 failed", KtapLine::Other),
        ("# running: heap_vec", KtapLine::Running("heap_vec".into())),
        ("# test: heap_vec", KtapLine::Listed("heap_vec".into())),
        ("# left 1, right 2", diagnostic("left 1, right 2")),
        ("#", diagnostic("")),
        ("[ INFO] memory: 128 MiB", KtapLine::Other),
        ("", KtapLine::Other),
        // Indented lines would be a nested (sub-test) report, which the
        // kernel does not emit: they must not count as top-level results.
        ("    ok 1 nested", KtapLine::Other),
        // Serial noise is cleaned.
        ("ok 1 a\r", result(true, 1, "a")),
        ("\x1b[32mok 1 a\x1b[0m", result(true, 1, "a")),
    ];
    for (line, expected) in cases {
        assert_eq!(KtapLine::parse(line), expected, "{line:?}");
    }
    assert_eq!(clean("\0\0KTAP version 1  "), "KTAP version 1");
}

#[test]
fn directives_and_outcomes() {
    let skipped = parsed_result("ok 3 mem_above_4g # SKIP no memory above 4 GiB");
    assert_eq!(skipped.name, "mem_above_4g");
    assert_eq!(skipped.skip.as_deref(), Some("no memory above 4 GiB"));
    assert_eq!(skipped.outcome(), Outcome::Skip);
    // `not ok` with a skip is still a failure.
    assert_eq!(
        parsed_result("not ok 3 x # SKIP why").outcome(),
        Outcome::Fail
    );
    // Other directives are kept.
    let hung = parsed_result("not ok 7 injected_hang # TIMEOUT watchdog");
    assert_eq!(hung.directive.as_deref(), Some("TIMEOUT watchdog"));
    assert_eq!(hung.skip, None);
    assert_eq!(parsed_result("ok 4").display_name(), "#4");
}
