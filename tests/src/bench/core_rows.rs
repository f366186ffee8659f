//! Every benchmark lined up across the columns (native, Xen HVM, Xen
//! PVH): its median per column over the runs, and the HVM/PVH and
//! HVM/native ratios run by run. The core table and chart are drawn from
//! these rows.

use super::block_rows::is_block;
use super::model::Column;
use super::pairs::ratio;
use super::parse::BenchResult;
use super::spread::Spread;

/// The core benchmarks, which run on every platform.
pub const CORE: [&str; 6] = [
    "clock_read",
    "timer_arm",
    "console_byte",
    "console_line",
    "self_event_roundtrip",
    "block_wake_timer",
];

/// One benchmark in one column, over the runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    /// Each run's median, ns.
    pub medians: Spread,
    /// Each run's timed iterations.
    pub iters: Vec<u64>,
}

/// A benchmark across the columns.
#[derive(Clone, Debug, PartialEq)]
pub struct CoreRow {
    pub name: String,
    /// `core`, or the pair and role (`timer_arm emulated`), or `-`.
    pub kind: String,
    /// One per column, in the columns' order.
    pub cells: Vec<Cell>,
    /// Per run k: column a's median over column b's, for (hvm, pvh) and
    /// (hvm, native).
    pub hvm_over_pvh: Spread,
    pub hvm_over_native: Spread,
}

/// Run k of `a` over run k of `b`, for every k both have.
pub fn run_ratios(a: &Column, b: &Column, name: &str) -> Spread {
    Spread::of(
        a.outputs()
            .zip(b.outputs())
            .filter_map(|(x, y)| ratio(x.get(name)?.median_ns, y.get(name)?.median_ns)),
    )
}

/// Every benchmark across the columns: the core ones first, then the
/// others in the order printed; not the block benchmarks, whose figures
/// are rates and latencies per request ([`super::block_rows`]).
pub fn core_rows(columns: &[Column]) -> Vec<CoreRow> {
    let mut names: Vec<String> = CORE.iter().map(ToString::to_string).collect();
    for r in columns
        .iter()
        .flat_map(Column::outputs)
        .flat_map(|o| &o.results)
    {
        if !names.contains(&r.name) && !is_block(&r.name) {
            names.push(r.name.clone());
        }
    }
    rows_of(columns, names)
}

/// The rows of benchmarks `names` across `columns` (a row for a name no
/// column measured has empty cells).
pub fn rows_of(columns: &[Column], names: Vec<String>) -> Vec<CoreRow> {
    let column = |n: &str| columns.iter().find(|c| c.name == n);
    names
        .into_iter()
        .map(|name| {
            let first = columns.iter().find_map(|c| c.results(&name).next());
            let kind = match first {
                _ if CORE.contains(&name.as_str()) => "core".to_string(),
                Some(BenchResult {
                    pair: Some(pair),
                    role,
                    ..
                }) => format!("{pair} {}", role.word()),
                _ => "-".to_string(),
            };
            let cells = columns
                .iter()
                .map(|c| Cell {
                    medians: Spread::of(c.results(&name).map(|r| r.median_ns)),
                    iters: c.results(&name).map(|r| r.iters).collect(),
                })
                .collect();
            let ratios = |a: &str, b: &str| match (column(a), column(b)) {
                (Some(a), Some(b)) => run_ratios(a, b, &name),
                _ => Spread::default(),
            };
            CoreRow {
                kind,
                cells,
                hvm_over_pvh: ratios("xen-hvm", "xen-pvh"),
                hvm_over_native: ratios("xen-hvm", "native"),
                name,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::columns;
    use super::*;

    #[test]
    fn core_rows_line_up_the_columns_per_run() {
        let rows = core_rows(&columns());
        assert_eq!(rows.len(), CORE.len() + 8);
        assert_eq!(rows[0].kind, "core");
        let clock = &rows[0];
        assert_eq!(clock.cells[0].medians.values(), [10.0, 12.0]);
        assert_eq!(clock.cells[0].iters, [100, 100]);
        // Run 1: 80/20 = 4 and 80/10 = 8; run 2: 60/20 = 3 and 60/12 = 5.
        assert_eq!(clock.hvm_over_pvh.values(), [3.0, 4.0]);
        assert_eq!(clock.hvm_over_native.values(), [5.0, 8.0]);
        let lapic = rows.iter().find(|r| r.name == "lapic_timer_arm").unwrap();
        assert_eq!(lapic.kind, "timer_arm emulated");
        assert_eq!(lapic.cells[2].medians.values(), [6000.0, 12000.0]);
        assert_eq!(lapic.cells[0].medians.n(), 0);
        assert_eq!(rows[1].hvm_over_pvh.n(), 0);
    }
}
