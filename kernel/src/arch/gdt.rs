//! Segments: a flat 64-bit GDT and a TSS whose interrupt stack table gives
//! double fault, NMI and machine check stacks of their own.
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

static TSS: spin::Once<TaskStateSegment> = spin::Once::new();
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
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        for (i, (_, _, top)) in ist_stacks().into_iter().enumerate() {
            tss.interrupt_stack_table[i] = VirtAddr::new(top);
        }
        tss
    });
    let (gdt, tss_selector) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        debug_assert_eq!(code.0, KERNEL_CODE_SELECTOR);
        debug_assert_eq!(data.0, 0x10);
        let tss = gdt.append(Descriptor::tss_segment(tss));
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
