//! Archives read back by GNU cpio (a host package the bed needs anyway,
//! installed by tools/ensure-deps): an independent reader, as strict about
//! the layout as the kernel's unpacker.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

fn archive(build: impl FnOnce(&mut Archive<Vec<u8>>)) -> Vec<u8> {
    let mut writer = Archive::new(Vec::new());
    build(&mut writer);
    writer.finish().unwrap()
}

/// `cpio` with `args` in `dir`, the archive on its stdin; its stdout, and
/// a failure on any complaint.
fn gnu_cpio(args: &[&str], dir: &Path, archive: &[u8]) -> String {
    let mut child = Command::new("cpio")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("GNU cpio is installed (tools/ensure-deps installs it)");
    child.stdin.take().unwrap().write_all(archive).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "cpio: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// The archive unpacked into a fresh directory, removed when dropped.
pub(crate) struct Unpacked(pub(crate) PathBuf);

impl Unpacked {
    pub(crate) fn new(archive: &[u8]) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("virtus-cpio-{}-{n}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        gnu_cpio(&["-i", "-d", "--quiet"], &dir, archive);
        Self(dir)
    }
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn listing(archive: &[u8]) -> Vec<String> {
    let text = gnu_cpio(&["-t", "--quiet"], Path::new("/"), archive);
    text.lines().map(String::from).collect()
}

#[test]
fn directories_come_first_and_once() {
    let bytes = archive(|w| {
        w.file("/virtus-run/script.sh", 0o755, b"#!/bin/sh\n")
            .unwrap();
        w.file("/virtus-run/guests/a.cfg", 0o644, b"name = \"a\"\n")
            .unwrap();
        w.file("virtus-run/guests/a.elf", 0o644, b"\x7fELF")
            .unwrap();
        w.symlink("virtus-run/guests/b.elf", "a.elf").unwrap();
    });
    assert_eq!(
        listing(&bytes),
        [
            "virtus-run",
            "virtus-run/script.sh",
            "virtus-run/guests",
            "virtus-run/guests/a.cfg",
            "virtus-run/guests/a.elf",
            "virtus-run/guests/b.elf",
        ]
    );
}

#[test]
fn files_links_and_modes_unpack_as_written() {
    let bytes = archive(|w| {
        w.file("d/run.sh", 0o755, b"#!/bin/sh\n").unwrap();
        w.file("d/e/data", 0o640, b"twelve bytes").unwrap();
        w.file_from("d/e/streamed", 0o644, 5, &b"12345"[..])
            .unwrap();
        w.symlink("d/link", "e/data").unwrap();
    });
    let dir = Unpacked::new(&bytes);
    let at = |path: &str| dir.0.join(path);
    let mode = |path: &str| fs::metadata(at(path)).unwrap().permissions().mode();
    assert_eq!(fs::read(at("d/run.sh")).unwrap(), b"#!/bin/sh\n");
    assert_eq!(mode("d/run.sh"), 0o100755);
    assert_eq!(mode("d/e/data"), 0o100640);
    assert_eq!(mode("d/e"), 0o040755);
    assert_eq!(fs::read(at("d/e/streamed")).unwrap(), b"12345");
    assert_eq!(fs::read_link(at("d/link")).unwrap(), Path::new("e/data"));
    assert_eq!(fs::read(at("d/link")).unwrap(), b"twelve bytes");
}

#[test]
fn names_and_data_of_every_length_stay_aligned() {
    let bytes = archive(|w| {
        for name_len in 1..=5 {
            for data_len in 0..=5 {
                let name = format!("{}{data_len}", "n".repeat(name_len));
                w.file(&name, 0o600, &vec![b'a' + data_len; data_len.into()])
                    .unwrap();
            }
        }
    });
    assert_eq!(bytes.len() % 4, 0);
    let dir = Unpacked::new(&bytes);
    for name_len in 1..=5 {
        for data_len in 0..=5u8 {
            let name = format!("{}{data_len}", "n".repeat(name_len));
            let data = fs::read(dir.0.join(&name)).unwrap();
            assert_eq!(data, vec![b'a' + data_len; data_len.into()], "{name}");
        }
    }
}

#[test]
fn an_empty_archive_is_the_trailer_alone() {
    let bytes = archive(|_| {});
    assert!(listing(&bytes).is_empty());
    assert!(bytes.starts_with(b"070701"));
    // 110 bytes of header and 11 of name, padded to 124.
    assert_eq!(bytes.len(), 124);
}

#[test]
fn bad_duplicate_and_short_entries_are_refused() {
    let mut writer = Archive::new(Vec::new());
    for bad in ["", "/", "a/../b", "a//b", "./a", "TRAILER!!!"] {
        assert!(writer.file(bad, 0o644, b"").is_err(), "{bad:?}");
    }
    writer.file("x/y", 0o644, b"").unwrap();
    assert!(writer.file("/x/y", 0o644, b"").is_err());
    assert!(writer.symlink("x", "y").is_err());
    let short = writer.file_from("z", 0o644, 10, &b"only7by"[..]);
    assert!(short.unwrap_err().to_string().contains("7 of 10 bytes"));
}
