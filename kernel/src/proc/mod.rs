//! Processes: programs from the ramdisk, loaded from ELF files into
//! address spaces of their own, running in user mode, calling the kernel
//! through the system call table (user/ABI.md).
//!
//! - `archive`, `elf`: the untrusted bytes (the ramdisk's cpio archive, a
//!   program's ELF file), host-tested and fuzzed (`fuzz/`).
//! - `space`: a process's page tables; `usercopy`: the only code that
//!   touches user memory.
//! - `process`: the table, spawn, exit, kill, wait; `syscall`: the table
//!   of calls.
//!
//! PVH keeps the CPU's own privilege levels, so none of this crosses the
//! `Platform` seam: the same code runs natively, under HVM and under PVH.

pub mod archive;
#[cfg(target_os = "none")]
pub mod capture;
pub mod elf;
pub mod fixtures;
#[cfg(target_os = "none")]
pub mod process;
#[cfg(target_os = "none")]
pub mod space;
#[cfg(target_os = "none")]
pub mod syscall;
#[cfg(target_os = "none")]
pub mod usercopy;

#[cfg(target_os = "none")]
pub use process::{Pid, kill_all, spawn, wait};

/// The ramdisk's archive, parsed once; the error says why there are no
/// programs.
#[cfg(target_os = "none")]
pub fn programs() -> Result<archive::Archive<'static>, alloc::string::String> {
    use alloc::string::ToString;
    static PARSED: spin::Once<Result<archive::Archive<'static>, alloc::string::String>> =
        spin::Once::new();
    PARSED
        .call_once(|| {
            let bytes = crate::boot::ramdisk().ok_or_else(|| {
                "no ramdisk (no boot module: QEMU -initrd, xl ramdisk=)".to_string()
            })?;
            archive::Archive::parse(bytes).map_err(|e| alloc::format!("the ramdisk: {e}"))
        })
        .clone()
}

/// Set up user mode (syscall MSRs, SMEP, SMAP) and say what is there.
#[cfg(target_os = "none")]
pub fn init() {
    let (smep, smap) = crate::arch::user::init(syscall::dispatch);
    crate::interrupts::set_user_fault_handler(process::kill_current);
    let on = |b: bool| if b { "on" } else { "absent" };
    let nx = if crate::mem::paging::nx_enabled() {
        "on"
    } else {
        "absent"
    };
    match programs() {
        Ok(a) => log::info!(
            "proc: user mode ready (SMEP {}, SMAP {}, NX {nx}); ramdisk has {} programs",
            on(smep),
            on(smap),
            a.len()
        ),
        Err(why) => log::info!(
            "proc: user mode ready (SMEP {}, SMAP {}, NX {nx}); {why}",
            on(smep),
            on(smap)
        ),
    }
}
