//! A small JSON writer (the runner has no dependencies).

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
