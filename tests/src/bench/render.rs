//! The report's tables, for the terminal and for Markdown. Every figure
//! carries its spread over the runs and its n.

use super::boot::BootRow;
use super::floor::{self, Floor};
use super::model::BenchReport;
use super::pairs::{PairRun, PairSeries, p10_p90_ns, times};
use super::spread::{Spread, n_text};
use crate::table::{self, Align};

/// A table both the terminal and Markdown can show.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Also its Markdown section heading.
    pub title: String,
    pub header: Vec<(String, Align)>,
    pub rows: Vec<Vec<String>>,
    /// The chart's file name under the output directory, if it has one.
    pub chart_file: Option<String>,
}

impl Table {
    pub fn terminal(&self) -> String {
        let header: Vec<(&str, Align)> =
            self.header.iter().map(|(t, a)| (t.as_str(), *a)).collect();
        format!("{}\n{}", self.title, table::render(&header, &self.rows))
    }

    pub fn markdown(&self) -> String {
        let cell = |text: &str| text.replace('|', "\\|");
        let titles: Vec<String> = self.header.iter().map(|(t, _)| cell(t)).collect();
        let mut out = format!("| {} |\n", titles.join(" | "));
        let rule: Vec<&str> = self
            .header
            .iter()
            .map(|(_, a)| match a {
                Align::Left => "---",
                Align::Right => "---:",
            })
            .collect();
        out.push_str(&format!("|{}|\n", rule.join("|")));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }
}

fn header(titles: &[(&str, Align)]) -> Vec<(String, Align)> {
    titles.iter().map(|(t, a)| (t.to_string(), *a)).collect()
}

/// A duration in ns with a readable unit and three significant digits.
pub fn ns(value: f64) -> String {
    let (v, unit) = if value >= 1e6 {
        (value / 1e6, "ms")
    } else if value >= 1e3 {
        (value / 1e3, "us")
    } else {
        (value, "ns")
    };
    super::svg::value_text(v, unit)
}

pub fn secs(value: f64) -> String {
    format!("{value:.2} s")
}

pub fn bytes(value: Option<u64>) -> String {
    value.map_or("-".into(), |b| {
        if b >= 1 << 20 {
            format!("{:.1} MiB", b as f64 / f64::from(1 << 20))
        } else {
            format!("{:.0} KiB", b as f64 / 1024.0)
        }
    })
}

/// A run's median and its p10-p90, for the per-run detail.
fn run_cell(r: &super::parse::BenchResult) -> String {
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
    Table {
        title: "Pairs under Xen PVH: the emulated path against the paravirtual one".into(),
        header: header(&[
            ("pair", Align::Left),
            ("baseline", Align::Left),
            ("median (range over runs)", Align::Right),
            ("paravirtual", Align::Left),
            ("median (range over runs)", Align::Right),
            ("n: runs x iterations", Align::Right),
            ("baseline/pv (range)", Align::Right),
            ("verdict (rule below)", Align::Left),
        ]),
        rows: report
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
            .collect(),
        chart_file: Some("pairs.svg".into()),
    }
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
    Table {
        title: "Every run of every pair: median [p10-p90] and n".into(),
        header: header(&[
            ("pair", Align::Left),
            ("run", Align::Right),
            ("baseline", Align::Right),
            ("paravirtual", Align::Right),
            ("ratio", Align::Right),
            ("this run", Align::Left),
        ]),
        rows,
        chart_file: None,
    }
}

pub fn sweep_table(report: &BenchReport) -> Table {
    let per_op = |s: Spread, n: u32| Spread::of(s.values().iter().map(|v| v / f64::from(n)));
    Table {
        title: "Multicall sweep under Xen PVH: cost per operation against N".into(),
        header: header(&[
            ("N", Align::Right),
            ("N hypercalls, per call", Align::Right),
            ("one multicall of N, per call", Align::Right),
            ("n: runs x iterations", Align::Right),
            ("separate/multicall (range)", Align::Right),
            ("verdict (rule below)", Align::Left),
        ]),
        rows: report
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
            .collect(),
        chart_file: Some("sweep.svg".into()),
    }
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
    Table {
        title: "Benchmarks in the three columns, core ones first (median per operation)".into(),
        header: titles,
        rows: report
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
            .collect(),
        chart_file: Some("core.svg".into()),
    }
}

fn boot_cells(b: &BootRow) -> Vec<String> {
    vec![
        b.guest.clone(),
        format!("{} MiB", b.memory_mb),
        b.runs.iter().filter(|r| r.passed).count().to_string() + &format!("/{}", b.runs.len()),
        b.spread(|r| r.built).text(secs),
        b.spread(|r| r.unpaused).text(secs),
        b.spread(|r| r.first_byte).text(secs),
        b.spread(|r| r.gone).text(secs),
        b.spread(|r| r.ready_own_clock).text(secs),
        b.kind.ready_is().to_string(),
    ]
}

pub fn boot_table(report: &BenchReport) -> Table {
    Table {
        title: "Boot under Xen PVH: from the start of `xl create`, dom0's clock; ready, the guest's own clock".into(),
        header: header(&[
            ("guest", Align::Left),
            ("memory", Align::Right),
            ("n (ok/runs)", Align::Right),
            ("xl create: domain built", Align::Right),
            ("console attached, unpaused", Align::Right),
            ("first console byte", Align::Right),
            ("domain gone", Align::Right),
            ("ready, guest's own clock", Align::Right),
            ("ready is", Align::Left),
        ]),
        rows: report.boot.iter().map(boot_cells).collect(),
        chart_file: Some("boot.svg".into()),
    }
}

fn floor_cells(f: &Floor) -> Vec<String> {
    let order: Vec<String> = f
        .probes
        .iter()
        .map(|p| format!("{}{}", p.mb, if p.passed { "+" } else { "-" }))
        .collect();
    let (floor, n) = match f.floor() {
        Some(mb) => (
            format!("{mb} MiB"),
            format!(
                "{} / {}",
                f.tries(mb),
                if mb > floor::LO_MB {
                    f.tries(mb - 1)
                } else {
                    0
                }
            ),
        ),
        None => ("none found".into(), "-".into()),
    };
    vec![
        f.workload.word().to_string(),
        f.workload.criterion().to_string(),
        floor,
        n,
        f.memory_at_floor().unwrap_or("-").to_string(),
        f.reason(),
        order.join(" "),
    ]
}

pub fn floor_table(report: &BenchReport) -> Table {
    Table {
        title: "Smallest memory for virtus-pv: bisection over whole MiB under Xen PVH".into(),
        header: header(&[
            ("workload", Align::Left),
            ("passes when it", Align::Left),
            ("floor", Align::Right),
            ("n: boots at floor / at floor-1", Align::Right),
            ("the kernel at the floor", Align::Left),
            ("why not 1 MiB less", Align::Left),
            ("probes in order (MiB, + passed, - failed)", Align::Left),
        ]),
        rows: report.floors.iter().map(floor_cells).collect(),
        chart_file: None,
    }
}

pub fn footprint_table(report: &BenchReport) -> Table {
    let f = &report.footprint;
    let floor = |w: floor::Workload| {
        report
            .floors
            .iter()
            .find(|fl| fl.workload == w)
            .and_then(Floor::floor)
            .map_or("-".into(), |mb| format!("{mb} MiB"))
    };
    Table {
        title: "Footprint: virtus-pv against the bed's Linux PVH guest".into(),
        header: header(&[
            ("guest", Align::Left),
            ("kernel image", Align::Right),
            ("initramfs", Align::Right),
            ("smallest memory: shell / suite", Align::Left),
        ]),
        rows: vec![
            vec![
                format!(
                    "virtus-pv (stripped; {} with debug info)",
                    bytes(f.virtus_pv_bytes)
                ),
                bytes(f.virtus_pv_stripped_bytes),
                "none".into(),
                format!(
                    "{} / {} (bisection above)",
                    floor(floor::Workload::Shell),
                    floor(floor::Workload::Suite)
                ),
            ],
            vec![
                "Linux (bed's vmlinux)".into(),
                bytes(f.linux_vmlinux_bytes),
                bytes(f.linux_initramfs_bytes),
                "96 MiB to init (documented, not bisected here; see below)".into(),
            ],
        ],
        chart_file: Some("footprint.svg".into()),
    }
}

pub fn density_table(report: &BenchReport) -> Table {
    Table {
        title: "Density: N virtus-pv PVH domUs at once under one Xen".into(),
        header: header(&[
            ("N", Align::Right),
            ("memory each", Align::Right),
            ("succeeded", Align::Right),
            ("peak at once", Align::Right),
            ("create per guest (range), n=N", Align::Right),
            ("2nd half/1st half", Align::Right),
            ("all created", Align::Right),
            ("all ended", Align::Right),
            ("problems", Align::Left),
        ]),
        rows: report
            .density
            .iter()
            .map(|d| {
                let opt = |v: Option<f64>| v.map_or("-".into(), secs);
                vec![
                    d.n.to_string(),
                    format!("{} MiB", d.memory_mb),
                    format!("{}/{}", d.passed, d.n),
                    d.peak_running.to_string(),
                    d.create().text(secs),
                    d.growth().map_or("-".into(), times),
                    opt(d.all_created_secs),
                    opt(d.all_ended_secs),
                    if d.problems.is_empty() {
                        "none".into()
                    } else {
                        d.problems.join("; ")
                    },
                ]
            })
            .collect(),
        chart_file: Some("density.svg".into()),
    }
}

/// The tables, in the report's order.
pub fn tables(report: &BenchReport) -> Vec<Table> {
    vec![
        pairs_table(report),
        sweep_table(report),
        core_table(report),
        boot_table(report),
        floor_table(report),
        footprint_table(report),
        density_table(report),
        pair_runs_table(report),
    ]
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
