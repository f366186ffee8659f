//! Every in-kernel test must be able to fail: a host test that reads each
//! registered test's `run` function and fails, naming the test, if its body
//! has no way to report a failure (it returns `Ok(())` whatever happens).
//!
//! A failure path is one of: `check!`, `check_eq!`, `skip!` (a skip is not
//! a pass either), an `Err(...)` it returns, the `?` operator on something
//! fallible, a panic (`panic!`, `assert!`, ... : the harness reports a panic
//! as `not ok`), or, as its last expression, a call to a function of the
//! same file that has a failure path itself (a shared checker such as
//! `expect_fault`). A call whose result is thrown away (`let _ = f();`)
//! does not count.
//!
//! What this cannot see: a check that cannot be false (`check!(true)`, or
//! a value compared with the input it was computed from). Those are for
//! review; the check here only makes the blatant case impossible.
//!
//! There is no opt-out: every registered test has a failure path today.

use std::path::Path;

use crate::sources::{code_only, fn_body, registrations, rust_files};

/// Macros that end a test with a failure (or a skip).
const FAILING_MACROS: &[&str] = &[
    "check!",
    "check_eq!",
    "skip!",
    "panic!",
    "assert!",
    "assert_eq!",
    "assert_ne!",
    "unreachable!",
];

/// Why a body has a failure path, or `None` if it has none. `code` is the
/// whole file (from `code_only`), for the helpers a body ends by calling;
/// `seen` stops the recursion through them.
fn failure_path(body: &str, code: &str, seen: &mut Vec<String>) -> Option<String> {
    if let Some(m) = FAILING_MACROS.iter().find(|m| contains_token(body, m)) {
        return Some((*m).to_string());
    }
    if contains_token(body, "Err(") {
        return Some("Err(...)".to_string());
    }
    if has_try_operator(body) {
        return Some("the ? operator".to_string());
    }
    let callee = tail_call(body)?;
    if seen.contains(&callee) {
        return None;
    }
    seen.push(callee.clone());
    let helper = fn_body(code, &callee)?;
    failure_path(helper, code, seen).map(|why| format!("{callee}(), which has {why}"))
}

/// Whether `needle` occurs in `code` not as the tail of a longer name
/// (`my_check!` is not `check!`).
fn contains_token(code: &str, needle: &str) -> bool {
    code.match_indices(needle).any(|(at, _)| {
        at == 0
            || !code.as_bytes()[at - 1].is_ascii_alphanumeric() && code.as_bytes()[at - 1] != b'_'
    })
}

/// A `?` that propagates an error: after an expression, not in `?Sized`
/// (comments and strings, where `{e:?}` lives, are already blank).
fn has_try_operator(code: &str) -> bool {
    code.match_indices('?').any(|(at, _)| {
        let after = &code[at + 1..];
        let before = code[..at].trim_end();
        !after.starts_with("Sized")
            && before
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == ')' || c == ']' || c == '_')
    })
}

/// The function the body's last expression calls, if it is a plain call
/// `name(...)` (with or without `return`): the test's result is then that
/// function's.
fn tail_call(body: &str) -> Option<String> {
    let body = body.trim_end();
    // The last expression: after the last `;` or `}` at the body's top level.
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in body.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 && c == '}' {
                    start = i + 1;
                }
            }
            ';' if depth == 0 => start = i + 1,
            _ => {}
        }
    }
    let tail = body[start..].trim();
    let tail = tail.strip_prefix("return ").unwrap_or(tail).trim_start();
    let name: String = tail
        .chars()
        .take_while(|&c| c.is_alphanumeric() || c == '_')
        .collect();
    let rest = tail[name.len()..].trim_start();
    (!name.is_empty() && rest.starts_with('(') && rest.trim_end().ends_with(')')).then_some(name)
}

/// Each registered test of the `.rs` files under `dir` that has no failure
/// path, as "name (file): why", and how many tests were looked at.
fn tests_without_failure_path(dir: &Path) -> (Vec<String>, usize) {
    let mut bad = Vec::new();
    let mut count = 0;
    for file in rust_files(dir) {
        let text = std::fs::read_to_string(&file).expect("read a source file");
        let code = code_only(&text);
        for registration in registrations(&text) {
            count += 1;
            let shown = || format!("{} ({})", registration.name, relative(&file));
            let Some(body) = fn_body(&code, &registration.run) else {
                bad.push(format!(
                    "{}: its run function `{}` is not defined in the same file",
                    shown(),
                    registration.run
                ));
                continue;
            };
            if failure_path(body, &code, &mut Vec::new()).is_none() {
                bad.push(format!(
                    "{}: `{}` has no check!, check_eq!, skip!, Err, ? or panic: \
                     it cannot fail",
                    shown(),
                    registration.run
                ));
            }
        }
    }
    (bad, count)
}

fn relative(file: &Path) -> String {
    file.strip_prefix(crate::workspace())
        .unwrap_or(file)
        .display()
        .to_string()
}

#[test]
fn every_kernel_test_can_fail() {
    let mut bad = Vec::new();
    for dir in ["kernel/src", "native-backend/src", "pv-backend/src"] {
        let (found, count) = tests_without_failure_path(&crate::workspace().join(dir));
        assert!(
            count > 0,
            "found no `Test {{ name: ... }}` in {dir}: has the registration changed shape?"
        );
        bad.extend(found);
    }
    assert!(
        bad.is_empty(),
        "kernel tests that cannot fail:\n  {}",
        bad.join("\n  ")
    );
}

/// The scanner over a made-up file: each kind of failure path is seen,
/// and the tests that cannot fail are named.
#[test]
fn tests_that_cannot_fail_are_named() {
    let src = r#"
pub const TESTS: &[Test] = &[
    Test { name: "uses_check", run: uses_check },
    Test { name: "uses_try", run: uses_try },
    Test { name: "delegates", run: delegates },
    Test { name: "always_ok", run: always_ok },
    Test { name: "discards", run: discards },
    Test { name: "check_in_comment", run: check_in_comment },
    Test { name: "missing", run: not_here },
];
fn uses_check() -> TestResult { let x = 1; check!(x == 1, "x {x:?}"); Ok(()) }
fn uses_try() -> TestResult { thing().map_err(|e| fail(e))?; Ok(()) }
fn delegates() -> TestResult { let t = 3; helper(t, "}") }
fn helper(t: u32, _: &str) -> TestResult { check_eq!(t, 3); Ok(()) }
fn always_ok() -> TestResult { let v: Vec<u8> = Vec::new(); core::hint::black_box(v); Ok(()) }
fn discards() -> TestResult { let _ = helper(1, "x"); Ok(()) }
fn check_in_comment() -> TestResult {
    // check!(false);
    let s = "check!(false) Err( ?";
    /* skip!("no") */
    let _ = s;
    Ok(())
}
"#;
    let dir = std::env::temp_dir().join(format!("virtus-scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("t.rs"), src).unwrap();
    let (bad, count) = tests_without_failure_path(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(count, 7);
    let named: Vec<&str> = bad
        .iter()
        .map(|line| line.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        named,
        ["always_ok", "discards", "check_in_comment", "missing"],
        "{bad:#?}"
    );
    assert!(bad[3].contains("`not_here` is not defined"), "{}", bad[3]);
}

#[test]
fn try_operator_and_tail_calls() {
    assert!(has_try_operator("let x = f()?;"));
    assert!(has_try_operator("a.b[0]?.c"));
    assert!(!has_try_operator("fn f<T: ?Sized>()"));
    assert_eq!(tail_call(" check_it(a, b) ").as_deref(), Some("check_it"));
    assert_eq!(
        tail_call("let a = 1;\n return go(a)").as_deref(),
        Some("go")
    );
    assert_eq!(tail_call("x(); Ok(())").as_deref(), Some("Ok"));
    assert_eq!(tail_call("if a { b() } else { c() }"), None);
}
