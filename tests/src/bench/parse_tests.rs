//! Tests of reading the kernel's `# bench` lines ([`super`]).

use super::*;

pub const LINE: &str = "# bench clock_read iters=1000 median_cycles=120 p10_cycles=110 \
    p90_cycles=150 min_cycles=100 median_ns=40.5 tsc_hz=2963000000 pair=- role=-";

fn errors(out: &BenchOutput) -> Vec<(&str, &str)> {
    out.errors
        .iter()
        .map(|(n, e)| (n.as_str(), e.as_str()))
        .collect()
}

#[test]
fn reads_a_full_line() {
    let out = parse([LINE, "# bench done count=1"]);
    assert_eq!(out.notes, Vec::<String>::new());
    assert!(out.complete());
    let want = BenchResult {
        name: "clock_read".into(),
        iters: 1000,
        median_cycles: 120,
        p10_cycles: 110,
        p90_cycles: 150,
        min_cycles: 100,
        median_ns: 40.5,
        tsc_hz: 2_963_000_000,
        pair: None,
        role: Role::None,
        work: None,
    };
    assert_eq!(out.results, [want]);
}

/// A block benchmark's line: the usual fields, then what an iteration moved.
pub const BLOCK_LINE: &str = "# bench block_read_4k_qd32 iters=40 median_cycles=4000000 \
    p10_cycles=3000000 p90_cycles=5000000 min_cycles=2000000 median_ns=2000000 \
    tsc_hz=2000000000 pair=- role=- ops=64 bytes=262144 depth=32 disk=xvda driver=blkfront";

#[test]
fn reads_what_a_block_iteration_moved() {
    let out = parse([BLOCK_LINE, "# bench done count=1"]);
    assert_eq!(out.notes, Vec::<String>::new());
    let r = &out.results[0];
    let work = r.work.as_ref().unwrap();
    assert_eq!(
        (work.ops, work.bytes, work.depth),
        (64, 262_144, 32),
        "{work:?}"
    );
    assert_eq!(
        (work.disk.as_str(), work.driver.as_str()),
        ("xvda", "blkfront")
    );
    assert_eq!(r.median_secs(), Some(0.002));
    // All five or none; each a count or a plain word; never zero requests.
    let bad = [
        BLOCK_LINE.replace(" driver=blkfront", ""),
        BLOCK_LINE.replace("ops=64", "ops=0"),
        BLOCK_LINE.replace("depth=32", "depth=many"),
        BLOCK_LINE.replace("disk=xvda", "disk=x/y"),
    ];
    let out = parse(bad.iter().map(String::as_str));
    assert!(out.results.is_empty(), "{:?}", out.results);
    assert_eq!(out.notes.len(), 4, "{:#?}", out.notes);
    assert!(out.notes[0].contains("only some of `ops bytes depth disk driver`"));
}

#[test]
fn tolerates_interleaved_output() {
    let lines = [
        "[    0.01] INFO  Virtus on xen-pvh",
        "\x1b[32m# bench pvclock_read iters=10 median_cycles=5 p10_cycles=4 p90_cycles=6 \
         min_cycles=3 median_ns=2 tsc_hz=1000000000 pair=time_read role=pv\x1b[0m\r",
        "some noise # bench lapic_timer_read iters=10 median_cycles=500 p10_cycles=400 \
         p90_cycles=600 min_cycles=300 median_ns=200 tsc_hz=1000000000 pair=time_read role=emulated",
        "ok 1 time_clock_monotonic",
        "# bench lapic_timer_arm error=no local APIC timer",
        "# bench done count=3",
    ];
    let out = parse(lines);
    assert_eq!(out.notes, Vec::<String>::new());
    assert_eq!(out.results.len(), 2);
    assert_eq!(out.results[0].role, Role::Pv);
    assert_eq!(out.results[1].pair.as_deref(), Some("time_read"));
    assert_eq!(errors(&out), [("lapic_timer_arm", "no local APIC timer")]);
    assert!(out.complete());
}

#[test]
fn rejects_malformed_lines_with_a_note() {
    let cut = &LINE[..LINE.len() - 20];
    let bad = [
        cut,
        "# bench x iters=1 median_cycles=2 p10_cycles=1 p90_cycles=3 min_cycles=1 \
         median_ns=1 tsc_hz=1 pair=- role=boss",
        "# bench x iters=ten median_cycles=2 p10_cycles=1 p90_cycles=3 min_cycles=1 \
         median_ns=1 tsc_hz=1 pair=- role=-",
        "# bench x iters=1 median_cycles=1 p10_cycles=2 p90_cycles=3 min_cycles=1 \
         median_ns=1 tsc_hz=1 pair=- role=-",
        "# bench x iters=1 median_cycles=2 p10_cycles=1 p90_cycles=3 min_cycles=1 \
         median_ns=nan tsc_hz=1 pair=- role=- extra=1",
        "# bench done count=many",
        "# bench done",
        "# bench ",
    ];
    let out = parse(bad);
    assert!(out.results.is_empty(), "{:?}", out.results);
    assert_eq!(out.notes.len(), bad.len(), "{:#?}", out.notes);
    assert!(
        out.notes
            .iter()
            .all(|n| n.starts_with("rejected bench line"))
    );
    assert!(out.notes[1].contains("bad role"));
    assert!(!out.complete());
}

#[test]
fn a_hung_benchmark_is_an_error_naming_it() {
    // What the kernel prints when a watchdog abandons a benchmark: the
    // hang itself, then the benchmarks it kept from running.
    let out = parse([
        LINE,
        "# bench block_wake_timer error=hung: no result after 10000 ms (watchdog)",
        "# bench uart_byte error=not run: block_wake_timer was abandoned before it",
        "# bench done count=3",
    ]);
    assert_eq!(out.notes, Vec::<String>::new());
    assert_eq!(out.results.len(), 1);
    assert_eq!(
        errors(&out),
        [
            (
                "block_wake_timer",
                "hung: no result after 10000 ms (watchdog)"
            ),
            (
                "uart_byte",
                "not run: block_wake_timer was abandoned before it"
            )
        ]
    );
    assert!(out.complete());
}

#[test]
fn notes_a_wrong_count_and_duplicates() {
    let out = parse([LINE, LINE, "# bench done count=5"]);
    assert_eq!(out.results.len(), 1);
    assert_eq!(out.notes.len(), 2, "{:?}", out.notes);
    assert!(!out.complete());
    assert!(!parse([LINE]).complete());
}
