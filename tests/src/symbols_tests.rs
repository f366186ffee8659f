//! The symbolizer against this test binary's own DWARF and made-up crash reports.

use super::*;

#[inline(never)]
fn a_function_with_a_known_name() -> u64 {
    std::hint::black_box(7)
}

/// The runner's own test binary has DWARF: a function's address,
/// taken by the compiler, must come back as that function's name.
#[test]
fn names_a_function_of_this_binary() {
    let symbols = Symbols::open(&std::env::current_exe().unwrap()).unwrap();
    // The address as this process sees it; the test binary is
    // position-independent, so subtract where it was loaded.
    let address = a_function_with_a_known_name as *const () as u64;
    let base = load_base();
    let frames = symbols.frames(address - base);
    assert!(
        frames[0].function.ends_with("a_function_with_a_known_name"),
        "{frames:?}"
    );
    let location = frames[0].location.as_deref().unwrap();
    assert!(
        location.starts_with("tests/src/symbols_tests.rs:"),
        "{location}"
    );
    assert_eq!(a_function_with_a_known_name(), 7);
}

/// Where this executable is mapped: the start of its first mapping in
/// /proc/self/maps (the ELF header, at file offset 0).
fn load_base() -> u64 {
    let exe = std::fs::read_link("/proc/self/exe").unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let line = maps
        .lines()
        .find(|l| l.ends_with(exe.to_str().unwrap()))
        .unwrap();
    u64::from_str_radix(line.split('-').next().unwrap(), 16).unwrap()
}

#[test]
fn finds_the_addresses_of_a_crash_report() {
    assert_eq!(
        site("    RIP 0x0000000000407c95  CS 0x8  RFLAGS 0x246"),
        Some(Site::Fault(0x407c95))
    );
    assert_eq!(
        site("      0x000000000041f832"),
        Some(Site::Return(0x41f832))
    );
    assert_eq!(site("    RSP 0x0000000000464bf0  SS 0x10"), None);
    assert_eq!(site("[    0.053071] INFO  Virtus on native"), None);
    assert_eq!(site("0x12"), None);
    assert_eq!(site("      0xzz0000000041f832"), None);
}

#[test]
fn describes_inlined_frames_innermost_first() {
    let frames = [
        Frame {
            function: "k::read_address".into(),
            location: Some("kernel/src/f.rs:57".into()),
        },
        Frame {
            function: "k::crash_on_purpose".into(),
            location: None,
        },
    ];
    assert_eq!(
        describe(&frames),
        "k::read_address (kernel/src/f.rs:57) inlined into k::crash_on_purpose"
    );
    assert_eq!(own_function(&frames), Some("read_address"));
    let in_core = Frame {
        function: "core::ptr::read_volatile".into(),
        location: None,
    };
    assert_eq!(
        own_function(&[in_core, frames[1].clone()]),
        Some("crash_on_purpose")
    );
    assert_eq!(
        workspace_relative("/rustc/5980/library/core/src/ptr/mod.rs"),
        "core/src/ptr/mod.rs"
    );
    assert_eq!(without_hash("k::f::h0123456789abcdef"), "k::f");
    assert_eq!(without_hash("k::hash_table"), "k::hash_table");
}

#[test]
fn the_hvm_copy_is_read_through_its_elf64_original() {
    let dir = std::env::temp_dir().join(format!("virtus-symbols-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let elf32 = dir.join("virtus-native.elf32");
    assert_eq!(debug_source(&elf32), elf32, "no original: read the copy");
    std::fs::write(dir.join("virtus-native"), b"").unwrap();
    assert_eq!(debug_source(&elf32), dir.join("virtus-native"));
    std::fs::remove_dir_all(&dir).unwrap();
}
