//! Negative checks of the Xen runner (`virtus-run xen-checks`): proof that
//! a guest that crashes, hangs or never prints is reported as such, and
//! that the run still ends by itself, with a failing verdict.
//!
//! One bed boot runs four guests at once, all declared the natural way
//! (expected to power off): the bed's proof guest, which must pass; two
//! misbehaving variants of the same Linux, made so by their command lines
//! alone; and a guest that says nothing ([`super::mute`]). Each case then
//! judges the [`XenReport`]: not whether the guest passed, but whether the
//! runner said the right thing about it.

use std::path::Path;
use std::time::Duration;

use super::guest::GuestSpec;
use super::protocol::ShutdownReason;
use super::report::{GuestEnd, GuestReport, XenReport};
use super::script::{Dom0Command, Dom0Point};
use crate::checks::Assessment;
use crate::exit::Termination;
use crate::table;

/// The mute guest needs no more than a page, but xl wants some room.
const MUTE_MEMORY_MB: u32 = 16;

/// How long dom0 waits for the hanging guest, once it waits for it.
pub const HANG_TIMEOUT: Duration = Duration::from_secs(15);

/// Run in dom0 once every guest ended: a guest left running (a hang that
/// was reported but not destroyed) would still be listed.
pub const LIST_DOMAINS: &str = "xl list";

/// What the crashing guest's console must mention: the panic provoked,
/// not some other way of dying.
pub const PANIC_LINE: &str = "Kernel panic";

/// One case of `xen-checks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XenCase {
    /// The bed's proof guest: must still pass next to the others.
    Proof,
    /// Panics at boot: must be reported ended by a crash.
    Crash,
    /// Never ends: must be reported as hung, and destroyed.
    Hang,
    /// Powers off without a word: must be reported as printing nothing.
    Mute,
    /// The run as a whole: ends by itself, and fails.
    Run,
}

impl XenCase {
    pub const ALL: [XenCase; 5] = [Self::Proof, Self::Crash, Self::Hang, Self::Mute, Self::Run];

    pub fn name(self) -> &'static str {
        match self {
            Self::Proof => "linux-proof",
            Self::Crash => "crasher",
            Self::Hang => "hanger",
            Self::Mute => "mute",
            Self::Run => "the run",
        }
    }

    /// The guest the case runs; `None` for the run itself. `mute` is
    /// where the runner wrote [`super::mute::elf`].
    pub fn spec(self, mute: &Path) -> Option<GuestSpec> {
        let linux = |extra: &str, timeout: u64| {
            let mut spec = GuestSpec::bed_linux(self.name(), extra).expect("a valid name");
            spec.timeout = Duration::from_secs(timeout);
            spec
        };
        Some(match self {
            Self::Proof => GuestSpec::linux_proof(),
            // No such init: the kernel falls back to mounting a root file
            // system, finds none, and panics. Debian's kernel would then
            // sit in the panic forever; `panic=-1` restarts at once, which
            // a Xen guest does as SHUTDOWN_crash.
            Self::Crash => linux("rdinit=/no-such-init panic=-1", 30),
            // A shell on a console nobody types into.
            Self::Hang => linux("rdinit=/bin/sh", HANG_TIMEOUT.as_secs()),
            // Linux can be made silent too (`rdinit=/sbin/poweroff
            // loglevel=0 -- -f`), but a fourth Linux at once was one too
            // many for the emulated machine: its memory got corrupted.
            Self::Mute => {
                let mut spec = GuestSpec::pvh(self.name(), mute).expect("a valid name");
                spec.memory_mb = MUTE_MEMORY_MB;
                spec.timeout = Duration::from_secs(30);
                spec
            }
            Self::Run => return None,
        })
    }

    pub fn expectation(self) -> String {
        match self {
            Self::Proof => "poweroff, PASS".to_string(),
            Self::Crash => format!("crash (code 3), \"{PANIC_LINE}\", FAIL naming the crash"),
            Self::Hang => format!(
                "timeout after {}s, destroyed, FAIL (hung)",
                HANG_TIMEOUT.as_secs()
            ),
            Self::Mute => "poweroff, no line, FAIL: printed nothing".to_string(),
            Self::Run => "dom0 done, QEMU exits by itself, verdict FAIL".to_string(),
        }
    }

    pub fn assess(self, report: &XenReport) -> Assessment {
        if self == Self::Run {
            return assess_run(report);
        }
        let Some(guest) = report.guests.iter().find(|g| g.name == self.name()) else {
            return Assessment {
                observed: "-".into(),
                problems: vec![format!("no report for guest {}", self.name())],
            };
        };
        let mut problems = Vec::new();
        let first = guest.problems.first().map_or("", String::as_str);
        let mut verdict_names = |what: &str| {
            if guest.passed() {
                problems.push("the guest's verdict is PASS".to_string());
            } else if !first.contains(what) {
                problems.push(format!("the verdict does not say \"{what}\": {first}"));
            }
        };
        match self {
            Self::Proof => {
                problems.extend(guest.problems.iter().map(|p| format!("FAIL: {p}")));
            }
            Self::Crash => {
                verdict_names("crash");
                problems.extend(expect_end(guest, GuestEnd::Shutdown(ShutdownReason::Crash)));
                if guest.code != Some(3) {
                    problems.push(format!("code {}, expected 3", code(guest)));
                }
                if !guest.console.iter().any(|line| line.contains(PANIC_LINE)) {
                    problems.push(format!("no console line mentions \"{PANIC_LINE}\""));
                }
            }
            Self::Hang => {
                verdict_names("hung");
                problems.extend(expect_end(guest, GuestEnd::Timeout));
                if let (Some(created), Some(ended)) = (guest.times.created, guest.times.ended)
                    && ended.saturating_sub(created) < HANG_TIMEOUT
                {
                    problems.push(format!(
                        "timed out {} after it started, before its {}s",
                        table::seconds(ended.saturating_sub(created)),
                        HANG_TIMEOUT.as_secs()
                    ));
                }
                problems.extend(still_listed(report, self.name()));
            }
            Self::Mute => {
                verdict_names("printed nothing");
                problems.extend(expect_end(
                    guest,
                    GuestEnd::Shutdown(ShutdownReason::Poweroff),
                ));
                if let Some(line) = guest.console.first() {
                    let count = guest.console.len();
                    problems.push(format!("printed {count} lines, the first: `{line}`"));
                }
            }
            Self::Run => unreachable!("assessed above"),
        }
        Assessment {
            observed: observed(guest),
            problems,
        }
    }
}

/// The guests of the run, in the order they are declared.
pub fn specs(mute: &Path) -> Vec<GuestSpec> {
    XenCase::ALL
        .iter()
        .filter_map(|case| case.spec(mute))
        .collect()
}

/// The dom0 commands of the run.
pub fn dom0_commands() -> Vec<Dom0Command> {
    vec![Dom0Command {
        when: Dom0Point::End,
        command: LIST_DOMAINS.to_string(),
    }]
}

fn code(guest: &GuestReport) -> String {
    guest.code.map_or("-".to_string(), |code| code.to_string())
}

/// `crash (code 3), 41 lines, FAIL: ended by crash, expected poweroff`.
fn observed(guest: &GuestReport) -> String {
    format!(
        "{} (code {}), {} lines, {}",
        guest.end.word(),
        code(guest),
        guest.console.len(),
        guest.verdict()
    )
}

fn expect_end(guest: &GuestReport, expected: GuestEnd) -> Option<String> {
    let (end, word) = (guest.end.word(), expected.word());
    (guest.end != expected).then(|| format!("ended by {end}, expected {word}"))
}

/// A problem if `xl list`, run after every guest ended, still shows `name`.
fn still_listed(report: &XenReport, name: &str) -> Option<String> {
    let Some(list) = report.dom0.iter().find(|c| c.command == LIST_DOMAINS) else {
        return Some(format!("`{LIST_DOMAINS}` did not run"));
    };
    if list.rc != Some(0) {
        return Some(format!("`{LIST_DOMAINS}` failed"));
    }
    let listed = list
        .lines
        .iter()
        .any(|line| line.split_whitespace().next() == Some(name));
    listed.then(|| format!("{name} still exists after the run (`{LIST_DOMAINS}`)"))
}

fn assess_run(report: &XenReport) -> Assessment {
    let mut problems = report.run_problems();
    match report.termination {
        Some(Termination::Exited(_)) | None => {}
        Some(other) => problems.push(format!("QEMU {other}, expected it to exit by itself")),
    }
    if report.passed() {
        problems.push("the run's verdict is PASS: `xen` would exit 0".to_string());
    }
    let at = |time: Option<Duration>| time.map_or("-".to_string(), table::seconds);
    let qemu = report
        .termination
        .map_or("QEMU never ran".to_string(), |t| format!("QEMU {t}"));
    let observed = format!(
        "{} at {}, {qemu} at {}, {} of {} guests passed: {}",
        if report.done { "done" } else { "no done" },
        at(report.stages.done),
        at(report.stages.qemu_exit),
        report.passed_guests(),
        report.guests.len(),
        if report.passed() { "PASS" } else { "FAIL" },
    );
    Assessment { observed, problems }
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
