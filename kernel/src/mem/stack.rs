//! Kernel stacks with guard pages, and the registry that lets the fault
//! handler say "stack overflow" instead of "page fault".

use super::PAGE_SIZE;
use super::layout::STACKS_BASE;
use super::paging::{Flags, MapError};
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;

/// A known stack: its guard page and the range above it.
#[derive(Clone, Copy, Debug)]
pub struct StackInfo {
    /// Human name for diagnostics.
    pub name: &'static str,
    /// Address of the unmapped guard page just below the stack.
    pub guard: u64,
    /// One past the highest byte of the stack.
    pub top: u64,
}

/// Threads, the boot and IST stacks, and each further CPU's four.
const MAX_STACKS: usize = 64;
/// `pub(crate)` for the abort audit (`harness::abort`) only.
pub(crate) static STACKS: Mutex<[Option<StackInfo>; MAX_STACKS]> = Mutex::new([None; MAX_STACKS]);
static NEXT_VIRT: AtomicU64 = AtomicU64::new(STACKS_BASE);

/// Record a stack (boot and IST stacks are registered by the boot path).
pub fn register(info: StackInfo) {
    crate::arch::irq::without_interrupts(|| {
        let mut stacks = STACKS.lock();
        if let Some(slot) = stacks.iter_mut().find(|s| s.is_none()) {
            *slot = Some(info);
        }
    });
}

/// Allocate a stack of `pages` pages in the stack window, with an unmapped
/// guard page below it, and register it.
pub fn allocate(name: &'static str, pages: u64) -> Result<StackInfo, MapError> {
    let span = (pages + 1) * PAGE_SIZE;
    let guard = NEXT_VIRT.fetch_add(span, Ordering::Relaxed);
    let base = guard + PAGE_SIZE;
    for page in 0..pages {
        super::map_new_page(base + page * PAGE_SIZE, Flags::WRITABLE | Flags::NO_EXECUTE)?;
    }
    let info = StackInfo {
        name,
        guard,
        top: base + pages * PAGE_SIZE,
    };
    register(info);
    Ok(info)
}

/// Unmap a stack from [`allocate`], give its frames back and drop it from
/// the registry. Its virtual range is not reused (the window is 16 TiB).
pub fn free(info: StackInfo) {
    crate::arch::irq::without_interrupts(|| {
        let mut stacks = STACKS.lock();
        if let Some(slot) = stacks
            .iter_mut()
            .find(|s| s.is_some_and(|s| s.guard == info.guard))
        {
            *slot = None;
        }
    });
    let mut page = info.guard + PAGE_SIZE;
    while page < info.top {
        if let Ok(frame) = super::unmap_page(page) {
            let _ = super::free_frame(frame);
        }
        page += PAGE_SIZE;
    }
}

/// If `addr` lies in the guard page of a known stack, that stack's name.
/// Never blocks (it runs in fault handlers): a contended registry is
/// reported as "unknown".
pub fn guard_containing(addr: u64) -> Option<&'static str> {
    let stacks = STACKS.try_lock()?;
    stacks
        .iter()
        .flatten()
        .find(|s| addr >= s.guard && addr < s.guard + PAGE_SIZE)
        .map(|s| s.name)
}

/// Whether `[addr, addr + len)` lies inside one known stack (for walking
/// frame pointers safely).
pub fn is_stack_address(addr: u64, len: u64) -> bool {
    let Some(stacks) = STACKS.try_lock() else {
        return false;
    };
    stacks
        .iter()
        .flatten()
        .any(|s| addr >= s.guard + PAGE_SIZE && addr.saturating_add(len) <= s.top)
}

/// Run `f` on the stack whose top is `top`, then come back.
pub fn run_on_stack(top: u64, f: extern "C" fn()) {
    // SAFETY: `top` is the top of a mapped stack (from `allocate`), 16-byte
    // aligned; the old stack pointer is kept in a callee-saved register and
    // restored after `f` returns. A fault inside `f` leaves through a catch
    // point, which restores its own stack pointer.
    unsafe {
        core::arch::asm!(
            "mov r12, rsp",
            "mov rsp, {top}",
            "call {f}",
            "mov rsp, r12",
            top = in(reg) top,
            f = in(reg) f,
            out("r12") _,
            clobber_abi("C"),
        );
    }
}
