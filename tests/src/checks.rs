//! Negative checks: proof that the runner and the kernel's harness catch
//! what they claim to catch. Each check makes the kernel misbehave on
//! purpose (`crash=`, `inject=`) or asks for its test list, and says what
//! must be observed.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::exit::{KernelExit, Termination};
use crate::expect;
use crate::ktap::Outcome;
use crate::matrix;
use crate::qemu::Boot;
use crate::red::RedCase;
use crate::symbols::{self, Frame};
use crate::table;
use crate::verdict::Reason;

/// A deliberate crash must be reported and end the run this quickly: a
/// crash handler that takes longer is probably itself faulting or waiting.
pub const CRASH_LIMIT: Duration = Duration::from_secs(10);

/// A CPU fault or panic provoked at boot with `crash=<mode>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    PageFault,
    GeneralProtection,
    InvalidOpcode,
    DivideError,
    StackOverflow,
    Panic,
}

impl Crash {
    pub const ALL: [Crash; 6] = [
        Crash::PageFault,
        Crash::GeneralProtection,
        Crash::InvalidOpcode,
        Crash::DivideError,
        Crash::StackOverflow,
        Crash::Panic,
    ];

    /// The `crash=` value on the kernel command line; the text the
    /// kernel's diagnostic must contain (the fault's own name, so a generic
    /// "something went wrong" does not pass); and the kernel function the
    /// crash strikes in (kernel/src/tests/fault_tests.rs), which the runner
    /// must name from the report's `RIP`, proof that crash reports name
    /// functions: none for a panic, no CPU exception, which prints its
    /// source line itself.
    fn facts(self) -> (&'static str, &'static str, Option<&'static str>) {
        match self {
            Crash::PageFault => ("pagefault", "page fault", Some("read_address")),
            Crash::GeneralProtection => ("gpf", "general protection", Some("read_address")),
            Crash::InvalidOpcode => ("ud", "invalid opcode", Some("undefined_instruction")),
            Crash::DivideError => ("divide", "divide error", Some("divide_by_zero")),
            Crash::StackOverflow => ("overflow", "stack overflow", Some("recurse")),
            Crash::Panic => ("panic", "panicked", None),
        }
    }

    pub fn mode(self) -> &'static str {
        self.facts().0
    }

    pub fn symptom(self) -> &'static str {
        self.facts().1
    }

    pub fn function(self) -> Option<&'static str> {
        self.facts().2
    }

    /// Checks the function named at the fault (`site`, from
    /// [`crate::symbols::Symbols::fault_site`]) and says it in `observed`.
    pub fn assess_site(self, site: Option<&[Frame]>, assessment: &mut Assessment) {
        let Some(expected) = self.function() else {
            return;
        };
        match site.and_then(symbols::own_function) {
            Some(named) => {
                assessment.observed.push_str(&format!(", RIP in {named}"));
                if named != expected {
                    assessment
                        .problems
                        .push(format!("RIP named {named}, not {expected}"));
                }
            }
            None => assessment.problems.push(format!(
                "the fault's RIP was not named (expected {expected})"
            )),
        }
    }
}

/// A deliberately broken test added to the suite with `inject=<mode>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injection {
    Fail,
    Panic,
    /// Never returns: the harness's watchdog must stop it.
    Hang,
    /// Never returns and holds the console lock: the watchdog must stop it
    /// and the harness release the lock, or the next line it prints
    /// deadlocks. (Its counterpart, a lock that cannot be released, is
    /// [`RedCase::UnsafeAfterAbort`].)
    HangLocked,
}

impl Injection {
    pub const ALL: [Injection; 4] = [
        Injection::Fail,
        Injection::Panic,
        Injection::Hang,
        Injection::HangLocked,
    ];

    pub fn mode(self) -> &'static str {
        match self {
            Injection::Fail => "fail",
            Injection::Panic => "panic",
            Injection::Hang => "hang",
            Injection::HangLocked => "hang_locked",
        }
    }

    /// What the kernel must say about the injected test besides `not ok`.
    pub fn symptom(self) -> Option<&'static str> {
        match self {
            Injection::HangLocked => Some("released the console lock"),
            _ => None,
        }
    }

    /// The name the kernel gives the injected test.
    pub fn test_name(self) -> String {
        format!("injected_{}", self.mode())
    }
}

/// One negative check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    List,
    Crash(Crash),
    Inject(Injection),
    /// A run that must be red for its own reason (the failing test is
    /// covered by [`Injection::Fail`], with more checks).
    Red(RedCase),
}

/// What a check observed, and whether that was what it expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    pub observed: String,
    /// Empty if the check behaved.
    pub problems: Vec<String>,
}

impl Assessment {
    pub fn behaved(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Check {
    /// Every check, cheapest first so that a broken image shows quickly.
    pub fn all() -> Vec<Check> {
        let mut checks = vec![Check::List];
        checks.extend(Crash::ALL.map(Check::Crash));
        checks.extend(Injection::ALL.map(Check::Inject));
        checks.extend(
            [
                RedCase::NoMatch,
                RedCase::CrashAfterSummary,
                RedCase::UnsafeAfterAbort,
            ]
            .map(Check::Red),
        );
        checks
    }

    /// The check a kernel command line amounts to, if any: lets `boot`
    /// judge `test=list` and `crash=` runs by what they are meant to do.
    pub fn for_cmdline(append: &str) -> Option<Check> {
        append
            .split_whitespace()
            .find_map(|word| match word.split_once('=')? {
                ("test", "list") => Some(Check::List),
                ("crash", mode) => Crash::ALL
                    .into_iter()
                    .find(|c| c.mode() == mode)
                    .map(Check::Crash),
                _ => None,
            })
    }

    pub fn name(self) -> String {
        match self {
            Check::List => "test=list".to_string(),
            Check::Crash(crash) => format!("crash={}", crash.mode()),
            Check::Inject(injection) => format!("inject={}", injection.mode()),
            Check::Red(case) => case.append(),
        }
    }

    /// The kernel command line that provokes the behaviour.
    pub fn append(self) -> String {
        match self {
            Check::List => "test=list".to_string(),
            Check::Crash(crash) => format!("crash={} loglevel=info", crash.mode()),
            Check::Inject(injection) => {
                format!("{} inject={}", matrix::SUITE_CMDLINE, injection.mode())
            }
            Check::Red(case) => format!("{} {}", matrix::SUITE_CMDLINE, case.append()),
        }
    }

    /// The hard limit for the boot. For crashes it is well past
    /// [`CRASH_LIMIT`], so that a slow crash is reported as slow (with its
    /// time) rather than just as a timeout.
    pub fn timeout(self) -> Duration {
        match self {
            Check::List => Duration::from_secs(60),
            Check::Crash(_) => CRASH_LIMIT * 2,
            Check::Inject(_) | Check::Red(_) => matrix::SUITE_TIMEOUT,
        }
    }

    pub fn expectation(self) -> String {
        match self {
            Check::List => format!(
                "the {} expected tests, each once, exit 33",
                expect::expected_tests(expect::Leg::Native).len()
            ),
            Check::Crash(crash) => {
                let site = crash.function().map(|f| format!(" in {f}"));
                format!(
                    "\"{}\"{}, exit 37 in <= {}s",
                    crash.symptom(),
                    site.unwrap_or_default(),
                    CRASH_LIMIT.as_secs()
                )
            }
            Check::Inject(injection) => {
                format!("not ok {}, summary, exit 35", injection.test_name())
            }
            Check::Red(case) => case.expectation(),
        }
    }

    /// Judges the boot; `site` is where a CPU exception struck, named
    /// from the image's symbols (crash checks require the right function).
    pub fn assess(self, boot: &Boot, site: Option<&[Frame]>) -> Assessment {
        match self {
            Check::List => assess_list(boot),
            Check::Crash(crash) => {
                let mut assessment = assess_crash(crash, boot);
                crash.assess_site(site, &mut assessment);
                assessment
            }
            Check::Inject(injection) => assess_injection(injection, boot),
            Check::Red(case) => {
                case.assess(&boot.verdict(), boot.transcript.summary.is_some(), site)
            }
        }
    }
}

fn assess_list(boot: &Boot) -> Assessment {
    let listed = &boot.transcript.listed;
    let mut problems = Vec::new();
    // The runner's own list (tests/expected-tests.txt): fewer means tests
    // were lost (a registration went missing), not that the suite is lean.
    let missing: Vec<&str> = expect::expected_tests(expect::Leg::Native)
        .into_iter()
        .filter(|name| !listed.iter().any(|l| l == name))
        .collect();
    if !missing.is_empty() {
        let (n, names) = (missing.len(), missing.join(", "));
        problems.push(format!("{n} expected tests not listed: {names}"));
    }
    let mut seen = BTreeSet::new();
    let repeated: BTreeSet<&str> = listed
        .iter()
        .filter(|name| !seen.insert(*name))
        .map(String::as_str)
        .collect();
    if !repeated.is_empty() {
        let names: Vec<&str> = repeated.into_iter().collect();
        problems.push(format!("listed more than once: {}", names.join(", ")));
    }
    expect_exit(boot, KernelExit::Success, &mut problems);
    Assessment {
        observed: format!("{} tests listed, {}", listed.len(), boot.termination),
        problems,
    }
}

fn assess_crash(crash: Crash, boot: &Boot) -> Assessment {
    let mut problems = Vec::new();
    if !boot.transcript.mentions(crash.symptom()) {
        problems.push(format!("no console line mentions \"{}\"", crash.symptom()));
    }
    expect_exit(boot, KernelExit::Crash, &mut problems);
    if boot.termination.kernel_exit().is_some() && boot.elapsed > CRASH_LIMIT {
        let (took, limit) = (table::seconds(boot.elapsed), CRASH_LIMIT.as_secs());
        problems.push(format!("took {took} (limit {limit}s)"));
    }
    Assessment {
        observed: ended(boot),
        problems,
    }
}

fn assess_injection(injection: Injection, boot: &Boot) -> Assessment {
    let name = injection.test_name();
    let transcript = &boot.transcript;
    let mut problems = Vec::new();
    let report = transcript.reports.iter().find(|r| r.result.name == name);
    match report.map(|r| r.result.outcome()) {
        None => problems.push(format!("{name} has no result line")),
        Some(Outcome::Fail) => {}
        Some(_) => problems.push(format!("{name} was reported ok")),
    }
    if let (Some(symptom), Some(report)) = (injection.symptom(), report)
        && !report.diagnostics.iter().any(|d| d.contains(symptom))
    {
        problems.push(format!("{name}'s diagnostics do not say \"{symptom}\""));
    }
    if transcript.summary.is_none() {
        problems.push("no summary line: the run did not continue to the end".to_string());
    }
    expect_exit(boot, KernelExit::Failure, &mut problems);
    let verdict = boot.verdict();
    if verdict.passed() {
        problems.push("the run's verdict is PASS".to_string());
    }
    let named = |reason: &Reason| matches!(reason, Reason::TestFailed { name: failed, .. } if *failed == name);
    if report.is_some_and(|r| r.result.outcome() == Outcome::Fail) && !verdict.has(named) {
        problems.push(format!("the verdict does not name {name}"));
    }
    // Anything but failed tests (a crash, a lost result) means the harness
    // did not contain the broken test.
    let contained = |reason: &Reason| matches!(reason, Reason::TestFailed { .. });
    problems.extend(
        verdict
            .failures
            .iter()
            .map(|f| &f.reason)
            .filter(|r| !contained(r))
            .map(|r| r.to_string()),
    );
    let mut observed = ended(boot);
    if let Some(r) = report {
        let ok = if r.result.ok { "ok" } else { "not ok" };
        observed = format!("{ok} {} {name}, {observed}", r.result.number);
    }
    Assessment { observed, problems }
}

fn ended(boot: &Boot) -> String {
    let (end, took) = (boot.termination, table::seconds(boot.elapsed));
    format!("{end} after {took}")
}

fn expect_exit(boot: &Boot, expected: KernelExit, problems: &mut Vec<String>) {
    match boot.termination {
        Termination::Exited(status) if status == expected.qemu_status() => {}
        other => problems.push(format!("{other}, expected exit {}", expected.qemu_status())),
    }
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
