//! `virtus-fuzz`: fuzz the kernel's untrusted-input parsers on the host.
//! `make fuzz` runs every target for FUZZ_SECONDS each.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use virtus_fuzz::{Budget, fuzz, install_panic_hook, run_one, targets};

#[derive(Parser, Debug)]
#[command(
    about = "Fuzz the ELF loader's checks, the ramdisk archive reader and the PVH start info parser"
)]
struct Args {
    /// Targets to run (elf, archive, start-info); all when none is given.
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
    /// Print how often each kind of refusal was met.
    #[arg(long, short)]
    verbose: bool,
    /// Run these files through the targets once (a saved crash) and stop.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
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
    println!("fuzz: seed {seed:#x}");
    for target in chosen {
        let extra = match corpus(&args.corpus, target.name()) {
            Ok(extra) => extra,
            Err(e) => {
                eprintln!("fuzz: corpus: {e}");
                return ExitCode::from(2);
            }
        };
        let stats = fuzz(target.as_ref(), &extra, budget, seed);
        // A crash aborts the process before this line: reaching it means
        // none was found.
        println!(
            "fuzz {}: {} executions in {:.1} s ({:.0}/s), 0 crashes ({} accepted, {} kinds of refusal, {} corpus files)",
            target.name(),
            stats.executions,
            stats.elapsed.as_secs_f64(),
            stats.rate(),
            stats.accepted,
            stats.refusals.len(),
            extra.len()
        );
        if args.verbose {
            for (kind, count) in &stats.refusals {
                println!("  {kind}: {count}");
            }
        }
    }
    ExitCode::SUCCESS
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
