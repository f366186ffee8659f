//! Processes: where programs come from (the ramdisk's archive) and how an
//! ELF file becomes a plan of segments to map. Both read untrusted bytes
//! and are host-tested and fuzzed (`fuzz/`).

pub mod archive;
pub mod elf;
pub mod fixtures;
