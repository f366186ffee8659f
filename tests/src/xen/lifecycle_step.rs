//! A lifecycle scenario's [`Step`]: what dom0 does or waits for, as one
//! call of its library (`tests/xen/lifecycle.sh`), and the longest it may
//! take.

use std::ops::{Range, RangeInclusive};

use super::disk::SUM_CHUNK;
use super::{ANSWER_SECS, COMMAND_SECS, NAME};
use crate::xen::protocol::ShutdownReason;
use crate::xen::script::shell_quote;

/// One step of a scenario, run by dom0 in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Note the domain's id, for [`DOMID`] in later texts (again after a
    /// restart: the new domain has a new id).
    Domid,
    /// Wait until `text` is on `count` lines of the console.
    See { text: String, count: u32, secs: u32 },
    /// Run a dom0 command; `returns`: it must return with status 0 within
    /// [`COMMAND_SECS`], else the chain goes on at once (`xl shutdown -w`
    /// returns only when the domain is gone).
    Run { command: String, returns: bool },
    /// Type into the guest's console, then Enter if `enter`.
    Type { text: String, enter: bool },
    /// Wait for the domain's `count`-th shutdown, which must be `reason`.
    Gone {
        count: u32,
        reason: ShutdownReason,
        secs: u32,
    },
    /// Wait until the domain is destroyed (`xl create -F` says so; a
    /// destroyed domain has no shutdown reason). A shutdown is a miss.
    Destroyed { secs: u32 },
    /// `sectors` (of 512 bytes) of the image at `path` in dom0 hold the
    /// pattern of `seed`: dom0 reports their sha256, a chunk at a time, and
    /// the runner compares them with its own.
    Holds {
        path: String,
        sectors: Range<u64>,
        seed: u32,
    },
    /// Note the domain's id again: it must be a `new` one (restored,
    /// migrated) or the same as the last noted (a checkpoint).
    DomidAgain { new: bool },
    /// Wait up to `secs` for the return of the command of step `step`
    /// (run without waiting), which must be status 0.
    Returned { step: usize, secs: u32 },
    /// `command` becomes what watches the domain (`xl restore -F`,
    /// `xl migrate` with a receiver in the foreground, `xl shutdown -w`):
    /// the `xl create -F` that started it exits when it suspends. Within
    /// `secs` xl must say it watches; its return, whenever it comes, must
    /// be status 0.
    Watch { command: String, secs: u32 },
    /// `text` is on no line of the console so far.
    Absent { text: String },
    /// `xl list` shows the domain with memory (MiB) in `mb`.
    Memory { mb: RangeInclusive<u32> },
    /// Within `secs`, xl lists no domain of the guest's (under its name or
    /// a migration's `--incoming`/`--migratedaway`).
    Unlisted { secs: u32 },
    /// Within `secs`, `xl vcpu-list` shows the domain's vCPU `vcpu` up
    /// (online in Xen: a CPU number and a state without `p`) or down (no
    /// CPU, state `--p`).
    Vcpu { vcpu: u32, up: bool, secs: u32 },
}

impl Step {
    pub(super) fn see(text: &str, count: u32, secs: u32) -> Self {
        let text = text.to_string();
        Self::See { text, count, secs }
    }

    pub(super) fn run(command: &str, returns: bool) -> Self {
        let command = command.to_string();
        Self::Run { command, returns }
    }

    pub(super) fn typed(text: &str, enter: bool) -> Self {
        let text = text.to_string();
        Self::Type { text, enter }
    }

    pub(super) fn gone(count: u32, reason: ShutdownReason) -> Self {
        let secs = ANSWER_SECS;
        Self::Gone {
            count,
            reason,
            secs,
        }
    }

    /// The step as a call of dom0's library: `lc_see 3 NAME 1 15 'text'`.
    pub fn call(&self, index: usize, name: &str) -> Result<String, String> {
        let q = |text: &str| shell_quote(&text.replace(NAME, name));
        Ok(match self {
            Self::Domid => format!("lc_domid {index} {name}"),
            Self::See { text, count, secs } => {
                format!("lc_see {index} {name} {count} {secs} {}", q(text)?)
            }
            Self::Run { command, returns } => {
                let secs = if *returns { COMMAND_SECS } else { 0 };
                format!("lc_run {index} {name} {secs} {}", q(command)?)
            }
            Self::Type { text, enter } => {
                format!("lc_type {index} {name} {} {}", u8::from(*enter), q(text)?)
            }
            Self::Gone { count, secs, .. } => format!("lc_gone {index} {name} {count} {secs}"),
            Self::Destroyed { secs } => format!("lc_destroyed {index} {name} {secs}"),
            Self::Holds { path, sectors, .. } => format!(
                "lc_sums {index} {name} {} {} {} {SUM_CHUNK}",
                q(path)?,
                sectors.start,
                sectors.end - sectors.start
            ),
            Self::DomidAgain { .. } => format!("lc_domid {index} {name}"),
            Self::Returned { step, secs } => format!("lc_returned {index} {name} {step} {secs}"),
            Self::Watch { command, secs } => {
                format!("lc_watch {index} {name} {secs} {}", q(command)?)
            }
            Self::Absent { text } => format!("lc_absent {index} {name} {}", q(text)?),
            Self::Memory { .. } => format!("lc_mem {index} {name}"),
            Self::Unlisted { secs } => format!("lc_unlisted {index} {name} {secs}"),
            Self::Vcpu { vcpu, up, secs } => {
                let state = if *up { "up" } else { "down" };
                format!("lc_vcpu {index} {name} {vcpu} {state} {secs}")
            }
        })
    }

    /// The longest this step may take in dom0.
    pub(super) fn budget(&self) -> u32 {
        match self {
            Self::Domid | Self::Type { .. } | Self::DomidAgain { .. } | Self::Absent { .. } => 1,
            Self::Memory { .. } => 2,
            Self::See { secs, .. } | Self::Gone { secs, .. } | Self::Destroyed { secs } => *secs,
            Self::Returned { secs, .. } | Self::Watch { secs, .. } | Self::Unlisted { secs } => {
                *secs
            }
            Self::Vcpu { secs, .. } => *secs,
            Self::Run { .. } | Self::Holds { .. } => COMMAND_SECS,
        }
    }
}
