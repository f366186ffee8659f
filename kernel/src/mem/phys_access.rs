//! Read access to physical memory: the abstraction that the boot-info and
//! firmware-table parsers read through. The kernel implements it over its
//! own mappings (`phys.rs`); host tests over a fake image. It lives with
//! the memory code so that parsers depend on memory, never the reverse.

/// Read access to physical memory for a parser.
pub trait PhysMemory {
    /// Copies `buf.len()` bytes from physical address `paddr` into `buf`.
    /// Returns false, leaving `buf` unspecified, if any byte of the range is
    /// not readable (including a range that wraps past the top of memory).
    fn read(&self, paddr: u64, buf: &mut [u8]) -> bool;
}
