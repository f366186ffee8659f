//! Reading the kernel's sources for what they register: each
//! `Test { name: "...", run: f }` and the body of `f`.
//!
//! Not a Rust parser: a scanner that knows just enough of the lexical
//! grammar (comments, string and character literals, raw strings) to find
//! code by its text without being fooled by the same text in a comment or
//! a string, and to match braces. The tests that use it (tests/src/expect.rs
//! and test_bodies.rs) fail loudly when it finds nothing, so a change in the
//! registrations' shape cannot make them pass vacuously.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, sorted.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            let entries = std::fs::read_dir(&path).expect("read a source directory");
            stack.extend(entries.map(|e| e.expect("directory entry").path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// `text` with every comment and the inside of every string and character
/// literal replaced by spaces (newlines kept), so that offsets stay the
/// same and what remains is code. The quotes themselves stay.
pub fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for b in &mut out[from..to.min(bytes.len())] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"//") {
            let end = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            // Block comments nest in Rust.
            let (mut depth, mut j) = (0usize, i);
            while j < bytes.len() {
                if bytes[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if bytes[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if let Some(hashes) = raw_string_start(rest) {
            // r"..." / r#"..."# / br#"..."#: ends at a quote and as many #.
            let open = i + rest.iter().position(|&b| b == b'"').unwrap_or(0) + 1;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let end = bytes[open..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(bytes.len(), |n| open + n);
            blank(&mut out, open, end);
            i = end + close.len();
        } else if rest[0] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i + 1, j);
            i = j + 1;
        } else if rest[0] == b'\'' {
            // A character literal ('a', '\n', '\u{..}') or a lifetime ('a).
            match char_literal_len(rest) {
                Some(len) => {
                    blank(&mut out, i + 1, i + len - 1);
                    i += len;
                }
                None => i += 1,
            }
        } else if is_ident_byte(rest[0]) {
            // Skip whole identifiers, so that the `r` or `b` ending one is
            // not taken for a raw string's prefix.
            let len = rest.iter().take_while(|&&b| is_ident_byte(b)).count();
            i += len;
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("blanking keeps UTF-8: only ASCII is written, whole runs")
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The number of `#` if `rest` starts a raw (byte) string literal.
fn raw_string_start(rest: &[u8]) -> Option<usize> {
    let after_prefix = rest
        .strip_prefix(b"br")
        .or_else(|| rest.strip_prefix(b"r"))?;
    let hashes = after_prefix.iter().take_while(|&&b| b == b'#').count();
    (after_prefix.get(hashes) == Some(&b'"')).then_some(hashes)
}

/// The length of the character literal `rest` starts with, if it is one.
fn char_literal_len(rest: &[u8]) -> Option<usize> {
    if rest.get(1) == Some(&b'\\') {
        let close = rest[2..].iter().position(|&b| b == b'\'')?;
        return Some(close + 3);
    }
    // One (possibly multi-byte) character, then the closing quote.
    let text = std::str::from_utf8(rest).ok()?;
    let c = text[1..].chars().next()?;
    let len = 1 + c.len_utf8();
    (rest.get(len) == Some(&b'\'')).then_some(len + 1)
}

/// One `Test { name: "...", run: f }` registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub name: String,
    /// The function's name as written after `run:` (a path if it is one).
    pub run: String,
}

/// The registrations in one source text, in order. Only literal names
/// count (`Test { name, run }` built from variables is not a registration:
/// the kernel's injected tests are made that way on purpose).
pub fn registrations(text: &str) -> Vec<Registration> {
    let code = code_only(text);
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("Test {") {
        let start = from + at + "Test {".len();
        from = start;
        // The literal's fields, up to its closing brace.
        let Some(len) = code[start..].find('}') else {
            continue;
        };
        let fields = &code[start..start + len];
        let Some(name_at) = fields.find("name:") else {
            continue;
        };
        let after = start + name_at + "name:".len();
        let Some(quoted) = text[after..].trim_start().strip_prefix('"') else {
            continue;
        };
        let Some(name_len) = quoted.find('"') else {
            continue;
        };
        let run = fields.find("run:").map(|run_at| {
            fields[run_at + "run:".len()..]
                .trim_start()
                .chars()
                .take_while(|&c| c.is_alphanumeric() || c == '_' || c == ':')
                .collect::<String>()
        });
        found.push(Registration {
            name: quoted[..name_len].to_string(),
            run: run.unwrap_or_default(),
        });
    }
    found
}

/// The body (between its braces, exclusive) of the function `name` in
/// `code` (a text from [`code_only`]), if it is defined there.
pub fn fn_body<'a>(code: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!("fn {name}");
    let mut from = 0;
    while let Some(at) = code[from..].find(&needle) {
        let start = from + at;
        from = start + needle.len();
        let before_ok = start == 0 || !is_ident_byte(code.as_bytes()[start - 1]);
        let after = &code[from..];
        let after_ok = after.trim_start().starts_with('(') || after.trim_start().starts_with('<');
        if !(before_ok && after_ok) {
            continue;
        }
        // The body opens at the first `{` outside the parameter list (the
        // signature has no braces otherwise: no closures in parameters).
        let mut depth = 0i32;
        let open = after.char_indices().find_map(|(i, c)| match c {
            '(' | '[' => {
                depth += 1;
                None
            }
            ')' | ']' => {
                depth -= 1;
                None
            }
            '{' if depth == 0 => Some(i),
            ';' if depth == 0 => Some(usize::MAX),
            _ => None,
        })?;
        if open == usize::MAX {
            // A declaration without a body (in a trait or extern block).
            continue;
        }
        let body_start = from + open + 1;
        let mut depth = 1;
        for (i, c) in code[body_start..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(&code[body_start..body_start + i]);
                    }
                }
                _ => {}
            }
        }
        return None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_literals_are_blanked_in_place() {
        let text =
            "a /* x /* y */ z */ b // c\n\"s\\\"t\" r#\"q\"u\"# 'c' '\\n' &'a T br\"k\" for_r\"";
        let code = code_only(text);
        assert_eq!(code.len(), text.len());
        assert!(code.starts_with("a "));
        assert!(!code.contains('x') && !code.contains('z') && !code.contains('q'));
        assert!(code.contains(" b ") && code.contains('\n'));
        assert!(code.contains("&'a T"), "{code}");
        assert!(!code.contains('k') && !code.contains('s'));
    }

    #[test]
    fn bodies_are_found_by_name_and_braces() {
        let code = code_only("fn ab() {}\nfn a<T>(x: [u8; 2]) -> R { if x { \"}\" } }\nfn b();");
        assert_eq!(fn_body(&code, "a").map(str::trim), Some("if x { \" \" }"));
        assert_eq!(fn_body(&code, "ab"), Some(""));
        assert_eq!(fn_body(&code, "b"), None);
        assert_eq!(fn_body(&code, "c"), None);
    }
}
