//! The ramdisk read back two independent ways: a strict newc reader written
//! here from the format's definition (magic, eight-digit hex fields, the
//! name's NUL, 4-byte alignment of every header and every file, the
//! TRAILER!!! entry, nothing after it but padding), and GNU cpio unpacking
//! it (see xen/cpio_tests.rs). And the ELF checks, on headers built here.

use std::fs;

use super::*;
use crate::xen::cpio::tests::Unpacked;

/// One entry of a newc archive.
#[derive(Debug, PartialEq)]
struct Entry {
    name: String,
    mode: u32,
    data: Vec<u8>,
}

fn hex(field: &[u8]) -> u32 {
    u32::from_str_radix(std::str::from_utf8(field).unwrap(), 16).unwrap()
}

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Every entry before the trailer, checking the layout on the way.
fn parse_newc(archive: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut at = 0;
    loop {
        assert_eq!(at % 4, 0, "a header at {at} is not 4-byte aligned");
        let header = &archive[at..at + 110];
        assert_eq!(&header[..6], b"070701", "magic at {at}");
        let field = |i: usize| hex(&header[6 + 8 * i..14 + 8 * i]);
        let (mode, filesize, namesize) = (field(1), field(6) as usize, field(11) as usize);
        assert_eq!(field(12), 0, "check field");
        let name_bytes = &archive[at + 110..at + 110 + namesize];
        assert_eq!(name_bytes.last(), Some(&0), "name without its NUL");
        let name = std::str::from_utf8(&name_bytes[..namesize - 1])
            .unwrap()
            .to_string();
        let data_at = align4(at + 110 + namesize);
        assert!(
            archive[at + 110 + namesize..data_at]
                .iter()
                .all(|&b| b == 0)
        );
        let data = archive[data_at..data_at + filesize].to_vec();
        let next = align4(data_at + filesize);
        assert!(archive[data_at + filesize..next].iter().all(|&b| b == 0));
        at = next;
        if name == "TRAILER!!!" {
            assert_eq!((mode, filesize), (0, 0));
            assert!(
                archive[at..].iter().all(|&b| b == 0),
                "bytes after the trailer"
            );
            return entries;
        }
        entries.push(Entry { name, mode, data });
    }
}

/// A minimal static ELF64 x86_64 executable: the 64-byte header, then one
/// program header per `(type, flags, vaddr, memsz)` whose file part is the
/// file's first 400 bytes (or memsz if smaller), and padding to hold them.
fn elf(e_type: u16, segments: &[(u32, u32, u64, u64)]) -> Vec<u8> {
    let mut bytes = vec![0u8; 64];
    bytes[..4].copy_from_slice(b"\x7fELF");
    bytes[4] = 2; // ELFCLASS64
    bytes[5] = 1; // little endian
    bytes[6] = 1; // EV_CURRENT
    bytes[16..18].copy_from_slice(&e_type.to_le_bytes());
    bytes[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    bytes[20..24].copy_from_slice(&1u32.to_le_bytes());
    bytes[24..32].copy_from_slice(&USER_START.to_le_bytes()); // e_entry
    bytes[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    bytes[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    bytes[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    bytes[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
    for &(kind, flags, vaddr, memsz) in segments {
        let mut ph = vec![0u8; 56];
        ph[..4].copy_from_slice(&kind.to_le_bytes());
        ph[4..8].copy_from_slice(&flags.to_le_bytes());
        ph[16..24].copy_from_slice(&vaddr.to_le_bytes());
        ph[24..32].copy_from_slice(&vaddr.to_le_bytes());
        ph[32..40].copy_from_slice(&memsz.min(400).to_le_bytes()); // p_filesz
        ph[40..48].copy_from_slice(&memsz.to_le_bytes());
        ph[48..56].copy_from_slice(&4096u64.to_le_bytes());
        bytes.extend(ph);
    }
    bytes.extend(std::iter::repeat_n(0x90, 300));
    bytes
}

const RX: u32 = PF_X | 4;
const RW: u32 = PF_W | 4;

fn hello() -> Vec<u8> {
    elf(
        ET_EXEC,
        &[
            (PT_LOAD, RX, USER_START, 0x1000),
            (PT_LOAD, RW, USER_START + 0x1000, 0x10),
        ],
    )
}

fn program(name: &str, bytes: Vec<u8>) -> Program {
    Program {
        name: name.into(),
        bytes,
    }
}

#[test]
fn the_archive_reads_back_with_every_program_and_the_malformed_pair() {
    let spin = elf(ET_EXEC, &[(PT_LOAD, RX, USER_START, 0x2000)]);
    let archive = pack(&[program("hello", hello()), program("spin", spin.clone())]).unwrap();
    let entries = parse_newc(&archive);
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bin",
            "bin/hello",
            "bin/spin",
            "bin/bad-truncated",
            "bin/bad-machine"
        ]
    );
    assert_eq!(entries[0].mode & 0o170000, 0o040000, "bin/ is a directory");
    for entry in &entries[1..] {
        assert_eq!(
            entry.mode, 0o100755,
            "{}: a regular executable file",
            entry.name
        );
    }
    assert_eq!(entries[1].data, hello());
    assert_eq!(entries[2].data, spin);
    assert_eq!(entries[3].data, hello()[..TRUNCATED_LEN]);
    let machine = &entries[4].data;
    assert_eq!(machine.len(), hello().len());
    assert_eq!(u16::from_le_bytes([machine[18], machine[19]]), 3, "EM_386");
    assert_eq!(machine[20..], hello()[20..]);
    assert!(check_program(machine).is_err());
    assert!(check_program(&entries[3].data).is_err());
}

#[test]
fn gnu_cpio_unpacks_the_same_files() {
    let odd = elf(ET_EXEC, &[(PT_LOAD, RX, USER_START, 0x100)])[..333].to_vec();
    let archive = pack(&[
        program("hello", hello()),
        program("odd-length", odd.clone()),
    ])
    .unwrap();
    let dir = Unpacked::new(&archive);
    assert_eq!(fs::read(dir.0.join("bin/hello")).unwrap(), hello());
    assert_eq!(fs::read(dir.0.join("bin/odd-length")).unwrap(), odd);
    let truncated = fs::read(dir.0.join("bin/bad-truncated")).unwrap();
    assert_eq!(truncated.len(), TRUNCATED_LEN);
}

#[test]
fn the_malformed_pair_needs_hello() {
    let error = pack(&[program("spin", hello())]).err().unwrap();
    assert!(error.contains("hello"), "{error}");
}

#[test]
fn programs_that_break_the_abi_are_refused_by_name() {
    let cases = [
        (
            "pie",
            elf(3 /* ET_DYN */, &[(PT_LOAD, RX, USER_START, 0x1000)]),
            "ET_EXEC",
        ),
        (
            "wx",
            elf(ET_EXEC, &[(PT_LOAD, RX | PF_W, USER_START, 0x1000)]),
            "writable and executable",
        ),
        (
            "dynamic",
            elf(
                ET_EXEC,
                &[(PT_LOAD, RX, USER_START, 0x1000), (PT_DYNAMIC, RW, 0, 0)],
            ),
            "dynamically",
        ),
        (
            "low",
            elf(ET_EXEC, &[(PT_LOAD, RX, 0x40_0000, 0x1000)]),
            "user space",
        ),
        (
            "kernel",
            elf(ET_EXEC, &[(PT_LOAD, RX, 0xffff_8000_0000_0000, 0x1000)]),
            "user space",
        ),
        (
            "unaligned",
            elf(ET_EXEC, &[(PT_LOAD, RX, USER_START + 8, 0x1000)]),
            "page aligned",
        ),
        (
            "wraps",
            elf(ET_EXEC, &[(PT_LOAD, RX, USER_START, u64::MAX)]),
            "user space",
        ),
        ("empty", elf(ET_EXEC, &[]), "no PT_LOAD"),
        (
            "cut",
            elf(ET_EXEC, &[(PT_LOAD, RX, USER_START, 0x1000)])[..399].to_vec(),
            "past the end",
        ),
    ];
    for (name, bytes, problem) in cases {
        let error = pack(&[program("hello", hello()), program(name, bytes)]).err();
        let error = error.unwrap_or_else(|| panic!("{name} was packed"));
        assert!(error.starts_with(&format!("{name}: ")), "{error}");
        assert!(error.contains(problem), "{name}: {error}");
    }
    assert_eq!(check_program(&hello()), Ok(()));
}

#[test]
fn a_missing_ramdisk_says_how_to_make_it() {
    let missing = Path::new("/nonexistent/virtus-ramdisk.cpio");
    let error = resolve(Some(missing)).unwrap_err();
    assert!(
        error.contains("/nonexistent/virtus-ramdisk.cpio not found"),
        "{error}"
    );
    if !default_path().exists() {
        assert!(resolve(None).unwrap_err().contains("`make build` makes it"));
    }
}
