//! Reading the console soak's reports and judging them: what the guest
//! says it sent and received, what the other end counted, and what the
//! seed says both streams are. Pure, unit-tested in `judge_tests.rs`.

use super::stream::{self, Crc32};

/// A byte count and its CRC-32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sum {
    pub bytes: u64,
    pub crc: u32,
}

impl Sum {
    fn of(crc: Crc32) -> Self {
        Self {
            bytes: crc.len,
            crc: crc.value(),
        }
    }
}

impl std::fmt::Display for Sum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes, crc32 {:08x}", self.bytes, self.crc)
    }
}

/// One end's account of one direction: the sum and how long it took.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Leg {
    pub sum: Sum,
    pub seconds: f64,
}

/// What the two streams must be, from the host's own generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    pub from_guest: Sum,
    pub to_guest: Sum,
}

impl Expected {
    pub fn new(seed: u64, bytes: u64) -> Self {
        Self {
            from_guest: Sum::of(Crc32::of(&stream::from_guest(seed, bytes))),
            to_guest: Sum::of(Crc32::of(&stream::to_guest(seed, bytes))),
        }
    }
}

/// The guest's report (its `soak-console:` lines).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GuestReport {
    pub ready: bool,
    pub sent: Option<Leg>,
    pub received: Option<Leg>,
    /// `first_mismatch=`: the first received byte that was not the stream's.
    pub first_mismatch: Option<u64>,
    pub ok: bool,
    pub failed: Option<String>,
}

/// The other end's report: the runner's own natively, dom0's under Xen.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OtherEnd {
    /// Who it is, for messages: "the runner", "dom0".
    pub who: &'static str,
    /// What it read from the guest.
    pub from_guest: Option<Leg>,
    /// What it wrote to the guest.
    pub to_guest: Option<Leg>,
    pub failed: Vec<String>,
}

const PREFIX: &str = "soak-console: ";

/// The guest's report, from its console lines (any prefix before
/// `soak-console:` is ignored, as a log's would be).
pub fn guest_report<S: AsRef<str>>(lines: &[S]) -> GuestReport {
    let mut report = GuestReport::default();
    for line in lines {
        let line = line.as_ref();
        let Some(at) = line.find(PREFIX) else {
            continue;
        };
        let rest = line[at + PREFIX.len()..].trim_end();
        let (word, fields) = rest.split_once(' ').unwrap_or((rest, ""));
        match word {
            "ready" => report.ready = true,
            "sent" => report.sent = leg(fields, "seconds", None),
            "received" => {
                report.received = leg(fields, "seconds", None);
                report.first_mismatch =
                    field(fields, "first_mismatch").and_then(|v| v.parse().ok());
            }
            "ok" => report.ok = true,
            "FAILED" => report.failed = Some(fields.to_string()),
            _ => {}
        }
    }
    report
}

/// dom0's report (`soak_console_figures`): `from-guest bytes=N crc32=C
/// start=T end=T`, `to-guest ...`, `failed WHAT`; times are dom0's uptime.
pub fn dom0_report<S: AsRef<str>>(lines: &[S]) -> OtherEnd {
    let mut end = OtherEnd {
        who: "dom0",
        ..OtherEnd::default()
    };
    for line in lines {
        let line = line.as_ref().trim();
        let (word, fields) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "from-guest" => end.from_guest = leg(fields, "end", Some("start")),
            "to-guest" => end.to_guest = leg(fields, "end", Some("start")),
            "failed" => end.failed.push(fields.to_string()),
            _ => {}
        }
    }
    end
}

/// `key=value` among space-separated fields.
fn field<'a>(fields: &'a str, key: &str) -> Option<&'a str> {
    fields
        .split_whitespace()
        .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
}

/// `bytes=`, `crc32=` (hex) and the time: `time` alone, or `time - start`.
fn leg(fields: &str, time: &str, start: Option<&str>) -> Option<Leg> {
    let bytes = field(fields, "bytes")?.parse().ok()?;
    let crc = u32::from_str_radix(field(fields, "crc32")?, 16).ok()?;
    let mut seconds: f64 = field(fields, time)?.parse().ok()?;
    if let Some(start) = start {
        seconds -= field(fields, start)?.parse::<f64>().ok()?;
    }
    Some(Leg {
        sum: Sum { bytes, crc },
        seconds,
    })
}

/// Everything wrong with a soak, or nothing.
pub fn problems(expected: &Expected, guest: &GuestReport, other: &OtherEnd) -> Vec<String> {
    let mut problems: Vec<String> = other
        .failed
        .iter()
        .map(|f| format!("{}: {f}", other.who))
        .collect();
    if let Some(failed) = &guest.failed {
        problems.push(format!("the guest: FAILED {failed}"));
    }
    if !guest.ready {
        problems.push("the guest never said `soak-console: ready`".into());
    }
    let mut compare = |what: &str, leg: Option<Leg>, want: Sum| match leg {
        None => problems.push(format!("{what}: no report")),
        Some(leg) if leg.sum.bytes < want.bytes => problems.push(format!(
            "{what}: short count: {} of {} bytes",
            leg.sum.bytes, want.bytes
        )),
        Some(leg) if leg.sum != want => problems.push(format!(
            "{what}: {}, but the seed's stream is {want}",
            leg.sum
        )),
        Some(_) => {}
    };
    let who = other.who;
    compare(
        "the guest's sum of what it sent",
        guest.sent,
        expected.from_guest,
    );
    compare(
        &format!("{who}'s sum of what it read from the guest"),
        other.from_guest,
        expected.from_guest,
    );
    compare(
        &format!("{who}'s sum of what it wrote to the guest"),
        other.to_guest,
        expected.to_guest,
    );
    compare(
        "the guest's sum of what it received",
        guest.received,
        expected.to_guest,
    );
    if let Some(at) = guest.first_mismatch {
        problems.push(format!("the guest: received byte {at} is not the stream's"));
    }
    if guest.ready && guest.failed.is_none() && !guest.ok {
        problems.push("the guest never said `soak-console: ok`".into());
    }
    problems
}

/// A direction's figure: `N bytes in S s (R MB/s)`, MB being 10^6 bytes
/// (six decimals below 0.01 MB/s: the HVM column's UART is that slow).
pub fn rate(bytes: u64, seconds: f64) -> String {
    let mb_s = bytes as f64 / seconds / 1e6;
    let mb_s = match mb_s {
        r if !r.is_finite() => "-".to_string(),
        r if r < 0.01 => format!("{r:.6}"),
        r => format!("{r:.3}"),
    };
    format!("{bytes} bytes in {seconds:.2} s ({mb_s} MB/s)")
}

/// The figures of a column, per direction: the receiver's time from its
/// first byte to its last, or the sender's if that was longer (the
/// transfer took at least both; the guest's receive can be the shorter:
/// the native UART driver moves up to its input ring's worth per
/// interrupt, so a small burst can arrive in one).
pub fn figures(column: &str, guest: &GuestReport, other: &OtherEnd) -> Vec<String> {
    let who = other.who;
    let mut lines = Vec::new();
    let mut add = |text: String| lines.push(format!("soak-console {column}: {text}"));
    if let Some(leg) = &other.from_guest {
        let sender = guest.sent.map_or(String::new(), |s| {
            format!("; the guest's writes took {:.2} s", s.seconds)
        });
        add(format!(
            "from the guest {} (timed by {who}, its reader{sender})",
            rate(leg.sum.bytes, leg.seconds)
        ));
    }
    if let Some(leg) = &guest.received {
        let written = other.to_guest.map_or(0.0, |s| s.seconds);
        let (seconds, by) = if written > leg.seconds {
            (
                written,
                format!(
                    "timed by {who}, its writer; the guest's first byte to last took {:.2} s",
                    leg.seconds
                ),
            )
        } else {
            (
                leg.seconds,
                format!(
                    "timed by the guest, its first byte to last; {who}'s write took {written:.2} s"
                ),
            )
        };
        add(format!(
            "to the guest   {} ({by})",
            rate(leg.sum.bytes, seconds)
        ));
    }
    lines
}
