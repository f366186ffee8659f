//! Links the image with the workspace's linker script (only for the bin).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = std::path::Path::new(&dir).join("../linker.ld");
    if std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-none") {
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
        // Load address: 4 MiB, clear of hvmloader (see linker.ld).
        println!("cargo:rustc-link-arg-bins=--defsym=VIRTUS_LOAD_BASE=0x400000");
    }
    println!("cargo:rerun-if-changed={}", script.display());
}
