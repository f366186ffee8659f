//! The figures of one `virtus-run bench` run, and what is computed from
//! them: the three columns of benchmarks (each run several times), the
//! pairs inside the PVH guest, boot against Linux, the memory floors and
//! density.

use serde::Serialize;

use super::block_rows::{BlockRow, block_rows};
use super::boot::BootRow;
use super::core_rows::{CoreRow, core_rows};
use super::floor::{Floor, Workload};
use super::pairs::{PairSeries, pair_series, ratio};
use super::parse::{BenchOutput, BenchResult};
use super::smp_rows::{SmpColumns, SmpRow, smp_rows};
use super::spread::Spread;

/// The machine the run happened on, and the tree it measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub xen_version: String,
    pub qemu_version: String,
    /// `git rev-parse HEAD` at run time, `-dirty` if the tree had changes.
    pub commit: String,
}

/// One run of a column's benchmarks (one boot).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ColumnRun {
    pub output: BenchOutput,
    /// Why the run is not trustworthy (it crashed, timed out, ...).
    pub problems: Vec<String>,
}

/// One platform's benchmarks, run `runs.len()` times.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Column {
    /// `native`, `xen-hvm` or `xen-pvh`.
    pub name: String,
    /// How it was run (machine, memory, command line).
    pub setup: String,
    pub runs: Vec<ColumnRun>,
}

impl Column {
    /// Every run's problems and notes, each with its run number.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, run) in self.runs.iter().enumerate() {
            let tag = |p: &String| format!("run {}: {p}", i + 1);
            out.extend(run.problems.iter().map(tag));
            out.extend(run.output.notes.iter().map(tag));
            out.extend(
                run.output
                    .errors
                    .iter()
                    .map(|(n, e)| tag(&format!("benchmark {n} failed: {e}"))),
            );
        }
        if self.runs.is_empty() {
            out.push("no run".into());
        }
        out
    }

    pub fn complete(&self) -> bool {
        !self.runs.is_empty()
            && self
                .runs
                .iter()
                .all(|r| r.problems.is_empty() && r.output.complete())
    }

    pub fn outputs(&self) -> impl Iterator<Item = &BenchOutput> {
        self.runs.iter().map(|r| &r.output)
    }

    /// `name` in each run that has it.
    pub fn results<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a BenchResult> {
        self.outputs().filter_map(move |o| o.get(name))
    }
}

/// Sizes, and where Linux's memory floor comes from.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Footprint {
    pub virtus_pv_bytes: Option<u64>,
    pub virtus_pv_stripped_bytes: Option<u64>,
    pub linux_vmlinux_bytes: Option<u64>,
    pub linux_initramfs_bytes: Option<u64>,
    /// Where the documented Linux floor comes from.
    pub linux_floor_source: String,
}

/// N guests at once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DensityStep {
    pub n: usize,
    pub memory_mb: u32,
    pub passed: usize,
    /// Per guest, in start order: seconds from the previous `created`
    /// marker (dom0 ready for the first) to its own.
    pub create_secs: Vec<f64>,
    /// From dom0 ready to the last `created` marker.
    pub all_created_secs: Option<f64>,
    /// From dom0 ready to the last guest's end.
    pub all_ended_secs: Option<f64>,
    /// The most guests running at the same time (created, not ended).
    pub peak_running: usize,
    pub problems: Vec<String>,
}

impl DensityStep {
    pub fn create(&self) -> Spread {
        Spread::of(self.create_secs.iter().copied())
    }

    /// Mean of the second half over mean of the first half of the
    /// creation times: above 1, creating a guest gets slower as more run.
    pub fn growth(&self) -> Option<f64> {
        let n = self.create_secs.len();
        if n < 2 {
            return None;
        }
        let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
        ratio(
            mean(&self.create_secs[n / 2..]),
            mean(&self.create_secs[..n / 2]),
        )
    }

    pub fn all_passed(&self) -> bool {
        self.passed == self.n && self.problems.is_empty()
    }
}

/// The whole run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BenchReport {
    pub machine: Machine,
    pub quick: bool,
    /// How many times each column and each boot was run.
    pub repeat: usize,
    pub columns: Vec<Column>,
    /// The columns again with 2 and 4 CPUs, for the `smp_` benchmarks.
    pub smp: Vec<SmpColumns>,
    pub boot: Vec<BootRow>,
    pub footprint: Footprint,
    pub floors: Vec<Floor>,
    pub density: Vec<DensityStep>,
    /// The live operations (save, restore, checkpoint, migration,
    /// balloon), one entry per figure per run.
    pub live: Vec<LiveFigure>,
    /// Run-level oddities and failures.
    pub notes: Vec<String>,
    pub elapsed_secs: f64,
}

impl BenchReport {
    /// The PVH column, where the pairs are.
    pub fn pvh(&self) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == "xen-pvh")
    }

    /// Every pair over the PVH runs, the multicall sweep among them.
    pub fn all_pairs(&self) -> (Vec<PairSeries>, Vec<String>) {
        self.pvh()
            .map(|c| pair_series(c.outputs()))
            .unwrap_or_default()
    }

    /// The pairs, without the sweep.
    pub fn pairs(&self) -> Vec<PairSeries> {
        let (all, _) = self.all_pairs();
        all.into_iter().filter(|p| p.sweep_n().is_none()).collect()
    }

    /// The multicall sweep, by N.
    pub fn sweep(&self) -> Vec<PairSeries> {
        let (all, _) = self.all_pairs();
        let mut sweep: Vec<PairSeries> =
            all.into_iter().filter(|p| p.sweep_n().is_some()).collect();
        sweep.sort_by_key(PairSeries::sweep_n);
        sweep
    }

    /// The memory floor found for `w`, MiB.
    pub fn floor_mb(&self, w: Workload) -> Option<u32> {
        let floor = self.floors.iter().find(|f| f.workload == w);
        floor.and_then(Floor::floor)
    }

    pub fn core(&self) -> Vec<CoreRow> {
        core_rows(&self.columns)
    }

    /// The block figures across the columns.
    pub fn block(&self) -> Vec<BlockRow> {
        block_rows(&self.columns)
    }

    /// The SMP figures across the columns and CPU counts.
    pub fn smp(&self) -> Vec<SmpRow> {
        smp_rows(&self.smp)
    }

    /// Everything ran and reported.
    pub fn passed(&self) -> bool {
        self.columns.iter().all(Column::complete)
            && self
                .smp
                .iter()
                .flat_map(|s| &s.columns)
                .all(Column::complete)
            && self.boot.iter().all(BootRow::passed)
            && self.floors.iter().all(|f| f.problems.is_empty())
            && self.density.iter().all(DensityStep::all_passed)
    }
}

/// One figure of a live operation in one run of `virtus-run lifecycle`'s
/// PVH live scenarios (see `xen::lifecycle_figures`): the scenario, what,
/// the value in `unit`, which run (0-based).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LiveFigure {
    pub scenario: String,
    pub what: String,
    pub value: f64,
    pub unit: String,
    pub run: usize,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::parse::parse;
    use super::*;

    pub fn line(name: &str, ns: f64, pair: &str, role: &str) -> String {
        format!(
            "# bench {name} iters=100 median_cycles={c} p10_cycles={c} p90_cycles={c} \
             min_cycles={c} median_ns={ns} tsc_hz=1000000000 pair={pair} role={role}",
            c = ns as u64
        )
    }

    /// One PVH run; `scale` multiplies the emulated and unbatched sides.
    pub fn pvh_output(scale: f64) -> BenchOutput {
        let lines = [
            line("clock_read", 20.0, "-", "-"),
            line("lapic_timer_arm", 6000.0 * scale, "timer_arm", "emulated"),
            line("singleshot_timer_arm", 1500.0, "timer_arm", "pv"),
            line("lapic_timer_read", 60000.0 * scale, "time_read", "emulated"),
            line("pvclock_read", 30.0, "time_read", "pv"),
            line("hypercalls_x16", 1000.0 * scale, "batching_x16", "-"),
            line("multicall_x16", 2000.0, "batching_x16", "pv"),
            line("hypercalls_x1", 100.0 * scale, "batching_x1", "-"),
            line("multicall_x1", 150.0, "batching_x1", "pv"),
            "# bench done count=9".to_string(),
        ];
        parse(lines.iter().map(String::as_str))
    }

    pub fn column(name: &str, outputs: Vec<BenchOutput>) -> Column {
        Column {
            name: name.into(),
            setup: format!("{name} setup"),
            runs: outputs
                .into_iter()
                .map(|output| ColumnRun {
                    output,
                    problems: vec![],
                })
                .collect(),
        }
    }

    pub fn columns() -> Vec<Column> {
        let one = |ns: f64| parse([line("clock_read", ns, "-", "-").as_str()]);
        vec![
            column("native", vec![one(10.0), one(12.0)]),
            column("xen-hvm", vec![one(80.0), one(60.0)]),
            column("xen-pvh", vec![pvh_output(1.0), pvh_output(2.0)]),
        ]
    }

    #[test]
    fn pairs_and_the_sweep_come_apart() {
        let report = BenchReport {
            columns: columns(),
            ..Default::default()
        };
        let pairs: Vec<String> = report.pairs().iter().map(|p| p.pair.clone()).collect();
        assert_eq!(pairs, ["timer_arm", "time_read"]);
        let sweep: Vec<Option<u32>> = report.sweep().iter().map(PairSeries::sweep_n).collect();
        assert_eq!(sweep, [Some(1), Some(16)]);
        assert_eq!(report.pairs()[0].ratios().values(), [4.0, 8.0]);
    }

    #[test]
    fn a_column_names_its_problems_by_run() {
        let mut c = column("xen-hvm", vec![BenchOutput::default(), pvh_output(1.0)]);
        c.runs[0].problems.push("timed out".into());
        assert_eq!(c.problems(), ["run 1: timed out"]);
        assert!(!c.complete());
        assert!(column("x", vec![pvh_output(1.0)]).complete());
        assert!(!column("x", vec![]).complete());
    }

    #[test]
    fn density_growth() {
        let step = DensityStep {
            n: 4,
            passed: 4,
            create_secs: vec![1.0, 1.0, 2.0, 2.0],
            ..Default::default()
        };
        assert_eq!(step.create().median(), Some(1.5));
        assert_eq!(step.growth(), Some(2.0));
        assert!(step.all_passed());
    }
}
