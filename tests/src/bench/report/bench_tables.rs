//! The tables drawn from the kernel's `# bench` lines: the pairs inside
//! the PVH guest, the multicall sweep, every benchmark across the three
//! columns, and every run of every pair.

use super::table::{Table, ns};
use crate::bench::model::BenchReport;
use crate::bench::pairs::{PairRun, PairSeries, p10_p90_ns, times};
use crate::bench::parse::BenchResult;
use crate::bench::spread::{Spread, n_text};
use crate::table::Align;

/// A run's median and its p10-p90, for the per-run detail.
fn run_cell(r: &BenchResult) -> String {
    match p10_p90_ns(r) {
        Some((lo, hi)) => format!("{} [{}-{}]", ns(r.median_ns), ns(lo), ns(hi)),
        None => ns(r.median_ns),
    }
}

fn pair_iters(p: &PairSeries) -> String {
    let b: Vec<u64> = p.runs.iter().map(|r| r.baseline.iters).collect();
    let v: Vec<u64> = p.runs.iter().map(|r| r.pv.iters).collect();
    format!("{} / {}", n_text(&b), n_text(&v))
}

pub fn pairs_table(report: &BenchReport) -> Table {
    let header = [
        ("pair", Align::Left),
        ("baseline", Align::Left),
        ("median (range over runs)", Align::Right),
        ("paravirtual", Align::Left),
        ("median (range over runs)", Align::Right),
        ("n: runs x iterations", Align::Right),
        ("baseline/pv (range)", Align::Right),
        ("verdict (rule below)", Align::Left),
    ];
    let rows = report
        .pairs()
        .iter()
        .map(|p| {
            vec![
                p.pair.clone(),
                format!("{} ({})", p.baseline_name(), p.baseline_role().word()),
                p.baseline_ns().text(ns),
                p.pv_name().to_string(),
                p.pv_ns().text(ns),
                pair_iters(p),
                p.ratios().text(times),
                p.verdict(),
            ]
        })
        .collect();
    let title = "Pairs under Xen PVH: the emulated path against the paravirtual one";
    Table::new(title, Some("pairs.svg"), &header, rows)
}

/// Every run of every pair and sweep point, with its p10-p90 ranges.
pub fn pair_runs_table(report: &BenchReport) -> Table {
    let (all, _) = report.all_pairs();
    let mut rows = Vec::new();
    for p in &all {
        for (i, run) in p.runs.iter().enumerate() {
            let PairRun { baseline, pv } = run;
            rows.push(vec![
                p.pair.clone(),
                (i + 1).to_string(),
                format!("{} n={}", run_cell(baseline), baseline.iters),
                format!("{} n={}", run_cell(pv), pv.iters),
                run.ratio().map_or("-".into(), times),
                format!("{:?}", run.winner()).to_lowercase(),
            ]);
        }
    }
    let header = [
        ("pair", Align::Left),
        ("run", Align::Right),
        ("baseline", Align::Right),
        ("paravirtual", Align::Right),
        ("ratio", Align::Right),
        ("this run", Align::Left),
    ];
    let title = "Every run of every pair: median [p10-p90] and n";
    Table::new(title, None, &header, rows)
}

pub fn sweep_table(report: &BenchReport) -> Table {
    let per_op = |s: Spread, n: u32| Spread::of(s.values().iter().map(|v| v / f64::from(n)));
    let header = [
        ("N", Align::Right),
        ("N hypercalls, per call", Align::Right),
        ("one multicall of N, per call", Align::Right),
        ("n: runs x iterations", Align::Right),
        ("separate/multicall (range)", Align::Right),
        ("verdict (rule below)", Align::Left),
    ];
    let rows = report
        .sweep()
        .iter()
        .map(|p| {
            let n = p.sweep_n().unwrap_or(1).max(1);
            vec![
                n.to_string(),
                per_op(p.baseline_ns(), n).text(ns),
                per_op(p.pv_ns(), n).text(ns),
                pair_iters(p),
                p.ratios().text(times),
                p.verdict(),
            ]
        })
        .collect();
    let title = "Multicall sweep under Xen PVH: cost per operation against N";
    Table::new(title, Some("sweep.svg"), &header, rows)
}

pub fn core_table(report: &BenchReport) -> Table {
    let mut titles: Vec<(String, Align)> = vec![
        ("benchmark".into(), Align::Left),
        ("kind".into(), Align::Left),
    ];
    for c in &report.columns {
        titles.push((format!("{} median (range)", c.name), Align::Right));
    }
    titles.push(("hvm/pvh (range)".into(), Align::Right));
    titles.push(("hvm/native (range)".into(), Align::Right));
    let names: Vec<&str> = report.columns.iter().map(|c| c.name.as_str()).collect();
    titles.push((
        format!("n: runs x iterations ({})", names.join(" / ")),
        Align::Right,
    ));
    let header = titles;
    let rows = report
        .core()
        .iter()
        .map(|row| {
            let mut cells = vec![row.name.clone(), row.kind.clone()];
            cells.extend(row.cells.iter().map(|c| c.medians.text(ns)));
            cells.push(row.hvm_over_pvh.text(times));
            cells.push(row.hvm_over_native.text(times));
            let n: Vec<String> = row.cells.iter().map(|c| n_text(&c.iters)).collect();
            cells.push(n.join(" / "));
            cells
        })
        .collect();
    let title = "Benchmarks in the three columns, core ones first (median per operation)";
    Table::new(title, Some("core.svg"), &header, rows)
}
