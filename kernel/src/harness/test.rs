//! What a test is, and the small vocabulary tests use to say why they failed.

use alloc::string::String;

/// One in-kernel test: a name (KTAP test names are single words) and the
/// function that runs it. Tests run in the order they are registered.
#[derive(Clone, Copy)]
pub struct Test {
    /// Unique name, `module_what` style, used by `test=<substring>`.
    pub name: &'static str,
    /// Runs the test; `Err` says why it failed or why it could not run.
    pub run: fn() -> TestResult,
}

/// Why a test did not pass.
#[derive(Debug)]
pub enum TestError {
    /// The test ran and something it checked was wrong.
    Fail(String),
    /// The test could not run on this machine (e.g. the feature it tests is
    /// absent). Reported as KTAP `# SKIP`, counted apart, never as a pass.
    Skip(String),
}

/// Result of one test.
pub type TestResult = Result<(), TestError>;

/// Fail the current test with a formatted message unless `cond` holds.
#[macro_export]
macro_rules! check {
    ($cond:expr) => {
        if !$cond {
            return Err($crate::harness::TestError::Fail(alloc::format!(
                "check failed: {} ({}:{})", stringify!($cond), file!(), line!()
            )));
        }
    };
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err($crate::harness::TestError::Fail(alloc::format!(
                "{} ({}:{})", alloc::format!($($fmt)+), file!(), line!()
            )));
        }
    };
}

/// Fail the current test unless `left == right`, showing both values.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    return Err($crate::harness::TestError::Fail(alloc::format!(
                        "{} == {} failed: left {:?}, right {:?} ({}:{})",
                        stringify!($left),
                        stringify!($right),
                        l,
                        r,
                        file!(),
                        line!()
                    )));
                }
            }
        }
    };
}

/// Skip the current test with a reason.
#[macro_export]
macro_rules! skip {
    ($($fmt:tt)+) => {
        return Err($crate::harness::TestError::Skip(alloc::format!($($fmt)+)))
    };
}
