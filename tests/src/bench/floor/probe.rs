//! One probe of the floor's bisection, judged again by the runner's own
//! rule from the guest's console and how it ended: its name, whether it
//! passed, and in words why not.

use serde::Serialize;

use super::Workload;
use crate::expect::{Expectation, Leg};
use crate::ktap;
use crate::xen::guest_ktap::{judge_guest_ktap, transcript_of};
use crate::xen::protocol::ShutdownReason;
use crate::xen::report::{GuestEnd, GuestReport};

/// `floor-shell-12m-1` -> (shell, 12, 1).
pub fn probe_name(name: &str) -> Option<(Workload, u32, u32)> {
    let w = Workload::ALL
        .into_iter()
        .find(|w| name.starts_with(&format!("{}-", w.prefix())))?;
    let rest = &name[w.prefix().len() + 1..];
    let (mb, attempt) = rest.split_once("m-")?;
    Some((w, mb.parse().ok()?, attempt.parse().ok()?))
}

/// One probe, as the runner judges it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Probe {
    #[serde(rename = "memory_mb")]
    pub mb: u32,
    #[serde(rename = "try")]
    pub attempt: u32,
    pub passed: bool,
    /// How it ended, and its last words when it failed.
    pub why: String,
    /// The kernel's account of its memory (`memory: 1 MiB usable, ...`).
    pub memory_line: Option<String>,
}

/// The last line worth quoting: a crash report (`!!! ...`) if there is one.
fn last_words(g: &GuestReport) -> Option<String> {
    let lines: Vec<String> = g.console.iter().map(|l| ktap::clean(l)).collect();
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with("!!!"))
        .or_else(|| lines.iter().rev().find(|l| !l.trim().is_empty()))
        .cloned()
}

/// The kernel's memory line, without its timestamp and level.
pub(super) fn memory_line(g: &GuestReport) -> Option<String> {
    let line = g.console.iter().find(|l| l.contains("INFO  memory:"))?;
    Some(line[line.find("memory:")?..].trim().to_string())
}

/// The tests that failed, each with its last diagnostic line.
fn failed_tests(transcript: &crate::transcript::Transcript) -> Option<String> {
    let failed: Vec<String> = transcript
        .failures()
        .map(|t| match t.diagnostics.last() {
            Some(d) => format!("{} ({})", t.result.name, d.trim_start_matches('#').trim()),
            None => t.result.name.clone(),
        })
        .collect();
    (!failed.is_empty()).then(|| format!("failed {}", failed.join(", ")))
}

/// Whether a probe passed by the runner's rule, and in words how it ended.
pub fn judge(w: Workload, g: &GuestReport) -> (bool, String) {
    let poweroff = g.end == GuestEnd::Shutdown(ShutdownReason::Poweroff);
    let (passed, words) = match w {
        Workload::Shell => (
            poweroff && g.console.iter().any(|l| l.contains("shell ready")),
            last_words(g),
        ),
        Workload::Suite => {
            // Every test on the runner's own list must report, and pass.
            let expected = Expectation::from_cmdline(w.cmdline(), Leg::Pv);
            let transcript = transcript_of(&g.console, expected);
            let verdict = judge_guest_ktap(
                &transcript,
                &g.end,
                w.probe_timeout(),
                crate::xen::GuestKind::Pvh,
            );
            // The failed tests, else the kernel's own crash report, else
            // what the runner's verdict says.
            let crash = last_words(g).filter(|w| w.starts_with("!!!"));
            let words = failed_tests(&transcript).or(crash).or_else(|| {
                (!verdict.passed())
                    .then(|| verdict.headline().trim_start_matches("FAIL: ").to_string())
            });
            (poweroff && verdict.passed(), words)
        }
    };
    let why = match &g.end {
        GuestEnd::Failed(reason) => {
            let xl = g.xl_output.iter().rev().find(|l| !l.trim().is_empty());
            match xl {
                Some(line) => format!("{reason}: xl said `{}`", line.trim()),
                None => reason.clone(),
            }
        }
        end => match (passed, words) {
            (false, Some(words)) => format!("{}: `{words}`", end.word()),
            _ => end.word().to_string(),
        },
    };
    (passed, why)
}
