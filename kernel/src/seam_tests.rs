//! Keeps the rule of [`crate::platform`] true: the core's sources name no
//! machine. Host-only: it reads the sources, not the binary.

use std::path::{Path, PathBuf};

/// Text that only code driving a machine contains. Each entry says why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("out %", "port output (AT&T syntax)"),
    ("in %dx", "port input (AT&T syntax)"),
    ("outb", "port output"),
    ("inb(", "port input"),
    ("Port8", "an x86_64 I/O port"),
    ("Port16", "an x86_64 I/O port"),
    ("Port32", "an x86_64 I/O port"),
    ("PortWriteOnly", "an x86_64 I/O port"),
    ("port::Port", "an x86_64 I/O port"),
    ("vmcall", "a hypercall instruction"),
    ("vmmcall", "a hypercall instruction"),
    ("hypercall", "a hypercall"),
    ("0x80b", "the x2APIC EOI MSR"),
    ("0x6e0", "the TSC-deadline MSR"),
    ("isa-debug-exit", "QEMU's exit device"),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read the core's sources") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line: what precedes a `//` comment (doc comments, which
/// may well explain what a backend does, are not code).
fn code_of(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

#[test]
fn the_core_names_no_machine() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut found = Vec::new();
    for file in files {
        if file.ends_with("seam_tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read a source file");
        for (number, line) in text.lines().enumerate() {
            let code = code_of(line);
            // Assembly comments (`/* ... */`) explain, too.
            let code = code.split("/*").next().unwrap_or("");
            for (needle, what) in FORBIDDEN {
                if code.contains(needle) {
                    found.push(format!(
                        "{}:{}: {what} (`{needle}`): {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "the core names a machine; move this to a backend:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_what_it_forbids() {
    assert_eq!(code_of("    mov $0xf4, %dx // port"), "    mov $0xf4, %dx ");
    let line = "    out %eax, %dx";
    assert!(FORBIDDEN.iter().any(|(n, _)| code_of(line).contains(n)));
}

/// The module path of a source file under `src/` (`mem/mod.rs` -> `mem`).
fn module_of(rel: &Path) -> String {
    let text = rel.with_extension("").to_string_lossy().replace('\\', "/");
    let text = text.strip_suffix("/mod").unwrap_or(&text).to_string();
    if text == "lib" {
        String::new()
    } else {
        text.replace('/', "::")
    }
}

/// The files a file's (non-test) code refers to with `crate::a::b` (and
/// `crate::{a, b::c}`, and `super::a` from module `me`) paths, each path
/// resolved to the longest module prefix that is a file.
fn references(
    text: &str,
    me: &str,
    modules: &std::collections::BTreeMap<String, usize>,
) -> Vec<usize> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let path_char = |c: &char| c.is_ascii_alphanumeric() || *c == '_' || *c == ':';
    let mut paths: Vec<String> = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let list = list.split('}').next().unwrap_or("");
            paths.extend(list.split(',').map(|p| p.trim().to_string()));
        } else {
            paths.push(rest.chars().take_while(path_char).collect());
        }
    }
    // `super::x` in module `a::b::c` is `a::b::x`; a `mod.rs` is its module.
    let parent: Vec<&str> = me.split("::").filter(|p| !p.is_empty()).collect();
    let parent = parent[..parent.len().saturating_sub(1)].join("::");
    for (at, _) in code.match_indices("super::") {
        let rest: String = code[at + "super::".len()..]
            .chars()
            .take_while(path_char)
            .collect();
        paths.push(if parent.is_empty() {
            rest
        } else {
            format!("{parent}::{rest}")
        });
    }
    let mut out = Vec::new();
    for path in paths {
        let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
        for len in (1..=parts.len()).rev() {
            if let Some(&file) = modules.get(&parts[..len].join("::")) {
                out.push(file);
                break;
            }
        }
    }
    out
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        stack: Vec<usize>,
        on_stack: Vec<bool>,
        next: usize,
        found: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &s.edges[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let n = edges.len();
    let mut s = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        stack: Vec::new(),
        on_stack: vec![false; n],
        next: 0,
        found: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn the_core_layers_point_one_way() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    files.retain(|f| {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        !name.ends_with("_tests.rs")
    });
    let rels: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(&root).expect("under src").to_path_buf())
        .collect();
    let modules: std::collections::BTreeMap<String, usize> = rels
        .iter()
        .enumerate()
        .map(|(i, rel)| (module_of(rel), i))
        .collect();
    let edges: Vec<Vec<usize>> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let text = std::fs::read_to_string(f).expect("read a source file");
            let mut refs = references(&text, &module_of(&rels[i]), &modules);
            refs.retain(|&r| r != i);
            refs
        })
        .collect();
    // The tests and the harness sit on top and may see everything; the
    // circle that matters is among the layers below them.
    let found: Vec<String> = cycles(&edges)
        .into_iter()
        .map(|c| {
            let mut names: Vec<String> = c.iter().map(|&i| rels[i].display().to_string()).collect();
            names.sort();
            names.join(" -> ")
        })
        .collect();
    assert!(
        found.is_empty(),
        "files of the core depend on each other in a circle:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_cycle_finder_finds_cycles() {
    assert_eq!(cycles(&[vec![1], vec![2], vec![]]).len(), 0);
    assert_eq!(cycles(&[vec![1], vec![2], vec![0]]).len(), 1);
    let mut modules = std::collections::BTreeMap::new();
    modules.insert("mem".to_string(), 0);
    modules.insert("mem::heap".to_string(), 1);
    let text = "use crate::mem::heap::HEAP; crate::mem::init(); use crate::{mem, x};";
    assert_eq!(references(text, "boot", &modules), vec![1, 0, 0]);
    assert_eq!(
        references("super::heap::X", "mem::stack", &modules),
        vec![1]
    );
    assert_eq!(module_of(Path::new("mem/mod.rs")), "mem");
    assert_eq!(module_of(Path::new("arch/gdt.rs")), "arch::gdt");
}
