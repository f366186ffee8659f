//! The grammar of one console line of the kernel's KTAP v1 report.
//!
//! The serial console carries more than KTAP: the boot log (`[ INFO] ...`)
//! and whatever a crashing kernel manages to print are interleaved with it.
//! So a line that does not match the grammar is not an error, it is
//! [`KtapLine::Other`]; deciding whether the report as a whole holds together
//! is the job of [`crate::transcript`] and [`crate::verdict`].

/// What one console line says, as far as the report is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KtapLine {
    /// `KTAP version 1`: the suite starts.
    Version(u32),
    /// `1..N`: the suite announces how many results will follow.
    Plan(usize),
    /// `ok 3 name` / `not ok 3 name # ...`.
    Result(ResultLine),
    /// `# running: name`: the harness is about to run this test. Never a
    /// result by itself, but it is how we know where a crash or hang struck.
    Running(String),
    /// `# test: name`: one entry of the `test=list` listing.
    Listed(String),
    /// `N passed, N failed[, N skipped]`: the kernel's own tally, printed
    /// last. Its absence is how a crash mid-suite is recognised.
    Summary(Summary),
    /// `# error: no test matches the filter "F"` (or `no benchmark`): the
    /// kernel's selection was empty, which is an error, never an empty pass.
    NoMatch(String),
    /// `# end of run`: printed after the summary on the kernel's clean path
    /// only, just before it powers off.
    EndOfRun,
    /// `# state unsafe after abort: <lock> held by aborted test <name>`:
    /// an aborted test left a kernel lock held that cannot be released, so
    /// the kernel stopped the run rather than deadlock in the next test.
    UnsafeAfterAbort { lock: String, test: String },
    /// `# text`: a diagnostic, which belongs to the result that follows it.
    Diagnostic(String),
    /// Anything else: boot log, panic messages, noise.
    Other,
}

/// One KTAP test result line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultLine {
    /// `ok` (true) or `not ok` (false).
    pub ok: bool,
    /// The test number, which KTAP requires to count up from 1.
    pub number: usize,
    /// The test name; empty if the line carried none.
    pub name: String,
    /// `Some(reason)` for `# SKIP reason` (the reason may be empty).
    pub skip: Option<String>,
    /// Any other directive (`# TIMEOUT ...`, `# TODO`), verbatim.
    pub directive: Option<String>,
}

/// How a single test ended, reduced to what the verdict counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
}

impl ResultLine {
    /// `ok ... # SKIP` is a skip. `not ok ... # SKIP` stays a failure: a
    /// `not ok` line must fail the run whatever directive rides along.
    pub fn outcome(&self) -> Outcome {
        match (self.ok, &self.skip) {
            (false, _) => Outcome::Fail,
            (true, Some(_)) => Outcome::Skip,
            (true, None) => Outcome::Pass,
        }
    }

    /// The name to show a human, even for an anonymous result.
    pub fn display_name(&self) -> String {
        if self.name.is_empty() {
            format!("#{}", self.number)
        } else {
            self.name.clone()
        }
    }
}

/// The kernel's final tally line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    /// Zero when the kernel left the `, N skipped` part out.
    pub skipped: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

impl KtapLine {
    /// Classifies one line (without its line terminator). Lines are cleaned
    /// with [`clean`] first, so colour codes or a stray `\r` from the serial
    /// port do not hide a result.
    pub fn parse(raw: &str) -> KtapLine {
        let line = clean(raw);
        let line = line.as_str();
        if let Some(version) = line.strip_prefix("KTAP version ") {
            return version
                .trim()
                .parse()
                .map_or(KtapLine::Other, KtapLine::Version);
        }
        if let Some(count) = line.strip_prefix("1..") {
            return count.trim().parse().map_or(KtapLine::Other, KtapLine::Plan);
        }
        if let Some(rest) = line.strip_prefix("not ok ") {
            return parse_result(false, rest);
        }
        if let Some(rest) = line.strip_prefix("ok ") {
            return parse_result(true, rest);
        }
        // The summary is checked before diagnostics so that a `# `-prefixed
        // tally (some harnesses print one) still counts as the tally.
        if let Some(summary) = parse_summary(line.strip_prefix("# ").unwrap_or(line)) {
            return KtapLine::Summary(summary);
        }
        if let Some(name) = line.strip_prefix("# running:") {
            return KtapLine::Running(name.trim().to_string());
        }
        if line == END_OF_RUN {
            return KtapLine::EndOfRun;
        }
        if let Some(filter) = parse_no_match(line) {
            return KtapLine::NoMatch(filter);
        }
        if let Some((lock, test)) = parse_unsafe_after_abort(line) {
            return KtapLine::UnsafeAfterAbort { lock, test };
        }
        if let Some(name) = line.strip_prefix("# test:") {
            return KtapLine::Listed(name.trim().to_string());
        }
        if let Some(text) = line.strip_prefix('#') {
            return KtapLine::Diagnostic(text.strip_prefix(' ').unwrap_or(text).to_string());
        }
        KtapLine::Other
    }
}

/// The kernel's end-of-run marker (`kernel/src/harness/mod.rs`).
pub const END_OF_RUN: &str = "# end of run";

/// The filter of `# error: no test matches the filter "F"` (or benchmark).
fn parse_no_match(line: &str) -> Option<String> {
    let rest = line.strip_prefix("# error: no ")?;
    let (_, quoted) = rest.split_once(" matches the filter ")?;
    let filter = quoted.strip_prefix('"')?.strip_suffix('"')?;
    Some(filter.to_string())
}

/// The lock and the test of `# state unsafe after abort: <lock> held by
/// aborted test <name>` (`kernel/src/harness/mod.rs`).
fn parse_unsafe_after_abort(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("# state unsafe after abort: ")?;
    let (lock, test) = rest.rsplit_once(" held by aborted test ")?;
    (!lock.is_empty() && !test.is_empty()).then(|| (lock.to_string(), test.to_string()))
}

/// Parses what follows `ok ` / `not ok `: `<number> [<name>] [# <directive>]`.
fn parse_result(ok: bool, rest: &str) -> KtapLine {
    let (number, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let Ok(number) = number.parse() else {
        return KtapLine::Other;
    };
    let (name, directive) = match rest.split_once('#') {
        Some((name, directive)) => (name, Some(directive.trim())),
        None => (rest, None),
    };
    let mut result = ResultLine {
        ok,
        number,
        name: name.trim().to_string(),
        skip: None,
        directive: None,
    };
    if let Some(directive) = directive {
        match directive.get(..4) {
            Some(word) if word.eq_ignore_ascii_case("skip") => {
                result.skip = Some(directive[4..].trim().to_string());
            }
            _ => result.directive = Some(directive.to_string()),
        }
    }
    KtapLine::Result(result)
}

/// Parses `N passed, N failed` with an optional `, N skipped`.
fn parse_summary(line: &str) -> Option<Summary> {
    let mut parts = line.split(", ");
    let passed = count_of(parts.next()?, "passed")?;
    let failed = count_of(parts.next()?, "failed")?;
    let skipped = match parts.next() {
        Some(part) => count_of(part, "skipped")?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(Summary {
        passed,
        failed,
        skipped,
    })
}

/// Parses `N <word>`.
fn count_of(part: &str, word: &str) -> Option<usize> {
    let (count, rest) = part.trim().split_once(' ')?;
    (rest == word).then_some(())?;
    count.parse().ok()
}

/// Removes what a terminal would not show: ANSI escape sequences (a
/// colouring logger), other control characters (`\r` from a CRLF serial
/// line, NULs from a UART that was just reset) and trailing blanks.
pub fn clean(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters... final byte in @..~.
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        if c == '\t' || !c.is_control() {
            out.push(c);
        }
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
#[path = "ktap_tests.rs"]
mod tests;
