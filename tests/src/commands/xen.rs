//! `virtus-run xen` and `virtus-run xen-proof`: guests under real Xen,
//! streamed, then one table per guest and one of the run's stages.

use std::time::Duration;

use super::print_indented;
use crate::console::say;
use crate::table::{self, Align};
use crate::xen::args::XenRequest;
use crate::xen::report::XenReport;
use crate::xen::{Verbosity, XenOptions, run_guests};

/// Console lines shown under a failing guest.
const CONSOLE_TAIL: usize = 10;

/// `Ok(true)` if every guest passed and dom0 finished its script; `Err`
/// if the run could not happen (no bed, no QEMU, a guest image missing).
pub fn run(request: &XenRequest) -> Result<bool, String> {
    let options = XenOptions {
        dom0: request.dom0.clone(),
        ..XenOptions::new(request.bed.clone(), request.verbosity)
    };
    let report = run_guests(&request.guests, &options);
    if let Some(error) = report.setup_error {
        return Err(error);
    }
    say("");
    say(&guest_table(&report));
    say(&stage_table(&report));
    explain(&report, request.verbosity);
    let passed = report.passed_guests();
    let failed = report.guests.len() - passed;
    say(&format!("xen: {passed} passed, {failed} failed"));
    Ok(report.passed())
}

fn at(time: Option<Duration>) -> String {
    time.map_or("-".to_string(), table::seconds)
}

pub fn guest_table(report: &XenReport) -> String {
    let header = [
        ("guest", Align::Left),
        ("end", Align::Left),
        ("code", Align::Right),
        ("created", Align::Right),
        ("first line", Align::Right),
        ("ended", Align::Right),
        ("verdict", Align::Left),
    ];
    let rows: Vec<Vec<String>> = report
        .guests
        .iter()
        .map(|guest| {
            vec![
                guest.name.clone(),
                guest.end.word().to_string(),
                guest.code.map_or("-".to_string(), |code| code.to_string()),
                at(guest.times.created),
                at(guest.times.first_line),
                at(guest.times.ended),
                guest.verdict(),
            ]
        })
        .collect();
    table::render(&header, &rows)
}

/// Host times from QEMU's start, in the order a run goes through them.
pub fn stage_table(report: &XenReport) -> String {
    let stages = &report.stages;
    let mut rows = vec![
        ("Xen banner".to_string(), stages.xen_banner),
        ("dom0 init started".to_string(), stages.dom0_start),
        ("dom0 toolstack ready".to_string(), stages.dom0_ready),
    ];
    for guest in &report.guests {
        let name = &guest.name;
        rows.push((format!("{name}: created"), guest.times.created));
        let ended = format!("{name}: ended ({})", guest.end.word());
        rows.push((
            format!("{name}: first console line"),
            guest.times.first_line,
        ));
        rows.push((ended, guest.times.ended));
    }
    rows.push(("dom0 done".to_string(), stages.done));
    let exit = match report.termination {
        Some(termination) => format!("QEMU gone ({termination})"),
        None => "QEMU gone".into(),
    };
    rows.push((exit, stages.qemu_exit));
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(stage, time)| vec![stage, at(time)])
        .collect();
    table::render(&[("stage", Align::Left), ("at", Align::Right)], &rows)
}

/// What the tables cannot show: each failure's reasons, the console
/// lines behind them, dom0's commands, and Xen's last words.
fn explain(report: &XenReport, verbosity: Verbosity) {
    for guest in report.guests.iter().filter(|g| !g.passed()) {
        say(&format!("{}: {}", guest.name, guest.verdict()));
        print_indented(&guest.problems[1..]);
        if !guest.xl_output.is_empty() {
            say("  xl said:");
            print_indented(&guest.xl_output);
        }
        if !guest.console.is_empty() {
            let skip = guest.console.len().saturating_sub(CONSOLE_TAIL);
            say(&format!("  last console lines of {}:", guest.name));
            print_indented(&guest.console[skip..]);
        }
    }
    for command in &report.dom0 {
        let rc = command
            .rc
            .map_or("never finished".to_string(), |rc| format!("rc={rc}"));
        say(&format!(
            "dom0 `{}`: {rc}, {} lines",
            command.command,
            command.lines.len()
        ));
        if verbosity == Verbosity::Quiet {
            print_indented(&command.lines);
        }
    }
    for note in &report.notes {
        say(&format!("note: {note}"));
    }
    let problems = report.run_problems();
    for problem in &problems {
        say(&format!("run: FAIL: {problem}"));
    }
    if !report.passed() && verbosity != Verbosity::Verbose && !report.hidden_tail.is_empty() {
        print_hidden_tail(report);
    }
}

/// The lines of Xen, dom0 and QEMU the live view did not show.
pub fn print_hidden_tail(report: &XenReport) {
    let lines = &report.hidden_tail;
    let n = lines.len();
    say(&format!("last {n} lines of Xen, dom0 and QEMU:"));
    print_indented(lines);
}
