//! Negative checks: proof that the runner and the kernel's harness catch
//! what they claim to catch. Each check makes the kernel misbehave on
//! purpose (`crash=`, `inject=`) or asks for its test list, and says what
//! must be observed.

mod assess;
use assess::{assess_crash, assess_injection, assess_list};
mod modes;

use std::time::Duration;

use crate::expect;
use crate::matrix;
use crate::qemu::Boot;
use crate::red::RedCase;
use crate::symbols::Frame;

pub use modes::{CRASH_LIMIT, Crash, Injection};
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

    /// CPUs of the machine the check boots.
    pub fn cpus(self) -> u32 {
        match self {
            Check::Crash(crash) => crash.cpus(),
            _ => 1,
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

#[cfg(test)]
mod tests;
