//! How each negative check is judged from its boot.

use std::collections::BTreeSet;

use super::{Assessment, CRASH_LIMIT, Crash, Injection};
use crate::exit::{KernelExit, Termination};
use crate::expect;
use crate::ktap::Outcome;
use crate::qemu::Boot;
use crate::table;
use crate::verdict::Reason;

pub(super) fn assess_list(boot: &Boot) -> Assessment {
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

pub(super) fn assess_crash(crash: Crash, boot: &Boot) -> Assessment {
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

pub(super) fn assess_injection(injection: Injection, boot: &Boot) -> Assessment {
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
