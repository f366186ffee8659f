//! Puts user/ on the linker's search path, where `-Tlink.ld` (from
//! user/.cargo/config.toml) finds the script. A search path from a library's
//! build script reaches every program that links the library, so the programs
//! need no build script of their own.
fn main() {
    let rt = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let user = std::path::Path::new(&rt)
        .parent()
        .expect("rt lives in user/");
    println!("cargo:rustc-link-search=native={}", user.display());
    println!("cargo:rerun-if-changed={}", user.join("link.ld").display());
}
