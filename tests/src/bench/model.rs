//! The figures of one `virtus-run bench` run, and what is computed from
//! them: emulated/pv ratios per pair, the three columns of the core
//! benchmarks, boot and footprint against Linux, and density.

use super::parse::{BenchOutput, BenchResult, Role};

/// The core benchmarks, which run on every platform.
pub const CORE: [&str; 6] = [
    "clock_read",
    "timer_arm",
    "console_byte",
    "console_4k_line",
    "self_event_roundtrip",
    "block_wake_timer",
];

/// The three columns, in order.
pub const COLUMNS: [&str; 3] = ["native", "xen-hvm", "xen-pvh"];

/// The machine the run happened on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub xen_version: String,
    pub qemu_version: String,
}

/// One platform's benchmark run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Column {
    /// `native`, `xen-hvm` or `xen-pvh`.
    pub name: String,
    /// How it was run (machine, memory, command line).
    pub setup: String,
    pub output: BenchOutput,
    /// Why the run is not trustworthy (it crashed, timed out, ...).
    pub problems: Vec<String>,
}

/// `a / b`, when both are positive and finite.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (a.is_finite() && b.is_finite() && a > 0.0 && b > 0.0).then(|| a / b)
}

/// A pair: the baseline (emulated, or the unbatched variant) against the
/// paravirtual path, both from the same run.
#[derive(Clone, Debug, PartialEq)]
pub struct PairRow {
    pub pair: String,
    pub baseline: BenchResult,
    pub pv: BenchResult,
    /// baseline median_ns / pv median_ns: above 1, pv is faster.
    pub ratio: Option<f64>,
}

impl PairRow {
    /// Which path wins and by how much, in words.
    pub fn verdict(&self) -> String {
        match self.ratio {
            None => "no comparison (a zero or missing median)".into(),
            Some(r) if r >= 1.0 => format!("pv wins: {} is {} faster", self.pv.name, times(r)),
            Some(r) => format!(
                "{} wins: {} is {} faster",
                self.baseline.role.word().replace('-', "baseline"),
                self.baseline.name,
                times(1.0 / r)
            ),
        }
    }
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

/// The pairs of one run, in the order their first member was printed;
/// a pair without exactly one pv member and one other is noted.
pub fn pairs(output: &BenchOutput) -> (Vec<PairRow>, Vec<String>) {
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
        let members: Vec<&BenchResult> = output
            .results
            .iter()
            .filter(|r| r.pair.as_deref() == Some(pair))
            .collect();
        let pv: Vec<_> = members.iter().filter(|r| r.role == Role::Pv).collect();
        let other: Vec<_> = members.iter().filter(|r| r.role != Role::Pv).collect();
        match (pv.as_slice(), other.as_slice()) {
            ([pv], [baseline]) => rows.push(PairRow {
                pair: pair.to_string(),
                ratio: ratio(baseline.median_ns, pv.median_ns),
                baseline: (**baseline).clone(),
                pv: (**pv).clone(),
            }),
            _ => notes.push(format!(
                "pair `{pair}`: {} pv and {} other members, expected one each",
                pv.len(),
                other.len()
            )),
        }
    }
    (rows, notes)
}

/// A core benchmark in each column: median ns (None if missing there).
#[derive(Clone, Debug, PartialEq)]
pub struct CoreRow {
    pub name: String,
    /// `core`, or the pair and role (`timer_arm pv`), or `-`.
    pub kind: String,
    /// The columns' names, in the order of the values.
    pub columns: Vec<String>,
    pub median_ns: Vec<Option<f64>>,
    pub median_cycles: Vec<Option<u64>>,
}

impl CoreRow {
    /// xen-hvm / xen-pvh: how much dearer trap-and-emulate is.
    pub fn hvm_over_pvh(&self) -> Option<f64> {
        ratio(
            self.median_ns.get(1).copied()??,
            self.median_ns.get(2).copied()??,
        )
    }

    /// xen-hvm / native.
    pub fn hvm_over_native(&self) -> Option<f64> {
        ratio(
            self.median_ns.get(1).copied()??,
            self.median_ns.first().copied()??,
        )
    }
}

/// Every benchmark across the columns: the core ones first, then the
/// others in the order printed (a pair's emulated side runs natively and
/// under HVM too).
pub fn core_rows(columns: &[Column]) -> Vec<CoreRow> {
    let mut names: Vec<String> = CORE.iter().map(ToString::to_string).collect();
    for column in columns {
        for r in &column.output.results {
            if !names.contains(&r.name) {
                names.push(r.name.clone());
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let found: Vec<Option<&BenchResult>> =
                columns.iter().map(|c| c.output.get(&name)).collect();
            let kind = if CORE.contains(&name.as_str()) {
                "core".to_string()
            } else {
                match found.iter().flatten().next() {
                    Some(BenchResult {
                        pair: Some(pair),
                        role,
                        ..
                    }) => format!("{pair} {}", role.word()),
                    _ => "-".to_string(),
                }
            };
            CoreRow {
                kind,
                columns: columns.iter().map(|c| c.name.clone()).collect(),
                median_ns: found.iter().map(|r| r.map(|r| r.median_ns)).collect(),
                median_cycles: found.iter().map(|r| r.map(|r| r.median_cycles)).collect(),
                name,
            }
        })
        .collect()
}

/// One guest of the boot comparison. Guests run one after the other, so
/// each `xl create` starts when the previous guest's end was reported
/// (dom0 ready for the first): times are from there.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BootRow {
    pub guest: String,
    pub memory_mb: u32,
    /// To the `created` marker: created, console attached, unpaused.
    pub create_secs: Option<f64>,
    /// To the guest's first console line.
    pub first_line_secs: Option<f64>,
    /// To the line that says it is ready.
    pub ready_secs: Option<f64>,
    /// What "ready" means for this guest.
    pub ready_is: String,
    pub ended: String,
    pub passed: bool,
}

/// Sizes and memory floors.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Footprint {
    pub virtus_pv_bytes: Option<u64>,
    pub virtus_pv_stripped_bytes: Option<u64>,
    pub linux_vmlinux_bytes: Option<u64>,
    pub linux_initramfs_bytes: Option<u64>,
    /// Memory sizes tried for virtus-pv, and whether each booted.
    pub virtus_tries: Vec<(u32, bool)>,
    /// Memory sizes the bed's Linux ran with in this run, and whether it
    /// booted.
    pub linux_tries: Vec<(u32, bool)>,
    /// Where the documented Linux floor comes from.
    pub linux_floor_source: String,
}

impl Footprint {
    /// The least memory of those tried that booted.
    pub fn smallest(tries: &[(u32, bool)]) -> Option<u32> {
        tries.iter().filter(|(_, ok)| *ok).map(|(mb, _)| *mb).min()
    }
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
    pub fn mean_create(&self) -> Option<f64> {
        (!self.create_secs.is_empty())
            .then(|| self.create_secs.iter().sum::<f64>() / self.create_secs.len() as f64)
    }

    pub fn first_create(&self) -> Option<f64> {
        self.create_secs.first().copied()
    }

    pub fn last_create(&self) -> Option<f64> {
        self.create_secs.last().copied()
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
    pub columns: Vec<Column>,
    pub boot: Vec<BootRow>,
    pub footprint: Footprint,
    pub density: Vec<DensityStep>,
    /// Run-level oddities and failures.
    pub notes: Vec<String>,
    pub elapsed_secs: f64,
}

impl BenchReport {
    /// The PVH column, where the pairs are.
    pub fn pvh(&self) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == "xen-pvh")
    }

    pub fn pairs(&self) -> (Vec<PairRow>, Vec<String>) {
        self.pvh().map(|c| pairs(&c.output)).unwrap_or_default()
    }

    pub fn core(&self) -> Vec<CoreRow> {
        core_rows(&self.columns)
    }

    /// Everything ran and reported.
    pub fn passed(&self) -> bool {
        self.columns
            .iter()
            .all(|c| c.problems.is_empty() && c.output.complete())
            && self.boot.iter().all(|b| b.passed)
            && self.density.iter().all(DensityStep::all_passed)
    }
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

    pub fn pvh_output() -> BenchOutput {
        let lines = [
            line("clock_read", 20.0, "-", "-"),
            line("lapic_timer_arm", 6000.0, "timer_arm", "emulated"),
            line("singleshot_timer_arm", 1500.0, "timer_arm", "pv"),
            line("cpuid_exit_time", 60000.0, "time_read", "emulated"),
            line("pvclock_read", 30.0, "time_read", "pv"),
            line("hypercalls_x16", 1000.0, "batching", "-"),
            line("multicall_x16", 2000.0, "batching", "pv"),
            line("lonely", 1.0, "orphan", "pv"),
            "# bench done count=8".to_string(),
        ];
        parse(lines.iter().map(String::as_str))
    }

    #[test]
    fn ratios_are_baseline_over_pv() {
        assert_eq!(ratio(10.0, 4.0), Some(2.5));
        assert_eq!(ratio(10.0, 0.0), None);
        assert_eq!(ratio(0.0, 3.0), None);
        assert_eq!(ratio(f64::NAN, 3.0), None);
        let (rows, notes) = pairs(&pvh_output());
        let names: Vec<_> = rows.iter().map(|r| r.pair.as_str()).collect();
        assert_eq!(names, ["timer_arm", "time_read", "batching"]);
        assert_eq!(rows[0].ratio, Some(4.0));
        assert_eq!(rows[1].ratio, Some(2000.0));
        assert_eq!(rows[2].ratio, Some(0.5));
        assert!(
            rows[0]
                .verdict()
                .starts_with("pv wins: singleshot_timer_arm is 4.00x")
        );
        assert_eq!(rows[1].verdict(), "pv wins: pvclock_read is 2000x faster");
        assert_eq!(
            rows[2].verdict(),
            "baseline wins: hypercalls_x16 is 2.00x faster"
        );
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("orphan"));
    }

    #[test]
    fn core_rows_line_up_the_columns() {
        let native = parse([line("clock_read", 10.0, "-", "-").as_str()]);
        let columns = vec![
            Column {
                name: "native".into(),
                output: native,
                ..Default::default()
            },
            Column {
                name: "xen-hvm".into(),
                output: parse([line("clock_read", 80.0, "-", "-").as_str()]),
                ..Default::default()
            },
            Column {
                name: "xen-pvh".into(),
                output: pvh_output(),
                ..Default::default()
            },
        ];
        let rows = core_rows(&columns);
        assert_eq!(rows.len(), CORE.len() + 7);
        assert_eq!(rows[0].kind, "core");
        assert_eq!(rows[6].name, "lapic_timer_arm");
        assert_eq!(rows[6].kind, "timer_arm emulated");
        assert_eq!(rows[6].median_ns, [None, None, Some(6000.0)]);
        assert_eq!(rows[0].median_ns, [Some(10.0), Some(80.0), Some(20.0)]);
        assert_eq!(rows[0].hvm_over_pvh(), Some(4.0));
        assert_eq!(rows[0].hvm_over_native(), Some(8.0));
        assert_eq!(rows[1].median_ns, [None, None, None]);
        assert_eq!(rows[1].hvm_over_pvh(), None);
    }

    #[test]
    fn density_growth_and_smallest_memory() {
        let step = DensityStep {
            n: 4,
            passed: 4,
            create_secs: vec![1.0, 1.0, 2.0, 2.0],
            ..Default::default()
        };
        assert_eq!(step.mean_create(), Some(1.5));
        assert_eq!(step.growth(), Some(2.0));
        assert!(step.all_passed());
        assert_eq!(Footprint::smallest(&[(5, true), (4, false)]), Some(5));
        assert_eq!(Footprint::smallest(&[(5, true), (4, true)]), Some(4));
        assert_eq!(Footprint::smallest(&[(4, false)]), None);
    }
}
