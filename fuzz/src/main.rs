//! `virtus-fuzz`: fuzz the kernel's untrusted-input parsers on the host.
//! `make fuzz` runs every target for FUZZ_SECONDS each.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use virtus_fuzz::{Budget, Stats, fuzz, install_panic_hook, run_one, targets};

#[derive(Parser, Debug)]
#[command(
    about = "Fuzz the kernel's parsers of untrusted input: the ELF loader's checks, the ramdisk archive, the PVH start info, the command line and memory map, the native backend's ACPI tables, AHCI IDENTIFY data and PCI BARs, and the PV backend's consumers of what other domains write: the console rings, the xenstore client, blkfront's ring and the xenstore values"
)]
struct Args {
    /// Targets to run (elf, archive, start-info, cmdline, memmap, acpi,
    /// ahci-identify, pci, console-ring, xenstore, blkif,
    /// xenstore-values); all when none is given.
    #[arg(long = "target", short = 't')]
    targets: Vec<String>,
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Run exactly this many executions per target instead of a time
    /// (with --seed, a reproducible run).
    #[arg(long)]
    iterations: Option<u64>,
    /// Generator seed (decimal or 0x hex); default: from the clock, printed.
    #[arg(long, value_parser = parse_seed)]
    seed: Option<u64>,
    /// Extra inputs: every file in DIR joins every target's pool, and the
    /// files in DIR/<target>/ join that target's.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Where crashing inputs are saved.
    #[arg(long, default_value = "target/fuzz-crashes")]
    crash_dir: PathBuf,
    /// Targets fuzzed at once, one thread each (default: the host's CPUs).
    #[arg(long, short, default_value_t = default_jobs())]
    jobs: usize,
    /// Print how often each kind of refusal was met.
    #[arg(long, short)]
    verbose: bool,
    /// Run these files through the targets once (a saved crash) and stop.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn parse_seed(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|e| format!("seed {s:?}: {e}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    install_panic_hook(&args.crash_dir);
    let all = targets::all();
    let names: Vec<&str> = all.iter().map(|t| t.name()).collect();
    for wanted in &args.targets {
        if !names.contains(&wanted.as_str()) {
            eprintln!("fuzz: no target {wanted:?} (targets: {})", names.join(", "));
            return ExitCode::from(2);
        }
    }
    let chosen: Vec<_> = all
        .iter()
        .filter(|t| args.targets.is_empty() || args.targets.iter().any(|n| n == t.name()))
        .collect();

    if !args.replay.is_empty() {
        for path in &args.replay {
            let Ok(input) = std::fs::read(path) else {
                eprintln!("fuzz: cannot read {}", path.display());
                return ExitCode::from(2);
            };
            for target in &chosen {
                let outcome = run_one(target.as_ref(), &input);
                println!(
                    "fuzz {}: {}: {} {}",
                    target.name(),
                    path.display(),
                    if outcome.accepted {
                        "accepted"
                    } else {
                        "refused"
                    },
                    outcome.refusal.unwrap_or_default()
                );
            }
        }
        return ExitCode::SUCCESS;
    }

    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let budget = match args.iterations {
        Some(n) => Budget::Iterations(n),
        None => Budget::Time(Duration::from_secs(args.seconds)),
    };
    println!(
        "fuzz: seed {seed:#x}, {} targets, {} at a time",
        chosen.len(),
        args.jobs.max(1)
    );
    let mut extras = Vec::new();
    for target in &chosen {
        // The saved crashes of the past run first, unmutated: each is a
        // regression test, and a parent for mutants near an old bug.
        let saved = corpus(&Some(virtus_fuzz::regressions_dir()), target.name());
        match corpus(&args.corpus, target.name())
            .and_then(|mut extra| saved.map(|saved| [saved, std::mem::take(&mut extra)].concat()))
        {
            Ok(extra) => extras.push(extra),
            Err(e) => {
                eprintln!("fuzz: corpus: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let names: Vec<&'static str> = chosen.iter().map(|t| t.name()).collect();
    let results = run_all(
        &names,
        &extras,
        budget,
        seed,
        args.jobs.max(1),
        args.verbose,
    );
    // A crash aborts the process before this point: reaching it means
    // none was found in any target.
    print_summary(&names, &results);
    ExitCode::SUCCESS
}

/// Fuzz the targets named `names` on `jobs` threads, each thread taking
/// the next target not yet started; one line per target as it finishes.
/// Every thread builds its own targets, so they need not be shared.
fn run_all(
    names: &[&'static str],
    extras: &[Vec<Vec<u8>>],
    budget: Budget,
    seed: u64,
    jobs: usize,
    verbose: bool,
) -> Vec<Option<Stats>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Stats>>> = Mutex::new(vec![None; names.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(names.len()) {
            scope.spawn(|| {
                let all = targets::all();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = names.get(i) else { break };
                    let Some(target) = all.iter().find(|t| t.name() == *name) else {
                        break;
                    };
                    let stats = fuzz(target.as_ref(), &extras[i], budget, seed);
                    report(name, &stats, extras[i].len(), verbose);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(stats);
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner())
}

fn report(name: &str, stats: &Stats, corpus_files: usize, verbose: bool) {
    // Whole lines, so threads finishing together do not interleave.
    let mut line = format!(
        "fuzz {name}: {} executions in {:.1} s ({:.0}/s), 0 crashes ({} accepted, {} kinds of refusal, {corpus_files} corpus files)",
        stats.executions,
        stats.elapsed.as_secs_f64(),
        stats.rate(),
        stats.accepted,
        stats.refusals.len(),
    );
    if verbose {
        for (kind, count) in &stats.refusals {
            line.push_str(&format!("\n  {kind}: {count}"));
        }
    }
    println!("{line}");
}

/// The table `make fuzz` ends with: every target's executions against
/// the aim of 10 million.
fn print_summary(names: &[&str], results: &[Option<Stats>]) {
    const AIM: u64 = 10_000_000;
    println!();
    println!(
        "{:<18} {:>14} {:>10} {:>8} {:>8}",
        "target", "executions", "per s", "crashes", "aim 10M"
    );
    let mut total = 0;
    let mut short = 0;
    for (name, stats) in names.iter().zip(results) {
        let Some(stats) = stats else {
            println!("{name:<18} {:>14}", "not run");
            short += 1;
            continue;
        };
        total += stats.executions;
        let reached = stats.executions >= AIM;
        short += usize::from(!reached);
        println!(
            "{name:<18} {:>14} {:>10.0} {:>8} {:>8}",
            stats.executions,
            stats.rate(),
            0,
            if reached { "reached" } else { "short" }
        );
    }
    println!(
        "fuzz: {} targets, {total} executions, 0 crashes; {} of them short of 10 million executions (FUZZ_SECONDS or --iterations for more)",
        names.len(),
        short
    );
}

/// The files of `dir` and of `dir/<target>`.
fn corpus(dir: &Option<PathBuf>, target: &str) -> std::io::Result<Vec<Vec<u8>>> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for d in [dir.clone(), dir.join(target)] {
        if !d.is_dir() {
            continue;
        }
        let mut paths: Vec<_> = std::fs::read_dir(&d)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for p in paths {
            out.push(std::fs::read(p)?);
        }
    }
    Ok(out)
}
