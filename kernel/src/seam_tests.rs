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
