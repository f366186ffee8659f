//! Segments: a flat 64-bit GDT with kernel and user segments, and a TSS
//! whose interrupt stack table gives double fault, NMI and machine check
//! stacks of their own and whose RSP0 is the running thread's kernel stack
//! (where the CPU switches on an interrupt from user mode).
//!
//! The order of the descriptors is the one `syscall`/`sysret` need (Intel
//! SDM vol. 2, SYSRET): kernel code, kernel data, then user data before
//! user code, so that STAR can name both pairs by one base each.
//!
//! The IST stacks live in `.bss`, each above a guard page that the kernel's
//! page tables leave unmapped, so even an overflow of an IST stack is caught.

use crate::mem::PAGE_SIZE;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot (0-based) of the double fault handler.
pub const IST_DOUBLE_FAULT: usize = 0;
/// IST slot of the NMI handler.
pub const IST_NMI: usize = 1;
/// IST slot of the machine check handler.
pub const IST_MACHINE_CHECK: usize = 2;
/// Selector of the kernel code segment (same as the boot GDT's).
pub const KERNEL_CODE_SELECTOR: u16 = 0x08;
/// Selector of the kernel data (and stack) segment.
pub const KERNEL_DATA_SELECTOR: u16 = 0x10;
/// Selector of the user data segment, with RPL 3.
pub const USER_DATA_SELECTOR: u16 = 0x18 | 3;
/// Selector of the 64-bit user code segment, with RPL 3.
pub const USER_CODE_SELECTOR: u16 = 0x20 | 3;

const IST_COUNT: usize = 3;
const IST_STACK_SIZE: usize = 16 * 1024;

/// A guard page followed by the stack it protects.
#[repr(C, align(4096))]
struct GuardedStack {
    guard: [u8; PAGE_SIZE as usize],
    stack: [u8; IST_STACK_SIZE],
}

static mut IST_STACKS: [GuardedStack; IST_COUNT] = [const {
    GuardedStack {
        guard: [0; PAGE_SIZE as usize],
        stack: [0; IST_STACK_SIZE],
    }
}; IST_COUNT];

/// The TSS: written once before it is loaded, then only its RSP0, by
/// [`set_kernel_stack`] (one CPU: the scheduler, with interrupts off).
struct TssCell(core::cell::UnsafeCell<TaskStateSegment>);
// SAFETY: one CPU; RSP0 is written only with interrupts off by the
// scheduler, and the CPU reads it only on an interrupt from user mode,
// which cannot come while interrupts are off.
unsafe impl Sync for TssCell {}
static TSS: TssCell = TssCell(core::cell::UnsafeCell::new(TaskStateSegment::new()));
static TSS_READY: spin::Once<()> = spin::Once::new();
static GDT: spin::Once<(GlobalDescriptorTable, SegmentSelector)> = spin::Once::new();

/// Guard page and top of each IST stack, for the page-table setup (which
/// unmaps the guards) and for telling stack overflows apart.
pub fn ist_stacks() -> [(&'static str, u64, u64); IST_COUNT] {
    let base = &raw const IST_STACKS as u64;
    let size = core::mem::size_of::<GuardedStack>() as u64;
    let names = ["double-fault IST", "NMI IST", "machine-check IST"];
    core::array::from_fn(|i| {
        let guard = base + size * i as u64;
        (names[i], guard, guard + size)
    })
}

/// Load the GDT, reload the segment registers and the task register.
pub fn init() {
    TSS_READY.call_once(|| {
        // SAFETY: before the TSS is loaded (call_once runs this once),
        // nothing else reads or writes it.
        let tss = unsafe { &mut *TSS.0.get() };
        for (i, (_, _, top)) in ist_stacks().into_iter().enumerate() {
            tss.interrupt_stack_table[i] = VirtAddr::new(top);
        }
    });
    let (gdt, tss_selector) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let user_data = gdt.append(Descriptor::user_data_segment());
        let user_code = gdt.append(Descriptor::user_code_segment());
        debug_assert_eq!(code.0, KERNEL_CODE_SELECTOR);
        debug_assert_eq!(data.0, KERNEL_DATA_SELECTOR);
        debug_assert_eq!(user_data.0, USER_DATA_SELECTOR);
        debug_assert_eq!(user_code.0, USER_CODE_SELECTOR);
        // SAFETY: the TSS is a static; from here on only RSP0 changes,
        // which the descriptor does not describe.
        let tss = gdt.append(Descriptor::tss_segment(unsafe { &*TSS.0.get() }));
        (gdt, tss)
    });
    gdt.load();
    // SAFETY: the selectors name the code and data descriptors of the GDT
    // just loaded, which stays alive forever (static); the TSS descriptor
    // points at a static TSS.
    unsafe {
        CS::set_reg(SegmentSelector(KERNEL_CODE_SELECTOR));
        let data = SegmentSelector(0x10);
        DS::set_reg(data);
        ES::set_reg(data);
        SS::set_reg(data);
        load_tss(*tss_selector);
    }
}

/// Make `top` the stack the CPU switches to on an interrupt or exception
/// from user mode (TSS.RSP0). Called by the scheduler, interrupts off.
pub fn set_kernel_stack(top: u64) {
    // SAFETY: see `TssCell`: one CPU, interrupts off, and a single aligned
    // 8-byte field written through the raw pointer, no reference kept.
    unsafe { (*TSS.0.get()).privilege_stack_table[0] = VirtAddr::new(top) };
}
