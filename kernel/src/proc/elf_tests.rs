use super::*;
use crate::proc::fixtures::{
    ElfBuilder, PF_R, PF_W, PF_X, PT_DYNAMIC, PT_INTERP, PT_LOAD, PT_NOTE, Phdr,
};
use std::vec::Vec;

/// The ABI's user range (user/ABI.md).
const USER: Range<u64> = 0x0000_1000_0000_0000..0x0000_7fff_0000_0000;
const BASE: u64 = 0x0000_1000_0000_0000;

fn plan_of(b: &ElfBuilder) -> Result<LoadPlan, ElfError> {
    plan(&b.build(), USER)
}

fn err_of(b: &ElfBuilder) -> ElfError {
    plan_of(b).unwrap_err()
}

#[test]
fn a_static_executable_gives_the_exact_plan() {
    let plan = plan_of(&ElfBuilder::hello()).unwrap();
    assert_eq!(
        plan,
        LoadPlan {
            entry: 0x0000_1000_0000_1010,
            segments: std::vec![
                Segment {
                    vaddr: 0x0000_1000_0000_1000,
                    mem_size: 0x123,
                    file_offset: 0x1000,
                    file_size: 0x123,
                    writable: false,
                    executable: true,
                },
                Segment {
                    vaddr: 0x0000_1000_0000_2000,
                    mem_size: 0x3000,
                    file_offset: 0x2000,
                    file_size: 0x40,
                    writable: true,
                    executable: false,
                },
            ],
        }
    );
    assert_eq!(
        plan.segments[1].pages(),
        0x0000_1000_0000_2000..0x0000_1000_0000_5000
    );
}

#[test]
fn a_file_only_4_byte_aligned_in_memory_is_read() {
    // In a cpio archive a file's data is only 4-byte aligned: xmas-elf
    // would assert on the 8-byte alignment of its header structs.
    let file = ElfBuilder::hello().build();
    let mut storage: Vec<u64> = std::vec![0; file.len() / 8 + 2];
    let bytes: &mut [u8] = bytemuck_like(&mut storage);
    bytes[4..4 + file.len()].copy_from_slice(&file);
    let shifted = &bytes[4..4 + file.len()];
    assert_eq!(shifted.as_ptr() as usize % 8, 4);
    assert_eq!(plan(shifted, USER), plan(&file, USER));
    assert!(plan(shifted, USER).is_ok());
}

/// A byte view of `u64` storage, for the alignment test only.
fn bytemuck_like(words: &mut [u64]) -> &mut [u8] {
    let len = words.len() * 8;
    // SAFETY: u64 storage is valid as bytes, the length is the same memory,
    // and the borrow of `words` is carried over.
    unsafe { core::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

#[test]
fn misaligned_segment_offsets_still_work_when_congruent() {
    // p_vaddr and p_offset agree modulo 4096 without being page-aligned.
    let mut b = ElfBuilder::hello();
    b.phdrs[0] = Phdr::load(PF_R | PF_X, 0x1010, BASE + 0x1010, 0x100, 0x100);
    b.entry = BASE + 0x1010;
    let plan = plan_of(&b).unwrap();
    assert_eq!(plan.segments[0].pages(), BASE + 0x1000..BASE + 0x2000);
}

#[test]
fn too_short_files_are_refused() {
    let file = ElfBuilder::hello().build();
    assert_eq!(plan(&file[..63], USER), Err(ElfError::TooShort { len: 63 }));
    assert_eq!(plan(&[], USER), Err(ElfError::TooShort { len: 0 }));
}

#[test]
fn bad_magic_is_refused() {
    let mut file = ElfBuilder::hello().build();
    file[1] = b'X';
    assert_eq!(
        plan(&file, USER),
        Err(ElfError::BadMagic { found: *b"\x7fXLF" })
    );
}

#[test]
fn class_data_and_version_are_checked() {
    let mut b = ElfBuilder::hello();
    b.class = 1;
    assert_eq!(err_of(&b), ElfError::NotElf64 { class: 1 });
    let mut b = ElfBuilder::hello();
    b.data = 2;
    assert_eq!(err_of(&b), ElfError::NotLittleEndian { data: 2 });
    let mut b = ElfBuilder::hello();
    b.ident_version = 0;
    assert_eq!(
        err_of(&b),
        ElfError::BadVersion {
            ident: 0,
            version: 1
        }
    );
    let mut b = ElfBuilder::hello();
    b.version = 2;
    assert_eq!(
        err_of(&b),
        ElfError::BadVersion {
            ident: 1,
            version: 2
        }
    );
}

#[test]
fn wrong_machine_is_named() {
    let mut b = ElfBuilder::hello();
    b.machine = 183; // AArch64
    let err = err_of(&b);
    assert_eq!(err, ElfError::WrongMachine { machine: 183 });
    assert_eq!(err.to_string(), "e_machine is 183, expected 62 (x86_64)");
}

#[test]
fn only_et_exec_is_taken_and_et_dyn_says_why() {
    let mut b = ElfBuilder::hello();
    b.e_type = 3;
    let err = err_of(&b);
    assert_eq!(err, ElfError::PositionIndependent);
    assert!(err.to_string().contains("relocation is not supported"));
    b.e_type = 1;
    assert_eq!(err_of(&b), ElfError::NotExecutable { e_type: 1 });
    b.e_type = 0xfe00;
    assert_eq!(err_of(&b), ElfError::NotExecutable { e_type: 0xfe00 });
}

#[test]
fn program_header_entry_size_must_be_56() {
    for size in [0, 32, 55, 57, 64, u16::MAX] {
        let mut b = ElfBuilder::hello();
        b.phentsize = size;
        assert_eq!(err_of(&b), ElfError::BadProgramHeaderSize { size });
    }
}

#[test]
fn program_header_count_is_bounded() {
    let mut b = ElfBuilder::hello();
    b.phnum = Some(65);
    assert_eq!(err_of(&b), ElfError::TooManyProgramHeaders { count: 65 });
    b.phnum = Some(u16::MAX);
    assert_eq!(
        err_of(&b),
        ElfError::TooManyProgramHeaders { count: u16::MAX }
    );
    b.phnum = Some(0);
    assert_eq!(err_of(&b), ElfError::NoLoadSegment);
}

#[test]
fn program_header_table_must_be_aligned_and_inside_the_file() {
    let mut b = ElfBuilder::hello();
    b.phoff = 68;
    assert_eq!(
        err_of(&b),
        ElfError::ProgramHeadersMisaligned { offset: 68 }
    );
    // Table cut by the end of the file.
    let file = ElfBuilder::hello().build();
    let cut = 64 + 3 * 56 - 1;
    assert_eq!(
        plan(&file[..cut], USER),
        Err(ElfError::ProgramHeadersTruncated {
            offset: 64,
            count: 3,
            len: cut
        })
    );
    // An offset whose end overflows, and one pointing into the header.
    let mut file = ElfBuilder::hello().build();
    file[32..40].copy_from_slice(&(u64::MAX - 7).to_le_bytes());
    assert!(matches!(
        plan(&file, USER),
        Err(ElfError::ProgramHeadersTruncated { .. })
    ));
    file[32..40].copy_from_slice(&0u64.to_le_bytes());
    assert!(matches!(
        plan(&file, USER),
        Err(ElfError::ProgramHeadersTruncated { offset: 0, .. })
    ));
}

#[test]
fn load_segments_are_bounded() {
    let mut b = ElfBuilder::hello();
    b.phdrs.clear();
    for i in 0..17u64 {
        let at = 0x1000 * (i + 1);
        b.phdrs
            .push(Phdr::load(PF_R | PF_X, at, BASE + at, 0x10, 0x10));
    }
    b.entry = BASE + 0x1000;
    b.len = 0x1000 * 18;
    assert_eq!(err_of(&b), ElfError::TooManyLoadSegments { count: 17 });
    b.phdrs.pop();
    assert_eq!(plan_of(&b).unwrap().segments.len(), 16);
}

#[test]
fn interpreter_and_dynamic_are_refused() {
    let mut b = ElfBuilder::hello();
    b.phdrs[2].p_type = PT_INTERP;
    let err = err_of(&b);
    assert_eq!(err, ElfError::Interpreter { index: 2 });
    assert!(err.to_string().contains("only static executables"));
    b.phdrs[2].p_type = PT_DYNAMIC;
    assert_eq!(err_of(&b), ElfError::Dynamic { index: 2 });
    // Other types are ignored.
    b.phdrs[2].p_type = PT_NOTE;
    assert!(plan_of(&b).is_ok());
    b.phdrs[2].p_type = 0x4000_0000; // unknown, not OS- or CPU-specific
    assert!(plan_of(&b).is_ok());
}

#[test]
fn file_size_above_mem_size_is_refused() {
    let mut b = ElfBuilder::hello();
    b.phdrs[1].file_size = 0x3001;
    assert_eq!(
        err_of(&b),
        ElfError::FileSizeAboveMemSize {
            index: 1,
            file_size: 0x3001,
            mem_size: 0x3000
        }
    );
}

#[test]
fn file_ranges_must_lie_inside_the_file() {
    let mut b = ElfBuilder::hello();
    b.phdrs[1].file_size = 0x41; // the file ends at 0x2040
    assert_eq!(
        err_of(&b),
        ElfError::FileRangeOutside {
            index: 1,
            offset: 0x2000,
            file_size: 0x41,
            len: 0x2040
        }
    );
    // Overflowing offset + size; the vaddr keeps the congruence.
    let mut b = ElfBuilder::hello();
    b.phdrs[1].offset = u64::MAX - 0xfff;
    b.phdrs[1].mem_size = u64::MAX;
    b.phdrs[1].file_size = 0x2000;
    assert!(matches!(
        err_of(&b),
        ElfError::FileRangeOutside { index: 1, .. }
    ));
}

#[test]
fn segments_must_lie_inside_user_space() {
    for (vaddr, mem_size) in [
        (0, 0x1000),                     // page 0
        (0x20_0000, 0x1000),             // the kernel's identity map
        (USER.start - 0x1000, 0x2000),   // straddles the start
        (USER.end - 0x1000, 0x2000),     // straddles the end
        (0xffff_8000_0000_0000, 0x1000), // the kernel half
        (u64::MAX - 0xfff, 0x2000),      // wraps around
    ] {
        let mut b = ElfBuilder::hello();
        b.phdrs[1].vaddr = vaddr;
        b.phdrs[1].mem_size = mem_size;
        b.phdrs[1].file_size = 0x40;
        assert_eq!(
            err_of(&b),
            ElfError::OutsideUser {
                index: 1,
                vaddr,
                mem_size
            },
            "{vaddr:#x}"
        );
    }
    // The last page of user space is fine.
    let mut b = ElfBuilder::hello();
    b.phdrs[1].vaddr = USER.end - 0x1000;
    b.phdrs[1].mem_size = 0x1000;
    assert!(plan_of(&b).is_ok());
}

#[test]
fn vaddr_and_offset_must_agree_modulo_the_page_size() {
    let mut b = ElfBuilder::hello();
    b.phdrs[1].vaddr = BASE + 0x2008;
    assert_eq!(
        err_of(&b),
        ElfError::Misaligned {
            index: 1,
            vaddr: BASE + 0x2008,
            offset: 0x2000
        }
    );
}

#[test]
fn segments_sharing_a_page_are_refused() {
    // Data starting in the text's last page: disjoint bytes, shared page.
    let mut b = ElfBuilder::hello();
    b.phdrs[1].vaddr = BASE + 0x1800;
    b.phdrs[1].offset = 0x1800;
    assert_eq!(err_of(&b), ElfError::Overlap { index: 1, other: 0 });
    // Fully identical segments.
    let mut b = ElfBuilder::hello();
    b.phdrs[1] = b.phdrs[0];
    assert_eq!(err_of(&b), ElfError::Overlap { index: 1, other: 0 });
}

#[test]
fn writable_and_executable_is_refused() {
    let mut b = ElfBuilder::hello();
    b.phdrs[0].flags = PF_R | PF_W | PF_X;
    assert_eq!(err_of(&b), ElfError::WritableAndExecutable { index: 0 });
}

#[test]
fn empty_segments_are_skipped() {
    let mut b = ElfBuilder::hello();
    b.phdrs.push(Phdr::load(PF_R, 0x7777_0000, 3, 0, 0));
    assert_eq!(plan_of(&b).unwrap().segments.len(), 2);
}

#[test]
fn total_memory_is_bounded() {
    let mut b = ElfBuilder::hello();
    b.phdrs[1].mem_size = MAX_TOTAL_MEMORY; // plus the text page
    assert_eq!(
        err_of(&b),
        ElfError::TooLarge {
            total: MAX_TOTAL_MEMORY + 0x1000
        }
    );
    b.phdrs[1].mem_size = MAX_TOTAL_MEMORY - 0x1000;
    assert!(plan_of(&b).is_ok());
}

#[test]
fn entry_must_be_in_an_executable_segment() {
    for entry in [0, BASE + 0x2000, BASE + 0x1123, BASE + 0x1fff, u64::MAX] {
        let mut b = ElfBuilder::hello();
        b.entry = entry;
        assert_eq!(err_of(&b), ElfError::EntryNotExecutable { entry });
    }
    let mut b = ElfBuilder::hello();
    b.entry = BASE + 0x1122; // last byte of the text
    assert!(plan_of(&b).is_ok());
}

#[test]
fn no_load_segment_is_refused() {
    let mut b = ElfBuilder::hello();
    b.phdrs.retain(|p| p.p_type != PT_LOAD);
    assert_eq!(err_of(&b), ElfError::NoLoadSegment);
    // Only empty ones.
    let mut b = ElfBuilder::hello();
    for p in &mut b.phdrs {
        p.file_size = 0;
        p.mem_size = 0;
    }
    assert_eq!(err_of(&b), ElfError::NoLoadSegment);
}

#[test]
fn every_truncation_of_a_valid_file_is_refused_cleanly() {
    let file = ElfBuilder::hello().build();
    for len in 0..file.len() {
        assert!(plan(&file[..len], USER).is_err(), "cut at {len}");
    }
}

/// Why `plan` copies the header first: xmas-elf itself asserts that its
/// header structs are 8-byte aligned, so a file at a 4-byte-aligned place
/// in the ramdisk would panic the kernel if handed to it directly.
#[test]
#[should_panic(expected = "assertion failed")]
fn xmas_elf_alone_panics_on_a_4_byte_aligned_file() {
    let file = ElfBuilder::hello().build();
    let mut storage: Vec<u64> = std::vec![0; file.len() / 8 + 2];
    let bytes: &mut [u8] = bytemuck_like(&mut storage);
    bytes[4..4 + file.len()].copy_from_slice(&file);
    let _ = xmas_elf::ElfFile::new(&bytes[4..4 + file.len()]);
}
