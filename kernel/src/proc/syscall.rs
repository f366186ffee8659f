//! The system call table (user/ABI.md): number in RAX, arguments in RDI,
//! RSI, RDX, R10, R8; the result or `-errno` back in RAX. Every pointer
//! goes through `usercopy` and every length is bounded before anything is
//! allocated for it.

use super::process::{self, KILLED};
use super::usercopy::{copy_from_user, copy_to_user};
use crate::arch::user::SyscallFrame;
use alloc::vec;

pub use virtus_abi::errno::*;
pub use virtus_abi::nr;

use virtus_abi::{MAX_BLOCK_READ, MAX_WRITE};

/// The longest line `read_line` keeps (the rest of what is typed is cut).
const MAX_LINE: usize = 1024;
const BLOCK_TIMEOUT_NS: u64 = 10 * crate::time::NS_PER_SEC;

type SysResult = Result<i64, i64>;

/// Entered from `arch::user`'s `syscall` entry, interrupts on.
pub fn dispatch(frame: &mut SyscallFrame) {
    let [a, b, c, d] = [frame.rdi, frame.rsi, frame.rdx, frame.r10];
    let result = match frame.rax {
        nr::EXIT => process::exit_current(i64::from(a as u8)),
        nr::WRITE => write(a, b),
        nr::READ_LINE => read_line(a, b),
        nr::SLEEP => {
            crate::time::sleep_ns(a);
            Ok(0)
        }
        nr::CLOCK => Ok(crate::time::now_ns() as i64),
        nr::GETPID => Ok(i64::from(process::current_pid())),
        nr::SPAWN => spawn(a, b, c, d),
        nr::WAIT => wait(a),
        nr::YIELD => {
            crate::sched::yield_now();
            Ok(0)
        }
        nr::BLOCK_READ => block_read(a, b, c, d),
        nr::LIST => list(a, b, c),
        _ => Err(ENOSYS),
    };
    frame.rax = result.unwrap_or_else(|errno| -errno) as u64;
    // The way back to user mode is a place to preempt too: a slice that
    // ended while the kernel worked for the process (its console output,
    // which Xen HVM makes slow) would otherwise wait for an interrupt that
    // lands in user mode, and with a one-shot timer none may come.
    crate::arch::irq::without_interrupts(crate::sched::preempt_if_due);
}

fn len_at_most(len: u64, max: usize) -> Result<usize, i64> {
    usize::try_from(len)
        .ok()
        .filter(|&n| n <= max)
        .ok_or(EINVAL)
}

fn from_user(buf: &mut [u8], addr: u64) -> Result<(), i64> {
    process::with_current_space(|space| {
        let space = space.ok_or(EFAULT)?;
        copy_from_user(space, buf, addr).map_err(|_| EFAULT)
    })
}

fn to_user(addr: u64, buf: &[u8]) -> Result<(), i64> {
    process::with_current_space(|space| {
        let space = space.ok_or(EFAULT)?;
        copy_to_user(space, addr, buf).map_err(|_| EFAULT)
    })
}

fn write(buf: u64, len: u64) -> SysResult {
    let len = len_at_most(len, MAX_WRITE)?;
    let mut bytes = vec![0u8; len];
    from_user(&mut bytes, buf)?;
    crate::console::write_bytes(&bytes);
    super::capture::record(&bytes);
    Ok(len as i64)
}

fn read_line(buf: u64, cap: u64) -> SysResult {
    let cap = len_at_most(cap, usize::MAX)?;
    if cap == 0 {
        return Err(EINVAL);
    }
    // Check before waiting for the user to type: a bad buffer fails now.
    process::with_current_space(|space| {
        super::usercopy::check(space.ok_or(EFAULT)?, buf, cap, true).map_err(|_| EFAULT)
    })?;
    let mut line = vec![0u8; cap.min(MAX_LINE)];
    let n = crate::console::read_line(&mut line, crate::power::pending, crate::power::serve);
    to_user(buf, &line[..n])?;
    Ok(n as i64)
}

fn user_string(addr: u64, len: u64, max: usize) -> Result<alloc::string::String, i64> {
    let len = usize::try_from(len)
        .ok()
        .filter(|&n| n <= max)
        .ok_or(E2BIG)?;
    let mut bytes = vec![0u8; len];
    from_user(&mut bytes, addr)?;
    alloc::string::String::from_utf8(bytes).map_err(|_| EINVAL)
}

fn spawn(path: u64, path_len: u64, args: u64, args_len: u64) -> SysResult {
    let name = user_string(path, path_len, process::MAX_NAME)?;
    let args = user_string(args, args_len, process::MAX_ARGS)?;
    process::spawn(&name, &args, process::current_pid())
        .map(i64::from)
        .map_err(|e| spawn_errno(&e))
}

/// The error number of a refused spawn (user/ABI.md).
fn spawn_errno(e: &process::SpawnError) -> i64 {
    use process::SpawnError::*;
    match e {
        NoPrograms(_) | NotFound => ENOENT,
        BadElf(_) => ENOEXEC,
        TooLong => E2BIG,
        NoMemory => ENOMEM,
    }
}

fn wait(pid: u64) -> SysResult {
    let pid = u32::try_from(pid).map_err(|_| ECHILD)?;
    let status = process::wait(pid, process::current_pid()).ok_or(ECHILD)?;
    debug_assert!(status < KILLED + 256);
    Ok(status)
}

fn block_read(disk: u64, lba: u64, buf: u64, len: u64) -> SysResult {
    let len = len_at_most(len, MAX_BLOCK_READ)?;
    let index = usize::try_from(disk).map_err(|_| ENOENT)?;
    let disk = crate::block::DISKS.iter().nth(index).ok_or(ENOENT)?;
    let sector = disk.info().sector_size as usize;
    if len == 0 || len % sector != 0 {
        return Err(EINVAL);
    }
    // Check the buffer before the disk works for it.
    process::with_current_space(|space| {
        super::usercopy::check(space.ok_or(EFAULT)?, buf, len, true).map_err(|_| EFAULT)
    })?;
    let mut data = vec![0u8; len];
    disk.read(
        lba,
        &mut data,
        &crate::block::MachineWaiter,
        BLOCK_TIMEOUT_NS,
    )
    .map_err(|e| match e {
        crate::block::BlockError::OutOfRange { .. } => EINVAL,
        _ => EIO,
    })?;
    to_user(buf, &data)?;
    Ok(len as i64)
}

fn list(index: u64, buf: u64, cap: u64) -> SysResult {
    let archive = super::programs().map_err(|_| ENOENT)?;
    let index = usize::try_from(index).map_err(|_| ENOENT)?;
    let entry = archive.entries().nth(index).ok_or(ENOENT)?;
    let name = entry.program_name().as_bytes();
    let cap = len_at_most(cap, usize::MAX)?;
    let n = name.len().min(cap);
    to_user(buf, &name[..n])?;
    Ok(n as i64)
}
