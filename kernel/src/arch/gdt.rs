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

/// How many IST stacks a CPU has.
pub const IST_COUNT: usize = 3;
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

/// The boot CPU's TSS: written once before it is loaded, then only its
/// RSP0, by [`set_kernel_stack`] (on the boot CPU, by the scheduler, with
/// interrupts off). Other CPUs have TSSs of their own ([`init_ap`]).
struct TssCell(core::cell::UnsafeCell<TaskStateSegment>);
// SAFETY: only the boot CPU writes it (RSP0, with interrupts off, by the
// scheduler), and the CPU reads it only on an interrupt from user mode,
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
    super::percpu::set_tss(0, TSS.0.get() as u64);
    load(gdt, *tss_selector);
}

/// Load `gdt`, reload the segment registers from it, and load the task
/// register with `tss`.
fn load(gdt: &'static GlobalDescriptorTable, tss: SegmentSelector) {
    gdt.load();
    // SAFETY: the selectors name the code and data descriptors of the GDT
    // just loaded, which stays alive forever (static or leaked); the TSS
    // descriptor points at a TSS that does too.
    unsafe {
        CS::set_reg(SegmentSelector(KERNEL_CODE_SELECTOR));
        let data = SegmentSelector(KERNEL_DATA_SELECTOR);
        DS::set_reg(data);
        ES::set_reg(data);
        SS::set_reg(data);
        load_tss(tss);
    }
}

/// Another CPU's GDT and TSS, built by the boot CPU (which has the heap to
/// itself) and loaded by that CPU with [`load_ap`].
pub struct ApTables {
    gdt: &'static GlobalDescriptorTable,
    tss: SegmentSelector,
}

/// Build CPU `cpu`'s tables: the boot CPU's segments, and a TSS of its own
/// whose IST stacks are `ist_tops` (guarded stacks the caller allocated).
/// Both live forever.
pub fn build_ap(cpu: usize, ist_tops: [u64; IST_COUNT]) -> ApTables {
    let mut tss = TaskStateSegment::new();
    for (i, top) in ist_tops.into_iter().enumerate() {
        tss.interrupt_stack_table[i] = VirtAddr::new(top);
    }
    let tss: &'static mut TaskStateSegment = alloc::boxed::Box::leak(alloc::boxed::Box::new(tss));
    super::percpu::set_tss(cpu, &raw mut *tss as u64);
    let mut gdt = GlobalDescriptorTable::new();
    gdt.append(Descriptor::kernel_code_segment());
    gdt.append(Descriptor::kernel_data_segment());
    gdt.append(Descriptor::user_data_segment());
    gdt.append(Descriptor::user_code_segment());
    let tss = gdt.append(Descriptor::tss_segment(tss));
    ApTables {
        gdt: alloc::boxed::Box::leak(alloc::boxed::Box::new(gdt)),
        tss,
    }
}

/// Load tables from [`build_ap`], on the CPU they were built for.
pub fn load_ap(tables: &ApTables) {
    load(tables.gdt, tables.tss);
}

/// Make `top` the stack this CPU switches to on an interrupt or exception
/// from user mode (its TSS.RSP0). Called by the scheduler, interrupts off.
pub fn set_kernel_stack(top: u64) {
    let tss = super::percpu::tss() as *mut TaskStateSegment;
    if tss.is_null() {
        return;
    }
    // SAFETY: `tss` is this CPU's TSS (static or leaked, so alive), which
    // only this CPU writes, with interrupts off; a single aligned 8-byte
    // field written through the raw pointer, no reference kept.
    unsafe { (*tss).privilege_stack_table[0] = VirtAddr::new(top) };
}
