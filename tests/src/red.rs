//! Runs that must turn red, each for its own reason: proof, in every leg,
//! that the verdict cannot be fooled by a failing test, a filter that
//! selects nothing, or a crash after a clean-looking report.
//!
//! Natively they are among `virtus-run checks`; under Xen, `xen-suite
//! --red` and `xen-hvm-suite --red` run them all in one bed boot.

use crate::checks::{Assessment, Crash};
use crate::symbols::Frame;
use crate::verdict::{Reason, Verdict};

/// A filter no test name contains.
pub const NO_SUCH_TEST: &str = "zzz_no_such_test";

/// One run that must fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedCase {
    /// `inject=fail`: a deliberately failing test, named in the verdict.
    FailingTest,
    /// `test=<nothing matches>`: an error naming the filter, never
    /// `0 passed, 0 failed` as a pass.
    NoMatch,
    /// `crash=after-summary`: every test passes, then the kernel panics
    /// where the end-of-run marker would be.
    CrashAfterSummary,
    /// `xen.refuse_shutdown` (PVH only): the kernel acts as if Xen refused
    /// its power-off; the fallback must end the domain as anything but a
    /// power-off.
    RefusedShutdown,
    /// `inject=panic_locked`: a test panics holding the timer lock; the
    /// kernel must stop the run naming the lock and the test, where it
    /// used to spin forever (interrupts off) in the next use of the lock.
    UnsafeAfterAbort,
    /// `crash=pagefault`: a CPU exception at boot. The run must end as a
    /// crash, and the runner must name the function the kernel's report
    /// gives the `RIP` of (natively this is `virtus-run checks`' own
    /// `crash=pagefault`).
    PageFault,
}

/// The lock and the test of [`RedCase::UnsafeAfterAbort`] (kernel/src/tests/mod.rs).
pub const LOCKED_PANIC: (&str, &str) = ("timer lock", "injected_panic_locked");

impl RedCase {
    pub const ALL: [RedCase; 6] = [
        Self::FailingTest,
        Self::NoMatch,
        Self::CrashAfterSummary,
        Self::RefusedShutdown,
        Self::UnsafeAfterAbort,
        Self::PageFault,
    ];

    /// The crash the case provokes, whose function must be named.
    pub fn crash(self) -> Option<Crash> {
        (self == Self::PageFault).then_some(Crash::PageFault)
    }

    /// Whether the case applies to a Xen guest of this kind (the refused
    /// shutdown is pv-backend's own path).
    pub fn applies_to_pvh_only(self) -> bool {
        self == Self::RefusedShutdown
    }

    /// A short name, usable as a Xen domain name.
    pub fn name(self) -> &'static str {
        match self {
            Self::FailingTest => "red-inject-fail",
            Self::NoMatch => "red-no-match",
            Self::CrashAfterSummary => "red-late-crash",
            Self::RefusedShutdown => "red-refused-off",
            Self::UnsafeAfterAbort => "red-unsafe-abort",
            Self::PageFault => "red-pagefault",
        }
    }

    /// Added at the end of the suite's command line (the last `test=` wins).
    pub fn append(self) -> String {
        match self {
            Self::FailingTest => "inject=fail".to_string(),
            Self::NoMatch => format!("test={NO_SUCH_TEST}"),
            Self::CrashAfterSummary => "crash=after-summary".to_string(),
            Self::RefusedShutdown => "xen.refuse_shutdown".to_string(),
            Self::UnsafeAfterAbort => "inject=panic_locked".to_string(),
            Self::PageFault => format!("crash={}", Crash::PageFault.mode()),
        }
    }

    pub fn expectation(self) -> String {
        match self {
            Self::FailingTest => "FAIL naming injected_fail".to_string(),
            Self::NoMatch => format!("FAIL: the filter \"{NO_SUCH_TEST}\" matches no test"),
            Self::CrashAfterSummary => "summary, then FAIL: no end-of-run marker".to_string(),
            Self::RefusedShutdown => "all passed, then FAIL: not a poweroff".to_string(),
            Self::UnsafeAfterAbort => format!(
                "FAIL: state unsafe after abort ({} held by {})",
                LOCKED_PANIC.0, LOCKED_PANIC.1
            ),
            Self::PageFault => format!(
                "FAIL: not a clean end, RIP in {}",
                Crash::PageFault.function().unwrap_or("?")
            ),
        }
    }

    fn is_its_reason(self, reason: &Reason) -> bool {
        match self {
            Self::FailingTest => {
                matches!(reason, Reason::TestFailed { name, .. } if name == "injected_fail")
            }
            Self::NoMatch => {
                matches!(reason, Reason::NoTestMatched { filter } if filter == NO_SUCH_TEST)
            }
            Self::CrashAfterSummary => matches!(reason, Reason::NoEndMarker),
            Self::RefusedShutdown => {
                matches!(reason, Reason::GuestShutdown { reason, .. } if reason != "poweroff")
            }
            Self::UnsafeAfterAbort => matches!(
                reason,
                Reason::UnsafeAfterAbort { lock, test }
                    if (lock.as_str(), test.as_str()) == LOCKED_PANIC
            ),
            // Natively the exit status says crash; under Xen the PVH
            // kernel shuts down as crashed, and the native kernel under
            // HVM can only power off, before any summary.
            Self::PageFault => {
                matches!(
                    reason,
                    Reason::Crashed { .. } | Reason::HvmPoweroffWithoutSummary { .. }
                ) || matches!(reason, Reason::GuestShutdown { reason, .. } if reason != "poweroff")
            }
        }
    }

    /// Whether `verdict` failed, first for this case's own reason; `site`
    /// is where a CPU exception struck, named from the image's symbols.
    pub fn assess(self, verdict: &Verdict, summarized: bool, site: Option<&[Frame]>) -> Assessment {
        let mut problems = Vec::new();
        if verdict.passed() {
            problems.push("the verdict is PASS".to_string());
        } else if !verdict.has(|r| self.is_its_reason(r)) {
            let headline = verdict.headline();
            problems.push(format!("red, but not for its own reason: {headline}"));
        }
        if self == Self::CrashAfterSummary && !summarized {
            problems.push("no summary line: the crash came before the report".to_string());
        }
        // Its reason must come first: it explains the crash-like ending.
        if self == Self::UnsafeAfterAbort
            && !verdict
                .failures
                .first()
                .is_some_and(|f| self.is_its_reason(&f.reason))
        {
            problems.push(format!("not the headline: {}", verdict.headline()));
        }
        let mut assessment = Assessment {
            observed: verdict.headline(),
            problems,
        };
        if let Some(crash) = self.crash() {
            crash.assess_site(site, &mut assessment);
        }
        assessment
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Termination;
    use crate::transcript::Transcript;

    fn judge(console: &str, end: Termination) -> Verdict {
        crate::verdict::judge(&Transcript::from_console(console), end)
    }

    const PASSING: &str = "KTAP version 1\n1..1\nok 1 a\n1 passed, 0 failed\n";

    #[test]
    fn a_crash_after_the_summary_is_red_by_its_marker() {
        // Exit 33 as if nothing happened: only the missing marker tells.
        let verdict = judge(PASSING, Termination::Exited(33));
        let a = RedCase::CrashAfterSummary.assess(&verdict, true, None);
        assert!(a.behaved(), "{a:?}");
        let clean = format!("{PASSING}# end of run\n");
        let verdict = judge(&clean, Termination::Exited(33));
        assert!(verdict.passed(), "{verdict:?}");
        assert!(
            !RedCase::CrashAfterSummary
                .assess(&verdict, true, None)
                .behaved()
        );
    }

    #[test]
    fn no_match_is_named_before_anything_else() {
        let console =
            format!("# error: no test matches the filter \"{NO_SUCH_TEST}\"\n# end of run\n");
        let verdict = judge(&console, Termination::Exited(35));
        assert_eq!(
            verdict.headline(),
            format!("FAIL: the filter \"{NO_SUCH_TEST}\" matches no test (the kernel says so)")
        );
        assert!(RedCase::NoMatch.assess(&verdict, false, None).behaved());
    }

    #[test]
    fn a_page_fault_is_red_as_a_crash_and_named() {
        let crashed = Verdict {
            failures: vec![crate::verdict::bare(Reason::GuestShutdown {
                reason: "crash".into(),
                at: crate::reason::Position::BeforeSuite,
            })],
        };
        let site = [Frame {
            function: "virtus_kernel::tests::fault_tests::read_address".into(),
            location: None,
        }];
        let a = RedCase::PageFault.assess(&crashed, false, Some(&site));
        assert!(a.behaved(), "{a:?}");
        assert!(
            a.observed.ends_with(", RIP in read_address"),
            "{}",
            a.observed
        );
        let unnamed = RedCase::PageFault.assess(&crashed, false, None);
        assert_eq!(
            unnamed.problems,
            ["the fault's RIP was not named (expected read_address)"]
        );
    }

    #[test]
    fn an_unsafe_stop_is_red_by_its_lock_and_test() {
        let console = "KTAP version 1\n1..1\n# running: injected_panic_locked\n\
            # test panicked\nnot ok 1 injected_panic_locked\n\
            # state unsafe after abort: timer lock held by aborted test injected_panic_locked\n";
        let verdict = judge(console, Termination::Exited(37));
        let a = RedCase::UnsafeAfterAbort.assess(&verdict, false, None);
        assert!(a.behaved(), "{a:?}");
        // Before the audit the kernel hung there: a timeout is red, but not
        // for this reason.
        let hung = "KTAP version 1\n1..1\n# running: injected_panic_locked\n\
            # panicked at kernel/src/tests/mod.rs:55: injected panic\n";
        let verdict = judge(
            hung,
            Termination::TimedOut(std::time::Duration::from_secs(120)),
        );
        assert!(
            !RedCase::UnsafeAfterAbort
                .assess(&verdict, false, None)
                .behaved()
        );
    }

    #[test]
    fn red_for_another_reason_does_not_count() {
        let verdict = judge("", Termination::Exited(37));
        let a = RedCase::NoMatch.assess(&verdict, false, None);
        assert!(!a.behaved());
        assert!(a.problems[0].contains("not for its own reason"), "{a:?}");
    }
}
