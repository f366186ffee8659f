//! The kernel's benchmark lines (`bench=all`):
//!
//! ```text
//! # bench <name> iters=<n> median_cycles=<m> p10_cycles=<a> p90_cycles=<b> min_cycles=<c> median_ns=<x> tsc_hz=<hz> pair=<pair|-> role=<pv|emulated|->[ ops=<n> bytes=<n> depth=<d> disk=<name> driver=<name>]
//! # bench <name> error=<text>
//! # bench done count=<N>
//! ```
//!
//! The bracketed fields come together or not at all: a block benchmark
//! says what one timed iteration moved, on which disk ([`Work`]).
//!
//! The console carries other output too (log lines, a relay prefix, ANSI
//! colours, a line another writer cut into): a bench line is found wherever
//! `# bench ` starts in a line, and a line that does not read fully is
//! rejected with a note rather than half-believed.

use serde::Serialize;

use crate::ktap;

/// Which side of a pair a benchmark is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Pv,
    Emulated,
    None,
}

impl Role {
    pub fn word(self) -> &'static str {
        match self {
            Self::Pv => "pv",
            Self::Emulated => "emulated",
            Self::None => "-",
        }
    }
}

/// One benchmark's figures, as the kernel printed them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchResult {
    pub name: String,
    pub iters: u64,
    pub median_cycles: u64,
    pub p10_cycles: u64,
    pub p90_cycles: u64,
    pub min_cycles: u64,
    pub median_ns: f64,
    pub tsc_hz: u64,
    /// The pair it belongs to (`timer_arm`, `time_read`, ...).
    pub pair: Option<String>,
    pub role: Role,
    /// What one iteration moved (block benchmarks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub work: Option<Work>,
}

/// What one timed iteration of a block benchmark moved, and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Work {
    /// Requests per iteration.
    pub ops: u64,
    /// Bytes per iteration (0 for a flush).
    pub bytes: u64,
    /// Most requests in flight.
    pub depth: u64,
    /// The kernel's name for the disk (`sda`, `xvda`) and its driver.
    pub disk: String,
    pub driver: String,
}

impl BenchResult {
    /// Seconds one iteration took, at its median.
    pub fn median_secs(&self) -> Option<f64> {
        (self.median_ns > 0.0).then(|| self.median_ns / 1e9)
    }
}

/// Everything the bench lines of one console said.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BenchOutput {
    pub results: Vec<BenchResult>,
    /// `# bench <name> error=<text>`.
    pub errors: Vec<(String, String)>,
    /// The count of `# bench done count=N`, if that line came.
    pub done: Option<u64>,
    /// Lines that looked like bench lines but did not read, and oddities
    /// (a count that disagrees, a name reported twice).
    pub notes: Vec<String>,
}

impl BenchOutput {
    pub fn get(&self, name: &str) -> Option<&BenchResult> {
        self.results.iter().find(|r| r.name == name)
    }

    /// Complete: the done line came and its count matches what was read.
    pub fn complete(&self) -> bool {
        self.done
            .is_some_and(|n| n as usize == self.results.len() + self.errors.len())
    }
}

const MARK: &str = "# bench ";

/// Reads every bench line of `lines`, in order.
pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> BenchOutput {
    let mut out = BenchOutput::default();
    for raw in lines {
        let line = ktap::clean(raw);
        let body = match line.find(MARK) {
            Some(start) => line[start + MARK.len()..].trim(),
            // `# bench` and nothing after it (trailing blanks cleaned off).
            None if line.trim_end().ends_with(MARK.trim_end()) => "",
            None => continue,
        };
        match parse_body(body) {
            Ok(Parsed::Done(n)) => {
                if out.done.is_some() {
                    out.notes.push("a second `# bench done` line".into());
                }
                out.done = Some(n);
            }
            Ok(Parsed::Error(name, text)) => out.errors.push((name, text)),
            Ok(Parsed::Result(result)) => {
                if out.get(&result.name).is_some() {
                    out.notes
                        .push(format!("`{}` reported twice; the first kept", result.name));
                } else {
                    out.results.push(result);
                }
            }
            Err(why) => out
                .notes
                .push(format!("rejected bench line ({why}): {}", line.trim())),
        }
    }
    if let Some(n) = out.done {
        let seen = out.results.len() + out.errors.len();
        if n as usize != seen {
            out.notes.push(format!(
                "`# bench done count={n}` but {seen} benchmarks were read"
            ));
        }
    }
    out
}

enum Parsed {
    Done(u64),
    Error(String, String),
    Result(BenchResult),
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn parse_body(body: &str) -> Result<Parsed, String> {
    let mut words = body.split_whitespace();
    let name = words.next().ok_or("no name")?;
    if !valid_name(name) {
        return Err(format!("bad name `{name}`"));
    }
    if name == "done" {
        let rest: Vec<&str> = words.collect();
        return match rest.as_slice() {
            [count] => match count.strip_prefix("count=").map(str::parse) {
                Some(Ok(n)) => Ok(Parsed::Done(n)),
                _ => Err(format!("bad count `{count}`")),
            },
            _ => Err("`done` wants exactly `count=N`".into()),
        };
    }
    let rest = body[name.len()..].trim_start();
    if let Some(text) = rest.strip_prefix("error=") {
        return Ok(Parsed::Error(name.to_string(), text.trim().to_string()));
    }
    let mut fields: Vec<(&str, &str)> = Vec::new();
    for word in words {
        let (key, value) = word
            .split_once('=')
            .ok_or(format!("`{word}` is not key=value"))?;
        if fields.iter().any(|(k, _)| *k == key) {
            return Err(format!("`{key}` given twice"));
        }
        fields.push((key, value));
    }
    const KEYS: &str = "iters median_cycles p10_cycles p90_cycles min_cycles median_ns tsc_hz \
         pair role ops bytes depth disk driver";
    if let Some((key, _)) = fields
        .iter()
        .find(|(k, _)| !KEYS.split(' ').any(|x| x == *k))
    {
        return Err(format!("unknown field `{key}`"));
    }
    let field = |key: &str| -> Result<&str, String> {
        fields
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .ok_or(format!("no `{key}`"))
    };
    let int = |key: &str| -> Result<u64, String> {
        let text = field(key)?;
        text.parse()
            .map_err(|_| format!("`{key}={text}` is not a count"))
    };
    let median_ns = {
        let text = field("median_ns")?;
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => x,
            _ => return Err(format!("`median_ns={text}` is not a duration")),
        }
    };
    let pair = match field("pair")? {
        "-" => None,
        p if valid_name(p) => Some(p.to_string()),
        p => return Err(format!("bad pair `{p}`")),
    };
    let role = match field("role")? {
        "pv" => Role::Pv,
        "emulated" => Role::Emulated,
        "-" => Role::None,
        r => return Err(format!("bad role `{r}`")),
    };
    const WORK: [&str; 5] = ["ops", "bytes", "depth", "disk", "driver"];
    let given = WORK
        .iter()
        .filter(|k| fields.iter().any(|(f, _)| f == *k))
        .count();
    let work = match given {
        0 => None,
        5 => {
            let word = |key: &str| -> Result<String, String> {
                let text = field(key)?;
                if valid_name(text) {
                    Ok(text.to_string())
                } else {
                    Err(format!("bad {key} `{text}`"))
                }
            };
            let work = Work {
                ops: int("ops")?,
                bytes: int("bytes")?,
                depth: int("depth")?,
                disk: word("disk")?,
                driver: word("driver")?,
            };
            if work.ops == 0 || work.depth == 0 {
                return Err("ops=0 or depth=0".into());
            }
            Some(work)
        }
        _ => return Err(format!("only some of `{}`", WORK.join(" "))),
    };
    let result = BenchResult {
        name: name.to_string(),
        iters: int("iters")?,
        median_cycles: int("median_cycles")?,
        p10_cycles: int("p10_cycles")?,
        p90_cycles: int("p90_cycles")?,
        min_cycles: int("min_cycles")?,
        median_ns,
        tsc_hz: int("tsc_hz")?,
        pair,
        role,
        work,
    };
    if result.iters == 0 {
        return Err("iters=0".into());
    }
    if !(result.min_cycles <= result.p10_cycles
        && result.p10_cycles <= result.median_cycles
        && result.median_cycles <= result.p90_cycles)
    {
        return Err("percentiles out of order (min <= p10 <= median <= p90)".into());
    }
    Ok(Parsed::Result(result))
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
