//! `bench/report.json`: every figure of every run, raw, and what the
//! report computed from them, serialised by serde_json.
//!
//! The raw figures are the model's own types, whose derives name their
//! keys (`BenchResult`, `Column`, `BootRow`, `Probe`, `Footprint`, ...);
//! what the report computes (spreads, pairs, the core rows, floors,
//! density) is written through the views below. [`Document`]'s fields are
//! the file's keys, in order.

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use crate::bench::block_rows::{BlockRow, Comparison, Goal, Unit, goals};
use crate::bench::boot::BootRow;
use crate::bench::core_rows::CoreRow;
use crate::bench::floor::Probe;
use crate::bench::model::{BenchReport, Column, Footprint, LiveFigure};
use crate::bench::pairs::{TIE_RULE, Winner};
use crate::bench::parse::{BenchOutput, Role};
use crate::bench::smp_rows::{SmpColumns, SmpRow};
use crate::bench::spread::Spread;

/// A figure over the runs: `{n, median, min, max, values}`.
impl Serialize for Spread {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_struct("Spread", 5)?;
        out.serialize_field("n", &self.n())?;
        out.serialize_field("median", &self.median())?;
        out.serialize_field("min", &self.min())?;
        out.serialize_field("max", &self.max())?;
        out.serialize_field("values", self.values())?;
        out.end()
    }
}

/// Its word, as the kernel prints it: `pv`, `emulated` or `-`.
impl Serialize for Role {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.word())
    }
}

/// What one console's bench lines said, and whether they were complete.
impl Serialize for BenchOutput {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Error<'a> {
            name: &'a str,
            error: &'a str,
        }
        let errors: Vec<Error> = self
            .errors
            .iter()
            .map(|(name, error)| Error { name, error })
            .collect();
        let mut out = s.serialize_struct("BenchOutput", 5)?;
        out.serialize_field("results", &self.results)?;
        out.serialize_field("errors", &errors)?;
        out.serialize_field("done_count", &self.done)?;
        out.serialize_field("complete", &self.complete())?;
        out.serialize_field("notes", &self.notes)?;
        out.end()
    }
}

#[derive(Serialize)]
struct Machine<'a> {
    commit: &'a str,
    cpu_model: &'a str,
    cores: usize,
    emulation: &'static str,
    qemu_version: &'a str,
    xen_version: &'a str,
}

#[derive(Serialize)]
struct Pair<'a> {
    pair: &'a str,
    baseline: &'a str,
    baseline_role: Role,
    pv: &'a str,
    baseline_median_ns: Spread,
    pv_median_ns: Spread,
    ratio_baseline_over_pv: Spread,
    run_winners: Vec<Winner>,
    verdict: String,
}

/// A benchmark across the columns.
#[derive(Serialize)]
struct Core<'a> {
    name: &'a str,
    kind: &'a str,
    /// By column name, in the columns' order.
    #[serde(serialize_with = "in_order")]
    median_ns: Vec<(&'a str, &'a Spread)>,
    hvm_over_pvh: &'a Spread,
    hvm_over_native: &'a Spread,
}

fn in_order<S: Serializer, V: Serialize>(entries: &[(&str, V)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(entries.iter().map(|(k, v)| (k, v)))
}

impl<'a> Core<'a> {
    fn of(row: &'a CoreRow, columns: &'a [Column]) -> Self {
        Self {
            name: &row.name,
            kind: &row.kind,
            median_ns: columns
                .iter()
                .map(|c| c.name.as_str())
                .zip(row.cells.iter().map(|c| &c.medians))
                .collect(),
            hvm_over_pvh: &row.hvm_over_pvh,
            hvm_over_native: &row.hvm_over_native,
        }
    }
}

/// A block figure in one column.
#[derive(Serialize)]
struct BlockCellJson<'a> {
    /// Each run's figure, over the runs.
    value: &'a Spread,
    /// Lowest p10 and highest p90 over the runs, in the figure's unit.
    p10_p90: Option<(f64, f64)>,
    iters: &'a [u64],
    disk: Option<&'a str>,
}

/// The paravirtual column against another.
#[derive(Serialize)]
struct ComparisonJson<'a> {
    other: &'a str,
    /// Run k of xen-pvh's figure over run k of the other's.
    ratio_pv_over_other: &'a Spread,
    run_winners: Vec<&'static str>,
    verdict: String,
}

impl<'a> ComparisonJson<'a> {
    fn of(c: &'a Comparison) -> Self {
        let word = |w: &Winner| match w {
            Winner::Pv => "xen-pvh",
            Winner::Baseline => c.other,
            Winner::Tie => "tie",
        };
        Self {
            other: c.other,
            ratio_pv_over_other: &c.ratios,
            run_winners: c.run_winners.iter().map(word).collect(),
            verdict: c.verdict(),
        }
    }
}

#[derive(Serialize)]
struct Block<'a> {
    bench: &'static str,
    figure: &'static str,
    unit: &'static str,
    /// By column name, in the columns' order.
    #[serde(serialize_with = "in_order")]
    columns: Vec<(&'a str, BlockCellJson<'a>)>,
    pv_over_hvm: ComparisonJson<'a>,
    pv_over_native: ComparisonJson<'a>,
}

impl<'a> Block<'a> {
    fn of(row: &'a BlockRow, columns: &'a [Column]) -> Self {
        Self {
            bench: row.figure.bench,
            figure: row.figure.label,
            unit: match row.figure.unit {
                Unit::Latency => "ns per request",
                Unit::Iops => "requests per second",
                Unit::MegabytesPerSec => "10^6 bytes per second",
            },
            columns: columns
                .iter()
                .zip(&row.cells)
                .map(|(c, cell)| {
                    let json = BlockCellJson {
                        value: &cell.values,
                        p10_p90: cell.p10_p90,
                        iters: &cell.iters,
                        disk: cell.disk.as_deref(),
                    };
                    (c.name.as_str(), json)
                })
                .collect(),
            pv_over_hvm: ComparisonJson::of(&row.pv_over_hvm),
            pv_over_native: ComparisonJson::of(&row.pv_over_native),
        }
    }
}

/// An SMP benchmark at one CPU count across the columns.
#[derive(Serialize)]
struct Smp<'a> {
    bench: &'a str,
    cpus: u32,
    /// By column name, in the columns' order.
    #[serde(serialize_with = "in_order")]
    median_ns: Vec<(&'a str, &'a Spread)>,
    /// By column name: `run k: <error>` for each run without a figure.
    #[serde(serialize_with = "in_order")]
    no_result: Vec<(&'a str, &'a [String])>,
    hvm_over_pvh: &'a Spread,
    pvh_over_native: &'a Spread,
    pv_vs_hvm: ComparisonJson<'a>,
    pv_vs_native: ComparisonJson<'a>,
}

impl<'a> Smp<'a> {
    fn of(r: &'a SmpRow, set: &'a SmpColumns) -> Self {
        let names = set.columns.iter().map(|c| c.name.as_str());
        Self {
            bench: &r.row.name,
            cpus: r.cpus,
            median_ns: names
                .clone()
                .zip(r.row.cells.iter().map(|c| &c.medians))
                .collect(),
            no_result: names.zip(r.no_result.iter().map(Vec::as_slice)).collect(),
            hvm_over_pvh: &r.row.hvm_over_pvh,
            pvh_over_native: &r.pvh_over_native,
            pv_vs_hvm: ComparisonJson::of(&r.vs_hvm),
            pv_vs_native: ComparisonJson::of(&r.vs_native),
        }
    }
}

#[derive(Serialize)]
struct BlockGoal<'a> {
    goal: &'static str,
    /// Met in every run; null when a column or run is missing.
    met: Option<bool>,
    ratios: &'a Spread,
}

impl<'a> BlockGoal<'a> {
    fn of(g: &'a Goal) -> Self {
        Self {
            goal: g.what,
            met: g.met,
            ratios: &g.ratios,
        }
    }
}

#[derive(Serialize)]
struct MemoryFloor<'a> {
    workload: &'static str,
    passes_when_it: &'static str,
    floor_mb: Option<u32>,
    reason: String,
    probes: &'a [Probe],
    problems: &'a [String],
}

#[derive(Serialize)]
struct Density<'a> {
    n: usize,
    memory_mb: u32,
    passed: usize,
    peak_running: usize,
    create_secs: Spread,
    growth_second_half_over_first: Option<f64>,
    all_created_secs: Option<f64>,
    all_ended_secs: Option<f64>,
    problems: &'a [String],
}

/// The whole file.
#[derive(Serialize)]
struct Document<'a> {
    machine: Machine<'a>,
    quick: bool,
    repeat: usize,
    elapsed_secs: f64,
    passed: bool,
    columns: &'a [Column],
    tie_rule: &'static str,
    pairs: Vec<Pair<'a>>,
    pair_notes: Vec<String>,
    core: Vec<Core<'a>>,
    block: Vec<Block<'a>>,
    block_goals: Vec<BlockGoal<'a>>,
    /// The columns run again with 2 and 4 CPUs, raw, then the SMP table.
    smp_columns: &'a [SmpColumns],
    smp: Vec<Smp<'a>>,
    boot: &'a [BootRow],
    memory_floors: Vec<MemoryFloor<'a>>,
    footprint: &'a Footprint,
    density: Vec<Density<'a>>,
    live: &'a [LiveFigure],
    notes: &'a [String],
}

/// Every figure of the run, pretty-printed.
pub fn report_json(report: &BenchReport) -> serde_json::Result<String> {
    let m = &report.machine;
    let (pairs, pair_notes) = report.all_pairs();
    let core = report.core();
    let block = report.block();
    let block_goals = goals(&block);
    let smp = report.smp();
    let set = |cpus| report.smp.iter().find(|s| s.cpus == cpus);
    let document = Document {
        machine: Machine {
            commit: &m.commit,
            cpu_model: &m.cpu_model,
            cores: m.cores,
            emulation: "QEMU TCG (software emulation)",
            qemu_version: &m.qemu_version,
            xen_version: &m.xen_version,
        },
        quick: report.quick,
        repeat: report.repeat,
        elapsed_secs: report.elapsed_secs,
        passed: report.passed(),
        columns: &report.columns,
        tie_rule: TIE_RULE,
        pairs: pairs
            .iter()
            .map(|p| Pair {
                pair: &p.pair,
                baseline: p.baseline_name(),
                baseline_role: p.baseline_role(),
                pv: p.pv_name(),
                baseline_median_ns: p.baseline_ns(),
                pv_median_ns: p.pv_ns(),
                ratio_baseline_over_pv: p.ratios(),
                run_winners: p.runs.iter().map(|r| r.winner()).collect(),
                verdict: p.verdict(),
            })
            .collect(),
        pair_notes,
        core: core
            .iter()
            .map(|row| Core::of(row, &report.columns))
            .collect(),
        block: block
            .iter()
            .map(|row| Block::of(row, &report.columns))
            .collect(),
        block_goals: block_goals.iter().map(BlockGoal::of).collect(),
        smp_columns: &report.smp,
        smp: smp
            .iter()
            .filter_map(|r| Some(Smp::of(r, set(r.cpus)?)))
            .collect(),
        boot: &report.boot,
        memory_floors: report
            .floors
            .iter()
            .map(|f| MemoryFloor {
                workload: f.workload.word(),
                passes_when_it: f.workload.criterion(),
                floor_mb: f.floor(),
                reason: f.reason(),
                probes: &f.probes,
                problems: &f.problems,
            })
            .collect(),
        footprint: &report.footprint,
        density: report
            .density
            .iter()
            .map(|d| Density {
                n: d.n,
                memory_mb: d.memory_mb,
                passed: d.passed,
                peak_running: d.peak_running,
                create_secs: d.create(),
                growth_second_half_over_first: d.growth(),
                all_created_secs: d.all_created_secs,
                all_ended_secs: d.all_ended_secs,
                problems: &d.problems,
            })
            .collect(),
        live: &report.live,
        notes: &report.notes,
    };
    Ok(serde_json::to_string_pretty(&document)? + "\n")
}
