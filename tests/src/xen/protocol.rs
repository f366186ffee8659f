//! The console protocol between dom0's init and the runner.
//!
//! QEMU's serial port carries three voices at once: Xen's own log (lines
//! starting `(XEN)`), dom0's kernel, and the test script in dom0, whose
//! lines all start with `@@`. The script speaks in markers (`@@virtus ...`)
//! and relays guest consoles (`@@guest NAME| ...`) and command output
//! (`@@dom0| ...`). [`ConsoleParser`] turns that stream into [`Event`]s; it
//! never fails, since a line it cannot read is itself worth reporting.

use std::fmt;
use std::time::Duration;

use crate::ktap;

/// Why a domain shut down, as `xl` reports it (`reason code R`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownReason {
    Poweroff,
    Reboot,
    Suspend,
    Crash,
    Watchdog,
    SoftReset,
    Unknown,
}

impl ShutdownReason {
    /// Each reason and the word dom0 prints, matching libxl's `SHUTDOWN_*` names.
    const NAMES: [(Self, &'static str); 7] = [
        (Self::Poweroff, "poweroff"),
        (Self::Reboot, "reboot"),
        (Self::Suspend, "suspend"),
        (Self::Crash, "crash"),
        (Self::Watchdog, "watchdog"),
        (Self::SoftReset, "soft_reset"),
        (Self::Unknown, "unknown"),
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("", |(_, n)| n)
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(r, _)| *r)
    }
}

impl fmt::Display for ShutdownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one console line says. Uptimes are dom0's (`/proc/uptime`,
/// seconds), when the marker carried a readable one.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Dom0Start {
        uptime: Option<f64>,
    },
    Dom0Ready {
        uptime: Option<f64>,
    },
    GuestCreated {
        guest: String,
        domid: Option<u32>,
        uptime: Option<f64>,
    },
    /// One line of the guest's own console.
    GuestLine {
        guest: String,
        text: String,
    },
    GuestEnded {
        guest: String,
        reason: ShutdownReason,
        code: Option<i32>,
        uptime: Option<f64>,
    },
    /// dom0's clock (uptime, s) at named steps of the guest's life:
    /// `xl_create`, `built`, `unpaused`, `first_byte`, `gone`.
    GuestStamps {
        guest: String,
        stamps: Vec<(String, f64)>,
    },
    /// `guest_wait` gave up on a guest that was still running.
    GuestTimeout {
        guest: String,
        uptime: Option<f64>,
    },
    /// The guest could not be created; `xl`'s words follow as [`Event::GuestXl`].
    GuestFailed {
        guest: String,
        reason: String,
    },
    GuestXl {
        guest: String,
        text: String,
    },
    /// One line of output of a `dom0_run` command.
    Dom0Output {
        text: String,
    },
    /// The running `dom0_run` command finished.
    Dom0CommandDone {
        rc: Option<i32>,
    },
    /// dom0's init reports something went wrong on its side.
    Error {
        what: String,
    },
    /// dom0's watchdog fired: the script took too long and dom0 reboots.
    Watchdog {
        uptime: Option<f64>,
    },
    /// dom0's stall sentinel fired: neither the script nor a relay printed
    /// anything for `secs`, longer than any step's own timeout. dom0
    /// reports what its processes were doing ([`Event::StallInfo`]), then
    /// reboots.
    Stalled {
        uptime: Option<f64>,
        secs: Option<u32>,
    },
    /// One line of the stall sentinel's report.
    StallInfo {
        text: String,
    },
    /// The script finished; dom0 reboots and QEMU exits.
    Done {
        uptime: Option<f64>,
    },
    /// Xen's own log: `(XEN) ...`, or `(d1) ...` for a guest's debug port.
    Xen(String),
    /// A line that starts like a marker but does not follow the grammar
    /// (garbled by interleaving, or cut off).
    Garbled(String),
    /// Anything else: dom0's kernel log, noise.
    Other(String),
}

impl Event {
    /// Markers and relayed lines: what the live view shows by default.
    pub fn is_protocol(&self) -> bool {
        !matches!(self, Self::Xen(_) | Self::Other(_))
    }
}

/// An event and the host time its line started to arrive, measured from
/// QEMU's start by the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct Stamped {
    pub at: Duration,
    pub event: Event,
}

/// Splits console output into lines and lines into events. Output may
/// arrive in any chunks; a line is parsed once its newline arrives (or at
/// [`ConsoleParser::finish`], for a last line cut off by the end of the run).
#[derive(Debug, Default)]
pub struct ConsoleParser {
    partial: String,
    partial_since: Option<Duration>,
}

impl ConsoleParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk that arrived at `at`; returns the events of the lines
    /// it completed.
    pub fn feed(&mut self, chunk: &str, at: Duration) -> Vec<Stamped> {
        let mut events = Vec::new();
        for piece in chunk.split_inclusive('\n') {
            self.partial_since.get_or_insert(at);
            match piece.strip_suffix('\n') {
                Some(end) => {
                    self.partial.push_str(end);
                    events.extend(self.finish());
                }
                None => self.partial.push_str(piece),
            }
        }
        events
    }

    /// Parses the line so far: the one a newline completed, or whatever is
    /// left without one.
    pub fn finish(&mut self) -> Vec<Stamped> {
        let at = self.partial_since.take().unwrap_or_default();
        let line = std::mem::take(&mut self.partial);
        let events = parse_line(&line).into_iter();
        events.map(|event| Stamped { at, event }).collect()
    }
}

/// Where the script's output may start. Kept in one place so the search
/// for a marker in the middle of a line and the parse agree.
const PREFIXES: [&str; 4] = ["@@virtus ", "@@guest-xl ", "@@guest ", "@@dom0|"];

/// Parses one console line (without its newline) into one or two events:
/// text before a marker that started mid-line (output of two writers
/// meeting on one line) is reported on its own.
pub fn parse_line(raw: &str) -> Vec<Event> {
    parse_writers(raw)
        .into_iter()
        .flat_map(split_xen_tail)
        .collect()
}

/// Xen's own log, begun in the middle of a relayed guest line (Xen writes
/// to the same serial port whenever it likes, e.g. `(XEN) d1v0: upcall
/// vector f3` when a guest sets its upcall vector): the guest's text, then
/// Xen's line on its own, so that a test name never carries Xen's words.
fn split_xen_tail(event: Event) -> Vec<Event> {
    if let Event::GuestLine { guest, text } = &event
        && let Some(at) = text.find("(XEN) ").filter(|&at| at > 0)
    {
        let (own, xen) = text.split_at(at);
        return vec![
            Event::GuestLine {
                guest: guest.clone(),
                text: own.to_string(),
            },
            Event::Xen(xen.to_string()),
        ];
    }
    vec![event]
}

/// [`parse_line`] before Xen's tails are split off.
fn parse_writers(raw: &str) -> Vec<Event> {
    let line = ktap::clean(raw);
    let start = PREFIXES.iter().filter_map(|p| line.find(p)).min();
    match start {
        Some(0) => vec![parse_script_line(&line)],
        Some(at) => {
            let (before, marker) = line.split_at(at);
            let mut events = Vec::new();
            if !before.trim().is_empty() {
                events.push(parse_plain(before.trim_end()));
            }
            events.push(parse_script_line(marker));
            events
        }
        None if line.trim().is_empty() => Vec::new(),
        None => vec![parse_plain(&line)],
    }
}

fn parse_plain(line: &str) -> Event {
    let trimmed = line.trim_start();
    let xen = trimmed.starts_with("(XEN)")
        || trimmed
            .strip_prefix("(d")
            .and_then(|rest| rest.split_once(')'))
            .is_some_and(|(id, _)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    if xen {
        Event::Xen(line.to_string())
    } else {
        Event::Other(line.to_string())
    }
}

/// A line that starts with one of [`PREFIXES`].
fn parse_script_line(line: &str) -> Event {
    let garbled = || Event::Garbled(line.to_string());
    if let Some(rest) = line.strip_prefix("@@dom0|") {
        return Event::Dom0Output {
            text: relayed_text(rest),
        };
    }
    for (prefix, xl) in [("@@guest-xl ", true), ("@@guest ", false)] {
        let Some(rest) = line.strip_prefix(prefix) else {
            continue;
        };
        return match rest.split_once('|') {
            Some((guest, text)) if valid_name(guest) => {
                let (guest, text) = (guest.to_string(), relayed_text(text));
                if xl {
                    Event::GuestXl { guest, text }
                } else {
                    Event::GuestLine { guest, text }
                }
            }
            _ => garbled(),
        };
    }
    match line.strip_prefix("@@virtus ").and_then(parse_marker) {
        Some(event) => event,
        None => garbled(),
    }
}

/// The relayed text after `|`: the one space the relay puts there is not
/// part of the line.
fn relayed_text(text: &str) -> String {
    text.strip_prefix(' ').unwrap_or(text).to_string()
}

/// Guest names as [`crate::xen::guest`] allows them; checked here too so
/// that a garbled relay line is not taken for a guest's.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The words after `@@virtus `. `None` if they do not follow the grammar.
fn parse_marker(body: &str) -> Option<Event> {
    let words: Vec<&str> = body.split_whitespace().collect();
    let field = |key: &str| {
        words
            .iter()
            .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
    };
    let uptime = || field("uptime").and_then(|s| s.parse::<f64>().ok());
    let after = |n: usize| {
        // The free text after the first n words, spacing preserved.
        let mut rest = body.trim_start();
        for _ in 0..n {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            rest = rest[end..].trim_start();
        }
        rest.to_string()
    };
    let event = match words.as_slice() {
        ["dom0-start", ..] => Event::Dom0Start { uptime: uptime() },
        ["dom0-ready", ..] => Event::Dom0Ready { uptime: uptime() },
        ["dom0-cmd", ..] => Event::Dom0CommandDone {
            rc: field("rc").and_then(|s| s.parse().ok()),
        },
        ["watchdog", ..] => Event::Watchdog { uptime: uptime() },
        ["stalled", ..] => Event::Stalled {
            uptime: uptime(),
            secs: field("secs").and_then(|s| s.parse().ok()),
        },
        ["stall-info", ..] => {
            let text = after(1);
            Event::StallInfo {
                text: text.strip_prefix("--").unwrap_or(&text).trim().to_string(),
            }
        }
        ["done", ..] => Event::Done { uptime: uptime() },
        ["error", ..] => Event::Error { what: after(1) },
        ["guest", name, verb, ..] if valid_name(name) => {
            let guest = name.to_string();
            match *verb {
                "created" => Event::GuestCreated {
                    guest,
                    domid: field("domid").and_then(|s| s.parse().ok()),
                    uptime: uptime(),
                },
                "ended" => Event::GuestEnded {
                    guest,
                    reason: ShutdownReason::from_name(field("reason")?)?,
                    code: field("code").and_then(|s| s.parse().ok()),
                    uptime: uptime(),
                },
                "stamps" => Event::GuestStamps {
                    guest,
                    stamps: words[3..]
                        .iter()
                        .map(|word| {
                            let (key, value) = word.split_once('=')?;
                            Some((key.to_string(), value.parse::<f64>().ok()?))
                        })
                        .collect::<Option<Vec<_>>>()?,
                },
                "timeout" => Event::GuestTimeout {
                    guest,
                    uptime: uptime(),
                },
                "failed" => Event::GuestFailed {
                    guest,
                    reason: after(3),
                },
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(event)
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
