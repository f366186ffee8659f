//! The report's tables (for the terminal and for Markdown), its charts,
//! and `bench/report.md`.

use super::model::{self, BenchReport, COLUMNS, Footprint};
use super::svg::{Bar, Chart};
use crate::table::{self, Align};

/// A table both the terminal and Markdown can show.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub title: String,
    pub header: Vec<(String, Align)>,
    pub rows: Vec<Vec<String>>,
    /// The chart's file name under the output directory.
    pub chart_file: String,
}

impl Table {
    pub fn terminal(&self) -> String {
        let header: Vec<(&str, Align)> =
            self.header.iter().map(|(t, a)| (t.as_str(), *a)).collect();
        format!("{}\n{}", self.title, table::render(&header, &self.rows))
    }

    pub fn markdown(&self) -> String {
        let cell = |text: &str| text.replace('|', "\\|");
        let mut out = String::new();
        let titles: Vec<String> = self.header.iter().map(|(t, _)| cell(t)).collect();
        out.push_str(&format!("| {} |\n", titles.join(" | ")));
        let rule: Vec<&str> = self
            .header
            .iter()
            .map(|(_, a)| match a {
                Align::Left => "---",
                Align::Right => "---:",
            })
            .collect();
        out.push_str(&format!("|{}|\n", rule.join("|")));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }
}

fn header(titles: &[(&str, Align)]) -> Vec<(String, Align)> {
    titles.iter().map(|(t, a)| (t.to_string(), *a)).collect()
}

/// A duration in ns with a readable unit and three significant digits.
pub fn ns(value: f64) -> String {
    let (v, unit) = if value >= 1e6 {
        (value / 1e6, "ms")
    } else if value >= 1e3 {
        (value / 1e3, "us")
    } else {
        (value, "ns")
    };
    super::svg::value_text(v, unit)
}

fn opt_ns(value: Option<f64>) -> String {
    value.map_or("-".into(), ns)
}

fn opt_times(value: Option<f64>) -> String {
    value.map_or("-".into(), model::times)
}

fn secs(value: Option<f64>) -> String {
    value.map_or("-".into(), |s| format!("{s:.2} s"))
}

fn bytes(value: Option<u64>) -> String {
    value.map_or("-".into(), |b| {
        if b >= 1 << 20 {
            format!("{:.1} MiB", b as f64 / f64::from(1 << 20))
        } else {
            format!("{:.0} KiB", b as f64 / 1024.0)
        }
    })
}

/// The spread of a benchmark: its 10th to 90th percentile, in time.
fn spread(result: &super::parse::BenchResult) -> String {
    if result.tsc_hz == 0 {
        return "-".into();
    }
    let to_ns = |cycles: u64| cycles as f64 * 1e9 / result.tsc_hz as f64;
    format!(
        "{}-{}",
        ns(to_ns(result.p10_cycles)),
        ns(to_ns(result.p90_cycles))
    )
}

pub fn pairs_table(report: &BenchReport) -> Table {
    let (pairs, _) = report.pairs();
    Table {
        title: "Pairs under Xen PVH: the emulated (or unbatched) path against the paravirtual one"
            .into(),
        header: header(&[
            ("pair", Align::Left),
            ("baseline", Align::Left),
            ("median", Align::Right),
            ("p10-p90", Align::Right),
            ("pv", Align::Left),
            ("median", Align::Right),
            ("p10-p90", Align::Right),
            ("baseline/pv", Align::Right),
            ("winner", Align::Left),
        ]),
        rows: pairs
            .iter()
            .map(|p| {
                vec![
                    p.pair.clone(),
                    format!("{} ({})", p.baseline.name, p.baseline.role.word()),
                    ns(p.baseline.median_ns),
                    spread(&p.baseline),
                    p.pv.name.clone(),
                    ns(p.pv.median_ns),
                    spread(&p.pv),
                    opt_times(p.ratio),
                    p.verdict(),
                ]
            })
            .collect(),
        chart_file: "pairs.svg".into(),
    }
}

pub fn core_table(report: &BenchReport) -> Table {
    let mut titles: Vec<(String, Align)> = vec![
        ("benchmark".into(), Align::Left),
        ("kind".into(), Align::Left),
    ];
    for c in &report.columns {
        titles.push((format!("{} median", c.name), Align::Right));
    }
    titles.push(("hvm/pvh".into(), Align::Right));
    titles.push(("hvm/native".into(), Align::Right));
    Table {
        title: "Benchmarks in the three columns, core ones first (median per operation)".into(),
        header: titles,
        rows: report
            .core()
            .iter()
            .map(|row| {
                let mut cells = vec![row.name.clone(), row.kind.clone()];
                cells.extend(row.median_ns.iter().map(|v| opt_ns(*v)));
                cells.push(opt_times(row.hvm_over_pvh()));
                cells.push(opt_times(row.hvm_over_native()));
                cells
            })
            .collect(),
        chart_file: "core.svg".into(),
    }
}

pub fn boot_table(report: &BenchReport) -> Table {
    Table {
        title: "Boot under Xen PVH: host clock from the start of `xl create`, one guest at a time"
            .into(),
        header: header(&[
            ("guest", Align::Left),
            ("memory", Align::Right),
            ("xl create -> unpaused", Align::Right),
            ("xl create -> first line", Align::Right),
            ("xl create -> ready", Align::Right),
            ("ready is", Align::Left),
            ("ended", Align::Left),
        ]),
        rows: report
            .boot
            .iter()
            .map(|b| {
                vec![
                    b.guest.clone(),
                    format!("{} MiB", b.memory_mb),
                    secs(b.create_secs),
                    secs(b.first_line_secs),
                    secs(b.ready_secs),
                    b.ready_is.clone(),
                    b.ended.clone(),
                ]
            })
            .collect(),
        chart_file: "boot.svg".into(),
    }
}

fn tries(t: &[(u32, bool)]) -> String {
    t.iter()
        .map(|(mb, ok)| format!("{mb} MiB {}", if *ok { "booted" } else { "failed" }))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn footprint_table(report: &BenchReport) -> Table {
    let f = &report.footprint;
    let virtus_floor = Footprint::smallest(&f.virtus_tries)
        .map_or("none of those tried".into(), |mb| format!("{mb} MiB"));
    let linux_floor = match Footprint::smallest(&f.linux_tries) {
        Some(mb) => format!("{mb} MiB (booted here; documented floor, see below)"),
        None => "did not boot here (documented floor: see below)".into(),
    };
    Table {
        title: "Footprint: virtus-pv against the bed's Linux PVH guest".into(),
        header: header(&[
            ("guest", Align::Left),
            ("kernel image", Align::Right),
            ("initramfs", Align::Right),
            ("smallest memory", Align::Left),
            ("tried in this run", Align::Left),
        ]),
        rows: vec![
            vec![
                format!(
                    "virtus-pv (stripped; {} with debug info)",
                    bytes(f.virtus_pv_bytes)
                ),
                bytes(f.virtus_pv_stripped_bytes),
                "none".into(),
                virtus_floor,
                tries(&f.virtus_tries),
            ],
            vec![
                "Linux (bed's vmlinux)".into(),
                bytes(f.linux_vmlinux_bytes),
                bytes(f.linux_initramfs_bytes),
                linux_floor,
                tries(&f.linux_tries),
            ],
        ],
        chart_file: "footprint.svg".into(),
    }
}

pub fn density_table(report: &BenchReport) -> Table {
    Table {
        title: "Density: N virtus-pv PVH domUs at once under one Xen".into(),
        header: header(&[
            ("N", Align::Right),
            ("memory each", Align::Right),
            ("succeeded", Align::Right),
            ("peak at once", Align::Right),
            ("create, mean", Align::Right),
            ("first", Align::Right),
            ("last", Align::Right),
            ("2nd half/1st half", Align::Right),
            ("all created", Align::Right),
            ("all ended", Align::Right),
            ("problems", Align::Left),
        ]),
        rows: report
            .density
            .iter()
            .map(|d| {
                vec![
                    d.n.to_string(),
                    format!("{} MiB", d.memory_mb),
                    format!("{}/{}", d.passed, d.n),
                    d.peak_running.to_string(),
                    secs(d.mean_create()),
                    secs(d.first_create()),
                    secs(d.last_create()),
                    opt_times(d.growth()),
                    secs(d.all_created_secs),
                    secs(d.all_ended_secs),
                    if d.problems.is_empty() {
                        "none".into()
                    } else {
                        d.problems.join("; ")
                    },
                ]
            })
            .collect(),
        chart_file: "density.svg".into(),
    }
}

pub fn tables(report: &BenchReport) -> Vec<Table> {
    vec![
        pairs_table(report),
        core_table(report),
        boot_table(report),
        footprint_table(report),
        density_table(report),
    ]
}

/// One chart per table, named by its `chart_file`.
pub fn charts(report: &BenchReport) -> Vec<(String, Chart)> {
    let (pairs, _) = report.pairs();
    let mut out = Vec::new();
    out.push((
        "pairs.svg".to_string(),
        Chart {
            title: "Pairs under Xen PVH: median per operation".into(),
            unit: "ns".into(),
            bars: pairs
                .iter()
                .flat_map(|p| {
                    [
                        Bar {
                            label: format!("{}: {}", p.pair, p.baseline.name),
                            value: Some(p.baseline.median_ns),
                            group: 0,
                        },
                        Bar {
                            label: format!("{}: {}", p.pair, p.pv.name),
                            value: Some(p.pv.median_ns),
                            group: 1,
                        },
                    ]
                })
                .collect(),
            legend: vec!["emulated / unbatched".into(), "paravirtual".into()],
        },
    ));
    out.push((
        "core.svg".to_string(),
        Chart {
            title: "Core benchmarks: native, Xen HVM, Xen PVH (median)".into(),
            unit: "ns".into(),
            bars: report
                .core()
                .iter()
                .flat_map(|row| {
                    row.median_ns
                        .iter()
                        .enumerate()
                        .map(|(i, v)| Bar {
                            label: format!(
                                "{} {}",
                                row.name,
                                report.columns.get(i).map_or(COLUMNS[i % 3], |c| &c.name)
                            ),
                            value: *v,
                            group: i,
                        })
                        .collect::<Vec<_>>()
                })
                .collect(),
            legend: report.columns.iter().map(|c| c.name.clone()).collect(),
        },
    ));
    out.push((
        "boot.svg".to_string(),
        Chart {
            title: "Boot under Xen PVH: from the start of `xl create`".into(),
            unit: "s".into(),
            bars: report
                .boot
                .iter()
                .flat_map(|b| {
                    [
                        Bar {
                            label: format!("{} first line", b.guest),
                            value: b.first_line_secs,
                            group: 0,
                        },
                        Bar {
                            label: format!("{} ready", b.guest),
                            value: b.ready_secs,
                            group: 1,
                        },
                    ]
                })
                .collect(),
            legend: vec!["first console line".into(), "ready".into()],
        },
    ));
    let f = &report.footprint;
    let kib = |b: Option<u64>| b.map(|b| b as f64 / 1024.0);
    out.push((
        "footprint.svg".to_string(),
        Chart {
            title: "Footprint: image sizes and smallest memory".into(),
            unit: "KiB".into(),
            bars: vec![
                Bar {
                    label: "virtus-pv image (stripped)".into(),
                    value: kib(f.virtus_pv_stripped_bytes),
                    group: 0,
                },
                Bar {
                    label: "Linux vmlinux".into(),
                    value: kib(f.linux_vmlinux_bytes),
                    group: 1,
                },
                Bar {
                    label: "Linux initramfs".into(),
                    value: kib(f.linux_initramfs_bytes),
                    group: 1,
                },
                Bar {
                    label: "virtus-pv smallest memory".into(),
                    value: Footprint::smallest(&f.virtus_tries).map(|mb| f64::from(mb) * 1024.0),
                    group: 0,
                },
                Bar {
                    label: "Linux memory it booted with".into(),
                    value: Footprint::smallest(&f.linux_tries).map(|mb| f64::from(mb) * 1024.0),
                    group: 1,
                },
            ],
            legend: vec!["Virtus".into(), "Linux".into()],
        },
    ));
    out.push((
        "density.svg".to_string(),
        Chart {
            title: "Density: mean time to create one guest, N at once".into(),
            unit: "s".into(),
            bars: report
                .density
                .iter()
                .map(|d| Bar {
                    label: format!("N={} ({}/{} ok)", d.n, d.passed, d.n),
                    value: d.mean_create(),
                    group: usize::from(!d.all_passed()),
                })
                .collect(),
            legend: vec!["all succeeded".into(), "some failed".into()],
        },
    ));
    out
}

/// The header: where and how the figures were made.
pub fn preamble(report: &BenchReport) -> Vec<String> {
    let m = &report.machine;
    vec![
        format!(
            "Machine: {} ({} cores), QEMU {}, TCG software emulation (no hardware \
             virtualization); Xen {} nested inside it.",
            m.cpu_model, m.cores, m.qemu_version, m.xen_version
        ),
        "Absolute figures are not hardware figures: every instruction is emulated, and \
         under Xen twice over. Ratios from one run are comparable: both sides ran in the \
         same emulator, the same Xen, the same boot."
            .into(),
        format!(
            "Mode: {}; the whole run took {:.1} s; status: {}.",
            if report.quick { "--quick" } else { "full" },
            report.elapsed_secs,
            if report.passed() {
                "everything ran and reported"
            } else {
                "INCOMPLETE (see the notes)"
            }
        ),
    ]
}

pub fn markdown(report: &BenchReport) -> String {
    let mut md = String::from("# Virtus benchmarks: paravirtual against emulated\n\n");
    for line in preamble(report) {
        md.push_str(&format!("{line}\n\n"));
    }
    md.push_str("How each column ran:\n\n");
    for c in &report.columns {
        md.push_str(&format!("- **{}**: {}\n", c.name, c.setup));
    }
    md.push('\n');
    let (pairs, pair_notes) = report.pairs();
    for t in tables(report) {
        md.push_str(&format!("## {}\n\n", t.title));
        md.push_str(&t.markdown());
        md.push_str(&format!("\n![{}]({})\n\n", t.title, t.chart_file));
        if t.chart_file == "footprint.svg" && !report.footprint.linux_floor_source.is_empty() {
            md.push_str(&format!(
                "Linux's smallest memory: {}.\n\n",
                report.footprint.linux_floor_source
            ));
        }
        if t.chart_file == "density.svg" {
            md.push_str(
                "Each guest boots into its shell; once all N run, dom0 types `test time_` and \
                 `shutdown` into every console, so the N run their workload together. \
                 Creation time per guest: from the previous guest's `created` marker (dom0 \
                 ready for the first) to its own (`xl create -p`, console attached, \
                 unpaused); `2nd half/1st half` compares the later guests' mean with the \
                 earlier ones'. Succeeded: powered off after a KTAP summary with no failure.\n\n",
            );
        }
        if t.chart_file == "pairs.svg" {
            for p in &pairs {
                md.push_str(&format!(
                    "- **{}**: {} ({} against {}).\n",
                    p.pair,
                    p.verdict(),
                    ns(p.baseline.median_ns),
                    ns(p.pv.median_ns)
                ));
            }
            if pairs.is_empty() {
                md.push_str("- No pair was reported.\n");
            }
            for n in &pair_notes {
                md.push_str(&format!("- note: {n}\n"));
            }
            md.push('\n');
        }
    }
    let mut notes: Vec<String> = report.notes.clone();
    for c in &report.columns {
        notes.extend(c.problems.iter().map(|p| format!("{}: {p}", c.name)));
        notes.extend(c.output.notes.iter().map(|p| format!("{}: {p}", c.name)));
        notes.extend(
            c.output
                .errors
                .iter()
                .map(|(n, e)| format!("{}: benchmark {n} failed: {e}", c.name)),
        );
    }
    md.push_str("## Notes\n\n");
    if notes.is_empty() {
        md.push_str("None.\n");
    }
    for n in notes {
        md.push_str(&format!("- {n}\n"));
    }
    md.push_str("\nRaw figures: [report.json](report.json).\n");
    md
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::pvh_output;
    use super::super::model::{BootRow, Column, DensityStep, Machine};
    use super::super::parse::parse;
    use super::super::svg::{render, tests::well_formed_xml};
    use super::*;

    pub fn sample() -> BenchReport {
        BenchReport {
            machine: Machine {
                cpu_model: "AMD EPYC 7B13".into(),
                cores: 2,
                xen_version: "4.17.7".into(),
                qemu_version: "7.2.15".into(),
            },
            quick: true,
            columns: vec![
                Column {
                    name: "native".into(),
                    setup: "q35".into(),
                    output: parse([
                        "# bench clock_read iters=9 median_cycles=9 p10_cycles=9 p90_cycles=9 min_cycles=9 median_ns=9 tsc_hz=1 pair=- role=-",
                    ]),
                    problems: vec![],
                },
                Column {
                    name: "xen-hvm".into(),
                    setup: "hvm | 64M".into(),
                    output: Default::default(),
                    problems: vec!["timed out".into()],
                },
                Column {
                    name: "xen-pvh".into(),
                    setup: "pvh".into(),
                    output: pvh_output(),
                    problems: vec![],
                },
            ],
            boot: vec![BootRow {
                guest: "virtus".into(),
                memory_mb: 32,
                first_line_secs: Some(0.5),
                ready_secs: Some(1.0),
                passed: true,
                ..Default::default()
            }],
            footprint: Footprint {
                virtus_pv_stripped_bytes: Some(300_000),
                virtus_tries: vec![(5, true), (4, false)],
                linux_tries: vec![(96, true)],
                linux_floor_source: "96 MiB documented".into(),
                ..Default::default()
            },
            density: vec![DensityStep {
                n: 4,
                memory_mb: 6,
                passed: 3,
                create_secs: vec![1.0, 1.1, 1.2, 1.3],
                problems: vec!["d4-2: crashed".into()],
                ..Default::default()
            }],
            notes: vec!["a note".into()],
            elapsed_secs: 100.0,
        }
    }

    #[test]
    fn markdown_has_every_table_and_the_statement() {
        let report = sample();
        let md = markdown(&report);
        for needle in [
            "AMD EPYC 7B13 (2 cores)",
            "TCG software emulation",
            "Xen 4.17.7",
            "not hardware figures",
            "Ratios from one run are comparable",
            "| timer_arm | lapic_timer_arm (emulated) | 6.00 us | 6.00 us-6.00 us | singleshot_timer_arm | 1.50 us | 1.50 us-1.50 us | 4.00x |",
            "pv wins: pvclock_read is 2000x faster",
            "![Density",
            "xen-hvm: timed out",
            "d4-2: crashed",
            "INCOMPLETE",
            "**xen-hvm**: hvm | 64M",
            "5 MiB",
            "dom0 types `test time_`",
        ] {
            assert!(md.contains(needle), "{needle} missing from\n{md}");
        }
        // Every Markdown table row has as many cells as its header.
        for t in tables(&report) {
            let text = t.markdown();
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
        let files: Vec<&str> = charts.iter().map(|(f, _)| f.as_str()).collect();
        let tables: Vec<String> = tables(&report).into_iter().map(|t| t.chart_file).collect();
        assert_eq!(files, tables);
        for (_, chart) in &charts {
            well_formed_xml(&render(chart)).unwrap();
        }
    }

    #[test]
    fn json_is_well_formed_and_complete() {
        let text = super::super::json::report_json(&sample()).render();
        assert!(super::super::json::tests::well_formed(&text), "{text}");
        for needle in [
            "\"ratio_baseline_over_pv\": 4",
            "\"pvclock_read\"",
            "\"cpu_model\": \"AMD EPYC 7B13\"",
            "\"create_secs\": [",
            "\"booted\": false",
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
}
