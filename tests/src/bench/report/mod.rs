//! Writing the report of a `virtus-run bench` run: its tables (for the
//! terminal and for `report.md`), `report.json`, and the SVG charts.

pub mod bench_tables;
pub mod block_tables;
pub mod charts;
pub mod guest_tables;
pub mod json;
pub mod live_tables;
pub mod markdown;
pub mod smp_tables;
pub mod svg;
pub mod table;

use std::fs;
use std::path::Path;

use super::model::BenchReport;
use table::Table;

/// The tables, in the report's order.
pub fn tables(report: &BenchReport) -> Vec<Table> {
    vec![
        bench_tables::pairs_table(report),
        bench_tables::sweep_table(report),
        bench_tables::core_table(report),
        block_tables::latency_table(report),
        block_tables::throughput_table(report),
        smp_tables::smp_table(report),
        guest_tables::boot_table(report),
        guest_tables::floor_table(report),
        guest_tables::footprint_table(report),
        guest_tables::density_table(report),
        live_tables::live_table(report),
        bench_tables::pair_runs_table(report),
        block_tables::block_runs_table(report),
    ]
}

/// Writes `report.md`, `report.json` and the charts into `dir`, which exists.
pub fn write(report: &BenchReport, dir: &Path) -> Result<(), String> {
    let write = |name: &str, text: &str| {
        fs::write(dir.join(name), text)
            .map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))
    };
    write("report.md", &markdown::markdown(report))?;
    let json = json::report_json(report).map_err(|e| format!("report.json: {e}"))?;
    write("report.json", &json)?;
    for (file, chart) in charts::charts(report) {
        write(&file, &svg::render(&chart))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
