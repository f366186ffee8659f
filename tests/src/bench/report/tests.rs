//! Tests of the report's writers on one sample run: every table, chart and figure.

use super::charts::charts;
use super::json::report_json;
use super::markdown::{markdown, table};
use super::svg::{render, tests::well_formed_xml};
use super::table::{bytes, ns};
use super::*;
use crate::bench::block_rows::tests::block_columns;
use crate::bench::boot::{BootKind, BootRow, BootRun};
use crate::bench::floor::{Floor, Probe, Workload};
use crate::bench::model::tests::columns;
use crate::bench::model::{DensityStep, Footprint, LiveFigure, Machine};
use crate::bench::smp_rows::tests::smp_set;
use std::collections::BTreeSet;

fn boot_run(unpaused: f64, ready: Option<f64>) -> BootRun {
    BootRun {
        built_secs: Some(unpaused - 0.5),
        unpaused_secs: Some(unpaused),
        first_byte_secs: Some(unpaused + 0.1),
        gone_secs: Some(unpaused + 1.0),
        ready_own_clock_secs: ready,
        ended: "poweroff".into(),
        passed: true,
    }
}

pub fn sample() -> BenchReport {
    let probe = |mb, passed, why: &str| Probe {
        mb,
        attempt: 1,
        passed,
        why: why.into(),
        memory_line: Some(format!("memory: {} MiB usable", mb - 2)),
    };
    let mut columns = columns();
    // Every block figure in every run, so that the block tables, charts
    // and keys have something to show.
    let block = block_columns();
    for (column, block) in columns.iter_mut().zip(&block) {
        for (run, b) in column.runs.iter_mut().zip(&block.runs) {
            run.output.results.extend(b.output.results.iter().cloned());
        }
    }
    // A benchmark that failed and a probe that died before its memory
    // line, so that every key of report.json appears in [`JSON_SHAPE`].
    columns[1].runs[1]
        .output
        .errors
        .push(("console_line".into(), "timed out".into()));
    BenchReport {
        machine: Machine {
            cpu_model: "AMD EPYC 7B13".into(),
            cores: 2,
            xen_version: "4.17.7".into(),
            qemu_version: "7.2.15".into(),
            commit: "0123abc-dirty".into(),
        },
        quick: true,
        repeat: 2,
        columns,
        smp: vec![smp_set(2), smp_set(4)],
        boot: vec![
            BootRow {
                guest: "mute".into(),
                kind: BootKind::Mute,
                memory_mb: 96,
                runs: vec![boot_run(1.0, None), boot_run(1.2, None)],
            },
            BootRow {
                guest: "virtus-pv".into(),
                kind: BootKind::Virtus,
                memory_mb: 96,
                runs: vec![boot_run(2.0, Some(0.03)), boot_run(2.5, Some(0.05))],
            },
        ],
        footprint: Footprint {
            virtus_pv_stripped_bytes: Some(300_000),
            linux_floor_source: "96 MiB documented".into(),
            ..Default::default()
        },
        floors: vec![Floor {
            workload: Workload::Shell,
            probes: vec![
                probe(32, true, "poweroff"),
                Probe {
                    memory_line: None,
                    ..probe(2, false, "crash: `!!! out of frames`")
                },
                probe(3, true, "poweroff"),
            ],
            problems: vec![],
        }],
        density: vec![DensityStep {
            n: 4,
            memory_mb: 6,
            passed: 3,
            create_secs: vec![1.0, 1.1, 1.2, 1.3],
            problems: vec!["d4-2: crashed".into()],
            ..Default::default()
        }],
        live: vec![LiveFigure {
            scenario: "lc-save-restore".into(),
            what: "`xl save` returned".into(),
            value: 8.53,
            unit: "s".into(),
            run: 0,
        }],
        notes: vec!["a note".into()],
        elapsed_secs: 100.0,
    }
}

#[test]
fn markdown_has_every_table_the_rule_and_the_commit() {
    let report = sample();
    let md = markdown(&report);
    for needle in [
        "Made from commit `0123abc-dirty`",
        "AMD EPYC 7B13 (2 cores)",
        "TCG software emulation",
        "not hardware figures",
        "2 runs of each column",
        "| timer_arm | lapic_timer_arm (emulated) | 9.00 us (6.00 us-12.0 us) | singleshot_timer_arm | 1.50 us (1.50 us-1.50 us) | 2x100 / 2x100 | 6.00x (4.00x-8.00x) |",
        "Rule: A pair is a tie unless",
        "| 16 | 93.8 ns (62.5 ns-125 ns) | 125 ns (125 ns-125 ns) |",
        "| clock_read | core | 11.0 ns (10.0 ns-12.0 ns) | 70.0 ns (60.0 ns-80.0 ns) |",
        "| 3.50x (3.00x-4.00x) | 6.50x (5.00x-8.00x) | 2x100 / 2x100 / 2x100 |",
        "| mute | 96 MiB | 2/2 |",
        "| shell | boots to the `virtus> ` prompt",
        "| 3 MiB | 1 / 1 | memory: 1 MiB usable | at 2 MiB: crash: `!!! out of frames` | 32+ 2- 3+ |",
        "![Density",
        "d4-2: crashed",
        "INCOMPLETE",
        "**xen-hvm** (2 runs): xen-hvm setup",
        "dom0 types `test time_`",
        "| time_read | 2 | 120 us [120 us-120 us] n=100 |",
        "| figure | native (sda ahci): median (range over runs) |",
        "| 4 KiB random read, QD1: latency | 65.0 us (60.0 us-70.0 us) [p10-p90 54.0 us-77.0 us] |",
        "| 0.04x (0.03x-0.04x), pv faster | 1.62x (1.57x-1.67x), native faster | 2x20 / 2x20 / 2x20 |",
        "| 4 KiB random reads, QD32: IOPS | 30952 IOPS (28571 IOPS-33333 IOPS)",
        "| 26.4x (22.7x-30.0x), pv faster |",
        "goal: 4 KiB QD32 IOPS: xen-pvh (blkfront) at least 10x xen-hvm (emulated AHCI): met in every run (ratio 26.4x (22.7x-30.0x), n=2)",
        "goal: 4 KiB QD1 latency: xen-pvh within 2x of native: met in every run",
        "| sequential 1 MiB writes: MB/s | 2 | 74.9 MB/s [68.1 MB/s-83.2 MB/s] n=20 |",
        "![Block I/O throughput",
        "## SMP: inter-processor operations",
        "| smp_ipi_round_trip | 4 | 138 us (136 us-140 us) |",
        "| smp_lock_handoff | 2 | 345 ns (340 ns-350 ns) | no result in 2 of 2 runs (run 1: hung: no result after 10012 ms (watchdog)) |",
        "![SMP: inter-processor operations](smp.svg)",
        "**xen-pvh, 4 CPUs** (2 runs, SMP table): xen-pvh setup",
        "xen-hvm, 2 CPUs: run 1: benchmark smp_lock_handoff failed: hung",
        "`SCHEDOP_yield` under PVH",
    ] {
        assert!(md.contains(needle), "{needle} missing from\n{md}");
    }
    // Every Markdown table row has as many cells as its header.
    for t in tables(&report) {
        let text = table(&t);
        let counts: Vec<usize> = text
            .lines()
            .map(|l| l.replace("\\|", "").matches('|').count())
            .collect();
        assert!(counts.iter().all(|c| *c == counts[0]), "{text}");
    }
}

#[test]
fn every_chart_is_well_formed_and_named_by_its_table() {
    let report = sample();
    let charts = charts(&report);
    let mut files: Vec<String> = charts.iter().map(|(f, _)| f.clone()).collect();
    let mut named: Vec<String> = tables(&report)
        .into_iter()
        .filter_map(|t| t.chart_file)
        .collect();
    files.sort();
    named.sort();
    assert_eq!(files, named);
    for (_, chart) in &charts {
        well_formed_xml(&render(chart)).unwrap();
    }
}

/// Every key path of report.json in the order each first appears (`[]`:
/// an array's elements), with the kinds of value it took. Made from the
/// sample by the hand-written writer that serde replaced, so it proves the
/// typed structures write the same keys, in the same order, of the same
/// kinds; a renamed field in the model shows here too.
const JSON_SHAPE: &str = include_str!("json_shape.txt");

/// The shape of pretty-printed JSON (one value a line, two spaces a level).
fn json_shape(text: &str) -> String {
    // The open containers' path segments by depth: `.key`, or `[]` for an
    // array's element.
    let mut open: Vec<String> = Vec::new();
    let mut paths: Vec<(String, BTreeSet<&str>)> = Vec::new();
    for line in text.lines() {
        let value = line.trim_start();
        let depth = (line.len() - value.len()) / 2;
        open.truncate(depth);
        let (segment, value) = match value.strip_prefix('"').and_then(|v| v.split_once("\": ")) {
            Some((key, value)) => (format!(".{key}"), value),
            None => ("[]".to_string(), value),
        };
        let kind = match value.as_bytes().first() {
            Some(b'}' | b']') | None => continue,
            Some(b'{' | b'[') if depth == 0 => {
                open.push(String::new());
                continue;
            }
            Some(b'{') => "object",
            Some(b'[') => "array",
            Some(b'"') => "string",
            Some(b'n') => "null",
            Some(b't' | b'f') => "bool",
            Some(_) => "number",
        };
        let path = format!("{}{segment}", open.concat());
        let path = path.trim_start_matches('.').to_string();
        match paths.iter_mut().find(|(p, _)| *p == path) {
            Some((_, kinds)) => drop(kinds.insert(kind)),
            None => paths.push((path, BTreeSet::from([kind]))),
        }
        if matches!(kind, "object" | "array") {
            open.push(segment);
        }
    }
    let line = |(path, kinds): &(String, BTreeSet<&str>)| {
        let kinds: Vec<&str> = kinds.iter().copied().collect();
        format!("{path}: {}\n", kinds.join("|"))
    };
    paths.iter().map(line).collect()
}

#[test]
fn json_has_the_keys_and_values_of_the_report() {
    let text = report_json(&sample()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value["columns"][2]["runs"][1]["output"]["results"][2]["pair"],
        "timer_arm"
    );
    let shape = json_shape(&text);
    for (line, want) in shape.lines().zip(JSON_SHAPE.lines()) {
        assert_eq!(line, want, "report.json changed shape (see json_shape.txt)");
    }
    assert_eq!(shape.lines().count(), JSON_SHAPE.lines().count());
    for needle in [
        "\"commit\": \"0123abc-dirty\"",
        "\"ratio_baseline_over_pv\": {",
        "\"pvclock_read\"",
        "\"tie_rule\": \"A pair is a tie",
        "\"floor_mb\": 3",
        "\"ready_own_clock_secs\": 0.03",
        "\"bench\": \"block_read_4k_qd32\"",
        "\"driver\": \"blkfront\"",
        "\"goal\": \"4 KiB QD32 IOPS",
        "\"repeat\": 2",
        "\"pvh_over_native\": {",
        "\"run 2: hung: no result after 10012 ms (watchdog)\"",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
}

#[test]
fn units_scale() {
    assert_eq!(ns(12.0), "12.0 ns");
    assert_eq!(ns(1500.0), "1.50 us");
    assert_eq!(ns(2_500_000.0), "2.50 ms");
    assert_eq!(bytes(Some(2 << 20)), "2.0 MiB");
    assert_eq!(bytes(Some(4096)), "4 KiB");
}
