//! Boot against Linux, from `xl create` exactly: dom0's clock at each step
//! of a guest's start (see `virtus_stamps` in tests/xen/virtus.sh), and
//! the guest's own clock at the point it calls itself ready. The two are
//! never subtracted from each other: dom0's steps are toolstack time up to
//! `unpaused` (the guest has not run yet), the guest's own clock is guest
//! time.

use serde::{Serialize, Serializer};

use super::spread::Spread;
use crate::xen::protocol::ShutdownReason;
use crate::xen::report::{GuestEnd, GuestReport};

/// What the guest is, which says where its "ready" is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootKind {
    /// The mute guest: it powers off at once, so it is the toolstack's floor.
    Mute,
    /// virtus-pv booting to its shell prompt.
    Virtus,
    /// The bed's Linux reaching its init.
    Linux,
}

/// The line Virtus logs, with its own clock, as its shell starts.
pub const VIRTUS_READY: &str = "shell ready";
/// What the Linux guest's init prints, with `uptime=<s>` from /proc/uptime.
pub const LINUX_READY: &str = "VIRTUS-LINUX-GUEST-OK";

impl BootKind {
    /// What "ready" means, for the report.
    pub fn ready_is(self) -> &'static str {
        match self {
            Self::Mute => "- (prints nothing, powers off at once)",
            Self::Virtus => {
                "Virtus logs `shell ready` (its clock: Xen system time since its entry code mapped shared_info)"
            }
            Self::Linux => "init prints /proc/uptime (Linux's clock since its timekeeping started)",
        }
    }
}

/// One boot: dom0's clock from the start of `xl create`, in seconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BootRun {
    /// The paused domain exists (`xl create -p` said "Waiting for domain").
    pub built_secs: Option<f64>,
    /// Console attached and the domain unpaused: the guest starts to run.
    pub unpaused_secs: Option<f64>,
    /// Its first console byte reached dom0.
    pub first_byte_secs: Option<f64>,
    /// `xl` saw the domain end.
    pub gone_secs: Option<f64>,
    /// The guest's own clock when it said it was ready.
    pub ready_own_clock_secs: Option<f64>,
    /// How it ended (`poweroff`, ...).
    pub ended: String,
    pub passed: bool,
}

/// `[   12.345678] INFO  shell ready` -> 12.345678.
pub fn log_stamp(line: &str) -> Option<f64> {
    let rest = line.trim_start().strip_prefix('[')?;
    let (stamp, _) = rest.split_once(']')?;
    stamp.trim().parse().ok()
}

/// The guest's own clock at its ready line, if it printed one.
pub fn ready_stamp(kind: BootKind, console: &[String]) -> Option<f64> {
    match kind {
        BootKind::Mute => None,
        BootKind::Virtus => console
            .iter()
            .find(|l| l.contains(VIRTUS_READY))
            .and_then(|l| log_stamp(l)),
        BootKind::Linux => console.iter().find_map(|l| {
            let at = l.find(LINUX_READY)?;
            l[at..]
                .split_whitespace()
                .find_map(|w| w.strip_prefix("uptime="))?
                .parse()
                .ok()
        }),
    }
}

/// A guest's boot, from its report.
pub fn boot_run(kind: BootKind, g: &GuestReport) -> BootRun {
    let since = |step: &str| Some(g.stamp(step)? - g.stamp("xl_create")?);
    let ready = ready_stamp(kind, &g.console);
    let poweroff = g.end == GuestEnd::Shutdown(ShutdownReason::Poweroff);
    BootRun {
        built_secs: since("built"),
        unpaused_secs: since("unpaused"),
        first_byte_secs: since("first_byte"),
        gone_secs: since("gone"),
        ready_own_clock_secs: ready,
        ended: match &g.end {
            GuestEnd::Failed(why) => format!("failed: {why}"),
            end => end.word().to_string(),
        },
        passed: poweroff
            && since("unpaused").is_some()
            && match kind {
                BootKind::Mute => g.console.is_empty(),
                _ => ready.is_some(),
            },
    }
}

/// One guest of the boot table, booted `runs.len()` times.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BootRow {
    pub guest: String,
    pub memory_mb: u32,
    /// In report.json as what its ready point is.
    #[serde(rename = "ready_is", serialize_with = "ready_is")]
    pub kind: BootKind,
    pub runs: Vec<BootRun>,
}

fn ready_is<S: Serializer>(kind: &BootKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.ready_is())
}

impl BootRow {
    pub fn passed(&self) -> bool {
        !self.runs.is_empty() && self.runs.iter().all(|r| r.passed)
    }

    /// One step over the runs.
    pub fn spread(&self, step: impl Fn(&BootRun) -> Option<f64>) -> Spread {
        Spread::of(self.runs.iter().filter_map(step))
    }

    /// The runs that did not end as they should, in words.
    pub fn problems(&self) -> Vec<String> {
        self.runs
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.passed)
            .map(|(i, r)| {
                format!(
                    "{} run {}: ended {}, no ready line or stamps missing",
                    self.guest,
                    i + 1,
                    r.ended
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn report(console: &[&str], stamps: &[(&str, f64)], end: GuestEnd) -> GuestReport {
        let mut specs = vec![crate::xen::GuestSpec::pvh("g", "/k").unwrap()];
        specs[0].expect = crate::xen::Expectation::Any;
        let mut g = crate::xen::recorder::Recorder::new(&specs, &[])
            .finish(crate::exit::Termination::Exited(0), Duration::ZERO)
            .guests
            .remove(0);
        g.console = console.iter().map(ToString::to_string).collect();
        g.stamps = stamps
            .iter()
            .map(|(k, v)| (k.to_string(), Duration::from_secs_f64(*v)))
            .collect();
        g.end = end;
        g
    }

    const STAMPS: [(&str, f64); 5] = [
        ("xl_create", 10.0),
        ("built", 11.5),
        ("unpaused", 12.0),
        ("first_byte", 12.25),
        ("gone", 13.0),
    ];

    #[test]
    fn times_are_from_xl_create_and_ready_from_the_guest_clock() {
        let g = report(
            &[
                "[    0.002250] INFO  Virtus on xen-pvh (cmdline \"\")",
                "[    0.031500] INFO  shell ready",
                "virtus> ",
            ],
            &STAMPS,
            GuestEnd::Shutdown(ShutdownReason::Poweroff),
        );
        let run = boot_run(BootKind::Virtus, &g);
        let want = BootRun {
            built_secs: Some(1.5),
            unpaused_secs: Some(2.0),
            first_byte_secs: Some(2.25),
            gone_secs: Some(3.0),
            ready_own_clock_secs: Some(0.0315),
            ended: "poweroff".into(),
            passed: true,
        };
        assert_eq!(run, want);
        let linux = ["[    1.0] x", "VIRTUS-LINUX-GUEST-OK uptime=4.56"].map(String::from);
        assert_eq!(ready_stamp(BootKind::Linux, &linux), Some(4.56));
        assert_eq!(ready_stamp(BootKind::Linux, &linux[..1]), None);
    }

    #[test]
    fn a_boot_without_its_ready_line_or_poweroff_fails() {
        let poweroff = GuestEnd::Shutdown(ShutdownReason::Poweroff);
        assert!(!boot_run(BootKind::Virtus, &report(&["x"], &STAMPS, poweroff.clone())).passed);
        assert!(boot_run(BootKind::Mute, &report(&[], &STAMPS, poweroff.clone())).passed);
        assert!(!boot_run(BootKind::Mute, &report(&["hi"], &STAMPS, poweroff.clone())).passed);
        let crashed = GuestEnd::Shutdown(ShutdownReason::Crash);
        assert!(!boot_run(BootKind::Mute, &report(&[], &STAMPS, crashed)).passed);
        let unstamped = boot_run(BootKind::Mute, &report(&[], &[], poweroff));
        assert_eq!(unstamped.unpaused_secs, None);
        assert!(!unstamped.passed);
    }

    #[test]
    fn log_stamps_read() {
        assert_eq!(log_stamp("[    0.031500] INFO  shell ready"), Some(0.0315));
        assert_eq!(log_stamp("shell ready"), None);
        assert_eq!(log_stamp("[soon] x"), None);
    }
}
