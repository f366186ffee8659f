//! One SVG chart per table that has one: the medians over the runs.

use super::svg::{Bar, Chart};
use crate::bench::block_rows::Unit;
use crate::bench::floor::Workload;
use crate::bench::model::BenchReport;

/// Bars in sets (a pair's two sides, a row's columns): a set's i-th bar is
/// in group i.
fn sets<S: IntoIterator<Item = (String, Option<f64>)>>(
    sets: impl IntoIterator<Item = S>,
) -> Vec<Bar> {
    let set = |s: S| {
        s.into_iter()
            .enumerate()
            .map(|(group, (label, value))| Bar {
                label,
                value,
                group,
            })
    };
    sets.into_iter().flat_map(set).collect()
}

fn chart(title: &str, unit: &str, bars: Vec<Bar>, legend: &[&str]) -> Chart {
    let (title, unit) = (title.into(), unit.into());
    let legend = legend.iter().map(ToString::to_string).collect();
    Chart {
        title,
        unit,
        bars,
        legend,
    }
}

fn pairs(report: &BenchReport) -> Chart {
    let bars = sets(report.pairs().iter().map(|p| {
        [
            (
                format!("{}: {}", p.pair, p.baseline_name()),
                p.baseline_ns().median(),
            ),
            (format!("{}: {}", p.pair, p.pv_name()), p.pv_ns().median()),
        ]
    }));
    let title = "Pairs under Xen PVH: median per operation (median over runs)";
    chart(title, "ns", bars, &["emulated", "paravirtual"])
}

fn sweep(report: &BenchReport) -> Chart {
    let bars = sets(report.sweep().iter().map(|p| {
        let n = f64::from(p.sweep_n().unwrap_or(1).max(1));
        [
            (
                format!("N={n}: separate"),
                p.baseline_ns().median().map(|v| v / n),
            ),
            (
                format!("N={n}: multicall"),
                p.pv_ns().median().map(|v| v / n),
            ),
        ]
    }));
    let title = "Multicall sweep: cost per call against N (median over runs)";
    chart(
        title,
        "ns",
        bars,
        &["N separate hypercalls", "one multicall of N"],
    )
}

fn core(report: &BenchReport) -> Chart {
    let columns = &report.columns;
    let bars = sets(report.core().iter().map(|row| {
        let cells = columns.iter().zip(&row.cells);
        cells.map(|(c, cell)| (format!("{} {}", row.name, c.name), cell.medians.median()))
    }));
    let legend: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let title = "Benchmarks: native, Xen HVM, Xen PVH (median over runs)";
    chart(title, "ns", bars, &legend)
}

/// Each SMP benchmark at each CPU count, per column.
fn smp(report: &BenchReport) -> Chart {
    let names = super::smp_tables::names(report);
    let bars = sets(report.smp().iter().map(|r| {
        let cells = names.iter().zip(&r.row.cells);
        let label = |name| format!("{} {} CPUs: {name}", r.row.name, r.cpus);
        cells
            .map(|(name, cell)| (label(name), cell.medians.median()))
            .collect::<Vec<_>>()
    }));
    let legend: Vec<&str> = names.iter().map(String::as_str).collect();
    let title = "SMP: native, Xen HVM, Xen PVH with 2 and 4 CPUs (median over runs)";
    chart(title, "ns", bars, &legend)
}

/// The block figures of `units` per column, medians over the runs; IOPS
/// shown as the MB/s they move (4 KiB each), so that one axis serves.
fn block(report: &BenchReport, title: &str, unit: &str, units: &[Unit]) -> Chart {
    let columns = &report.columns;
    let rows = report.block();
    let bars = sets(
        rows.iter()
            .filter(|r| units.contains(&r.figure.unit))
            .map(|row| {
                let (label, scale) = match row.figure.unit {
                    Unit::Iops => ("4 KiB random reads, QD32 (as MB/s)", 4096.0 / 1e6),
                    _ => (row.figure.label, 1.0),
                };
                let cells = columns.iter().zip(&row.cells);
                cells.map(move |(c, cell)| {
                    (
                        format!("{label}: {}", c.name),
                        cell.values.median().map(|v| v * scale),
                    )
                })
            }),
    );
    let legend: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    chart(title, unit, bars, &legend)
}

fn boot(report: &BenchReport) -> Chart {
    let bars = sets(report.boot.iter().map(|b| {
        [
            (
                format!("{}: xl create -> unpaused", b.guest),
                b.spread(|r| r.unpaused_secs),
            ),
            (
                format!("{}: xl create -> first byte", b.guest),
                b.spread(|r| r.first_byte_secs),
            ),
            (
                format!("{}: ready, own clock", b.guest),
                b.spread(|r| r.ready_own_clock_secs),
            ),
        ]
        .map(|(label, spread)| (label, spread.median()))
    }));
    let legend = [
        "toolstack (dom0's clock)",
        "first console byte (dom0's clock)",
        "guest time to ready (its own clock)",
    ];
    chart("Boot under Xen PVH (median over runs)", "s", bars, &legend)
}

fn footprint(report: &BenchReport) -> Chart {
    let f = &report.footprint;
    let kib = |b: Option<u64>| b.map(|b| b as f64 / 1024.0);
    let floor = |w| report.floor_mb(w).map(|mb| f64::from(mb) * 1024.0);
    let bars = [
        (
            "virtus-pv image (stripped)",
            kib(f.virtus_pv_stripped_bytes),
            0,
        ),
        ("Linux vmlinux", kib(f.linux_vmlinux_bytes), 1),
        ("Linux initramfs", kib(f.linux_initramfs_bytes), 1),
        (
            "virtus-pv smallest memory: shell",
            floor(Workload::Shell),
            0,
        ),
        (
            "virtus-pv smallest memory: suite",
            floor(Workload::Suite),
            0,
        ),
        ("Linux memory (documented floor)", Some(96.0 * 1024.0), 1),
    ];
    let bars = bars.map(|(label, value, group)| Bar {
        label: label.into(),
        value,
        group,
    });
    let title = "Footprint: image sizes and smallest memory";
    chart(title, "KiB", bars.into(), &["Virtus", "Linux"])
}

fn density(report: &BenchReport) -> Chart {
    let bar = |d: &crate::bench::model::DensityStep| Bar {
        label: format!("N={} ({}/{} ok)", d.n, d.passed, d.n),
        value: d.create().median(),
        group: usize::from(!d.all_passed()),
    };
    let bars = report.density.iter().map(bar).collect();
    let title = "Density: median time to create one guest, N at once";
    chart(title, "s", bars, &["all succeeded", "some failed"])
}

/// Every chart, by the file its table names.
pub fn charts(report: &BenchReport) -> Vec<(String, Chart)> {
    [
        ("pairs.svg", pairs(report)),
        ("sweep.svg", sweep(report)),
        ("core.svg", core(report)),
        (
            "block_latency.svg",
            block(
                report,
                "Block I/O latency per request (median over runs; lower is better)",
                "ns",
                &[Unit::Latency],
            ),
        ),
        (
            "block_throughput.svg",
            block(
                report,
                "Block I/O throughput (median over runs; higher is better)",
                "MB/s",
                &[Unit::Iops, Unit::MegabytesPerSec],
            ),
        ),
        ("smp.svg", smp(report)),
        ("boot.svg", boot(report)),
        ("footprint.svg", footprint(report)),
        ("density.svg", density(report)),
    ]
    .into_iter()
    .map(|(file, chart)| (file.to_string(), chart))
    .collect()
}
