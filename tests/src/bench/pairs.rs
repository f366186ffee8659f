//! Pairs: a baseline (the trapped-and-emulated path, or the unbatched one)
//! against the paravirtual path, measured in the same guest, in every run.
//!
//! Who wins is decided by a stated rule ([`TIE_RULE`]), not by which
//! median is lower: two medians 0.2% apart with overlapping spreads are a
//! tie.

use serde::Serialize;

use super::parse::{BenchOutput, BenchResult, Role};
use super::spread::Spread;

/// The rule, as the report states it.
pub const TIE_RULE: &str = "A pair is a tie unless, in every run, the 10th-90th percentile \
     ranges of its two sides are apart (one side's 90th percentile below the other's 10th) \
     with the same side below each time; then that side is faster. The ratio is \
     baseline median / paravirtual median, per run; its range over the runs is shown.";

/// `a / b`, when both are positive and finite.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (a.is_finite() && b.is_finite() && a > 0.0 && b > 0.0).then(|| a / b)
}

/// `12.3x`, with as many digits as the size warrants.
pub fn times(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}x")
    } else if r >= 10.0 {
        format!("{r:.1}x")
    } else {
        format!("{r:.2}x")
    }
}

/// Which side is faster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Winner {
    Pv,
    Baseline,
    Tie,
}

/// A benchmark's 10th and 90th percentile in ns.
pub fn p10_p90_ns(r: &BenchResult) -> Option<(f64, f64)> {
    (r.tsc_hz > 0).then(|| {
        let ns = |cycles: u64| cycles as f64 * 1e9 / r.tsc_hz as f64;
        (ns(r.p10_cycles), ns(r.p90_cycles))
    })
}

/// One run of a pair.
#[derive(Clone, Debug, PartialEq)]
pub struct PairRun {
    pub baseline: BenchResult,
    pub pv: BenchResult,
}

impl PairRun {
    /// baseline / pv median: above 1, pv is faster.
    pub fn ratio(&self) -> Option<f64> {
        ratio(self.baseline.median_ns, self.pv.median_ns)
    }

    /// The side whose p10-p90 range lies wholly below the other's.
    pub fn winner(&self) -> Winner {
        match (p10_p90_ns(&self.baseline), p10_p90_ns(&self.pv)) {
            (Some((b10, b90)), Some((p10, p90))) => {
                if p90 < b10 {
                    Winner::Pv
                } else if b90 < p10 {
                    Winner::Baseline
                } else {
                    Winner::Tie
                }
            }
            _ => Winner::Tie,
        }
    }
}

/// A pair over all runs.
#[derive(Clone, Debug, PartialEq)]
pub struct PairSeries {
    pub pair: String,
    pub runs: Vec<PairRun>,
}

impl PairSeries {
    pub fn baseline_name(&self) -> &str {
        self.runs.first().map_or("-", |r| r.baseline.name.as_str())
    }

    pub fn pv_name(&self) -> &str {
        self.runs.first().map_or("-", |r| r.pv.name.as_str())
    }

    pub fn baseline_role(&self) -> Role {
        self.runs.first().map_or(Role::None, |r| r.baseline.role)
    }

    pub fn ratios(&self) -> Spread {
        Spread::of(self.runs.iter().filter_map(PairRun::ratio))
    }

    pub fn baseline_ns(&self) -> Spread {
        Spread::of(self.runs.iter().map(|r| r.baseline.median_ns))
    }

    pub fn pv_ns(&self) -> Spread {
        Spread::of(self.runs.iter().map(|r| r.pv.median_ns))
    }

    /// The winner under [`TIE_RULE`].
    pub fn winner(&self) -> Winner {
        let first = self.runs.first().map_or(Winner::Tie, PairRun::winner);
        if self.runs.iter().all(|r| r.winner() == first) {
            first
        } else {
            Winner::Tie
        }
    }

    /// In words, with the evidence: in how many runs the ranges were apart,
    /// and which way.
    pub fn verdict(&self) -> String {
        let n = self.runs.len();
        let count = |w: Winner| self.runs.iter().filter(|r| r.winner() == w).count();
        let (pv, baseline) = (count(Winner::Pv), count(Winner::Baseline));
        let below = |name: &str, k: usize| format!("{name} below in {k}");
        match self.winner() {
            _ if n == 0 => "no run".into(),
            Winner::Pv => format!(
                "{} faster (ranges apart in {n} of {n} runs)",
                self.pv_name()
            ),
            Winner::Baseline => format!(
                "{} faster (ranges apart in {n} of {n} runs)",
                self.baseline_name()
            ),
            Winner::Tie => {
                let mut parts = vec![format!(
                    "ranges overlap in {} of {n} runs",
                    n - pv - baseline
                )];
                if pv > 0 {
                    parts.push(below(self.pv_name(), pv));
                }
                if baseline > 0 {
                    parts.push(below(self.baseline_name(), baseline));
                }
                format!("tie ({})", parts.join(", "))
            }
        }
    }

    /// `batching_x16` -> 16: a point of the multicall sweep.
    pub fn sweep_n(&self) -> Option<u32> {
        self.pair.strip_prefix("batching_x")?.parse().ok()
    }
}

/// The pairs of one run, in the order their first member was printed;
/// a pair without exactly one pv member and one other is noted.
fn pairs_of(output: &BenchOutput) -> (Vec<(String, PairRun)>, Vec<String>) {
    let mut names: Vec<&str> = Vec::new();
    for r in &output.results {
        if let Some(p) = &r.pair
            && !names.contains(&p.as_str())
        {
            names.push(p);
        }
    }
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for pair in names {
        let members = || {
            output
                .results
                .iter()
                .filter(move |r| r.pair.as_deref() == Some(pair))
        };
        let pv: Vec<&BenchResult> = members().filter(|r| r.role == Role::Pv).collect();
        let other: Vec<&BenchResult> = members().filter(|r| r.role != Role::Pv).collect();
        match (pv.as_slice(), other.as_slice()) {
            ([pv], [baseline]) => rows.push((
                pair.to_string(),
                PairRun {
                    baseline: (*baseline).clone(),
                    pv: (*pv).clone(),
                },
            )),
            _ => notes.push(format!(
                "pair `{pair}`: {} pv and {} other members, expected one each",
                pv.len(),
                other.len()
            )),
        }
    }
    (rows, notes)
}

/// Every pair over the runs, in the first run's order. A pair missing from
/// some run is kept with the runs that have it, and noted.
pub fn pair_series<'a>(
    runs: impl IntoIterator<Item = &'a BenchOutput>,
) -> (Vec<PairSeries>, Vec<String>) {
    let mut series: Vec<PairSeries> = Vec::new();
    let mut notes = Vec::new();
    let mut count = 0;
    for (i, output) in runs.into_iter().enumerate() {
        count += 1;
        let (rows, run_notes) = pairs_of(output);
        notes.extend(run_notes.into_iter().map(|n| format!("run {}: {n}", i + 1)));
        for (pair, run) in rows {
            match series.iter_mut().find(|s| s.pair == pair) {
                Some(s) => s.runs.push(run),
                None => series.push(PairSeries {
                    pair,
                    runs: vec![run],
                }),
            }
        }
    }
    for s in &series {
        if s.runs.len() != count {
            notes.push(format!(
                "pair `{}` was measured in {} of {count} runs",
                s.pair,
                s.runs.len()
            ));
        }
    }
    (series, notes)
}

#[cfg(test)]
#[path = "pairs_tests.rs"]
mod tests;
