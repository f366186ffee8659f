//! Tests of the pairs and their tie rule ([`super`]).

use super::super::parse::parse;
use super::*;

/// A bench line with its p10-p90 range.
pub fn ranged(name: &str, ns: f64, p10: f64, p90: f64, pair: &str, role: &str) -> String {
    format!(
        "# bench {name} iters=100 median_cycles={} p10_cycles={} p90_cycles={} \
         min_cycles={} median_ns={ns} tsc_hz=1000000000 pair={pair} role={role}",
        ns as u64, p10 as u64, p90 as u64, p10 as u64
    )
}

fn run(lines: &[String]) -> BenchOutput {
    parse(lines.iter().map(String::as_str))
}

#[test]
fn ranges_apart_name_a_winner_and_overlap_is_a_tie() {
    let apart = run(&[
        ranged("slow", 6000.0, 5000.0, 7000.0, "p", "emulated"),
        ranged("fast", 1500.0, 1000.0, 2000.0, "p", "pv"),
    ]);
    let close = run(&[
        ranged("slow", 1003.0, 900.0, 1100.0, "p", "emulated"),
        ranged("fast", 1001.0, 950.0, 1050.0, "p", "pv"),
    ]);
    let reversed = run(&[
        ranged("slow", 100.0, 90.0, 110.0, "p", "emulated"),
        ranged("fast", 1500.0, 1000.0, 2000.0, "p", "pv"),
    ]);
    let (s, notes) = pair_series([&apart, &apart]);
    assert!(notes.is_empty());
    assert_eq!(s[0].winner(), Winner::Pv);
    assert_eq!(s[0].verdict(), "fast faster (ranges apart in 2 of 2 runs)");
    assert_eq!(s[0].ratios().median(), Some(4.0));
    // 0.998x with overlapping ranges: a tie, whatever the medians say.
    let (s, _) = pair_series([&close]);
    assert_eq!(s[0].winner(), Winner::Tie);
    assert_eq!(s[0].verdict(), "tie (ranges overlap in 1 of 1 runs)");
    // Apart in one run and overlapping in the other: a tie.
    let (s, _) = pair_series([&apart, &close]);
    assert_eq!(s[0].winner(), Winner::Tie);
    assert_eq!(
        s[0].verdict(),
        "tie (ranges overlap in 1 of 2 runs, fast below in 1)"
    );
    // Apart both times, but not the same way: a tie.
    let (s, _) = pair_series([&apart, &reversed]);
    assert_eq!(s[0].winner(), Winner::Tie);
    assert_eq!(
        s[0].verdict(),
        "tie (ranges overlap in 0 of 2 runs, fast below in 1, slow below in 1)"
    );
    let (s, _) = pair_series([&reversed]);
    assert_eq!(s[0].winner(), Winner::Baseline);
    assert_eq!(s[0].ratios().median(), Some(100.0 / 1500.0));
}

#[test]
fn incomplete_pairs_are_noted() {
    let one = run(&[
        ranged("a", 10.0, 9.0, 11.0, "p", "emulated"),
        ranged("b", 5.0, 4.0, 6.0, "p", "pv"),
        ranged("lonely", 1.0, 1.0, 1.0, "orphan", "pv"),
    ]);
    let other = run(&[ranged("c", 1.0, 1.0, 1.0, "-", "-")]);
    let (s, notes) = pair_series([&one, &other]);
    assert_eq!(s.len(), 1);
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("orphan"));
    assert!(notes[1].contains("measured in 1 of 2 runs"));
}

#[test]
fn sweep_points_and_ratios() {
    let s = PairSeries {
        pair: "batching_x16".into(),
        runs: vec![],
    };
    assert_eq!(s.sweep_n(), Some(16));
    assert_eq!(s.verdict(), "no run");
    assert_eq!(ratio(10.0, 4.0), Some(2.5));
    assert_eq!(ratio(10.0, 0.0), None);
    assert_eq!(ratio(f64::NAN, 3.0), None);
    assert_eq!(times(2000.0), "2000x");
    assert_eq!(times(12.34), "12.3x");
    assert_eq!(times(0.998), "1.00x");
}
