//! A small JSON writer (the runner has no dependencies), and the run's raw
//! figures as JSON.

use super::model::{BenchReport, PairRow};
use super::parse::{BenchOutput, BenchResult};

/// A JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn obj(fields: Vec<(&str, Json)>) -> Self {
        Self::Obj(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    pub fn str(text: &str) -> Self {
        Self::Str(text.to_string())
    }

    pub fn opt(value: Option<f64>) -> Self {
        value.map_or(Self::Null, Self::Num)
    }

    pub fn int(value: u64) -> Self {
        Self::Num(value as f64)
    }

    /// Pretty-printed, two spaces per level.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        let pad = |n: usize| "  ".repeat(n);
        match self {
            Self::Null => out.push_str("null"),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Num(x) if !x.is_finite() => out.push_str("null"),
            Self::Num(x) if x.fract() == 0.0 && x.abs() < 9e15 => {
                out.push_str(&format!("{}", *x as i64));
            }
            Self::Num(x) => out.push_str(&format!("{x}")),
            Self::Str(s) => out.push_str(&quote(s)),
            Self::Arr(items) if items.is_empty() => out.push_str("[]"),
            Self::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Self::Arr(items) => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    out.push_str(&pad(depth + 1));
                    item.write(out, depth + 1);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(depth));
                out.push(']');
            }
            Self::Obj(fields) => {
                out.push_str("{\n");
                for (i, (key, value)) in fields.iter().enumerate() {
                    out.push_str(&pad(depth + 1));
                    out.push_str(&quote(key));
                    out.push_str(": ");
                    value.write(out, depth + 1);
                    out.push_str(if i + 1 < fields.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(depth));
                out.push('}');
            }
        }
    }
}

fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn strings(items: &[String]) -> Json {
    Json::Arr(items.iter().map(|s| Json::str(s)).collect())
}

fn result(r: &BenchResult) -> Json {
    Json::obj(vec![
        ("name", Json::str(&r.name)),
        ("iters", Json::int(r.iters)),
        ("median_cycles", Json::int(r.median_cycles)),
        ("p10_cycles", Json::int(r.p10_cycles)),
        ("p90_cycles", Json::int(r.p90_cycles)),
        ("min_cycles", Json::int(r.min_cycles)),
        ("median_ns", Json::Num(r.median_ns)),
        ("tsc_hz", Json::int(r.tsc_hz)),
        ("pair", r.pair.as_deref().map_or(Json::Null, Json::str)),
        ("role", Json::str(r.role.word())),
    ])
}

fn output(o: &BenchOutput) -> Json {
    Json::obj(vec![
        ("results", Json::Arr(o.results.iter().map(result).collect())),
        (
            "errors",
            Json::Arr(
                o.errors
                    .iter()
                    .map(|(n, t)| Json::obj(vec![("name", Json::str(n)), ("error", Json::str(t))]))
                    .collect(),
            ),
        ),
        ("done_count", o.done.map_or(Json::Null, Json::int)),
        ("complete", Json::Bool(o.complete())),
        ("notes", strings(&o.notes)),
    ])
}

fn pair(p: &PairRow) -> Json {
    Json::obj(vec![
        ("pair", Json::str(&p.pair)),
        ("baseline", Json::str(&p.baseline.name)),
        ("baseline_role", Json::str(p.baseline.role.word())),
        ("baseline_median_ns", Json::Num(p.baseline.median_ns)),
        ("pv", Json::str(&p.pv.name)),
        ("pv_median_ns", Json::Num(p.pv.median_ns)),
        ("ratio_baseline_over_pv", Json::opt(p.ratio)),
        ("verdict", Json::str(&p.verdict())),
    ])
}

/// Every figure of the run.
pub fn report_json(report: &BenchReport) -> Json {
    let m = &report.machine;
    let (pairs, pair_notes) = report.pairs();
    let f = &report.footprint;
    let tries = |t: &[(u32, bool)]| {
        Json::Arr(
            t.iter()
                .map(|(mb, ok)| {
                    Json::obj(vec![
                        ("memory_mb", Json::int(u64::from(*mb))),
                        ("booted", Json::Bool(*ok)),
                    ])
                })
                .collect(),
        )
    };
    let bytes = |b: Option<u64>| b.map_or(Json::Null, Json::int);
    Json::obj(vec![
        (
            "machine",
            Json::obj(vec![
                ("cpu_model", Json::str(&m.cpu_model)),
                ("cores", Json::int(m.cores as u64)),
                ("emulation", Json::str("QEMU TCG (software emulation)")),
                ("qemu_version", Json::str(&m.qemu_version)),
                ("xen_version", Json::str(&m.xen_version)),
            ]),
        ),
        ("quick", Json::Bool(report.quick)),
        ("elapsed_secs", Json::Num(report.elapsed_secs)),
        ("passed", Json::Bool(report.passed())),
        (
            "columns",
            Json::Arr(
                report
                    .columns
                    .iter()
                    .map(|c| {
                        Json::obj(vec![
                            ("name", Json::str(&c.name)),
                            ("setup", Json::str(&c.setup)),
                            ("output", output(&c.output)),
                            ("problems", strings(&c.problems)),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("pairs", Json::Arr(pairs.iter().map(pair).collect())),
        ("pair_notes", strings(&pair_notes)),
        (
            "core",
            Json::Arr(
                report
                    .core()
                    .iter()
                    .map(|row| {
                        Json::obj(vec![
                            ("name", Json::str(&row.name)),
                            (
                                "median_ns",
                                Json::obj(
                                    report
                                        .columns
                                        .iter()
                                        .zip(&row.median_ns)
                                        .map(|(c, v)| (c.name.as_str(), Json::opt(*v)))
                                        .collect(),
                                ),
                            ),
                            ("hvm_over_pvh", Json::opt(row.hvm_over_pvh())),
                            ("hvm_over_native", Json::opt(row.hvm_over_native())),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "boot",
            Json::Arr(
                report
                    .boot
                    .iter()
                    .map(|b| {
                        Json::obj(vec![
                            ("guest", Json::str(&b.guest)),
                            ("memory_mb", Json::int(u64::from(b.memory_mb))),
                            ("create_secs", Json::opt(b.create_secs)),
                            ("first_line_secs", Json::opt(b.first_line_secs)),
                            ("ready_secs", Json::opt(b.ready_secs)),
                            ("ready_is", Json::str(&b.ready_is)),
                            ("ended", Json::str(&b.ended)),
                            ("passed", Json::Bool(b.passed)),
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "footprint",
            Json::obj(vec![
                ("virtus_pv_bytes", bytes(f.virtus_pv_bytes)),
                (
                    "virtus_pv_stripped_bytes",
                    bytes(f.virtus_pv_stripped_bytes),
                ),
                ("linux_vmlinux_bytes", bytes(f.linux_vmlinux_bytes)),
                ("linux_initramfs_bytes", bytes(f.linux_initramfs_bytes)),
                ("virtus_memory_tries", tries(&f.virtus_tries)),
                ("linux_memory_tries", tries(&f.linux_tries)),
                ("linux_floor_source", Json::str(&f.linux_floor_source)),
            ]),
        ),
        (
            "density",
            Json::Arr(
                report
                    .density
                    .iter()
                    .map(|d| {
                        Json::obj(vec![
                            ("n", Json::int(d.n as u64)),
                            ("memory_mb", Json::int(u64::from(d.memory_mb))),
                            ("passed", Json::int(d.passed as u64)),
                            ("peak_running", Json::int(d.peak_running as u64)),
                            (
                                "create_secs",
                                Json::Arr(d.create_secs.iter().map(|x| Json::Num(*x)).collect()),
                            ),
                            ("mean_create_secs", Json::opt(d.mean_create())),
                            ("growth_second_half_over_first", Json::opt(d.growth())),
                            ("all_created_secs", Json::opt(d.all_created_secs)),
                            ("all_ended_secs", Json::opt(d.all_ended_secs)),
                            ("problems", strings(&d.problems)),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("notes", strings(&report.notes)),
    ])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A strict little JSON reader: true if `text` is one well-formed
    /// value and nothing else.
    pub fn well_formed(text: &str) -> bool {
        fn ws(b: &[u8], i: &mut usize) {
            while *i < b.len() && b[*i].is_ascii_whitespace() {
                *i += 1;
            }
        }
        fn value(b: &[u8], i: &mut usize) -> bool {
            ws(b, i);
            let Some(&c) = b.get(*i) else { return false };
            match c {
                b'{' | b'[' => {
                    let close = if c == b'{' { b'}' } else { b']' };
                    *i += 1;
                    ws(b, i);
                    if b.get(*i) == Some(&close) {
                        *i += 1;
                        return true;
                    }
                    loop {
                        if c == b'{' {
                            ws(b, i);
                            if !string(b, i) {
                                return false;
                            }
                            ws(b, i);
                            if b.get(*i) != Some(&b':') {
                                return false;
                            }
                            *i += 1;
                        }
                        if !value(b, i) {
                            return false;
                        }
                        ws(b, i);
                        match b.get(*i) {
                            Some(b',') => *i += 1,
                            Some(x) if *x == close => {
                                *i += 1;
                                return true;
                            }
                            _ => return false,
                        }
                    }
                }
                b'"' => string(b, i),
                _ => {
                    let start = *i;
                    while *i < b.len() && !b",]} \n".contains(&b[*i]) {
                        *i += 1;
                    }
                    let word = std::str::from_utf8(&b[start..*i]).unwrap_or("");
                    ["true", "false", "null"].contains(&word) || word.parse::<f64>().is_ok()
                }
            }
        }
        fn string(b: &[u8], i: &mut usize) -> bool {
            if b.get(*i) != Some(&b'"') {
                return false;
            }
            *i += 1;
            while let Some(&c) = b.get(*i) {
                *i += 1;
                match c {
                    b'"' => return true,
                    b'\\' => *i += 1,
                    c if c < 0x20 => return false,
                    _ => {}
                }
            }
            false
        }
        let b = text.as_bytes();
        let mut i = 0;
        let ok = value(b, &mut i);
        ws(b, &mut i);
        ok && i == b.len()
    }

    #[test]
    fn renders_well_formed_json() {
        let value = Json::obj(vec![
            ("a", Json::Num(1.5)),
            (
                "b",
                Json::Arr(vec![Json::Null, Json::Bool(true), Json::int(3)]),
            ),
            ("c", Json::str("quote \" back \\ nl \n ctl \u{1}")),
            ("d", Json::Obj(vec![])),
            ("e", Json::Num(f64::NAN)),
        ]);
        let text = value.render();
        assert!(well_formed(&text), "{text}");
        assert!(text.contains("\"a\": 1.5"));
        assert!(text.contains("\"e\": null"));
        assert!(text.contains("\\u0001"));
        assert!(!well_formed("{\"a\": }"));
        assert!(!well_formed("[1, 2"));
        assert!(!well_formed("{} x"));
    }
}
