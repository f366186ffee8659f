//! CPU structures the core owns on every platform: segments, the IDT,
//! interrupt entry and fault recovery. (Xen PVH guests manage these
//! themselves too, so they are not part of the `Platform` seam.)

pub mod catch;
pub mod gdt;
pub mod idle;
pub mod idt;
pub mod irq;
pub mod percpu;
pub mod reset;
pub mod trap;
pub mod user;
