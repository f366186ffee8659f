//! The process table: spawn (ramdisk -> ELF plan -> address space ->
//! thread), exit, the kill of a process that faulted, and wait.
//!
//! A process is one thread in one address space. Its parent is the process
//! that spawned it, or the kernel (pid 0: the shell, the tests). An ended
//! process stays in the table with its status until its parent waits for
//! it; one whose parent has ended is dropped at once.

use super::elf::{self, LoadPlan};
use super::space::{Access, AddressSpace};
use crate::mem::PAGE_SIZE;
use crate::mem::layout::{USER_BASE, USER_END};
use crate::sched::{self, ThreadId};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};
use spin::Mutex;

/// A process number; 0 names the kernel as a parent.
pub type Pid = u32;
/// The parent of a process nobody will wait for (its parent has ended).
pub const NO_PARENT: Pid = Pid::MAX;

pub use virtus_abi::{KILLED, MAX_ARGS, MAX_NAME, STACK_SIZE, STACK_TOP};

struct Process {
    pid: Pid,
    name: String,
    parent: Pid,
    thread: ThreadId,
    /// Boxed: the table moves its entries, the space must not move while
    /// its thread runs (see [`with_current_space`]).
    space: Option<alloc::boxed::Box<AddressSpace>>,
    entry: u64,
    user_rsp: u64,
    status: Option<i64>,
}

static TABLE: Mutex<Vec<Process>> = Mutex::new(Vec::new());
static NEXT_PID: AtomicU32 = AtomicU32::new(1);

/// Why a program could not be started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// No ramdisk, or the ramdisk's archive was refused (the text says).
    NoPrograms(String),
    /// No program of that name in the ramdisk.
    NotFound,
    /// The ELF file was refused.
    BadElf(elf::ElfError),
    /// The name or the arguments are too long.
    TooLong,
    /// Out of memory for the address space, the stack or the thread.
    NoMemory,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPrograms(why) => write!(f, "no programs: {why}"),
            Self::NotFound => f.write_str("no such program in the ramdisk"),
            Self::BadElf(e) => write!(f, "not a program Virtus runs: {e}"),
            Self::TooLong => f.write_str("name or arguments too long"),
            Self::NoMemory => f.write_str("out of memory"),
        }
    }
}

/// Start program `name` with argument string `args` (split at spaces) as a
/// child of `parent`. Prints why, when the ELF file is refused.
pub fn spawn(name: &str, args: &str, parent: Pid) -> Result<Pid, SpawnError> {
    if name.len() > MAX_NAME || args.len() > MAX_ARGS {
        return Err(SpawnError::TooLong);
    }
    let archive = super::programs().map_err(SpawnError::NoPrograms)?;
    let file = archive.find(name).ok_or(SpawnError::NotFound)?;
    let plan = elf::plan(file, USER_BASE..USER_END).map_err(|e| {
        crate::kprintln!("proc: {name}: refused: {e}");
        SpawnError::BadElf(e)
    })?;
    let mut space = AddressSpace::new().map_err(|_| SpawnError::NoMemory)?;
    load(&mut space, &plan, file).map_err(|_| SpawnError::NoMemory)?;
    let user_rsp = build_stack(&mut space, name, args).ok_or(SpawnError::NoMemory)?;
    let pid = NEXT_PID.fetch_add(1, Ordering::Relaxed);
    let root = space.root();
    crate::arch::irq::without_interrupts(|| {
        TABLE.lock().push(Process {
            pid,
            name: String::from(name),
            parent,
            thread: u64::MAX,
            space: Some(alloc::boxed::Box::new(space)),
            entry: plan.entry,
            user_rsp,
            status: None,
        });
    });
    match sched::spawn("process", process_start, u64::from(pid), Some(root)) {
        Ok(thread) => {
            with_process(pid, |p| p.thread = thread);
            Ok(pid)
        }
        Err(_) => {
            remove(pid);
            Err(SpawnError::NoMemory)
        }
    }
}

/// Map every segment of `plan` and copy its bytes from `file`.
fn load(space: &mut AddressSpace, plan: &LoadPlan, file: &[u8]) -> Result<(), ()> {
    for seg in &plan.segments {
        let access = Access {
            write: seg.writable,
            execute: seg.executable,
        };
        let pages = seg.pages();
        let mut page = pages.start;
        while page < pages.end {
            space.map_new(page, access).map_err(drop)?;
            page += PAGE_SIZE;
        }
        let range = seg.file_range();
        let bytes = file
            .get(range.start as usize..range.end as usize)
            .ok_or(())?;
        space.fill(seg.vaddr, bytes).map_err(drop)?;
    }
    Ok(())
}

/// Map the stack and lay out argc, argv and the strings (user/ABI.md);
/// returns the initial stack pointer.
fn build_stack(space: &mut AddressSpace, name: &str, args: &str) -> Option<u64> {
    let rw = Access {
        write: true,
        execute: false,
    };
    let mut page = STACK_TOP - STACK_SIZE;
    while page < STACK_TOP {
        space.map_new(page, rw).ok()?;
        page += PAGE_SIZE;
    }
    let argv: Vec<&str> = core::iter::once(name)
        .chain(args.split(' ').filter(|a| !a.is_empty()))
        .collect();
    let mut at = STACK_TOP;
    let mut pointers = Vec::with_capacity(argv.len());
    for arg in &argv {
        at -= arg.len() as u64 + 1;
        space.fill(at, arg.as_bytes()).ok()?;
        space.fill(at + arg.len() as u64, &[0]).ok()?;
        pointers.push(at);
    }
    // argc, argv[], NULL, NULL (environment), AT_NULL pair.
    let words = 1 + pointers.len() + 1 + 1 + 2;
    at = (at - words as u64 * 8) & !15;
    let mut block: Vec<u8> = Vec::with_capacity(words * 8);
    block.extend_from_slice(&(pointers.len() as u64).to_le_bytes());
    for p in &pointers {
        block.extend_from_slice(&p.to_le_bytes());
    }
    block.resize(words * 8, 0);
    space.fill(at, &block).ok()?;
    Some(at)
}

/// The first code of a process's thread: enter user mode.
extern "C" fn process_start(pid: u64) -> ! {
    let start = with_process(pid as Pid, |p| (p.entry, p.user_rsp));
    match start {
        // SAFETY: the scheduler loaded this process's address space and
        // made this thread's stack RSP0 before switching here; entry and
        // stack were mapped by `spawn`.
        Some((entry, rsp)) => unsafe { crate::arch::user::enter(entry, rsp) },
        None => sched::exit(),
    }
}

fn with_process<R>(pid: Pid, f: impl FnOnce(&mut Process) -> R) -> Option<R> {
    crate::arch::irq::without_interrupts(|| TABLE.lock().iter_mut().find(|p| p.pid == pid).map(f))
}

fn remove(pid: Pid) -> Option<Process> {
    crate::arch::irq::without_interrupts(|| {
        let mut table = TABLE.lock();
        let i = table.iter().position(|p| p.pid == pid)?;
        Some(table.swap_remove(i))
    })
}

/// The process whose thread is running (0 for the kernel's own threads).
pub fn current_pid() -> Pid {
    let thread = sched::current();
    crate::arch::irq::without_interrupts(|| {
        TABLE
            .lock()
            .iter()
            .find(|p| p.thread == thread && p.status.is_none())
            .map_or(0, |p| p.pid)
    })
}

/// Run `f` with the running process's address space (None for a kernel
/// thread). The space stays put: only its own thread ends it.
pub fn with_current_space<R>(f: impl FnOnce(Option<&AddressSpace>) -> R) -> R {
    let pid = current_pid();
    let ptr = crate::arch::irq::without_interrupts(|| {
        TABLE
            .lock()
            .iter()
            .find(|p| p.pid == pid)
            .and_then(|p| p.space.as_deref())
            .map(|s| s as *const AddressSpace)
    });
    // SAFETY: the space is boxed, so it stays where it is while the table
    // changes; it is dropped only after its process's thread has ended,
    // and that thread is the one running this call.
    f(ptr.map(|p| unsafe { &*p }))
}

/// End the running process with `status`; never returns.
pub fn exit_current(status: i64) -> ! {
    let pid = current_pid();
    finish(pid, status);
    sched::exit()
}

/// Record `pid`'s end: its children lose their parent, and it is dropped
/// now if nobody will wait for it. Wakes waiters.
fn finish(pid: Pid, status: i64) {
    crate::arch::irq::without_interrupts(|| {
        let mut table = TABLE.lock();
        let parent = table.iter().find(|p| p.pid == pid).map(|p| p.parent);
        // Its parent has ended too: nobody will wait, so whoever reaps next
        // drops it (not here: its space may be the loaded one).
        let orphan = parent.is_some_and(|parent| {
            parent != 0 && !table.iter().any(|p| p.pid == parent && p.status.is_none())
        });
        for p in table.iter_mut() {
            if p.pid == pid {
                p.status = Some(status);
                if orphan {
                    p.parent = NO_PARENT;
                }
            } else if p.parent == pid {
                p.parent = NO_PARENT;
            }
        }
    });
    sched::note_event();
}

/// A CPU exception in user mode: report it, end the process with
/// [`KILLED`] + vector, never return.
pub fn kill_current(vector: u8, error_code: u64, rip: u64, address: u64) -> ! {
    let pid = current_pid();
    let name = with_process(pid, |p| p.name.clone()).unwrap_or_default();
    let what = crate::interrupts::EXCEPTION_NAMES
        .get(usize::from(vector))
        .copied()
        .unwrap_or("exception");
    if vector == crate::interrupts::vector::PAGE_FAULT {
        let kind = if error_code & 0x10 != 0 {
            "execute"
        } else if error_code & 2 != 0 {
            "write"
        } else {
            "read"
        };
        let why = if error_code & 1 != 0 {
            "protection"
        } else {
            "not mapped"
        };
        crate::kprintln!(
            "proc: {name} (pid {pid}) killed: {what} at {address:#x} ({kind}, {why}, user mode) rip {rip:#x}"
        );
    } else {
        crate::kprintln!(
            "proc: {name} (pid {pid}) killed: {what} (error code {error_code:#x}) rip {rip:#x}"
        );
    }
    finish(pid, KILLED + i64::from(vector));
    sched::exit()
}

/// Wait for child `pid` of `parent` to end; its status. None if it is not
/// a child of `parent`.
pub fn wait(pid: Pid, parent: Pid) -> Option<i64> {
    let ours = with_process(pid, |p| p.parent == parent)?;
    if !ours {
        return None;
    }
    let mut status = None;
    crate::time::wait_for(|| {
        status = with_process(pid, |p| p.status).flatten();
        status.is_some()
    });
    let ended = remove(pid);
    drop(ended);
    reap();
    status
}

/// Drop ended processes nobody will wait for, and the stacks of ended
/// threads.
pub fn reap() {
    let me = sched::current();
    let gone: Vec<Process> = crate::arch::irq::without_interrupts(|| {
        let mut table = TABLE.lock();
        let mut gone = Vec::new();
        let mut i = 0;
        while i < table.len() {
            let p = &table[i];
            if p.status.is_some() && p.parent == NO_PARENT && p.thread != me {
                gone.push(table.swap_remove(i));
            } else {
                i += 1;
            }
        }
        gone
    });
    drop(gone);
    sched::reap();
}

/// End every process that has not ended (the harness's clean-up after a
/// test that left some behind); returns how many.
pub fn kill_all() -> usize {
    let live: Vec<(Pid, ThreadId)> = crate::arch::irq::without_interrupts(|| {
        TABLE
            .lock()
            .iter()
            .filter(|p| p.status.is_none())
            .map(|p| (p.pid, p.thread))
            .collect()
    });
    for &(pid, thread) in &live {
        sched::kill(thread);
        finish(pid, KILLED);
    }
    crate::arch::irq::without_interrupts(|| {
        for p in TABLE.lock().iter_mut() {
            p.parent = NO_PARENT;
        }
    });
    reap();
    live.len()
}

/// (pid, parent, name, ended) of every process, for `ps`.
pub fn list() -> Vec<(Pid, Pid, String, Option<i64>)> {
    crate::arch::irq::without_interrupts(|| {
        TABLE
            .lock()
            .iter()
            .map(|p| (p.pid, p.parent, p.name.clone(), p.status))
            .collect()
    })
}
