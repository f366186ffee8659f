//! The interrupt descriptor table: every vector points at its entry stub.

use super::gdt;
use super::trap;
use core::mem::size_of;
use x86_64::VirtAddr;
use x86_64::structures::DescriptorTablePointer;

/// One 16-byte 64-bit interrupt gate.
#[derive(Clone, Copy)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    /// Bits 0..3: IST index (0 = none); the rest must be zero.
    ist: u8,
    /// Present, DPL 0, type 0xE (interrupt gate: IF cleared on entry).
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

const _: () = assert!(size_of::<Gate>() == 16);

impl Gate {
    const EMPTY: Gate = Gate {
        offset_low: 0,
        selector: 0,
        ist: 0,
        type_attr: 0,
        offset_mid: 0,
        offset_high: 0,
        reserved: 0,
    };

    fn new(handler: u64, ist: u8) -> Gate {
        Gate {
            offset_low: handler as u16,
            selector: gdt::KERNEL_CODE_SELECTOR,
            ist,
            type_attr: 0x8e,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static mut IDT: Idt = Idt([Gate::EMPTY; 256]);

/// Fill the IDT and load it. Double fault, NMI and machine check run on
/// their own IST stacks so they still work when the kernel stack is gone.
pub fn init() {
    for vector in 0..=255u8 {
        let ist = match vector {
            8 => gdt::IST_DOUBLE_FAULT + 1,
            2 => gdt::IST_NMI + 1,
            18 => gdt::IST_MACHINE_CHECK + 1,
            _ => 0,
        };
        let gate = Gate::new(trap::stub_address(vector), ist as u8);
        // SAFETY: called once on the boot CPU before interrupts are enabled;
        // nothing else reads or writes IDT concurrently.
        unsafe { IDT.0[usize::from(vector)] = gate };
    }
    load();
}

/// Load the IDT that [`init`] filled, on this CPU (every CPU shares it).
pub fn load() {
    let pointer = DescriptorTablePointer {
        limit: (size_of::<Idt>() - 1) as u16,
        base: VirtAddr::new(&raw const IDT as u64),
    };
    // SAFETY: the table is static, fully initialised, and every gate points
    // at a valid entry stub in kernel text with the kernel code selector.
    unsafe { x86_64::instructions::tables::lidt(&pointer) };
}
