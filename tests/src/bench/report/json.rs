//! `bench/report.json`: every figure of every run, raw, and what the
//! report computed from them.

use super::json_writer::Json;
use crate::bench::boot::BootRow;
use crate::bench::floor::Floor;
use crate::bench::model::{BenchReport, Column, DensityStep};
use crate::bench::pairs::{PairSeries, TIE_RULE};
use crate::bench::parse::{BenchOutput, BenchResult};
use crate::bench::spread::Spread;

fn strings(items: &[String]) -> Json {
    Json::Arr(items.iter().map(|s| Json::str(s)).collect())
}

fn spread(s: &Spread) -> Json {
    Json::obj(vec![
        ("n", Json::int(s.n() as u64)),
        ("median", Json::opt(s.median())),
        ("min", Json::opt(s.min())),
        ("max", Json::opt(s.max())),
        (
            "values",
            Json::Arr(s.values().iter().map(|v| Json::Num(*v)).collect()),
        ),
    ])
}

fn result(r: &BenchResult) -> Json {
    Json::obj(vec![
        ("name", Json::str(&r.name)),
        ("iters", Json::int(r.iters)),
        ("median_cycles", Json::int(r.median_cycles)),
        ("p10_cycles", Json::int(r.p10_cycles)),
        ("p90_cycles", Json::int(r.p90_cycles)),
        ("min_cycles", Json::int(r.min_cycles)),
        ("median_ns", Json::Num(r.median_ns)),
        ("tsc_hz", Json::int(r.tsc_hz)),
        ("pair", r.pair.as_deref().map_or(Json::Null, Json::str)),
        ("role", Json::str(r.role.word())),
    ])
}

fn output(o: &BenchOutput) -> Json {
    Json::obj(vec![
        ("results", Json::Arr(o.results.iter().map(result).collect())),
        (
            "errors",
            Json::Arr(
                o.errors
                    .iter()
                    .map(|(n, t)| Json::obj(vec![("name", Json::str(n)), ("error", Json::str(t))]))
                    .collect(),
            ),
        ),
        ("done_count", o.done.map_or(Json::Null, Json::int)),
        ("complete", Json::Bool(o.complete())),
        ("notes", strings(&o.notes)),
    ])
}

fn column(c: &Column) -> Json {
    Json::obj(vec![
        ("name", Json::str(&c.name)),
        ("setup", Json::str(&c.setup)),
        (
            "runs",
            Json::Arr(
                c.runs
                    .iter()
                    .map(|r| {
                        Json::obj(vec![
                            ("output", output(&r.output)),
                            ("problems", strings(&r.problems)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

fn pair(p: &PairSeries) -> Json {
    Json::obj(vec![
        ("pair", Json::str(&p.pair)),
        ("baseline", Json::str(p.baseline_name())),
        ("baseline_role", Json::str(p.baseline_role().word())),
        ("pv", Json::str(p.pv_name())),
        ("baseline_median_ns", spread(&p.baseline_ns())),
        ("pv_median_ns", spread(&p.pv_ns())),
        ("ratio_baseline_over_pv", spread(&p.ratios())),
        (
            "run_winners",
            Json::Arr(
                p.runs
                    .iter()
                    .map(|r| Json::str(&format!("{:?}", r.winner()).to_lowercase()))
                    .collect(),
            ),
        ),
        ("verdict", Json::str(&p.verdict())),
    ])
}

fn boot(b: &BootRow) -> Json {
    let opt = |v: Option<f64>| Json::opt(v);
    Json::obj(vec![
        ("guest", Json::str(&b.guest)),
        ("memory_mb", Json::int(u64::from(b.memory_mb))),
        ("ready_is", Json::str(b.kind.ready_is())),
        (
            "runs",
            Json::Arr(
                b.runs
                    .iter()
                    .map(|r| {
                        Json::obj(vec![
                            ("built_secs", opt(r.built)),
                            ("unpaused_secs", opt(r.unpaused)),
                            ("first_byte_secs", opt(r.first_byte)),
                            ("gone_secs", opt(r.gone)),
                            ("ready_own_clock_secs", opt(r.ready_own_clock)),
                            ("ended", Json::str(&r.ended)),
                            ("passed", Json::Bool(r.passed)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

fn floor(f: &Floor) -> Json {
    Json::obj(vec![
        ("workload", Json::str(f.workload.word())),
        ("passes_when_it", Json::str(f.workload.criterion())),
        (
            "floor_mb",
            f.floor().map_or(Json::Null, |mb| Json::int(u64::from(mb))),
        ),
        ("reason", Json::str(&f.reason())),
        (
            "probes",
            Json::Arr(
                f.probes
                    .iter()
                    .map(|p| {
                        Json::obj(vec![
                            ("memory_mb", Json::int(u64::from(p.mb))),
                            ("try", Json::int(u64::from(p.attempt))),
                            ("passed", Json::Bool(p.passed)),
                            ("why", Json::str(&p.why)),
                            (
                                "memory_line",
                                p.memory_line.as_deref().map_or(Json::Null, Json::str),
                            ),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("problems", strings(&f.problems)),
    ])
}

fn density(d: &DensityStep) -> Json {
    Json::obj(vec![
        ("n", Json::int(d.n as u64)),
        ("memory_mb", Json::int(u64::from(d.memory_mb))),
        ("passed", Json::int(d.passed as u64)),
        ("peak_running", Json::int(d.peak_running as u64)),
        ("create_secs", spread(&d.create())),
        ("growth_second_half_over_first", Json::opt(d.growth())),
        ("all_created_secs", Json::opt(d.all_created_secs)),
        ("all_ended_secs", Json::opt(d.all_ended_secs)),
        ("problems", strings(&d.problems)),
    ])
}

/// Every figure of the run.
pub fn report_json(report: &BenchReport) -> Json {
    let m = &report.machine;
    let (all_pairs, pair_notes) = report.all_pairs();
    let f = &report.footprint;
    let bytes = |b: Option<u64>| b.map_or(Json::Null, Json::int);
    let core = report
        .core()
        .iter()
        .map(|row| {
            Json::obj(vec![
                ("name", Json::str(&row.name)),
                ("kind", Json::str(&row.kind)),
                (
                    "median_ns",
                    Json::Obj(
                        report
                            .columns
                            .iter()
                            .zip(&row.cells)
                            .map(|(c, cell)| (c.name.clone(), spread(&cell.medians)))
                            .collect(),
                    ),
                ),
                ("hvm_over_pvh", spread(&row.hvm_over_pvh)),
                ("hvm_over_native", spread(&row.hvm_over_native)),
            ])
        })
        .collect();
    Json::obj(vec![
        (
            "machine",
            Json::obj(vec![
                ("commit", Json::str(&m.commit)),
                ("cpu_model", Json::str(&m.cpu_model)),
                ("cores", Json::int(m.cores as u64)),
                ("emulation", Json::str("QEMU TCG (software emulation)")),
                ("qemu_version", Json::str(&m.qemu_version)),
                ("xen_version", Json::str(&m.xen_version)),
            ]),
        ),
        ("quick", Json::Bool(report.quick)),
        ("repeat", Json::int(report.repeat as u64)),
        ("elapsed_secs", Json::Num(report.elapsed_secs)),
        ("passed", Json::Bool(report.passed())),
        (
            "columns",
            Json::Arr(report.columns.iter().map(column).collect()),
        ),
        ("tie_rule", Json::str(TIE_RULE)),
        ("pairs", Json::Arr(all_pairs.iter().map(pair).collect())),
        ("pair_notes", strings(&pair_notes)),
        ("core", Json::Arr(core)),
        ("boot", Json::Arr(report.boot.iter().map(boot).collect())),
        (
            "memory_floors",
            Json::Arr(report.floors.iter().map(floor).collect()),
        ),
        (
            "footprint",
            Json::obj(vec![
                ("virtus_pv_bytes", bytes(f.virtus_pv_bytes)),
                (
                    "virtus_pv_stripped_bytes",
                    bytes(f.virtus_pv_stripped_bytes),
                ),
                ("linux_vmlinux_bytes", bytes(f.linux_vmlinux_bytes)),
                ("linux_initramfs_bytes", bytes(f.linux_initramfs_bytes)),
                ("linux_floor_source", Json::str(&f.linux_floor_source)),
            ]),
        ),
        (
            "density",
            Json::Arr(report.density.iter().map(density).collect()),
        ),
        ("notes", strings(&report.notes)),
    ])
}
