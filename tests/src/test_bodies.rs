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

use std::collections::HashMap;
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Block, Expr, Stmt};

use crate::sources::{Registration, Source, named, parse, rust_files};

/// Macros that end a test with a failure (or a skip).
const FAILING_MACROS: &[&str] = &[
    "check",
    "check_eq",
    "skip",
    "panic",
    "assert",
    "assert_eq",
    "assert_ne",
    "unreachable",
];

/// Whether `body` has a failure path. `fns` are the file's functions, for
/// the helpers a body ends by calling; `seen` stops the recursion through
/// them.
fn can_fail(body: &Block, fns: &HashMap<String, &Block>, seen: &mut Vec<String>) -> bool {
    let mut finder = FailurePath(false);
    finder.visit_block(body);
    if finder.0 {
        return true;
    }
    let Some(callee) = tail_call(body) else {
        return false;
    };
    if seen.contains(&callee) {
        return false;
    }
    seen.push(callee.clone());
    fns.get(&callee)
        .is_some_and(|helper| can_fail(helper, fns, seen))
}

/// Finds a failing macro, an `Err(...)` or a `?` anywhere in what it visits.
struct FailurePath(bool);

impl Visit<'_> for FailurePath {
    fn visit_macro(&mut self, m: &syn::Macro) {
        if FAILING_MACROS.iter().any(|name| named(&m.path, name)) {
            self.0 = true;
        } else if let Ok(args) =
            m.parse_body_with(Punctuated::<Expr, syn::Token![,]>::parse_terminated)
        {
            // Other macros' arguments (`format!`, `vec!`, ...) are code too.
            args.iter().for_each(|arg| self.visit_expr(arg));
        }
    }

    fn visit_expr_try(&mut self, _: &syn::ExprTry) {
        self.0 = true;
    }

    fn visit_expr_call(&mut self, call: &syn::ExprCall) {
        self.0 |= matches!(&*call.func, Expr::Path(p) if named(&p.path, "Err"));
        visit::visit_expr_call(self, call);
    }

    /// An `Err(..)` matched counts too (`if let Err(e) = ...`), as it did
    /// when this check read the text.
    fn visit_pat_tuple_struct(&mut self, pat: &syn::PatTupleStruct) {
        self.0 |= named(&pat.path, "Err");
        visit::visit_pat_tuple_struct(self, pat);
    }
}

/// The function the body's last expression calls, if it is a plain call
/// `name(...)` (with or without `return`): the test's result is then that
/// function's.
fn tail_call(body: &Block) -> Option<String> {
    let tail = match body.stmts.last()? {
        Stmt::Expr(Expr::Return(r), None) => r.expr.as_deref()?,
        Stmt::Expr(tail, None) => tail,
        _ => return None,
    };
    if let Expr::Call(call) = tail
        && let Expr::Path(callee) = &*call.func
    {
        return callee.path.get_ident().map(ToString::to_string);
    }
    None
}

/// The tests `file` registers that have no failure path, as "name (path):
/// why", and how many it registers.
fn without_failure_path(file: &syn::File, path: &str) -> (Vec<String>, usize) {
    let source = Source::of(file);
    let judge = |r: &Registration| match source.fns.get(&r.run) {
        None => Some(format!(
            "{} ({path}): its run function `{}` is not defined in the same file",
            r.name, r.run
        )),
        Some(body) if !can_fail(body, &source.fns, &mut Vec::new()) => Some(format!(
            "{} ({path}): `{}` has no check!, check_eq!, skip!, Err, ? or panic: \
             it cannot fail",
            r.name, r.run
        )),
        Some(_) => None,
    };
    let bad = source.registrations.iter().filter_map(judge).collect();
    (bad, source.registrations.len())
}

#[test]
fn every_kernel_test_can_fail() {
    let mut bad = Vec::new();
    for dir in ["kernel/src", "native-backend/src", "pv-backend/src"] {
        let mut count = 0;
        for file in rust_files(&crate::workspace().join(dir)) {
            let path = file.strip_prefix(crate::workspace()).unwrap_or(&file);
            let (found, n) = without_failure_path(&parse(&file), &path.display().to_string());
            bad.extend(found);
            count += n;
        }
        assert!(
            count > 0,
            "found no `Test {{ name: ... }}` in {dir}: has the registration changed shape?"
        );
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
    let src = r##"
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
    let _ = (s, '?', r#"Err("x") check!(")"#);
    Ok(())
}
"##;
    let (bad, count) = without_failure_path(&syn::parse_file(src).unwrap(), "t.rs");
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
    let block = |code: &str| syn::parse_str::<Block>(&format!("{{ {code} }}")).unwrap();
    let fails = |code: &str| {
        let mut finder = FailurePath(false);
        finder.visit_block(&block(code));
        finder.0
    };
    assert!(fails("let x = f()?;"));
    assert!(fails("a.b[0]?.c"));
    assert!(fails("log!(\"{}\", f()?)"));
    assert!(!fails("fn f<T: ?Sized>() {}"));
    let tail = |code: &str| tail_call(&block(code));
    assert_eq!(tail(" check_it(a, b) ").as_deref(), Some("check_it"));
    assert_eq!(tail("let a = 1;\n return go(a)").as_deref(), Some("go"));
    assert_eq!(tail("x(); Ok(())").as_deref(), Some("Ok"));
    assert_eq!(tail("if a { b() } else { c() }"), None);
}
