//! The block table's figures: per column (native AHCI, Xen HVM's emulated
//! AHCI, Xen PVH's blkfront), the 4 KiB random-read latency at queue depth
//! 1, the IOPS at queue depth 32, sequential 1 MiB read and write MB/s and
//! the flush latency, each over the runs; and the paravirtual column
//! against each of the others, run by run.
//!
//! The kernel times iterations (a request, 64 requests, 1 MiB); a figure is
//! computed from one run's median iteration time and what an iteration
//! moved (`ops=`, `bytes=` of its line). Who is faster follows the pairs'
//! rule ([`super::pairs::TIE_RULE`]): the p10-p90 ranges of the iteration
//! times apart in every run, the same side below each time; else a tie.

use super::model::Column;
use super::pairs::{PairRun, Winner, p10_p90_ns, ratio};
use super::parse::BenchResult;
use super::spread::Spread;

/// The paravirtual column and the two it is set against.
pub const PV: &str = "xen-pvh";
pub const HVM: &str = "xen-hvm";
pub const NATIVE: &str = "native";

/// How a figure is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Time per request, ns (lower is better).
    Latency,
    /// Requests per second.
    Iops,
    /// 10^6 bytes per second.
    MegabytesPerSec,
}

/// One row of the table: a benchmark and what it is read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Figure {
    pub bench: &'static str,
    pub label: &'static str,
    pub unit: Unit,
}

pub const FIGURES: [Figure; 5] = [
    Figure {
        bench: "block_read_4k_qd1",
        label: "4 KiB random read, QD1: latency",
        unit: Unit::Latency,
    },
    Figure {
        bench: "block_read_4k_qd32",
        label: "4 KiB random reads, QD32: IOPS",
        unit: Unit::Iops,
    },
    Figure {
        bench: "block_read_seq_1m",
        label: "sequential 1 MiB reads: MB/s",
        unit: Unit::MegabytesPerSec,
    },
    Figure {
        bench: "block_write_seq_1m",
        label: "sequential 1 MiB writes: MB/s",
        unit: Unit::MegabytesPerSec,
    },
    Figure {
        bench: "block_flush",
        label: "flush: latency",
        unit: Unit::Latency,
    },
];

/// Whether `name` is one of the block benchmarks (they have their table).
pub fn is_block(name: &str) -> bool {
    FIGURES.iter().any(|f| f.bench == name)
}

impl Figure {
    /// The figure at an iteration time of `ns`, for result `r`.
    fn at(&self, r: &BenchResult, ns: f64) -> Option<f64> {
        let work = r.work.as_ref()?;
        if !(ns.is_finite() && ns > 0.0) {
            return None;
        }
        match self.unit {
            Unit::Latency => Some(ns / work.ops as f64),
            Unit::Iops => Some(work.ops as f64 * 1e9 / ns),
            Unit::MegabytesPerSec => Some(work.bytes as f64 * 1e3 / ns),
        }
    }

    /// One run's figure, at its median iteration time.
    pub fn value(&self, r: &BenchResult) -> Option<f64> {
        self.at(r, r.median_ns)
    }

    /// One run's p10-p90 in the figure's unit, low to high (a rate's low
    /// end comes from the slow iterations).
    pub fn p10_p90(&self, r: &BenchResult) -> Option<(f64, f64)> {
        let (p10, p90) = p10_p90_ns(r)?;
        let (a, b) = (self.at(r, p10)?, self.at(r, p90)?);
        Some((a.min(b), a.max(b)))
    }
}

/// A figure in one column, over its runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlockCell {
    /// Each run's figure.
    pub values: Spread,
    /// The lowest p10 and highest p90 over the runs, in the figure's unit.
    pub p10_p90: Option<(f64, f64)>,
    /// Each run's timed iterations.
    pub iters: Vec<u64>,
    /// `xvda blkfront`, from the first run that has the figure.
    pub disk: Option<String>,
    /// The most requests in flight, from the same run.
    pub depth: Option<u64>,
}

/// The paravirtual column against another, run by run.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Run k of PV's figure over run k of the other's.
    pub ratios: Spread,
    /// Run by run, under the tie rule.
    pub run_winners: Vec<Winner>,
    pub other: &'static str,
}

impl Comparison {
    /// PV or the other only if it is below in every run, else a tie.
    pub fn winner(&self) -> Winner {
        match self.run_winners.first() {
            Some(&first) if self.run_winners.iter().all(|w| *w == first) => first,
            _ => Winner::Tie,
        }
    }

    /// `xen-pvh faster (ranges apart in 3 of 3 runs)`, `tie (...)`.
    pub fn verdict(&self) -> String {
        let n = self.run_winners.len();
        let count = |w: Winner| self.run_winners.iter().filter(|r| **r == w).count();
        let (pv, other) = (count(Winner::Pv), count(Winner::Baseline));
        match self.winner() {
            _ if n == 0 => "no run to compare".into(),
            Winner::Pv => format!("{PV} faster (ranges apart in {n} of {n} runs)"),
            Winner::Baseline => format!("{} faster (ranges apart in {n} of {n} runs)", self.other),
            Winner::Tie => {
                let mut parts = vec![format!("ranges overlap in {} of {n} runs", n - pv - other)];
                if pv > 0 {
                    parts.push(format!("{PV} below in {pv}"));
                }
                if other > 0 {
                    parts.push(format!("{} below in {other}", self.other));
                }
                format!("tie ({})", parts.join(", "))
            }
        }
    }
}

/// One figure across the columns.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockRow {
    pub figure: Figure,
    /// One per column, in the columns' order.
    pub cells: Vec<BlockCell>,
    pub pv_over_hvm: Comparison,
    pub pv_over_native: Comparison,
}

fn cell(figure: &Figure, column: &Column) -> BlockCell {
    let results: Vec<&BenchResult> = column.results(figure.bench).collect();
    let ranges: Vec<(f64, f64)> = results.iter().filter_map(|r| figure.p10_p90(r)).collect();
    let lo = ranges.iter().map(|r| r.0).reduce(f64::min);
    let hi = ranges.iter().map(|r| r.1).reduce(f64::max);
    BlockCell {
        values: Spread::of(results.iter().filter_map(|r| figure.value(r))),
        p10_p90: lo.zip(hi),
        iters: results.iter().map(|r| r.iters).collect(),
        disk: results.iter().find_map(|r| {
            let w = r.work.as_ref()?;
            Some(format!("{} {}", w.disk, w.driver))
        }),
        depth: results.iter().find_map(|r| Some(r.work.as_ref()?.depth)),
    }
}

/// Run k of `pv` against run k of `other`, for every k both measured.
fn compare(
    figure: &Figure,
    pv: Option<&Column>,
    other: Option<&Column>,
    name: &'static str,
) -> Comparison {
    compare_by(figure.bench, |r| figure.value(r), pv, other, name)
}

/// Run k of `pv` against run k of `other` on benchmark `bench`, whose
/// figure in a run is `value` (the SMP table uses the median time).
pub fn compare_by(
    bench: &str,
    value: impl Fn(&BenchResult) -> Option<f64>,
    pv: Option<&Column>,
    other: Option<&Column>,
    name: &'static str,
) -> Comparison {
    let mut ratios = Vec::new();
    let mut run_winners = Vec::new();
    if let (Some(pv), Some(other)) = (pv, other) {
        for (p, o) in pv.outputs().zip(other.outputs()) {
            let (Some(p), Some(o)) = (p.get(bench), o.get(bench)) else {
                continue;
            };
            let (Some(vp), Some(vo)) = (value(p), value(o)) else {
                continue;
            };
            ratios.extend(ratio(vp, vo));
            let run = PairRun {
                baseline: o.clone(),
                pv: p.clone(),
            };
            run_winners.push(run.winner());
        }
    }
    Comparison {
        ratios: Spread::of(ratios),
        run_winners,
        other: name,
    }
}

/// Every block figure across `columns`.
pub fn block_rows(columns: &[Column]) -> Vec<BlockRow> {
    let column = |name: &str| columns.iter().find(|c| c.name == name);
    FIGURES
        .iter()
        .map(|figure| BlockRow {
            figure: *figure,
            cells: columns.iter().map(|c| cell(figure, c)).collect(),
            pv_over_hvm: compare(figure, column(PV), column(HVM), HVM),
            pv_over_native: compare(figure, column(PV), column(NATIVE), NATIVE),
        })
        .collect()
}

/// The goal, judged on every run: `(what, met, evidence)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Goal {
    pub what: &'static str,
    /// `None` when a run to judge is missing.
    pub met: Option<bool>,
    pub ratios: Spread,
}

/// PV blkfront at least 10x the HVM emulated disk's IOPS at 4 KiB QD32,
/// and within 2x of native latency at QD1, in every run.
pub fn goals(rows: &[BlockRow]) -> Vec<Goal> {
    let row = |bench: &str| rows.iter().find(|r| r.figure.bench == bench);
    let judge = |ratios: Option<&Spread>, ok: &dyn Fn(f64) -> bool| match ratios {
        Some(s) if s.n() > 0 => (Some(s.values().iter().all(|v| ok(*v))), s.clone()),
        _ => (None, Spread::default()),
    };
    let (iops_met, iops) = judge(
        row("block_read_4k_qd32").map(|r| &r.pv_over_hvm.ratios),
        &|v| v >= 10.0,
    );
    let (lat_met, lat) = judge(
        row("block_read_4k_qd1").map(|r| &r.pv_over_native.ratios),
        &|v| v <= 2.0,
    );
    vec![
        Goal {
            what: "4 KiB QD32 IOPS: xen-pvh (blkfront) at least 10x xen-hvm (emulated AHCI)",
            met: iops_met,
            ratios: iops,
        },
        Goal {
            what: "4 KiB QD1 latency: xen-pvh within 2x of native",
            met: lat_met,
            ratios: lat,
        },
    ]
}

#[cfg(test)]
#[path = "block_rows_tests.rs"]
pub(crate) mod tests;
