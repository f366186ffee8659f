//! The last way out of a machine that refuses every orderly one: a triple
//! fault, which resets a real machine and ends a Xen HVM/PVH domain as a
//! reboot (or a crash), never as a power-off.

use x86_64::VirtAddr;
use x86_64::instructions::tables::lidt;
use x86_64::instructions::{hlt, interrupts};
use x86_64::structures::DescriptorTablePointer;

/// Load an empty IDT and raise an exception: it cannot be delivered (#GP),
/// nor can that (#DF), and the CPU shuts down.
pub fn triple_fault() -> ! {
    interrupts::disable();
    let empty = DescriptorTablePointer {
        limit: 0,
        base: VirtAddr::zero(),
    };
    // SAFETY: an IDT with no entries is exactly what is wanted: the `int3`
    // below then cannot be delivered, and the shutdown that follows is the
    // point. Nothing runs after it, so no code depends on the old IDT.
    unsafe { lidt(&empty) };
    interrupts::int3();
    // Never reached on a CPU; a hang (which a runner reports as one) is
    // still no success if an emulator ignores the shutdown.
    loop {
        hlt();
    }
}
