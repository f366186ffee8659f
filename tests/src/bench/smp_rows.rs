//! The SMP table's figures: the kernel's `smp_` benchmarks (IPI round
//! trip, TLB shootdown, lock hand-off) in the three columns, each column
//! run with 2 and with 4 CPUs. A row is one benchmark at one CPU count:
//! its median per column over the runs (the core table's cells), the
//! HVM/PVH and PVH/native ratios run by run, and who is faster under the
//! report's tie rule ([`super::pairs::TIE_RULE`], as the block table
//! applies it across columns). A run whose benchmark gave no figure (the
//! kernel's `error=` line: a watchdog, a CPU that did not answer) is told
//! as such, never as a number.

use serde::Serialize;

use super::block_rows::{Comparison, HVM, NATIVE, PV, compare_by};
use super::core_rows::{CoreRow, rows_of, run_ratios};
use super::model::Column;
use super::spread::Spread;

/// The benchmarks of the table, as the kernel names them. The last is
/// PVH's alone: the shootdown through Xen (`HVMOP_flush_tlbs`), to set
/// against `smp_tlb_shootdown`'s IPIs.
pub const SMP: [&str; 4] = [
    "smp_ipi_round_trip",
    "smp_tlb_shootdown",
    "smp_lock_handoff",
    "smp_tlb_flush_by_xen",
];

/// The CPU counts each column runs with.
pub const CPUS: [u32; 2] = [2, 4];

/// The columns (native, Xen HVM, Xen PVH) as run with `cpus` CPUs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SmpColumns {
    pub cpus: u32,
    pub columns: Vec<Column>,
}

/// One benchmark at one CPU count, across the columns.
#[derive(Clone, Debug, PartialEq)]
pub struct SmpRow {
    pub cpus: u32,
    /// The medians per column and the HVM/PVH ratios (its `hvm_over_pvh`).
    pub row: CoreRow,
    /// Per column, in the columns' order: `run k: <the kernel's error>`
    /// for each run that gave no figure, and how many runs there were.
    pub no_result: Vec<Vec<String>>,
    pub runs: Vec<usize>,
    /// Run k of xen-pvh over run k of native.
    pub pvh_over_native: Spread,
    /// xen-pvh against xen-hvm and against native, under the tie rule.
    pub vs_hvm: Comparison,
    pub vs_native: Comparison,
}

/// `run 2: hung: ...` for each run of `column` where `bench` failed.
fn failures(column: &Column, bench: &str) -> Vec<String> {
    let runs = column.outputs().enumerate();
    let failed = runs.filter_map(|(k, o)| {
        let (_, error) = o.errors.iter().find(|(n, _)| n == bench)?;
        Some(format!("run {}: {error}", k + 1))
    });
    failed.collect()
}

/// Every SMP benchmark at every CPU count measured, benchmark by benchmark.
pub fn smp_rows(sets: &[SmpColumns]) -> Vec<SmpRow> {
    let mut rows = Vec::new();
    for bench in SMP {
        for set in sets {
            let columns = &set.columns;
            let column = |n: &str| columns.iter().find(|c| c.name == n);
            let Some(row) = rows_of(columns, vec![bench.to_string()]).pop() else {
                continue;
            };
            let no_result: Vec<Vec<String>> = columns.iter().map(|c| failures(c, bench)).collect();
            // A benchmark no column ran (the flush through Xen before it
            // existed, or in a report of other columns) has no row.
            let ran = row.cells.iter().any(|c| !c.medians.values().is_empty());
            if !ran && no_result.iter().all(Vec::is_empty) {
                continue;
            }
            let compare = |other| {
                compare_by(
                    bench,
                    |r| Some(r.median_ns),
                    column(PV),
                    column(other),
                    other,
                )
            };
            let pvh_over_native = match (column(PV), column(NATIVE)) {
                (Some(pv), Some(native)) => run_ratios(pv, native, bench),
                _ => Spread::default(),
            };
            rows.push(SmpRow {
                cpus: set.cpus,
                no_result,
                runs: columns.iter().map(|c| c.runs.len()).collect(),
                pvh_over_native,
                vs_hvm: compare(HVM),
                vs_native: compare(NATIVE),
                row,
            });
        }
    }
    rows
}

#[cfg(test)]
#[path = "smp_rows_tests.rs"]
pub(crate) mod tests;
