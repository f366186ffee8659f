//! The in-kernel test harness: runs registered tests in order, each inside a
//! catch point with a watchdog, and reports KTAP on the console.
//!
//! A test that panics, takes an unexpected CPU exception or outlives the
//! watchdog is reported `not ok` with the reason, and the run goes on,
//! unless it left behind a kernel lock that cannot be released: then the
//! run stops with "state unsafe after abort" ([`abort`]).

#[cfg(target_os = "none")]
pub mod abort;
pub mod ktap;
mod test;

pub use test::{Test, TestError, TestResult};

#[cfg(target_os = "none")]
mod runner;
#[cfg(target_os = "none")]
pub use runner::{MAX_WATCHDOG_NS, WATCHDOG_NS, all_tests, allow_time, list, run};

/// Whether `filter` (from `test=`, `bench=` or the shell) selects `name`:
/// `None`, `all` and the empty string select everything, anything else
/// selects the names that contain it.
pub fn selects(filter: Option<&str>, name: &str) -> bool {
    match filter {
        None | Some("all") | Some("") => true,
        Some(f) => name.contains(f),
    }
}

/// A filter that selected nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoMatch;

/// The line that says a filter selected nothing. The host runner matches
/// it (`tests/src/ktap.rs`), so its shape is part of the report format.
pub fn no_match_line(
    out: &mut impl core::fmt::Write,
    what: &str,
    filter: &str,
) -> core::fmt::Result {
    writeln!(out, "# error: no {what} matches the filter \"{filter}\"")
}

/// The line that stops a run whose aborted test left `lock` held (see
/// `abort`). The host runner matches it (`tests/src/ktap.rs`).
pub fn unsafe_after_abort_line(
    out: &mut impl core::fmt::Write,
    lock: &str,
    test: &str,
) -> core::fmt::Result {
    writeln!(
        out,
        "# state unsafe after abort: {lock} held by aborted test {test}"
    )
}

/// The last line of a run that ended on the clean path, printed after the
/// summary and just before the power-off. A crash after the summary (or a
/// hang) leaves it out, which is how the host runner tells the two apart
/// where the exit status cannot (the native image under Xen HVM powers off
/// through ACPI whatever happened).
pub const END_OF_RUN: &str = "# end of run";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_and_empty_select_everything() {
        for f in [None, Some("all"), Some("")] {
            assert!(selects(f, "time_clock_monotonic"));
        }
        assert!(selects(Some("clock"), "time_clock_monotonic"));
        assert!(!selects(Some("zzz"), "time_clock_monotonic"));
    }

    #[test]
    fn unsafe_line_names_the_lock_and_the_test() {
        let mut s = alloc::string::String::new();
        unsafe_after_abort_line(&mut s, "timer lock", "t").unwrap();
        assert_eq!(
            s,
            "# state unsafe after abort: timer lock held by aborted test t\n"
        );
    }

    #[test]
    fn no_match_line_names_the_filter() {
        let mut s = alloc::string::String::new();
        no_match_line(&mut s, "test", "zzz").unwrap();
        assert_eq!(s, "# error: no test matches the filter \"zzz\"\n");
    }
}
