//! Host-side test runner for Virtus.
//!
//! The kernel runs its own test suite and reports it as KTAP on the serial
//! console, then tells QEMU how it went through `isa-debug-exit`. This
//! crate boots it, streams that console, and decides whether the run really
//! passed: the two channels must agree, and a crash or a hang must be
//! reported with the test it struck in.
//!
//! Pure logic (parsing, verdicts, check assessments, tables, argument
//! parsing) is unit-tested here; only [`qemu::boot`] needs an emulator.

pub mod bench;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod console;
pub mod disk;
pub mod exit;
pub mod expect;
pub mod ktap;
pub mod lifecycle_native;
pub mod matrix;
pub mod pool;
pub mod process;
pub mod qemu;
pub mod ramdisk;
pub mod reason;
pub mod red;
pub mod soak_console;
#[cfg(test)]
mod sources;
pub mod symbols;
pub mod table;
#[cfg(test)]
mod test_bodies;
pub mod transcript;
pub mod verdict;
pub mod xen;

/// The workspace root (the runner lives in its `tests/` member), found from
/// this crate's source directory so that any working directory works.
pub fn workspace() -> &'static std::path::Path {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    tests.parent().unwrap_or(std::path::Path::new("."))
}
