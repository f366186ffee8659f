//! A mutation fuzzer for the kernel's parsers of untrusted input, run on
//! the host against the kernel crate itself (see `targets`).
//!
//! No coverage feedback (that needs a nightly compiler's sanitizers); the
//! mutations aim at the formats' fields instead, and inputs a target
//! accepts join the pool, so later mutants start from deeper in the
//! parser. A panic anywhere, or a broken property, is a crash: the input
//! is saved and the run ends non-zero.

pub mod mutate;
pub mod rng;
pub mod targets;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mutate::mutate;
use rng::Rng;
use targets::Target;

/// Most inputs kept in a target's pool.
const POOL_CAP: usize = 4096;
/// Inputs grow by extension and splicing; past this they are cut back.
const MAX_INPUT: usize = 1 << 18;

thread_local! {
    /// The input being run, for the panic hook to save.
    static CURRENT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// The target this thread is fuzzing, for the crash file's name.
    static TARGET: Cell<&'static str> = const { Cell::new("") };
}

/// Where the panic hook saves a crashing input.
static CRASH_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

/// How long a target runs.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    Time(Duration),
    Iterations(u64),
}

#[derive(Clone, Debug)]
pub struct Stats {
    pub executions: u64,
    pub accepted: u64,
    /// How often each kind of refusal was met: which checks were reached.
    pub refusals: BTreeMap<String, u64>,
    pub elapsed: Duration,
}

impl Stats {
    pub fn rate(&self) -> f64 {
        self.executions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Save the current input on a panic (before the abort that
/// `panic = "abort"` brings), then let the default hook print the panic.
pub fn install_panic_hook(crash_dir: &Path) {
    *CRASH_DIR.lock().unwrap_or_else(|e| e.into_inner()) = Some(crash_dir.to_path_buf());
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let dir = CRASH_DIR.lock().ok().and_then(|g| g.clone());
        let saved = CURRENT.with(|c| {
            let input = c.try_borrow().ok()?;
            save_crash(&dir?, TARGET.get(), &input).ok()
        });
        default(info);
        match saved {
            Some(path) => eprintln!("fuzz: crashing input saved to {}", path.display()),
            None => eprintln!("fuzz: could not save the crashing input"),
        }
    }));
}

/// Write `input` to `dir/<target>-<hash>.bin`.
pub fn save_crash(dir: &Path, target: &str, input: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    // FNV-1a: a stable name, so the same crash is saved once.
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let path = dir.join(format!("{target}-{hash:016x}.bin"));
    std::fs::write(&path, input)?;
    Ok(path)
}

/// Where crashes found in the past are kept, one directory per target:
/// `make fuzz` and `cargo test` run each through its target first.
pub fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions")
}

/// Run `input` through `target` as the fuzzer does, panicking (so the
/// hook saves it) if a property breaks.
pub fn run_one(target: &dyn Target, input: &[u8]) -> targets::Outcome {
    TARGET.set(target.name());
    CURRENT.with(|c| {
        let mut current = c.borrow_mut();
        current.clear();
        current.extend_from_slice(input);
    });
    CURRENT.with(|c| check(target, &c.borrow()))
}

fn check(target: &dyn Target, input: &[u8]) -> targets::Outcome {
    match target.run(input) {
        Ok(outcome) => outcome,
        Err(property) => panic!("fuzz {}: property broken: {property}", target.name()),
    }
}

/// Fuzz `target` from its seeds plus `extra` for `budget`, with `seed`.
pub fn fuzz(target: &dyn Target, extra: &[Vec<u8>], budget: Budget, seed: u64) -> Stats {
    TARGET.set(target.name());
    let mut pool: Vec<Vec<u8>> = target.seeds();
    pool.extend(extra.iter().cloned());
    // The starting inputs stay a quarter of the parents, however large the
    // pool of accepted mutants grows, so no seed's shape is crowded out.
    let starts = pool.clone();
    let hints = target.hints();
    let mut rng = Rng::new(seed);
    let start = Instant::now();
    let mut stats = Stats {
        executions: 0,
        accepted: 0,
        refusals: BTreeMap::new(),
        elapsed: Duration::ZERO,
    };
    // Seeds first, unmutated.
    for input in pool.clone() {
        stats.executions += 1;
        stats.accepted += u64::from(run_one(target, &input).accepted);
    }
    loop {
        match budget {
            Budget::Iterations(n) if stats.executions >= n => break,
            Budget::Time(limit)
                if stats.executions.is_multiple_of(1024) && start.elapsed() >= limit =>
            {
                break;
            }
            _ => {}
        }
        let outcome = CURRENT.with(|c| {
            {
                let mut current = c.borrow_mut();
                current.clear();
                let parents = if rng.chance(4) { &starts } else { &pool };
                let parent: &Vec<u8> = rng.pick(parents);
                current.extend_from_slice(parent);
                mutate(&mut current, &pool, &hints, &mut rng);
                current.truncate(MAX_INPUT);
            }
            check(target, &c.borrow())
        });
        stats.executions += 1;
        let clean = outcome.accepted && outcome.refusal.is_none();
        if let Some(kind) = outcome.refusal {
            *stats.refusals.entry(kind).or_default() += 1;
        }
        // Only inputs that passed every check join the pool: one with a
        // refusal deeper in (a start info whose ramdisk was refused) would
        // otherwise breed copies of the same refusal.
        if clean {
            stats.accepted += 1;
            let input = CURRENT.with(|c| c.borrow().clone());
            if pool.len() < POOL_CAP {
                pool.push(input);
            } else {
                let at = rng.below(pool.len());
                pool[at] = input;
            }
        }
    }
    stats.elapsed = start.elapsed();
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_deterministic_run_of_every_target_finds_nothing() {
        for target in targets::all() {
            let stats = fuzz(target.as_ref(), &[], Budget::Iterations(20_000), 1);
            assert_eq!(stats.executions, 20_000, "{}", target.name());
            // Some mutants must get through, or the fuzzer only ever
            // exercises the first checks.
            assert!(stats.accepted > 100, "{}: {stats:?}", target.name());
        }
    }

    #[test]
    fn every_saved_crash_stays_fixed() {
        for target in targets::all() {
            let dir = regressions_dir().join(target.name());
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
                let input = std::fs::read(&path).unwrap();
                // A broken property panics, naming the target.
                let _ = run_one(target.as_ref(), &input);
            }
        }
    }

    #[test]
    fn crashes_are_saved_under_a_stable_name() {
        let dir = std::env::temp_dir().join(format!("virtus-fuzz-test-{}", std::process::id()));
        let a = save_crash(&dir, "elf", b"abc").unwrap();
        let b = save_crash(&dir, "elf", b"abc").unwrap();
        assert_eq!(a, b);
        assert_eq!(std::fs::read(&a).unwrap(), b"abc");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
