//! The block tables: latency and throughput per column with the
//! paravirtual column's ratios to the others, every run, and the goal.

use super::svg::value_text;
use super::table::{Table, ns};
use crate::bench::block_rows::{
    BlockCell, BlockRow, Comparison, FIGURES, Figure, Goal, Unit, goals,
};
use crate::bench::model::BenchReport;
use crate::bench::pairs::{Winner, times};
use crate::bench::spread::{Spread, n_text};
use crate::table::Align;

/// A figure's value in its unit.
pub fn amount(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Latency => ns(v),
        Unit::Iops => value_text(v, "IOPS"),
        Unit::MegabytesPerSec => value_text(v, "MB/s"),
    }
}

/// `1.20 ms (1.10 ms-1.40 ms) [p10-p90 0.90 ms-2.00 ms]`, and the depth
/// a QD32 figure was measured at when the device's queue is shallower.
fn cell_text(unit: Unit, c: &BlockCell) -> String {
    let mut text = c.values.text(|v| amount(unit, v));
    if let Some((lo, hi)) = c.p10_p90.filter(|_| c.values.n() > 0) {
        text = format!("{text} [p10-p90 {}-{}]", amount(unit, lo), amount(unit, hi));
    }
    match c.depth {
        Some(d) if unit == Unit::Iops && d != 32 => format!("{text} at depth {d}"),
        _ => text,
    }
}

/// `30.0x (22.7x-30.0x), pv faster`.
fn ratio_text(c: &Comparison) -> String {
    rule_text(&c.ratios, c)
}

/// `ratios` (its median and range) and who is faster by `c`'s rule.
pub fn rule_text(ratios: &Spread, c: &Comparison) -> String {
    let side = match c.winner() {
        _ if c.run_winners.is_empty() => return "-".into(),
        Winner::Pv => "pv faster".to_string(),
        Winner::Baseline => format!("{} faster", c.other),
        Winner::Tie => "tie".to_string(),
    };
    format!("{}, {side}", ratios.text(times))
}

/// Each column's name with the disk it measured.
fn column_titles(report: &BenchReport, rows: &[BlockRow]) -> Vec<String> {
    report
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let disk = rows.iter().find_map(|r| r.cells.get(i)?.disk.as_deref());
            match disk {
                Some(d) => format!("{} ({d})", c.name),
                None => c.name.clone(),
            }
        })
        .collect()
}

fn figures_table(report: &BenchReport, title: &str, chart: &str, which: &[Unit]) -> Table {
    let rows = report.block();
    let mut header: Vec<(String, Align)> = vec![("figure".into(), Align::Left)];
    for t in column_titles(report, &rows) {
        header.push((format!("{t}: median (range over runs)"), Align::Right));
    }
    header.push(("xen-pvh/xen-hvm (range), rule".into(), Align::Right));
    header.push(("xen-pvh/native (range), rule".into(), Align::Right));
    let names: Vec<&str> = report.columns.iter().map(|c| c.name.as_str()).collect();
    header.push((
        format!("n: runs x iterations ({})", names.join(" / ")),
        Align::Right,
    ));
    let body = rows
        .iter()
        .filter(|r| which.contains(&r.figure.unit))
        .map(|r| {
            let mut cells = vec![r.figure.label.to_string()];
            cells.extend(r.cells.iter().map(|c| cell_text(r.figure.unit, c)));
            cells.push(ratio_text(&r.pv_over_hvm));
            cells.push(ratio_text(&r.pv_over_native));
            let n: Vec<String> = r.cells.iter().map(|c| n_text(&c.iters)).collect();
            cells.push(n.join(" / "));
            cells
        })
        .collect();
    Table::new(title, Some(chart), &header, body)
}

pub fn latency_table(report: &BenchReport) -> Table {
    let title = "Block I/O latency: native AHCI, Xen HVM emulated AHCI, Xen PVH blkfront";
    figures_table(report, title, "block_latency.svg", &[Unit::Latency])
}

pub fn throughput_table(report: &BenchReport) -> Table {
    let title = "Block I/O throughput: native AHCI, Xen HVM emulated AHCI, Xen PVH blkfront";
    let units = [Unit::Iops, Unit::MegabytesPerSec];
    figures_table(report, title, "block_throughput.svg", &units)
}

/// Every run of every block figure: its value, p10-p90 and n per column.
pub fn block_runs_table(report: &BenchReport) -> Table {
    let mut header: Vec<(String, Align)> =
        vec![("figure".into(), Align::Left), ("run".into(), Align::Right)];
    for c in &report.columns {
        header.push((c.name.clone(), Align::Right));
    }
    let runs = report
        .columns
        .iter()
        .map(|c| c.runs.len())
        .max()
        .unwrap_or(0);
    let mut rows = Vec::new();
    for figure in &FIGURES {
        for k in 0..runs {
            let mut cells = vec![figure.label.to_string(), (k + 1).to_string()];
            for c in &report.columns {
                let result = c.runs.get(k).and_then(|r| r.output.get(figure.bench));
                cells.push(result.map_or("-".into(), |r| run_text(figure, r)));
            }
            rows.push(cells);
        }
    }
    let title = "Block I/O, every run: median [p10-p90] and n";
    Table::new(title, None, &header, rows)
}

fn run_text(figure: &Figure, r: &crate::bench::parse::BenchResult) -> String {
    let unit = figure.unit;
    match (figure.value(r), figure.p10_p90(r)) {
        (Some(v), Some((lo, hi))) => format!(
            "{} [{}-{}] n={}",
            amount(unit, v),
            amount(unit, lo),
            amount(unit, hi),
            r.iters
        ),
        (Some(v), None) => format!("{} n={}", amount(unit, v), r.iters),
        _ => format!("no figure (no ops/bytes) n={}", r.iters),
    }
}

/// The goal, one line each: met or not, with the ratios it rests on.
pub fn goal_lines(report: &BenchReport) -> Vec<String> {
    goals(&report.block()).iter().map(goal_line).collect()
}

fn goal_line(g: &Goal) -> String {
    let verdict = match g.met {
        Some(true) => "met in every run",
        Some(false) => "NOT met in every run",
        None => "not judged (a column or a run is missing)",
    };
    format!(
        "goal: {}: {verdict} (ratio {})",
        g.what,
        g.ratios.text_n(times)
    )
}
