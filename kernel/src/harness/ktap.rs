//! KTAP v1 output (the format of Linux's kernel tests): formatting only,
//! host-tested. See Documentation/dev-tools/ktap.rst in Linux.

use core::fmt::{self, Write};

/// Outcome of one test, as KTAP reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// `ok N name`
    Pass,
    /// `not ok N name`
    Fail,
    /// `ok N name # SKIP reason`
    Skip(&'a str),
}

/// Running totals for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Tests that passed.
    pub passed: u32,
    /// Tests that failed (including panics, faults, timeouts).
    pub failed: u32,
    /// Tests skipped.
    pub skipped: u32,
}

impl Totals {
    /// Count one outcome.
    pub fn record(&mut self, outcome: Outcome<'_>) {
        match outcome {
            Outcome::Pass => self.passed += 1,
            Outcome::Fail => self.failed += 1,
            Outcome::Skip(_) => self.skipped += 1,
        }
    }
}

/// `KTAP version 1` and the plan line.
pub fn header(out: &mut impl Write, count: usize) -> fmt::Result {
    writeln!(out, "KTAP version 1")?;
    writeln!(out, "1..{count}")
}

/// A diagnostic: every line of `text` prefixed with `# `.
pub fn diagnostic(out: &mut impl Write, text: &str) -> fmt::Result {
    for line in text.lines() {
        writeln!(out, "# {line}")?;
    }
    Ok(())
}

/// The result line of test `number` (1-based).
pub fn result(
    out: &mut impl Write,
    number: usize,
    name: &str,
    outcome: Outcome<'_>,
) -> fmt::Result {
    match outcome {
        Outcome::Pass => writeln!(out, "ok {number} {name}"),
        Outcome::Fail => writeln!(out, "not ok {number} {name}"),
        Outcome::Skip(reason) => {
            let reason = reason.lines().next().unwrap_or("");
            writeln!(out, "ok {number} {name} # SKIP {reason}")
        }
    }
}

/// The closing line: `N passed, N failed` (and `, N skipped` if any).
pub fn summary(out: &mut impl Write, totals: Totals) -> fmt::Result {
    write!(out, "{} passed, {} failed", totals.passed, totals.failed)?;
    if totals.skipped > 0 {
        write!(out, ", {} skipped", totals.skipped)?;
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: impl FnOnce(&mut String) -> fmt::Result) -> String {
        let mut s = String::new();
        f(&mut s).unwrap();
        s
    }

    #[test]
    fn header_and_plan() {
        assert_eq!(render(|o| header(o, 3)), "KTAP version 1\n1..3\n");
    }

    #[test]
    fn results() {
        assert_eq!(render(|o| result(o, 1, "a", Outcome::Pass)), "ok 1 a\n");
        assert_eq!(render(|o| result(o, 2, "b", Outcome::Fail)), "not ok 2 b\n");
        assert_eq!(
            render(|o| result(o, 3, "c", Outcome::Skip("no x2APIC\nmore"))),
            "ok 3 c # SKIP no x2APIC\n"
        );
    }

    #[test]
    fn diagnostics_prefix_every_line() {
        assert_eq!(render(|o| diagnostic(o, "one\ntwo")), "# one\n# two\n");
    }

    #[test]
    fn summary_mentions_skips_only_when_present() {
        let mut t = Totals::default();
        t.record(Outcome::Pass);
        t.record(Outcome::Fail);
        assert_eq!(render(|o| summary(o, t)), "1 passed, 1 failed\n");
        t.record(Outcome::Skip("x"));
        assert_eq!(render(|o| summary(o, t)), "1 passed, 1 failed, 1 skipped\n");
    }
}
