//! What each negative check provokes: the `crash=` and `inject=` modes,
//! and what the kernel must say about each.

use std::time::Duration;

use super::Assessment;
use crate::symbols::{self, Frame};

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
    /// A page fault on CPU 1 (of two), whose report must name the CPU.
    ApPageFault,
}

impl Crash {
    pub const ALL: [Crash; 7] = [
        Crash::PageFault,
        Crash::GeneralProtection,
        Crash::InvalidOpcode,
        Crash::DivideError,
        Crash::StackOverflow,
        Crash::Panic,
        Crash::ApPageFault,
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
            Crash::ApPageFault => ("ap-pagefault", "on cpu 1", Some("read_address")),
        }
    }

    /// CPUs the machine needs for the crash.
    pub fn cpus(self) -> u32 {
        if self == Crash::ApPageFault { 2 } else { 1 }
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
