//! The SMP table: the `smp_` benchmarks per CPU count in the three
//! columns, with xen-pvh's ratios to the others and the tie rule's verdict.

use super::block_tables::rule_text;
use super::table::{Table, ns};
use crate::bench::core_rows::Cell;
use crate::bench::model::BenchReport;
use crate::bench::smp_rows::SmpRow;
use crate::bench::spread::n_text;
use crate::table::Align;

/// The median (range over runs), or why there is none: a run without a
/// figure is never shown as one.
fn cell_text(cell: &Cell, failed: &[String], runs: usize) -> String {
    let text = cell.medians.text(ns);
    let Some(first) = failed.first() else {
        return text;
    };
    let why = format!("no result in {} of {runs} runs ({first})", failed.len());
    if cell.medians.n() == 0 {
        why
    } else {
        format!("{text}; {why}")
    }
}

/// The columns' names, from the first CPU count measured.
pub fn names(report: &BenchReport) -> Vec<String> {
    let first = report.smp.first().map(|s| s.columns.as_slice());
    first
        .unwrap_or_default()
        .iter()
        .map(|c| c.name.clone())
        .collect()
}

fn row_cells(r: &SmpRow) -> Vec<String> {
    let mut cells = vec![r.row.name.clone(), r.cpus.to_string()];
    for (k, cell) in r.row.cells.iter().enumerate() {
        let failed = r.no_result.get(k).map_or(&[][..], Vec::as_slice);
        cells.push(cell_text(cell, failed, r.runs.get(k).copied().unwrap_or(0)));
    }
    cells.push(rule_text(&r.row.hvm_over_pvh, &r.vs_hvm));
    cells.push(rule_text(&r.pvh_over_native, &r.vs_native));
    let n: Vec<String> = r.row.cells.iter().map(|c| n_text(&c.iters)).collect();
    cells.push(n.join(" / "));
    cells
}

pub fn smp_table(report: &BenchReport) -> Table {
    let names = names(report);
    let mut header: Vec<(String, Align)> = vec![
        ("benchmark".into(), Align::Left),
        ("CPUs".into(), Align::Right),
    ];
    for name in &names {
        header.push((format!("{name}: median (range over runs)"), Align::Right));
    }
    header.push(("xen-hvm/xen-pvh (range), rule".into(), Align::Right));
    header.push(("xen-pvh/native (range), rule".into(), Align::Right));
    header.push((
        format!("n: runs x iterations ({})", names.join(" / ")),
        Align::Right,
    ));
    let rows = report.smp().iter().map(row_cells).collect();
    let title = "SMP: inter-processor operations";
    Table::new(title, Some("smp.svg"), &header, rows)
}
