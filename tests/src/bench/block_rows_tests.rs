//! Tests of the block figures, their ratios and ties ([`super`]).

use super::super::model::tests::column;
use super::super::parse::{BenchOutput, parse};
use super::*;

/// A block bench line at 1 GHz (cycles = ns): iteration time `ns` with its
/// p10-p90, moving `ops` requests and `bytes` bytes.
pub fn block_line(
    name: &str,
    ns: f64,
    p10: f64,
    p90: f64,
    ops: u64,
    bytes: u64,
    disk: &str,
) -> String {
    let driver = if disk == "xvda" { "blkfront" } else { "ahci" };
    format!(
        "# bench {name} iters=20 median_cycles={} p10_cycles={} p90_cycles={} \
         min_cycles={} median_ns={ns} tsc_hz=1000000000 pair=- role=- ops={ops} \
         bytes={bytes} depth=32 disk={disk} driver={driver}",
        ns as u64, p10 as u64, p90 as u64, p10 as u64
    )
}

/// One run of every block benchmark, times scaled by `scale` (1.0: PVH).
pub fn block_run(scale: f64, disk: &str) -> BenchOutput {
    let t = |ns: f64| ns * scale;
    let lines = [
        // 100 us a read at QD1 (90-110 us).
        block_line(
            "block_read_4k_qd1",
            t(100e3),
            t(90e3),
            t(110e3),
            1,
            4096,
            disk,
        ),
        // 64 reads in 3.2 ms: 20000 IOPS.
        block_line(
            "block_read_4k_qd32",
            t(3.2e6),
            t(3.0e6),
            t(3.4e6),
            64,
            262_144,
            disk,
        ),
        // 1 MiB in 10 ms: 104.9 MB/s.
        block_line(
            "block_read_seq_1m",
            t(10e6),
            t(9e6),
            t(11e6),
            32,
            1 << 20,
            disk,
        ),
        block_line(
            "block_write_seq_1m",
            t(20e6),
            t(18e6),
            t(22e6),
            32,
            1 << 20,
            disk,
        ),
        block_line("block_flush", t(50e3), t(40e3), t(60e3), 1, 0, disk),
        "# bench done count=5".to_string(),
    ];
    parse(lines.iter().map(String::as_str))
}

pub fn block_columns() -> Vec<Column> {
    vec![
        // Native a little faster than PVH, HVM 30 times slower.
        column(NATIVE, vec![block_run(0.6, "sda"), block_run(0.7, "sda")]),
        column(HVM, vec![block_run(30.0, "sda"), block_run(25.0, "sda")]),
        column(PV, vec![block_run(1.0, "xvda"), block_run(1.1, "xvda")]),
    ]
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * b.abs().max(1.0)
}

#[test]
fn figures_come_from_the_iteration_time_and_what_it_moved() {
    let rows = block_rows(&block_columns());
    assert_eq!(rows.len(), 5);
    let pv = |i: usize| &rows[i].cells[2];
    let v = pv(0).values.values();
    assert!(
        close(v[0], 100e3) && close(v[1], 110e3),
        "latency per request, ns: {v:?}"
    );
    assert!(close(
        pv(1).values.median().unwrap(),
        (20000.0 + 64e9 / 3.52e6) / 2.0
    ));
    assert!(close(pv(2).values.max().unwrap(), 1048576.0 * 1e3 / 10e6));
    // A rate's range: its low end from the slowest iterations (p90 time).
    let (lo, hi) = pv(1).p10_p90.unwrap();
    assert!(
        close(lo, 64e9 / (3.4e6 * 1.1)) && close(hi, 64e9 / 3.0e6),
        "{lo} {hi}"
    );
    let (lo, hi) = pv(0).p10_p90.unwrap();
    assert!(close(lo, 90e3) && close(hi, 121e3), "{lo} {hi}");
    assert_eq!(pv(0).iters, [20, 20]);
    assert_eq!(pv(0).disk.as_deref(), Some("xvda blkfront"));
    assert_eq!(pv(1).depth, Some(32));
    assert_eq!(rows[0].cells[1].disk.as_deref(), Some("sda ahci"));
}

#[test]
fn ratios_are_pv_over_the_other_run_by_run_and_decided_by_the_rule() {
    let rows = block_rows(&block_columns());
    let qd1 = &rows[0];
    // Latency: PV/HVM 1/30 and 1.1/25; PV/native 1/0.6 and 1.1/0.7.
    let v = qd1.pv_over_hvm.ratios.values();
    assert!(close(v[0], 1.0 / 30.0) && close(v[1], 1.1 / 25.0), "{v:?}");
    let v = qd1.pv_over_native.ratios.values();
    assert!(close(v[0], 1.1 / 0.7) && close(v[1], 1.0 / 0.6), "{v:?}");
    assert_eq!(qd1.pv_over_hvm.winner(), Winner::Pv);
    assert_eq!(
        qd1.pv_over_hvm.verdict(),
        "xen-pvh faster (ranges apart in 2 of 2 runs)"
    );
    // PV's 90-110 us against native's 54-66 us and 63-77 us: apart, native below.
    assert_eq!(qd1.pv_over_native.winner(), Winner::Baseline);
    assert_eq!(
        qd1.pv_over_native.verdict(),
        "native faster (ranges apart in 2 of 2 runs)"
    );
    // IOPS: PV/HVM = HVM's time over PV's: 30 and 25/1.1.
    let iops = &rows[1].pv_over_hvm.ratios;
    assert!(close(iops.min().unwrap(), 25.0 / 1.1) && close(iops.max().unwrap(), 30.0));
}

#[test]
fn overlapping_ranges_are_a_tie_and_say_how_often() {
    let pv = column(PV, vec![block_run(1.0, "xvda"), block_run(1.0, "xvda")]);
    // Run 1 within PV's range (a tie), run 2 far slower (PV below).
    let native = column(NATIVE, vec![block_run(1.05, "sda"), block_run(2.0, "sda")]);
    let rows = block_rows(&[native, pv]);
    let c = &rows[0].pv_over_native;
    assert_eq!(c.run_winners, [Winner::Tie, Winner::Pv]);
    assert_eq!(c.winner(), Winner::Tie);
    assert_eq!(
        c.verdict(),
        "tie (ranges overlap in 1 of 2 runs, xen-pvh below in 1)"
    );
    // No HVM column: nothing to compare, said.
    assert_eq!(rows[0].pv_over_hvm.verdict(), "no run to compare");
    assert_eq!(rows[0].pv_over_hvm.ratios.n(), 0);
}

#[test]
fn goals_are_judged_on_every_run() {
    let rows = block_rows(&block_columns());
    let goals = goals(&rows);
    // IOPS ratio 22.7x and 30x: met. QD1 latency 1.57x and 1.67x native: met.
    assert_eq!(goals[0].met, Some(true));
    assert_eq!(goals[1].met, Some(true));
    assert_eq!(goals[1].ratios.n(), 2);
    // HVM only 12 and 8 times slower: one run misses 10x, so not met.
    let mut columns = block_columns();
    columns[1] = column(HVM, vec![block_run(12.0, "sda"), block_run(8.0, "sda")]);
    assert_eq!(super::goals(&block_rows(&columns))[0].met, Some(false));
    // Nothing measured: not judged.
    assert_eq!(super::goals(&block_rows(&[]))[0].met, None);
}

#[test]
fn a_line_without_what_it_moved_gives_no_figure() {
    let plain = parse([
        "# bench block_read_4k_qd1 iters=5 median_cycles=10 p10_cycles=9 p90_cycles=11 \
         min_cycles=9 median_ns=10 tsc_hz=1000000000 pair=- role=-",
    ]);
    let rows = block_rows(&[column(PV, vec![plain])]);
    assert_eq!(rows[0].cells[0].values.n(), 0);
    assert_eq!(rows[0].cells[0].iters, [5]);
    assert!(is_block("block_flush") && !is_block("block_wake_timer"));
}
