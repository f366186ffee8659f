//! The least memory virtus-pv runs in, by bisection over whole MiB, for
//! two workloads: the shell (boot to the prompt, then `shutdown` typed in)
//! and the full test suite.
//!
//! dom0 bisects (`guest_floor` in tests/xen/virtus.sh), since each step
//! depends on the last and a Xen boot per step would take minutes: a probe
//! passes there if the guest powered off. Each probe is its own domain
//! (`floor-shell-12m-1`: 12 MiB, first try), so the runner reads every
//! probe's console and ending and judges it again, by its own rule; the
//! floor is the least size that passed every try with the size below
//! failing every try, and the reason for the floor is what the size below
//! said as it failed.

mod probe;

use std::path::Path;
use std::time::Duration;

use crate::exit::Termination;
use crate::xen::GuestSpec;
use crate::xen::RunPlan;
use crate::xen::guest::GUEST_DIR;
use crate::xen::protocol::{Event, Stamped};
use crate::xen::recorder::Recorder;
use crate::xen::script::Script;
use probe::memory_line;
pub use probe::{Probe, judge, probe_name};

/// The bisection's bounds, MiB: 32 is what the suite runs in elsewhere.
pub const LO_MB: u32 = 1;
pub const HI_MB: u32 = 32;
/// More tries of the floor and of the size below it, after the bisection.
pub const CONFIRM: u32 = 2;

/// What must work in the memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    Shell,
    Suite,
}

impl Workload {
    pub const ALL: [Self; 2] = [Self::Shell, Self::Suite];

    pub fn word(self) -> &'static str {
        match self {
            Self::Shell => "shell",
            Self::Suite => "suite",
        }
    }

    /// The template domain's name, and the prefix of its probes'.
    pub fn prefix(self) -> String {
        format!("floor-{}", self.word())
    }

    /// The probe passes when (besides powering off) it shows this.
    pub fn criterion(self) -> &'static str {
        match self {
            Self::Shell => "boots to the `virtus> ` prompt and powers off on `shutdown`",
            Self::Suite => "runs `test=all` and passes (KTAP summary, nothing failed, poweroff)",
        }
    }

    fn cmdline(self) -> &'static str {
        match self {
            Self::Shell => "",
            Self::Suite => "test=all loglevel=info",
        }
    }

    /// How long dom0 waits for one probe.
    fn probe_timeout(self) -> Duration {
        match self {
            Self::Shell => Duration::from_secs(30),
            Self::Suite => Duration::from_secs(120),
        }
    }
}

/// Most probes of one bisection: the top, the halvings, the confirmations.
fn max_probes() -> u32 {
    1 + (HI_MB - LO_MB + 1).next_power_of_two().ilog2() + 2 * CONFIRM
}

/// The template guests (never started themselves), and the run's plan:
/// dom0's script and the file that makes the shell probes' `shutdown`
/// typed in.
/// `ramdisk`: the user programs, which the suite's process tests need (the
/// shell's floor is the kernel's own, without one).
pub fn plan(pv_image: &Path, ramdisk: &Path) -> Result<(Vec<GuestSpec>, RunPlan), String> {
    let mut specs = Vec::new();
    let mut text = String::from("# Written by virtus-run; sourced by dom0's init.\n");
    for w in Workload::ALL {
        let mut spec = GuestSpec::pvh(&w.prefix(), pv_image)?;
        if w == Workload::Suite {
            spec.image = crate::xen::GuestImage::File {
                kernel: pv_image.to_path_buf(),
                ramdisk: Some(ramdisk.to_path_buf()),
            };
        }
        spec.memory_mb = HI_MB;
        spec.extra = format!("{} xen.memory_mb={HI_MB}", w.cmdline())
            .trim()
            .to_string();
        // The whole bisection's budget, for the run's deadline.
        spec.timeout = w.probe_timeout() * max_probes();
        text.push_str(&format!(
            "guest_floor {} {LO_MB} {HI_MB} {} {CONFIRM}\n",
            spec.name,
            w.probe_timeout().as_secs()
        ));
        specs.push(spec);
    }
    let dom0_order = Vec::new();
    let files = vec![shutdown_at_prompt(&Workload::Shell.prefix())];
    let script = Some(Script { text, dom0_order });
    Ok((specs, RunPlan { script, files }))
}

/// The file that has dom0 type `shutdown` into guest `name` once its shell
/// prompt is up.
pub fn shutdown_at_prompt(name: &str) -> (String, Vec<u8>) {
    let path = format!("{GUEST_DIR}/{name}.input");
    (path, b"virtus> \nshutdown\\n".to_vec())
}

/// The memory floor of one workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Floor {
    pub workload: Workload,
    pub probes: Vec<Probe>,
    pub problems: Vec<String>,
}

impl Floor {
    /// The probes at `mb`.
    fn at(&self, mb: u32) -> impl Iterator<Item = &Probe> {
        self.probes.iter().filter(move |p| p.mb == mb)
    }

    /// Some(true) if every try at `mb` passed, Some(false) if every one
    /// failed, None if untried or mixed.
    fn verdict(&self, mb: u32) -> Option<bool> {
        let mut tries = self.at(mb).map(|p| p.passed).peekable();
        let first = *tries.peek()?;
        tries.all(|p| p == first).then_some(first)
    }

    /// The least size that passed every try with the size below failing
    /// every try (or being below the range).
    pub fn floor(&self) -> Option<u32> {
        let mut sizes: Vec<u32> = self.probes.iter().map(|p| p.mb).collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes.into_iter().find(|&mb| {
            self.verdict(mb) == Some(true) && (mb == LO_MB || self.verdict(mb - 1) == Some(false))
        })
    }

    /// Tries at the floor and below it.
    pub fn tries(&self, mb: u32) -> usize {
        self.at(mb).count()
    }

    /// What the kernel said of its memory at the floor.
    pub fn memory_at_floor(&self) -> Option<&str> {
        self.at(self.floor()?)
            .find_map(|p| p.memory_line.as_deref())
    }

    /// Why it does not fit in one MiB less: what that probe said.
    pub fn reason(&self) -> String {
        match self.floor() {
            Some(LO_MB) => format!("{LO_MB} MiB is the least tried"),
            Some(mb) => self
                .at(mb - 1)
                .next()
                .map_or("-".into(), |p| format!("at {} MiB: {}", mb - 1, p.why)),
            None => "-".into(),
        }
    }
}

/// Every probe of a run's events, judged, grouped by workload.
pub fn floors(
    events: &[Stamped],
    termination: Option<Termination>,
    elapsed: Duration,
) -> Vec<Floor> {
    let mut names: Vec<String> = Vec::new();
    for e in events {
        let guest = match &e.event {
            Event::GuestCreated { guest, .. } | Event::GuestFailed { guest, .. } => guest,
            _ => continue,
        };
        if probe_name(guest).is_some() && !names.contains(guest) {
            names.push(guest.clone());
        }
    }
    let specs: Vec<GuestSpec> = names
        .iter()
        .filter_map(|n| {
            let mut spec = GuestSpec::pvh(n, "/probe").ok()?;
            spec.expect = crate::xen::Expectation::Any;
            Some(spec)
        })
        .collect();
    let mut recorder = Recorder::new(&specs, &[]);
    for e in events {
        recorder.record(e);
    }
    let report = recorder.finish(termination.unwrap_or(Termination::Exited(-1)), elapsed);
    Workload::ALL
        .into_iter()
        .map(|w| {
            let probes: Vec<Probe> = report
                .guests
                .iter()
                .filter_map(|g| {
                    let (pw, mb, attempt) = probe_name(&g.name)?;
                    (pw == w).then(|| {
                        let (passed, why) = judge(w, g);
                        Probe {
                            mb,
                            attempt,
                            passed,
                            why,
                            memory_line: memory_line(g),
                        }
                    })
                })
                .collect();
            let mut floor = Floor {
                workload: w,
                probes,
                problems: Vec::new(),
            };
            check(&mut floor);
            floor
        })
        .collect()
}

/// What would make the floor untrustworthy: no probe, the top failing, a
/// size whose tries disagree, a larger size failing where a smaller passed.
fn check(floor: &mut Floor) {
    let w = floor.workload.word();
    if floor.probes.is_empty() {
        floor.problems.push(format!("{w}: no probe ran"));
        return;
    }
    if floor.verdict(HI_MB) != Some(true) {
        floor
            .problems
            .push(format!("{w}: does not run even in {HI_MB} MiB"));
    }
    let mut sizes: Vec<u32> = floor.probes.iter().map(|p| p.mb).collect();
    sizes.sort_unstable();
    sizes.dedup();
    for &mb in &sizes {
        if floor.verdict(mb).is_none() {
            let tries: Vec<String> = floor
                .at(mb)
                .map(|p| {
                    format!(
                        "try {}: {}",
                        p.attempt,
                        if p.passed { "passed" } else { &p.why }
                    )
                })
                .collect();
            floor.problems.push(format!(
                "{w}: the tries at {mb} MiB disagree, so no floor is claimed ({})",
                tries.join("; ")
            ));
        }
    }
    let passing: Vec<u32> = sizes
        .iter()
        .copied()
        .filter(|&mb| floor.verdict(mb) == Some(true))
        .collect();
    if let Some(&least) = passing.first()
        && sizes
            .iter()
            .any(|&mb| mb > least && floor.verdict(mb) == Some(false))
    {
        floor.problems.push(format!(
            "{w}: a size above {least} MiB failed: not monotonic"
        ));
    }
    if floor.floor().is_none() && floor.problems.is_empty() {
        floor
            .problems
            .push(format!("{w}: no size passed with the size below failing"));
    }
}

#[cfg(test)]
mod tests;
