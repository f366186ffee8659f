//! Tests of the SMP rows ([`super`]) and their table: ratios, the tie
//! rule, and a benchmark without a figure told as such.

use super::super::model::tests::{column, line};
use super::super::model::{BenchReport, Column};
use super::super::pairs::Winner;
use super::super::parse::{BenchOutput, parse};
use super::super::report::smp_tables::smp_table;
use super::*;

const HUNG: &str = "hung: no result after 10012 ms (watchdog)";

/// One run: IPI round trip `ipi` ns, shootdown `tlb` ns, lock hand-off
/// `lock` ns or the kernel's watchdog error.
pub fn smp_run(ipi: f64, tlb: f64, lock: Option<f64>) -> BenchOutput {
    let mut lines = vec![
        line("smp_ipi_round_trip", ipi, "-", "-"),
        line("smp_tlb_shootdown", tlb, "-", "-"),
    ];
    lines.push(match lock {
        Some(ns) => line("smp_lock_handoff", ns, "-", "-"),
        None => format!("# bench smp_lock_handoff error={HUNG}"),
    });
    lines.push("# bench done count=3".into());
    parse(lines.iter().map(String::as_str))
}

/// The three columns with `cpus` CPUs: HVM's hand-off hangs in every run;
/// PVH's shootdown equals native's (a tie).
pub fn smp_set(cpus: u32) -> SmpColumns {
    let k = f64::from(cpus) / 2.0;
    let columns: Vec<Column> = vec![
        column(
            "native",
            vec![
                smp_run(70e3 * k, 100e3, Some(350.0)),
                smp_run(68e3 * k, 100e3, Some(340.0)),
            ],
        ),
        column(
            "xen-hvm",
            vec![smp_run(10e6, 10e6, None), smp_run(11e6, 10e6, None)],
        ),
        column(
            "xen-pvh",
            vec![
                smp_run(900e3, 100e3, Some(200e3)),
                smp_run(800e3, 100e3, Some(180e3)),
            ],
        ),
    ];
    SmpColumns { cpus, columns }
}

#[test]
fn rows_go_benchmark_by_benchmark_then_by_cpus() {
    let rows = smp_rows(&[smp_set(2), smp_set(4)]);
    let keys: Vec<(&str, u32)> = rows.iter().map(|r| (r.row.name.as_str(), r.cpus)).collect();
    assert_eq!(
        keys,
        [
            ("smp_ipi_round_trip", 2),
            ("smp_ipi_round_trip", 4),
            ("smp_tlb_shootdown", 2),
            ("smp_tlb_shootdown", 4),
            ("smp_lock_handoff", 2),
            ("smp_lock_handoff", 4),
        ]
    );
    // Native's IPI doubles with 4 CPUs in this sample.
    assert_eq!(rows[1].row.cells[0].medians.values(), [136e3, 140e3]);
    assert!(smp_rows(&[]).is_empty());
}

#[test]
fn ratios_run_by_run_and_the_tie_rule() {
    let rows = smp_rows(&[smp_set(2)]);
    let ipi = &rows[0];
    // Run 1: 10 ms / 900 us, run 2: 11 ms / 800 us.
    assert_eq!(ipi.row.hvm_over_pvh.values(), [10e6 / 900e3, 11e6 / 800e3]);
    assert_eq!(ipi.pvh_over_native.values(), [800e3 / 68e3, 900e3 / 70e3]);
    assert_eq!(ipi.vs_hvm.winner(), Winner::Pv);
    assert_eq!(ipi.vs_native.winner(), Winner::Baseline);
    assert_eq!(
        ipi.vs_native.verdict(),
        "native faster (ranges apart in 2 of 2 runs)"
    );
    let tlb = &rows[1];
    assert_eq!(tlb.vs_native.winner(), Winner::Tie);
    assert_eq!(tlb.pvh_over_native.values(), [1.0, 1.0]);
    assert_eq!(tlb.no_result, [Vec::<String>::new(), vec![], vec![]]);
}

#[test]
fn a_benchmark_without_a_figure_is_never_a_number() {
    let rows = smp_rows(&[smp_set(2)]);
    let lock = &rows[2];
    assert_eq!(lock.row.cells[1].medians.n(), 0);
    assert_eq!(
        lock.no_result[1],
        [format!("run 1: {HUNG}"), format!("run 2: {HUNG}")]
    );
    assert_eq!(lock.runs, [2, 2, 2]);
    assert!(lock.vs_hvm.run_winners.is_empty());
    assert_eq!(lock.row.hvm_over_pvh.n(), 0);
    assert_eq!(lock.vs_native.winner(), Winner::Baseline);
}

#[test]
fn the_table_tells_medians_ratios_rules_and_why_not() {
    let report = BenchReport {
        smp: vec![smp_set(2), smp_set(4)],
        ..Default::default()
    };
    let table = smp_table(&report);
    assert_eq!(table.title, "SMP: inter-processor operations");
    assert_eq!(table.chart_file.as_deref(), Some("smp.svg"));
    let header: Vec<&str> = table.header.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        header,
        [
            "benchmark",
            "CPUs",
            "native: median (range over runs)",
            "xen-hvm: median (range over runs)",
            "xen-pvh: median (range over runs)",
            "xen-hvm/xen-pvh (range), rule",
            "xen-pvh/native (range), rule",
            "n: runs x iterations (native / xen-hvm / xen-pvh)",
        ]
    );
    assert_eq!(
        table.rows[0],
        [
            "smp_ipi_round_trip",
            "2",
            "69.0 us (68.0 us-70.0 us)",
            "10.5 ms (10.0 ms-11.0 ms)",
            "850 us (800 us-900 us)",
            "12.4x (11.1x-13.8x), pv faster",
            "12.3x (11.8x-12.9x), native faster",
            "2x100 / 2x100 / 2x100",
        ]
    );
    assert_eq!(table.rows[2][6], "1.00x (1.00x-1.00x), tie");
    let lock = &table.rows[4];
    assert_eq!(lock[0..2], ["smp_lock_handoff", "2"]);
    assert_eq!(lock[3], format!("no result in 2 of 2 runs (run 1: {HUNG})"));
    assert_eq!(lock[5], "-");
    assert_eq!(lock[7], "2x100 / - / 2x100");
    // A column with a figure in some runs keeps it, and says what is missing.
    let mut set = smp_set(2);
    set.columns[1].runs[1].output = smp_run(10e6, 10e6, Some(5e6));
    let report = BenchReport {
        smp: vec![set],
        ..Default::default()
    };
    assert_eq!(
        smp_table(&report).rows[2][3],
        format!("5.00 ms; no result in 1 of 2 runs (run 1: {HUNG})")
    );
}

#[test]
fn the_smp_columns_count_for_the_status() {
    let mut report = BenchReport {
        smp: vec![smp_set(2)],
        ..Default::default()
    };
    assert!(report.passed());
    report.smp[0].columns[2].runs[0]
        .problems
        .push("timed out".into());
    assert!(!report.passed());
}
