//! One SVG chart per table that has one: the medians over the runs.

use super::svg::{Bar, Chart};
use crate::bench::floor::{Floor, Workload};
use crate::bench::model::BenchReport;

fn bar(label: String, value: Option<f64>, group: usize) -> Bar {
    Bar {
        label,
        value,
        group,
    }
}

fn pairs(report: &BenchReport) -> Chart {
    Chart {
        title: "Pairs under Xen PVH: median per operation (median over runs)".into(),
        unit: "ns".into(),
        bars: report
            .pairs()
            .iter()
            .flat_map(|p| {
                [
                    bar(
                        format!("{}: {}", p.pair, p.baseline_name()),
                        p.baseline_ns().median(),
                        0,
                    ),
                    bar(
                        format!("{}: {}", p.pair, p.pv_name()),
                        p.pv_ns().median(),
                        1,
                    ),
                ]
            })
            .collect(),
        legend: vec!["emulated".into(), "paravirtual".into()],
    }
}

fn sweep(report: &BenchReport) -> Chart {
    Chart {
        title: "Multicall sweep: cost per call against N (median over runs)".into(),
        unit: "ns".into(),
        bars: report
            .sweep()
            .iter()
            .flat_map(|p| {
                let n = f64::from(p.sweep_n().unwrap_or(1).max(1));
                [
                    bar(
                        format!("N={n}: separate"),
                        p.baseline_ns().median().map(|v| v / n),
                        0,
                    ),
                    bar(
                        format!("N={n}: multicall"),
                        p.pv_ns().median().map(|v| v / n),
                        1,
                    ),
                ]
            })
            .collect(),
        legend: vec!["N separate hypercalls".into(), "one multicall of N".into()],
    }
}

fn core(report: &BenchReport) -> Chart {
    Chart {
        title: "Benchmarks: native, Xen HVM, Xen PVH (median over runs)".into(),
        unit: "ns".into(),
        bars: report
            .core()
            .iter()
            .flat_map(|row| {
                row.cells
                    .iter()
                    .zip(&report.columns)
                    .enumerate()
                    .map(|(i, (cell, column))| {
                        bar(
                            format!("{} {}", row.name, column.name),
                            cell.medians.median(),
                            i,
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect(),
        legend: report.columns.iter().map(|c| c.name.clone()).collect(),
    }
}

fn boot(report: &BenchReport) -> Chart {
    Chart {
        title: "Boot under Xen PVH (median over runs)".into(),
        unit: "s".into(),
        bars: report
            .boot
            .iter()
            .flat_map(|b| {
                [
                    bar(
                        format!("{}: xl create -> unpaused", b.guest),
                        b.spread(|r| r.unpaused).median(),
                        0,
                    ),
                    bar(
                        format!("{}: xl create -> first byte", b.guest),
                        b.spread(|r| r.first_byte).median(),
                        1,
                    ),
                    bar(
                        format!("{}: ready, own clock", b.guest),
                        b.spread(|r| r.ready_own_clock).median(),
                        2,
                    ),
                ]
            })
            .collect(),
        legend: vec![
            "toolstack (dom0's clock)".into(),
            "first console byte (dom0's clock)".into(),
            "guest time to ready (its own clock)".into(),
        ],
    }
}

fn footprint(report: &BenchReport) -> Chart {
    let f = &report.footprint;
    let kib = |b: Option<u64>| b.map(|b| b as f64 / 1024.0);
    let floor = |w: Workload| {
        report
            .floors
            .iter()
            .find(|fl| fl.workload == w)
            .and_then(Floor::floor)
            .map(|mb| f64::from(mb) * 1024.0)
    };
    Chart {
        title: "Footprint: image sizes and smallest memory".into(),
        unit: "KiB".into(),
        bars: vec![
            bar(
                "virtus-pv image (stripped)".into(),
                kib(f.virtus_pv_stripped_bytes),
                0,
            ),
            bar("Linux vmlinux".into(), kib(f.linux_vmlinux_bytes), 1),
            bar("Linux initramfs".into(), kib(f.linux_initramfs_bytes), 1),
            bar(
                "virtus-pv smallest memory: shell".into(),
                floor(Workload::Shell),
                0,
            ),
            bar(
                "virtus-pv smallest memory: suite".into(),
                floor(Workload::Suite),
                0,
            ),
            bar(
                "Linux memory (documented floor)".into(),
                Some(96.0 * 1024.0),
                1,
            ),
        ],
        legend: vec!["Virtus".into(), "Linux".into()],
    }
}

fn density(report: &BenchReport) -> Chart {
    Chart {
        title: "Density: median time to create one guest, N at once".into(),
        unit: "s".into(),
        bars: report
            .density
            .iter()
            .map(|d| {
                bar(
                    format!("N={} ({}/{} ok)", d.n, d.passed, d.n),
                    d.create().median(),
                    usize::from(!d.all_passed()),
                )
            })
            .collect(),
        legend: vec!["all succeeded".into(), "some failed".into()],
    }
}

/// Every chart, by the file its table names.
pub fn charts(report: &BenchReport) -> Vec<(String, Chart)> {
    [
        ("pairs.svg", pairs(report)),
        ("sweep.svg", sweep(report)),
        ("core.svg", core(report)),
        ("boot.svg", boot(report)),
        ("footprint.svg", footprint(report)),
        ("density.svg", density(report)),
    ]
    .into_iter()
    .map(|(file, chart)| (file.to_string(), chart))
    .collect()
}
