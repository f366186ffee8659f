use super::*;
use crate::proc::fixtures::{MODE_DIR, MODE_FILE, NewcBuilder};
use std::io::Cursor;
use std::vec::Vec;

/// The shape the build produces: a directory, programs under `bin/`.
fn sample() -> Vec<u8> {
    NewcBuilder::new()
        .dir("bin")
        .file("bin/hello", b"\x7fELF hello")
        .file("bin/sh", b"shell!")
        .file("./motd", b"")
        .finish()
}

/// An archive written by the `cpio` crate, an encoder independent of ours.
fn from_cpio_crate(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let inputs = files.iter().map(|&(name, mode, data)| {
        (
            cpio::NewcBuilder::new(name).mode(mode),
            Cursor::new(data.to_vec()),
        )
    });
    cpio::write_cpio(inputs, Vec::new()).unwrap()
}

#[test]
fn reads_an_archive_from_an_independent_encoder() {
    let bytes = from_cpio_crate(&[
        ("bin", MODE_DIR, b""),
        ("bin/hello", MODE_FILE, b"12345"),
        ("bin/spin", MODE_FILE, &[7u8; 1001]),
        ("/etc/x", 0o100_644, b"abc"),
    ]);
    let archive = Archive::parse(&bytes).unwrap();
    let entries: Vec<_> = archive.entries().collect();
    assert_eq!(entries.len(), 3);
    assert_eq!(archive.len(), 3);
    assert_eq!(
        entries[0],
        Entry {
            name: "bin/hello",
            data: b"12345",
            mode: MODE_FILE
        }
    );
    assert_eq!(entries[1].data, &[7u8; 1001][..]);
    assert_eq!(entries[2].program_name(), "etc/x");
    assert_eq!(archive.find("hello"), Some(&b"12345"[..]));
    assert_eq!(archive.find("spin").map(<[u8]>::len), Some(1001));
    assert_eq!(archive.find("bin"), None, "directories are not programs");
}

#[test]
fn program_names_drop_a_leading_slash_dot_slash_and_bin() {
    assert_eq!(program_name("bin/hello"), "hello");
    assert_eq!(program_name("/bin/hello"), "hello");
    assert_eq!(program_name("./bin/hello"), "hello");
    assert_eq!(program_name("hello"), "hello");
    assert_eq!(program_name("sbin/x"), "sbin/x");
    assert_eq!(program_name("bin/sub/x"), "sub/x");
    let bytes = sample();
    let archive = Archive::parse(&bytes).unwrap();
    assert_eq!(archive.find("sh"), Some(&b"shell!"[..]));
    assert_eq!(archive.find("motd"), Some(&b""[..]));
    assert_eq!(archive.find("bin/sh"), None);
    assert_eq!(archive.find(""), None);
    assert_eq!(archive.find("nope"), None);
}

#[test]
fn empty_archive_is_just_a_trailer() {
    let bytes = NewcBuilder::new().finish();
    let archive = Archive::parse(&bytes).unwrap();
    assert!(archive.is_empty());
    assert_eq!(archive.entries().count(), 0);
}

#[test]
fn missing_trailer_is_an_error() {
    let bytes = NewcBuilder::new().file("a", b"xyz").unterminated();
    let len = bytes.len();
    assert_eq!(
        Archive::parse(&bytes).unwrap_err(),
        ArchiveError::NoTrailer { offset: len }
    );
    assert_eq!(
        Archive::parse(&[]).unwrap_err(),
        ArchiveError::NoTrailer { offset: 0 }
    );
}

#[test]
fn truncated_header_is_an_error() {
    let bytes = sample();
    let cut = &bytes[..50];
    assert_eq!(
        Archive::parse(cut).unwrap_err(),
        ArchiveError::HeaderTruncated {
            offset: 0,
            available: 50
        }
    );
}

#[test]
fn bad_magic_is_named_with_the_bytes() {
    let mut bytes = sample();
    bytes[5] = b'7'; // 070707: the old portable format
    let err = Archive::parse(&bytes).unwrap_err();
    assert_eq!(
        err,
        ArchiveError::BadMagic {
            offset: 0,
            found: *b"070707"
        }
    );
    assert!(err.to_string().contains("070707"));
}

#[test]
fn non_hex_field_is_named() {
    let mut bytes = sample();
    // c_filesize of the first entry: after the magic and six fields.
    bytes[6 + 6 * 8 + 3] = b'g';
    let err = Archive::parse(&bytes).unwrap_err();
    assert_eq!(
        err,
        ArchiveError::BadHexField {
            offset: 0,
            field: "c_filesize"
        }
    );
    assert_eq!(
        err.to_string(),
        "cpio header at offset 0: field c_filesize is not 8 hex digits"
    );
    // A sign or a space is not a hex digit either.
    let mut bytes = sample();
    bytes[6 + 11 * 8] = b'+';
    assert_eq!(
        Archive::parse(&bytes).unwrap_err(),
        ArchiveError::BadHexField {
            offset: 0,
            field: "c_namesize"
        }
    );
}

/// Overwrite field `index` of the header at `offset` with `value`.
fn set_field(bytes: &mut [u8], offset: usize, index: usize, value: u32) {
    let at = offset + 6 + 8 * index;
    bytes[at..at + 8].copy_from_slice(std::format!("{value:08x}").as_bytes());
}

#[test]
fn name_sizes_are_bounded_and_checked() {
    for bad in [0, MAX_NAME as u32 + 1, u32::MAX] {
        let mut bytes = sample();
        set_field(&mut bytes, 0, NAMESIZE, bad);
        assert_eq!(
            Archive::parse(&bytes).unwrap_err(),
            ArchiveError::BadNameSize {
                offset: 0,
                namesize: bad
            }
        );
    }
    // "bin" plus NUL is 4: 3 makes the last byte 'n', not NUL.
    let mut bytes = sample();
    set_field(&mut bytes, 0, NAMESIZE, 3);
    assert_eq!(
        Archive::parse(&bytes).unwrap_err(),
        ArchiveError::NameNotTerminated { offset: 0 }
    );
    // A name running past the end of the archive.
    let bytes = NewcBuilder::new().file("abc", b"").unterminated();
    let mut short = bytes[..HEADER_LEN + 2].to_vec();
    set_field(&mut short, 0, NAMESIZE, 4);
    assert_eq!(
        Archive::parse(&short).unwrap_err(),
        ArchiveError::PastEnd {
            offset: 0,
            field: "c_namesize",
            size: 4,
            len: HEADER_LEN + 2
        }
    );
}

#[test]
fn names_with_nul_or_invalid_utf8_are_refused() {
    let mut bytes = NewcBuilder::new().file("ab/cd", b"x").finish();
    bytes[HEADER_LEN + 2] = 0;
    assert_eq!(
        Archive::parse(&bytes).unwrap_err(),
        ArchiveError::NameHasNul { offset: 0 }
    );
    bytes[HEADER_LEN + 2] = 0xff;
    assert_eq!(
        Archive::parse(&bytes).unwrap_err(),
        ArchiveError::NameNotUtf8 { offset: 0 }
    );
}

#[test]
fn data_past_the_end_is_an_error_and_huge_sizes_do_not_overflow() {
    let bytes = sample();
    // The second entry ("bin/hello") starts after the "bin" directory:
    // header, "bin\0" (already 4-aligned after 110 + 4 = 114 -> 116).
    let second = (HEADER_LEN + 4).next_multiple_of(4);
    for size in [0x1000_0000, u32::MAX] {
        let mut bad = bytes.clone();
        set_field(&mut bad, second, FILESIZE, size);
        assert_eq!(
            Archive::parse(&bad).unwrap_err(),
            ArchiveError::PastEnd {
                offset: second,
                field: "c_filesize",
                size,
                len: bytes.len()
            }
        );
    }
}

#[test]
fn entry_count_is_bounded() {
    let mut builder = NewcBuilder::new();
    for i in 0..MAX_ENTRIES {
        builder = builder.file(&std::format!("f{i}"), b"");
    }
    assert_eq!(
        Archive::parse(&builder.clone().finish()).unwrap().len(),
        MAX_ENTRIES
    );
    let bytes = builder.file("one-too-many", b"").finish();
    assert!(matches!(
        Archive::parse(&bytes).unwrap_err(),
        ArchiveError::TooManyEntries { .. }
    ));
}

#[test]
fn duplicate_program_names_are_refused() {
    let bytes = NewcBuilder::new()
        .file("bin/hello", b"1")
        .file("hello", b"2")
        .finish();
    let second = HEADER_LEN + "bin/hello\0".len();
    let second = second.next_multiple_of(4) + 4;
    assert_eq!(
        Archive::parse(&bytes).unwrap_err(),
        ArchiveError::DuplicateName {
            offset: second,
            first: 0
        }
    );
    // A directory and a file of the same name are fine.
    let bytes = NewcBuilder::new().dir("x").file("x", b"1").finish();
    assert_eq!(Archive::parse(&bytes).unwrap().find("x"), Some(&b"1"[..]));
}

#[test]
fn only_regular_files_are_entries() {
    let bytes = NewcBuilder::new()
        .entry("link", 0o120_777, b"target")
        .entry("dev", 0o020_644, b"")
        .file("f", b"data")
        .finish();
    let archive = Archive::parse(&bytes).unwrap();
    let names: Vec<_> = archive.entries().map(|e| e.name).collect();
    assert_eq!(names, ["f"]);
    assert_eq!(archive.find("link"), None);
}

#[test]
fn bytes_after_the_trailer_are_ignored() {
    let mut bytes = sample();
    bytes.extend_from_slice(b"garbage after the trailer");
    assert_eq!(Archive::parse(&bytes).unwrap().len(), 3);
}

#[test]
fn every_truncation_of_a_valid_archive_is_refused_cleanly() {
    let bytes = sample();
    // The trailer entry ends before the 512-byte padding.
    let trailer_end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    for len in 0..trailer_end {
        assert!(Archive::parse(&bytes[..len]).is_err(), "cut at {len}");
    }
}
