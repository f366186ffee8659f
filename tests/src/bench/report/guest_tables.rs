//! The tables of whole guests under Xen: boot against Linux, the memory
//! floor's bisection, the footprint, density.

use super::table::{Table, bytes, secs};
use crate::bench::boot::BootRow;
use crate::bench::floor::{self, Floor};
use crate::bench::model::BenchReport;
use crate::bench::pairs::times;
use crate::table::Align;

fn boot_cells(b: &BootRow) -> Vec<String> {
    vec![
        b.guest.clone(),
        format!("{} MiB", b.memory_mb),
        b.runs.iter().filter(|r| r.passed).count().to_string() + &format!("/{}", b.runs.len()),
        b.spread(|r| r.built_secs).text(secs),
        b.spread(|r| r.unpaused_secs).text(secs),
        b.spread(|r| r.first_byte_secs).text(secs),
        b.spread(|r| r.gone_secs).text(secs),
        b.spread(|r| r.ready_own_clock_secs).text(secs),
        b.kind.ready_is().to_string(),
    ]
}

pub fn boot_table(report: &BenchReport) -> Table {
    let header = [
        ("guest", Align::Left),
        ("memory", Align::Right),
        ("n (ok/runs)", Align::Right),
        ("xl create: domain built", Align::Right),
        ("console attached, unpaused", Align::Right),
        ("first console byte", Align::Right),
        ("domain gone", Align::Right),
        ("ready, guest's own clock", Align::Right),
        ("ready is", Align::Left),
    ];
    let rows = report.boot.iter().map(boot_cells).collect();
    let title = "Boot under Xen PVH: from the start of `xl create`, dom0's clock; ready, the guest's own clock";
    Table::new(title, Some("boot.svg"), &header, rows)
}

fn floor_cells(f: &Floor) -> Vec<String> {
    let sign = |passed: bool| if passed { "+" } else { "-" };
    let order: Vec<String> = f
        .probes
        .iter()
        .map(|p| format!("{}{}", p.mb, sign(p.passed)))
        .collect();
    let below = |mb: u32| {
        if mb > floor::LO_MB {
            f.tries(mb - 1)
        } else {
            0
        }
    };
    let (floor, n) = match f.floor() {
        Some(mb) => (
            format!("{mb} MiB"),
            format!("{} / {}", f.tries(mb), below(mb)),
        ),
        None => ("none found".into(), "-".into()),
    };
    vec![
        f.workload.word().to_string(),
        f.workload.criterion().to_string(),
        floor,
        n,
        f.memory_at_floor().unwrap_or("-").to_string(),
        f.reason(),
        order.join(" "),
    ]
}

pub fn floor_table(report: &BenchReport) -> Table {
    let header = [
        ("workload", Align::Left),
        ("passes when it", Align::Left),
        ("floor", Align::Right),
        ("n: boots at floor / at floor-1", Align::Right),
        ("the kernel at the floor", Align::Left),
        ("why not 1 MiB less", Align::Left),
        ("probes in order (MiB, + passed, - failed)", Align::Left),
    ];
    let rows = report.floors.iter().map(floor_cells).collect();
    let title = "Smallest memory for virtus-pv: bisection over whole MiB under Xen PVH";
    Table::new(title, None, &header, rows)
}

pub fn footprint_table(report: &BenchReport) -> Table {
    let f = &report.footprint;
    let floor = |w| {
        report
            .floor_mb(w)
            .map_or("-".into(), |mb| format!("{mb} MiB"))
    };
    let header = [
        ("guest", Align::Left),
        ("kernel image", Align::Right),
        ("initramfs", Align::Right),
        ("smallest memory: shell / suite", Align::Left),
    ];
    let rows = vec![
        vec![
            format!(
                "virtus-pv (stripped; {} with debug info)",
                bytes(f.virtus_pv_bytes)
            ),
            bytes(f.virtus_pv_stripped_bytes),
            "none".into(),
            format!(
                "{} / {} (bisection above)",
                floor(floor::Workload::Shell),
                floor(floor::Workload::Suite)
            ),
        ],
        vec![
            "Linux (bed's vmlinux)".into(),
            bytes(f.linux_vmlinux_bytes),
            bytes(f.linux_initramfs_bytes),
            "96 MiB to init (documented, not bisected here; see below)".into(),
        ],
    ];
    let title = "Footprint: virtus-pv against the bed's Linux PVH guest";
    Table::new(title, Some("footprint.svg"), &header, rows)
}

pub fn density_table(report: &BenchReport) -> Table {
    let header = [
        ("N", Align::Right),
        ("memory each", Align::Right),
        ("succeeded", Align::Right),
        ("peak at once", Align::Right),
        ("create per guest (range), n=N", Align::Right),
        ("2nd half/1st half", Align::Right),
        ("all created", Align::Right),
        ("all ended", Align::Right),
        ("problems", Align::Left),
    ];
    let rows = report
        .density
        .iter()
        .map(|d| {
            let opt = |v: Option<f64>| v.map_or("-".into(), secs);
            vec![
                d.n.to_string(),
                format!("{} MiB", d.memory_mb),
                format!("{}/{}", d.passed, d.n),
                d.peak_running.to_string(),
                d.create().text(secs),
                d.growth().map_or("-".into(), times),
                opt(d.all_created_secs),
                opt(d.all_ended_secs),
                if d.problems.is_empty() {
                    "none".into()
                } else {
                    d.problems.join("; ")
                },
            ]
        })
        .collect();
    let title = "Density: N virtus-pv PVH domUs at once under one Xen";
    Table::new(title, Some("density.svg"), &header, rows)
}
