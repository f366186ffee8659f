//! `bench/report.md`: where and how the figures were made, the tables and
//! charts, the rules they follow, and everything that went wrong.

use super::block_tables::goal_lines;
use super::table::Table;
use super::tables;
use crate::bench::floor::{CONFIRM, HI_MB, LO_MB};
use crate::bench::model::BenchReport;
use crate::bench::pairs::{TIE_RULE, times};
use crate::table::Align;

/// The header: the tree, the machine, how to read the figures.
pub fn preamble(report: &BenchReport) -> Vec<String> {
    let m = &report.machine;
    vec![
        format!("Made from commit `{}`.", m.commit),
        format!(
            "Machine: {} ({} cores), QEMU {}, TCG software emulation (no hardware \
             virtualization); Xen {} nested inside it.",
            m.cpu_model, m.cores, m.qemu_version, m.xen_version
        ),
        "Absolute figures are not hardware figures: every instruction is emulated, and \
         under Xen twice over, on a machine other work shares. Each column and each boot \
         ran several times: a figure is the median over the runs with the least and \
         greatest value in brackets, and every table gives its n."
            .into(),
        format!(
            "Mode: {}; {} runs of each column and boot; the whole run took {:.1} s; status: {}.",
            if report.quick { "--quick" } else { "full" },
            report.repeat,
            report.elapsed_secs,
            if report.passed() {
                "everything ran and reported"
            } else {
                "INCOMPLETE (see the notes)"
            }
        ),
    ]
}

/// How the block benchmarks ran, under the latency table.
const BLOCK_HOW: &str = "Each column measures the disk the runner gave it: natively QEMU's \
    AHCI (ICH9) disk, under Xen HVM the AHCI disk of Xen's device model, under Xen PVH the \
    blkfront disk that dom0's backend serves, all backed by the same kind of image file. \
    The kernel submits requests through its asynchronous block layer and sleeps until \
    the driver's interrupt or event wakes it (one timer for a whole batch, none per \
    request), so every figure includes interrupt delivery. Random reads are 4 KiB at \
    4 KiB-aligned offsets from a fixed-seed generator; writes go to the disk's second half \
    and write back what was read there. A ratio is xen-pvh's figure over the other \
    column's, run k over run k (HVM and PVH runs alternate in one Xen boot; native runs \
    are separate boots): for latencies below 1 means PVH is faster, for rates above 1. \
    `pv faster`, `<column> faster` or `tie` follow the pairs' rule on the p10-p90 ranges \
    of the iteration times: apart in every run with the same side below, else a tie. \
    Exits and notifications are not counted here: the core's block layer has no counter \
    for them; the drivers' own tests log them (AHCI register accesses and interrupts per \
    read at QD1, blkfront notifications per request at QD1 and QD32).";

/// How the SMP table was made, under it.
const SMP_HOW: &str = "Each column ran again with 2 and with 4 CPUs (natively QEMU `-smp N`, \
    under Xen `vcpus = N`, the kernel told `smp.cpus=N`), `bench=smp_`, as many runs as the \
    other columns, the HVM and PVH runs alternating in one Xen boot per CPU count. \
    `smp_ipi_round_trip`: CPU 0 has CPU 1 send it an event back, until CPU 0 handled it \
    (natively and under HVM a write to the local APIC's ICR each way, under HVM an exit \
    to Xen's emulated APIC; under PVH an event channel). `smp_tlb_shootdown`: one page \
    invalidated on every CPU, locally and by an event to each other CPU, waiting for all. \
    `smp_lock_handoff`: a spin lock passed from CPU 0 to CPU 1 and back, one sample per \
    round, halved (a hand-off); the waiting CPU spins with the platform's relax (PAUSE \
    natively and under HVM, `SCHEDOP_yield` under PVH). The Xen bed has ONE emulated \
    physical CPU: every vCPU of a guest (and dom0's) runs on it in turn, so an operation \
    that needs the other vCPU running waits for Xen to schedule it. A ratio is run k \
    over run k; `pv faster`, `<column> faster` or `tie` follow the pairs' rule on the \
    p10-p90 ranges (apart in every run with the same side below, else a tie). A run \
    whose benchmark gave no figure (the kernel's watchdog, a CPU that did not answer) \
    is shown as `no result` with the kernel's reason, never as a number.\n\n";

/// Each block figure's verdicts in words.
fn block_notes(report: &BenchReport, benches: &[&str]) -> String {
    let mut lines = Vec::new();
    for row in report.block() {
        if !benches.contains(&row.figure.bench) {
            continue;
        }
        for c in [&row.pv_over_hvm, &row.pv_over_native] {
            lines.push(format!(
                "- **{}**, xen-pvh against {}: {}; ratio {}.",
                row.figure.label,
                c.other,
                c.verdict(),
                c.ratios.text_n(times)
            ));
        }
    }
    lines.join("\n")
}

/// The words under a table.
fn explain(report: &BenchReport, chart: Option<&str>, title: &str) -> String {
    let mut md = String::new();
    match chart {
        Some("pairs.svg") => {
            md.push_str(&format!("Rule: {TIE_RULE}\n\n"));
            for p in report.pairs() {
                md.push_str(&format!(
                    "- **{}**: {}; baseline/pv {}.\n",
                    p.pair,
                    p.verdict(),
                    p.ratios().text_n(times)
                ));
            }
            md.push('\n');
        }
        Some("sweep.svg") => md.push_str(
            "Per call: the median time of the whole batch divided by N. The baseline makes \
             N `xen_version` hypercalls one after the other; the paravirtual side hands Xen \
             one multicall of N such entries. The verdict follows the same rule as the pairs.\n\n",
        ),
        Some("core.svg") => md.push_str(
            "The HVM and PVH runs alternate in one Xen boot (HVM run 1, PVH run 1, HVM run \
             2, ...); a ratio is run k of one column over run k of the other, and its range \
             is over k. The native runs are separate QEMU boots. `console_line` is one \
             32-byte line: short enough that the trapped UART under HVM writes it at least \
             five times within the kernel's time budget.\n\n",
        ),
        Some("smp.svg") => md.push_str(SMP_HOW),
        Some("block_latency.svg") => md.push_str(&format!(
            "{BLOCK_HOW}\n\n{}\n\n",
            block_notes(report, &["block_read_4k_qd1", "block_flush"])
        )),
        Some("block_throughput.svg") => {
            md.push_str(&format!(
                "IOPS: the requests of a timed iteration (32) over its time; MB/s: 10^6 bytes \
                 a second, 1 MiB an iteration. The chart shows the QD32 reads as the MB/s \
                 they move (4 KiB each). The rule for the ratio columns is the latency \
                 table's.\n\n{}\n\n",
                block_notes(
                    report,
                    &[
                        "block_read_4k_qd32",
                        "block_read_seq_1m",
                        "block_write_seq_1m"
                    ]
                )
            ));
            for line in goal_lines(report) {
                md.push_str(&format!("- **{line}**\n"));
            }
            md.push('\n');
        }
        Some("boot.svg") => md.push_str(
            "All guests have the same memory and ran one at a time in one Xen boot, in \
             turn (mute, Virtus, Linux quiet, Linux verbose, then again), after one \
             uncounted mute guest that warms dom0's caches. The time columns but the last \
             are dom0's clock (/proc/uptime, 10 ms steps) from the moment `xl create -p` \
             starts: \"domain built\" when xl reports the paused domain (polled every \
             50 ms): the toolstack's own time; \"console attached, unpaused\" when the \
             runner's console client holds the guest's console and `xl unpause` has \
             returned: the guest has not run before it was called (so a first byte \
             may come a little before this stamp). \"First console byte\" is when \
             dom0's console client got the guest's first byte; \"domain gone\" when xl \
             saw the domain end (polled every 100 ms; for Virtus it includes dom0 typing \
             `shutdown` at its prompt). The last column is the guest's own clock at its \
             ready point: guest time, from near its entry. The mute guest is the \
             toolstack's floor: the same `xl create` of a guest that powers off at once. \
             Linux runs with `quiet` (only warnings reach its console) and again with \
             `loglevel=7` (its whole boot log, as Virtus prints its info lines).\n\n",
        ),
        None if title.starts_with("Smallest memory") => md.push_str(&format!(
            "dom0 bisects over whole MiB between {LO_MB} and {HI_MB}: {HI_MB} first, then the \
             middle of what is left, keeping a size that passed as the upper end; then \
             {CONFIRM} more boots each of the floor and of the size below it. Every probe is \
             judged again by the runner from its console and how it ended. The floor is \
             the least size whose every boot passed, with every boot one MiB below failing; \
             bisection assumes that more memory never hurts, which the probes are checked \
             against. virtus-pv is linked at 1 MiB (the native image stays at 4 MiB for \
             HVM's hvmloader); Xen loads a PVH kernel at its ELF's physical addresses.\n\n",
        )),
        Some("footprint.svg") if !report.footprint.linux_floor_source.is_empty() => {
            md.push_str(&format!(
                "Linux's smallest memory: {}.\n\n",
                report.footprint.linux_floor_source
            ));
        }
        Some("density.svg") => md.push_str(
            "Each guest boots into its shell; once all N run, dom0 types `test time_` and \
             `shutdown` into every console, so the N run their workload together. Creation \
             time per guest: from the previous guest's `created` marker (dom0 ready for the \
             first) to its own (`xl create -p`, console attached, unpaused), n = N; `2nd \
             half/1st half` compares the later guests' mean with the earlier ones'. \
             Succeeded: powered off after a KTAP summary with no failure. Each step ran once.\n\n",
        ),
        None if title.starts_with("Live operations") => md.push_str(
            "One Xen boot per run, the PVH scenarios of `virtus-run lifecycle` in turn, a \
             32 MiB virtus-pv running `ticker` (on its disk for the save and restore). \
             Returned/watching: dom0's clock from starting `xl save`, `xl save -c`, `xl \
             migrate -s \"\" NAME \"xl migrate-receive -e\"` to its return, and from \
             starting `xl restore -F` to xl watching the new domain. Downtime, dom0: from the \
             guest's `power: the host asks to suspend` to its first line after (`resumed in a \
             new domain` or `suspend cancelled`), each noted when dom0's 50 ms poll found it \
             in xenconsoled's log: an upper bound. Time away: what the guest itself reports \
             from the host's wall clock (only where it can read one). Balloon: the guest's own \
             pages and microseconds for `xl mem-set` 32 -> 24 MiB and back. A scenario that \
             failed its checks gives no figures (see the notes).\n\n",
        ),
        _ => {}
    }
    md
}

/// A table in Markdown, `|` in a cell escaped.
pub fn table(t: &Table) -> String {
    let cell = |text: &str| text.replace('|', "\\|");
    let titles: Vec<String> = t.header.iter().map(|(t, _)| cell(t)).collect();
    let mut out = format!("| {} |\n", titles.join(" | "));
    let rule: Vec<&str> = t
        .header
        .iter()
        .map(|(_, a)| match a {
            Align::Left => "---",
            Align::Right => "---:",
        })
        .collect();
    out.push_str(&format!("|{}|\n", rule.join("|")));
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

pub fn markdown(report: &BenchReport) -> String {
    let mut md = String::from("# Virtus benchmarks: paravirtual against emulated\n\n");
    for line in preamble(report) {
        md.push_str(&format!("{line}\n\n"));
    }
    md.push_str("How each column ran:\n\n");
    for c in &report.columns {
        md.push_str(&format!(
            "- **{}** ({} runs): {}\n",
            c.name,
            c.runs.len(),
            c.setup
        ));
    }
    for set in &report.smp {
        for c in &set.columns {
            md.push_str(&format!(
                "- **{}, {} CPUs** ({} runs, SMP table): {}\n",
                c.name,
                set.cpus,
                c.runs.len(),
                c.setup
            ));
        }
    }
    md.push('\n');
    for t in tables(report) {
        md.push_str(&format!("## {}\n\n", t.title));
        md.push_str(&table(&t));
        if let Some(chart) = &t.chart_file {
            md.push_str(&format!("\n![{}]({chart})\n", t.title));
        }
        md.push('\n');
        md.push_str(&explain(report, t.chart_file.as_deref(), &t.title));
    }
    let (_, pair_notes) = report.all_pairs();
    let mut notes: Vec<String> = report.notes.clone();
    notes.extend(pair_notes);
    for c in &report.columns {
        notes.extend(c.problems().iter().map(|p| format!("{}: {p}", c.name)));
    }
    for set in &report.smp {
        for c in &set.columns {
            let tag = |p: &String| format!("{}, {} CPUs: {p}", c.name, set.cpus);
            notes.extend(c.problems().iter().map(tag));
        }
    }
    for b in &report.boot {
        notes.extend(b.problems());
    }
    for f in &report.floors {
        notes.extend(f.problems.iter().cloned());
    }
    md.push_str("## Notes\n\n");
    if notes.is_empty() {
        md.push_str("None.\n");
    }
    for n in notes {
        md.push_str(&format!("- {n}\n"));
    }
    md.push_str("\nRaw figures, every run: [report.json](report.json).\n");
    md
}
