//! Judging a lifecycle scenario from what dom0 reported of each step
//! (`@@dom0| lifecycle NAME step=N VERB at=UPTIME ... -- TEXT`, see
//! `tests/xen/lifecycle.sh`), checked against the scenario's own steps
//! and, independently, against the guest's console as the runner saw it.

use std::ops::Range;
use std::time::Duration;

use super::lifecycle::{DOMID, NAME, Scenario, Step, expected_sums};
use super::protocol::{Event, ShutdownReason, Stamped};
use super::report::GuestReport;
use crate::checks::Assessment;
use crate::table;

/// One step report from dom0.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    pub guest: String,
    pub step: usize,
    /// `domid`, `saw`, `missed`, `run`, `returned`, `typed`, `ended`,
    /// `destroyed`, `sum`, `checked`, `output`.
    pub verb: String,
    /// dom0's uptime, seconds.
    pub at: Option<f64>,
    pub fields: Vec<(String, String)>,
    /// After ` -- `: the text waited for, the command, dom0's words.
    pub text: String,
}

impl StepReport {
    /// Parses the text of a relayed dom0 line; `None` if it is not a step
    /// report.
    pub fn parse(line: &str) -> Option<Self> {
        let (head, text) = match line.split_once(" --") {
            Some((head, text)) => (head, text.strip_prefix(' ').unwrap_or(text)),
            None => (line, ""),
        };
        let mut words = head.split_whitespace();
        let (Some("lifecycle"), Some(guest), Some(step), Some(verb)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return None;
        };
        let step = step.strip_prefix("step=")?.parse().ok()?;
        let fields: Vec<(String, String)> = words
            .filter_map(|word| word.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let at = fields
            .iter()
            .find(|(k, _)| k == "at")
            .and_then(|(_, v)| v.parse().ok());
        Some(Self {
            guest: guest.to_string(),
            step,
            verb: verb.to_string(),
            at,
            fields,
            text: text.to_string(),
        })
    }

    pub fn field(&self, key: &str) -> Option<&str> {
        let found = self.fields.iter().find(|(k, _)| k == key);
        found.map(|(_, v)| v.as_str())
    }
}

/// Every step report of a run, in order.
pub fn step_reports(events: &[Stamped]) -> Vec<StepReport> {
    let texts = events.iter().filter_map(|stamped| match &stamped.event {
        Event::Dom0Output { text } => StepReport::parse(text),
        _ => None,
    });
    texts.collect()
}

/// A scenario judged: what was seen, what went wrong, and how long the
/// guest took to answer each request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    pub assessment: Assessment,
    /// (what, how long), dom0's clock: from a request to the guest's
    /// answer, or to the domain's end.
    pub timings: Vec<(String, Duration)>,
}

/// What a scenario expects, for the results table.
pub fn expected(scenario: Scenario) -> String {
    let reasons: Vec<&str> = scenario
        .steps()
        .iter()
        .filter_map(|step| match step {
            Step::Gone { reason, .. } => Some(reason.name()),
            Step::Destroyed { .. } => Some("destroyed"),
            Step::Holds { .. } => Some("data on the image"),
            Step::DomidAgain { new: true } => Some("a new domain"),
            Step::DomidAgain { new: false } => Some("the same domain"),
            Step::Memory { .. } => Some("xl list's size"),
            Step::Unlisted { .. } => Some("gone from xl list"),
            Step::Vcpu { up: false, .. } => Some("vCPU down"),
            Step::Vcpu { up: true, .. } => Some("vCPU up"),
            _ => None,
        })
        .collect();
    reasons.join(", then ")
}

/// Judges `scenario` from dom0's reports and the guest's report.
pub fn judge(scenario: Scenario, reports: &[StepReport], guest: &GuestReport) -> Judged {
    let name = scenario.name();
    let mine: Vec<&StepReport> = reports.iter().filter(|r| r.guest == name).collect();
    let steps = scenario.steps();
    if mine.is_empty() {
        // The guest never got as far as its first step: how it failed to
        // start (or that the run never got to it) says more.
        let mut problems = guest.problems.clone();
        if problems.is_empty() {
            problems.push("dom0 reported none of its steps".into());
        }
        let observed = guest.end.word().to_string();
        return Judged {
            assessment: Assessment { observed, problems },
            timings: Vec::new(),
        };
    }
    let mut problems = Vec::new();
    let mut timings = Vec::new();
    let mut ends = Vec::new();
    let mut domid: Option<String> = None;
    // The last request made (a command or typed text) and dom0's clock then.
    let mut request: Option<(String, f64)> = None;
    for (index, step) in steps.iter().enumerate() {
        let of = |verb: &str| mine.iter().find(|r| r.step == index && r.verb == verb);
        if let Some(missed) = of("missed") {
            problems.push(format!("step {index}: {}", missed_text(step, missed)));
            break;
        }
        let since = |at: Option<f64>, request: &Option<(String, f64)>| {
            let (what, from) = request.as_ref()?;
            let seconds = at? - from;
            Some((what.clone(), Duration::try_from_secs_f64(seconds).ok()?))
        };
        let done = match step {
            Step::Domid => of("domid").map(|r| domid = r.field("id").map(String::from)),
            Step::DomidAgain { new } => of("domid").map(|r| {
                let id = r.field("id").map(String::from);
                if id.is_some() && (id == domid) == *new {
                    let (was, now) = (
                        domid.as_deref().unwrap_or("?"),
                        id.as_deref().unwrap_or("?"),
                    );
                    let wanted = if *new {
                        "a new domain"
                    } else {
                        "the same domain"
                    };
                    problems.push(format!(
                        "step {index}: domain {was} then {now}, expected {wanted}"
                    ));
                }
                domid = id;
            }),
            Step::Returned { step: run, .. } => of("back").map(|r| {
                let started = mine.iter().find(|s| s.step == *run && s.verb == "run");
                match r.field("rc") {
                    Some("0") => {
                        if let Some((what, took)) = started.and_then(|s| {
                            let from = Some((format!("`{}`", s.text), s.at?));
                            since(r.at, &from)
                        }) {
                            timings.push((format!("{what} returned"), took));
                        }
                    }
                    rc => problems.push(format!(
                        "step {index}: the command of step {run} failed (status {})",
                        rc.unwrap_or("?")
                    )),
                }
            }),
            Step::Watch { .. } => of("run").and_then(|r| {
                request = Some((format!("`{}`", r.text), r.at?));
                let watching = of("watching")?;
                if let Some((what, took)) = since(watching.at, &request) {
                    timings.push((format!("{what} -> watching the domain"), took));
                }
                Some(())
            }),
            Step::Absent { text } => of("absent").map(|_| {
                // The runner's own console, whole: not even later.
                if guest.console.iter().any(|l| l.contains(text.as_str())) {
                    problems.push(format!("step {index}: the console says `{text}`"));
                }
            }),
            Step::Memory { mb } => {
                of("mem").map(
                    |r| match r.field("mb").and_then(|v| v.parse::<u32>().ok()) {
                        Some(got) if mb.contains(&got) => {}
                        got => problems.push(format!(
                            "step {index}: xl list shows {} MiB, expected {}..={} MiB",
                            got.map_or("?".into(), |g| g.to_string()),
                            mb.start(),
                            mb.end()
                        )),
                    },
                )
            }
            Step::Unlisted { .. } => of("unlisted").map(|_| ()),
            Step::Vcpu { vcpu, up, .. } => of("vcpu").map(|r| {
                // dom0 reports only the state it waited for; check anyway.
                let want = if *up { "1" } else { "0" };
                if r.field("online") != Some(want) || r.field("vcpu") != Some(&vcpu.to_string()) {
                    problems.push(format!(
                        "step {index}: xl vcpu-list shows vCPU {} with state {}, expected it {}",
                        r.field("vcpu").unwrap_or("?"),
                        r.field("state").unwrap_or("?"),
                        if *up { "up" } else { "down" }
                    ));
                } else if let Some((what, took)) = since(r.at, &request) {
                    let state = if *up { "up" } else { "down" };
                    timings.push((format!("{what} -> xl: vCPU {vcpu} {state}"), took));
                }
            }),
            Step::See { text, .. } => of("saw").map(|r| {
                if let Some((what, took)) = since(r.at, &request) {
                    let text = text.replace(DOMID, domid.as_deref().unwrap_or(DOMID));
                    timings.push((format!("{what} -> `{text}`"), took));
                }
            }),
            Step::Run { command, returns } => of("run").and_then(|r| {
                request = Some((format!("`{}`", r.text), r.at?));
                if !returns {
                    return Some(());
                }
                match of("returned").and_then(|r| r.field("rc")) {
                    Some("0") => Some(()),
                    rc => {
                        let rc = rc.unwrap_or("?");
                        problems.push(format!("step {index}: `{command}` failed (status {rc})"));
                        Some(())
                    }
                }
            }),
            Step::Type { text, .. } => of("typed").map(|r| {
                request = r.at.map(|at| (format!("typing `{text}`"), at));
            }),
            Step::Gone { reason, .. } => of("ended").map(|r| {
                let got = r.field("reason").and_then(ShutdownReason::from_name);
                let got = got.unwrap_or(ShutdownReason::Unknown);
                ends.push(got.name());
                if got != *reason {
                    problems.push(format!("step {index}: ended by {got}, expected {reason}"));
                } else if let Some((what, took)) = since(r.at, &request) {
                    timings.push((format!("{what} -> domain ended ({got})"), took));
                }
            }),
            Step::Destroyed { .. } => of("destroyed").map(|r| {
                ends.push("destroyed");
                if let Some((what, took)) = since(r.at, &request) {
                    timings.push((format!("{what} -> domain destroyed"), took));
                }
            }),
            Step::Holds {
                path,
                sectors,
                seed,
            } => of("checked").map(|_| {
                let sums: Vec<&StepReport> = mine
                    .iter()
                    .filter(|r| r.step == index && r.verb == "sum")
                    .copied()
                    .collect();
                let path = path.replace(NAME, name);
                if let Some(problem) = image_problem(&path, sectors, *seed, &sums) {
                    problems.push(format!("step {index}: {problem}"));
                }
            }),
        };
        if done.is_none() {
            problems.push(format!(
                "step {index} ({}): dom0 never reported it (the run ended first?)",
                describe(step).replace(NAME, name)
            ));
        }
        if !problems.is_empty() {
            break;
        }
    }
    if problems.is_empty() {
        problems.extend(console_problems(&steps, guest, domid.as_deref()));
        problems.extend(guest.problems.iter().cloned());
        let (returned, failed) = returns(&steps, &mine);
        timings.extend(returned);
        problems.extend(failed);
    }
    let observed = match ends.is_empty() {
        true => guest.end.word().to_string(),
        false => ends.join(", then "),
    };
    Judged {
        assessment: Assessment { observed, problems },
        timings,
    }
}

/// How long each command that was not waited for (`xl shutdown -w`, which
/// returns once the domain is gone) took to return, if it did; and the
/// ones that returned a failure.
fn returns(steps: &[Step], mine: &[&StepReport]) -> (Vec<(String, Duration)>, Vec<String>) {
    let (mut took, mut failed) = (Vec::new(), Vec::new());
    for (index, step) in steps.iter().enumerate() {
        if !matches!(step, Step::Run { returns: false, .. } | Step::Watch { .. }) {
            continue;
        }
        let of = |verb: &str| mine.iter().find(|r| r.step == index && r.verb == verb);
        let (Some(run), Some(back)) = (of("run"), of("returned")) else {
            continue;
        };
        match back.field("rc") {
            Some("0") => {}
            rc => failed.push(format!(
                "`{}` failed (status {})",
                run.text,
                rc.unwrap_or("?")
            )),
        }
        // A watcher returns when the domain is gone: no figure of its own;
        // a command a later step waited for has its figure from there.
        let awaited = steps
            .iter()
            .any(|s| matches!(s, Step::Returned { step, .. } if *step == index));
        if awaited {
            continue;
        }
        if let (Step::Run { .. }, Some(from), Some(to)) = (step, run.at, back.at)
            && let Ok(seconds) = Duration::try_from_secs_f64(to - from)
        {
            took.push((format!("`{}` returned", run.text), seconds));
        }
    }
    (took, failed)
}

/// What dom0's sums of `sectors` of the image say against the runner's own
/// (the pattern of `seed`): `None` if every chunk holds it, else the
/// sectors that do not, by name.
fn image_problem(
    path: &str,
    sectors: &Range<u64>,
    seed: u32,
    sums: &[&StepReport],
) -> Option<String> {
    let (mut lost, mut unreported) = (Vec::new(), Vec::new());
    for (chunk, expected) in expected_sums(sectors, seed) {
        let count = (chunk.end - chunk.start).to_string();
        let start = chunk.start.to_string();
        let reported = sums.iter().find(|r| {
            r.field("lba") == Some(start.as_str()) && r.field("count") == Some(count.as_str())
        });
        match reported {
            Some(r) if r.text == expected => {}
            Some(_) => lost.push(format!("{}..{}", chunk.start, chunk.end)),
            None => unreported.push(format!("{}..{}", chunk.start, chunk.end)),
        }
    }
    if !lost.is_empty() {
        return Some(format!(
            "sectors {} of {path} lack what the guest wrote and flushed (pattern of seed {seed:08x}; \
             sha256 differs)",
            lost.join(", ")
        ));
    }
    (!unreported.is_empty()).then(|| {
        format!(
            "dom0 reported no sha256 of sectors {} of {path}",
            unreported.join(", ")
        )
    })
}

/// What a step waited for and did not get, in words.
fn missed_text(step: &Step, missed: &StepReport) -> String {
    let seen = missed.field("n").unwrap_or("0");
    match step {
        Step::See { count, secs, .. } => format!(
            "waited {secs}s for the line `{}`{}; it never came (seen {seen} times)",
            missed.text,
            match count {
                1 => String::new(),
                2 => " a 2nd time".into(),
                3 => " a 3rd time".into(),
                n => format!(" a {n}th time"),
            }
        ),
        Step::Gone { count, secs, .. } => {
            format!("waited {secs}s for the domain's shutdown number {count}; it did not shut down")
        }
        _ => missed.text.clone(),
    }
}

fn describe(step: &Step) -> String {
    match step {
        Step::Domid => "note the domain id".into(),
        Step::See { text, .. } => format!("see `{text}`"),
        Step::Run { command, .. } => format!("run `{command}`"),
        Step::Type { text, .. } => format!("type `{text}`"),
        Step::Gone { reason, .. } => format!("the domain ends with {reason}"),
        Step::Destroyed { .. } => "the domain is destroyed".into(),
        Step::Holds { path, sectors, .. } => format!("sectors {sectors:?} of {path}"),
        Step::DomidAgain { .. } => "note the domain id again".into(),
        Step::Returned { step, .. } => format!("the return of step {step}'s command"),
        Step::Watch { command, .. } => format!("`{command}` watches the domain"),
        Step::Absent { text } => format!("no `{text}` on the console"),
        Step::Memory { .. } => "the domain's size in xl list".into(),
        Step::Unlisted { .. } => "xl lists the domain no more".into(),
        Step::Vcpu { vcpu, up, .. } => {
            format!(
                "xl vcpu-list shows vCPU {vcpu} {}",
                if *up { "up" } else { "down" }
            )
        }
    }
}

/// The runner's own check of what dom0 saw: every awaited line is also on
/// the console the runner received (relayed live, or from xenconsoled's
/// log at the end for a restarted domain), as often as it was awaited.
fn console_problems(steps: &[Step], guest: &GuestReport, domid: Option<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    for step in steps {
        let Step::See { text, count, .. } = step else {
            continue;
        };
        let text = text.replace(DOMID, domid.unwrap_or(DOMID));
        let seen = guest.console.iter().filter(|l| l.contains(&text)).count();
        if seen < *count as usize {
            problems.push(format!(
                "dom0 saw `{text}` {count} times, the relayed console only {seen}"
            ));
        }
    }
    problems
}

/// `xl shutdown -w lc-shutdown -> domain ended (poweroff) 0.8s`.
pub fn timing_lines(judged: &Judged) -> Vec<String> {
    let each = judged.timings.iter();
    each.map(|(what, took)| format!("{what}: {}", seconds_ms(*took)))
        .collect()
}

/// Milliseconds matter here: a power-off takes a fraction of a second.
pub fn seconds_ms(duration: Duration) -> String {
    if duration < Duration::from_secs(10) {
        format!("{:.2}s", duration.as_secs_f64())
    } else {
        table::seconds(duration)
    }
}

#[cfg(test)]
#[path = "lifecycle_judge_tests.rs"]
pub(crate) mod tests;
