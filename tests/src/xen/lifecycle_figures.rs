//! The live operations' figures, from one lifecycle run: how long `xl
//! save`, `xl save -c` and `xl migrate` took to return and `xl restore` to
//! start watching the new domain (dom0's clock at each step), the downtime
//! as dom0 saw it (from the guest's suspend line to its first line after,
//! each noted when dom0's 50 ms poll found it in xenconsoled's log: an
//! upper bound), the time away the guest itself reports (the host's wall
//! clock, read by the guest before and after), and the balloon's rate from
//! the guest's own lines (pages and microseconds it measured).
//!
//! `virtus-run lifecycle` prints them after each Xen column (n is one per
//! scenario per run); `virtus-run bench`'s `live` part runs the PVH
//! scenarios `repeat` times and reports each figure over the runs.

use super::lifecycle::{CANCELLED, RESUMED_NEW, SUSPENDING, Scenario, Step};
use super::lifecycle_judge::StepReport;

/// One figure of one scenario: what, its value, its unit.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub what: String,
    pub value: f64,
    pub unit: &'static str,
}

fn figure(what: &str, value: f64, unit: &'static str) -> Figure {
    let what = what.to_string();
    Figure { what, value, unit }
}

/// The figures of `scenario` from dom0's reports and the guest's console;
/// only those the run got as far as.
pub fn figures(scenario: Scenario, reports: &[StepReport], console: &[String]) -> Vec<Figure> {
    let mine: Vec<&StepReport> = reports
        .iter()
        .filter(|r| r.guest == scenario.name())
        .collect();
    let at = |step: usize, verb: &str| {
        let found = mine.iter().find(|r| r.step == step && r.verb == verb);
        found.and_then(|r| r.at)
    };
    let steps = scenario.steps();
    let mut out = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        match step {
            Step::Returned { step: run, .. } => {
                if let (Some(Step::Run { command, .. }), Some(from), Some(to)) =
                    (steps.get(*run), at(*run, "run"), at(index, "back"))
                {
                    let verb = command.split(" @NAME@").next().unwrap_or(command);
                    out.push(figure(&format!("`{verb}` returned"), to - from, "s"));
                }
            }
            Step::Watch { command, .. } if command.contains("restore") => {
                if let (Some(from), Some(to)) = (at(index, "run"), at(index, "watching")) {
                    out.push(figure("`xl restore` watching", to - from, "s"));
                }
            }
            _ => {}
        }
    }
    let saw = |text: &str| {
        steps.iter().enumerate().find_map(|(i, s)| match s {
            Step::See { text: t, .. } if t == text => at(i, "saw"),
            _ => None,
        })
    };
    let back = saw(RESUMED_NEW).or_else(|| saw(CANCELLED));
    if let (Some(from), Some(to)) = (saw(SUSPENDING), back) {
        out.push(figure("downtime, dom0 (upper bound)", to - from, "s"));
    }
    let resumed = console
        .iter()
        .find(|l| l.contains(RESUMED_NEW) || l.contains(CANCELLED));
    if let Some(away) = resumed.and_then(|l| number_before(l, "away ", " ms")) {
        out.push(figure("time away, the guest's", away / 1000.0, "s"));
    }
    for line in console {
        for verb in ["released", "reclaimed"] {
            if let Some(rate) = balloon_rate(line, verb) {
                out.push(figure(&format!("balloon {verb}"), rate, "MiB/s"));
            }
        }
    }
    out
}

/// The number between `before` and `after` in `line`.
fn number_before(line: &str, before: &str, after: &str) -> Option<f64> {
    let rest = &line[line.find(before)? + before.len()..];
    rest[..rest.find(after)?].trim().parse().ok()
}

/// MiB/s of a line `balloon: target T KiB; VERB N pages in U us; ...`,
/// wherever it starts (the shell's prompt may be before it: the guest
/// prints it while it waits for input).
pub fn balloon_rate(line: &str, verb: &str) -> Option<f64> {
    let tag = "balloon: target ";
    let rest = &line[line.find(tag)? + tag.len()..];
    let rest = &rest[rest.find(&format!("; {verb} "))?..];
    let pages = number_before(rest, &format!("; {verb} "), " pages")?;
    let micros = number_before(rest, " pages in ", " us")?;
    (micros > 0.0).then(|| pages * 4096.0 / 1_048_576.0 / (micros / 1e6))
}

/// `figure | scenario | n | value`, one row per figure, for the run's
/// output: n is 1 (one scenario, one run) unless a figure came twice.
pub fn table(rows: &[(&str, Vec<Figure>)]) -> Vec<String> {
    let mut lines = vec![
        "| figure | scenario | n | value |".to_string(),
        "|---|---|---:|---:|".to_string(),
    ];
    for (scenario, figures) in rows {
        let mut seen: Vec<&str> = Vec::new();
        for f in figures {
            if seen.contains(&f.what.as_str()) {
                continue;
            }
            seen.push(&f.what);
            let values: Vec<f64> = figures
                .iter()
                .filter(|g| g.what == f.what)
                .map(|g| g.value)
                .collect();
            let shown: Vec<String> = values.iter().map(|v| format!("{v:.2}")).collect();
            lines.push(format!(
                "| {} | {scenario} | {} | {} {} |",
                f.what,
                values.len(),
                shown.join(", "),
                f.unit
            ));
        }
    }
    lines
}

#[cfg(test)]
#[path = "lifecycle_figures_tests.rs"]
mod tests;
