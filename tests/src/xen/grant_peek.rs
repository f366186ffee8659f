//! dom0's side of the PVH guest's grant test: `virtus-grant-peek`
//! (tests/dom0-grant), built here for the host's own target as a static
//! binary (dom0 is a busybox initramfs without a compiler, and a static
//! binary does not depend on which glibc the host and dom0 have), and the
//! responder script that runs it (tests/xen/grant-responder.sh).

use std::path::Path;
use std::process::Command;

use super::run::{RunPlan, XenOptions};
use super::script::{Dom0Command, Dom0Point};

/// Where the two files land in dom0.
const PEEK: &str = "/virtus-run/virtus-grant-peek";
const RESPONDER: &str = "/virtus-run/grant-responder.sh";
/// The responder's log in dom0.
pub const LOG: &str = "/tmp/grant-responder.log";
/// The target dom0's userland is: the host's, x86_64 glibc Linux.
const TARGET: &str = "x86_64-unknown-linux-gnu";

/// Sets up dom0 to serve the grant test of every guest of a run: the
/// helper and the responder go into dom0 (the returned plan's files), the
/// responder starts in the background before the first guest, and its log
/// is printed once the guests have ended (`options.dom0`).
pub fn serve(options: &mut XenOptions) -> Result<RunPlan, String> {
    let peek = build(crate::workspace())?;
    let responder = include_str!("../../xen/grant-responder.sh")
        .as_bytes()
        .to_vec();
    options.dom0.push(Dom0Command {
        when: Dom0Point::Start,
        command: format!("sh {RESPONDER} </dev/null >{LOG} 2>&1 &"),
    });
    options.dom0.push(Dom0Command {
        when: Dom0Point::End,
        command: format!("cat {LOG}"),
    });
    Ok(RunPlan {
        script: None,
        files: vec![(PEEK.to_string(), peek), (RESPONDER.to_string(), responder)],
    })
}

/// Builds the helper (quickly, when it is up to date) and returns it.
fn build(workspace: &Path) -> Result<Vec<u8>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(workspace)
        .args(["rustc", "-q", "--release", "-p", "virtus-grant-peek"])
        .args(["--bin", "virtus-grant-peek", "--target", TARGET, "--"])
        // glibc's static libraries (libc6-dev) link it whole; no symbols
        // or debug info: dom0's root is a tmpfs in its RAM.
        .args(["-C", "target-feature=+crt-static", "-C", "strip=symbols"])
        .args(["-C", "debuginfo=0"])
        .output()
        .map_err(|e| format!("cannot run cargo to build virtus-grant-peek: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building virtus-grant-peek for dom0 failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let path = workspace.join(format!("target/{TARGET}/release/virtus-grant-peek"));
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !is_static(&bytes) {
        return Err(format!(
            "{} is not statically linked: it would not run in dom0",
            path.display()
        ));
    }
    Ok(bytes)
}

/// Whether an ELF64 file has no program interpreter (PT_INTERP): nothing
/// to load before it, so it runs whatever libraries dom0 has.
fn is_static(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let word = |at: usize, n: usize| -> Option<u64> {
        let bytes = elf.get(at..at + n)?;
        Some(bytes.iter().rev().fold(0, |v, &b| v << 8 | u64::from(b)))
    };
    let header = || -> Option<bool> {
        if elf.get(..5)? != b"\x7fELF\x02" {
            return Some(false);
        }
        let (phoff, phentsize, phnum) = (word(0x20, 8)?, word(0x36, 2)?, word(0x38, 2)?);
        for i in 0..phnum {
            let at = usize::try_from(phoff + i * phentsize).ok()?;
            if word(at, 4)? == u64::from(PT_INTERP) {
                return Some(false);
            }
        }
        Some(true)
    };
    header().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_means_no_interpreter() {
        // This test binary is dynamically linked: it has PT_INTERP.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(!is_static(&me));
        assert!(!is_static(b"not an ELF"));
        // A minimal ELF64 header with one PT_LOAD program header.
        let mut elf = vec![0u8; 0x40 + 0x38];
        elf[..5].copy_from_slice(b"\x7fELF\x02");
        elf[0x20] = 0x40;
        elf[0x36] = 0x38;
        elf[0x38] = 1;
        elf[0x40] = 1;
        assert!(is_static(&elf));
        elf[0x40] = 3;
        assert!(!is_static(&elf));
    }
}
