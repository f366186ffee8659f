//! `vcpu_op`: bringing vCPUs up (`VCPUOP_initialise` with the HVM-type
//! start context, `VCPUOP_up`, `VCPUOP_is_up`) and the per-vCPU timers.
//! The one-shot timer fires `VIRQ_TIMER` on that vCPU at an absolute Xen
//! system time (the pvclock's timebase).

use crate::abi::{self, VcpuSetSingleshotTimer};
use crate::hypercall::{XenError, hypercall3};

/// `vcpu_op` sub-operations for bring-up (public/vcpu.h, RELEASE-4.17.0).
pub const VCPUOP_INITIALISE: u64 = 0;
pub const VCPUOP_UP: u64 = 1;
pub const VCPUOP_DOWN: u64 = 2;
pub const VCPUOP_IS_UP: u64 = 3;

/// `vcpu_hvm_context.mode`: the 64-bit register set is used and the vCPU
/// starts in long mode with flat segments (public/hvm/hvm_vcpu.h).
pub const VCPU_HVM_MODE_64B: u32 = 1;

/// `struct vcpu_hvm_x86_64` (public/hvm/hvm_vcpu.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct VcpuHvmX86_64 {
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rbx: u64,
    pub rsp: u64,
    pub rbp: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rip: u64,
    pub rflags: u64,
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
}

/// `struct vcpu_hvm_context` with the 64-bit member of its `cpu_regs`
/// union. The union's other member, `vcpu_hvm_x86_32`, is 120 bytes, 8
/// more than this one: `_union_tail` pads to the header's size, so Xen's
/// `copy_from_guest` of the whole structure reads only our memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct VcpuHvmContext {
    pub mode: u32,
    /// Must be 0 (Xen checks).
    pub pad: u32,
    pub x86_64: VcpuHvmX86_64,
    pub _union_tail: [u8; 8],
}

// The layout of RELEASE-4.17.0's header, checked at compile time.
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<VcpuHvmX86_64>() == 112);
    assert!(size_of::<VcpuHvmContext>() == 128);
    assert!(align_of::<VcpuHvmContext>() == 8);
    assert!(offset_of!(VcpuHvmContext, mode) == 0);
    assert!(offset_of!(VcpuHvmContext, pad) == 4);
    assert!(offset_of!(VcpuHvmContext, x86_64) == 8);
    assert!(offset_of!(VcpuHvmX86_64, rsp) == 32);
    assert!(offset_of!(VcpuHvmX86_64, rdi) == 56);
    assert!(offset_of!(VcpuHvmX86_64, rip) == 64);
    assert!(offset_of!(VcpuHvmX86_64, rflags) == 72);
    assert!(offset_of!(VcpuHvmX86_64, cr0) == 80);
    assert!(offset_of!(VcpuHvmX86_64, cr3) == 88);
    assert!(offset_of!(VcpuHvmX86_64, cr4) == 96);
    assert!(offset_of!(VcpuHvmX86_64, efer) == 104);
};

/// Give `vcpu` (not yet initialised) its first register state. Xen answers
/// `-EEXIST` for a vCPU initialised before, `-EINVAL` for a context it
/// refuses (it logs which check failed on its console), `-ENOENT` for no
/// such vCPU.
pub fn initialise_hvm(vcpu: u32, ctx: &VcpuHvmContext) -> Result<(), XenError> {
    // SAFETY: VCPUOP_initialise reads one `vcpu_hvm_context` (128 bytes,
    // the layout checked above) from `ctx`, borrowed for the call.
    let ret = unsafe {
        hypercall3(
            abi::HYPERVISOR_VCPU_OP,
            VCPUOP_INITIALISE,
            u64::from(vcpu),
            core::ptr::from_ref(ctx) as u64,
        )
    };
    XenError::from_ret(ret).map(drop)
}

/// Make an initialised `vcpu` runnable (`-EINVAL` if it is not initialised).
pub fn up(vcpu: u32) -> Result<(), XenError> {
    // SAFETY: the op takes no argument structure.
    let ret = unsafe { hypercall3(abi::HYPERVISOR_VCPU_OP, VCPUOP_UP, u64::from(vcpu), 0) };
    XenError::from_ret(ret).map(drop)
}

/// Make `vcpu` not runnable. Called by the vCPU on itself it is
/// synchronous (public/vcpu.h): the call returns only once another vCPU
/// made it runnable again with [`up`], and it carries on after it
/// (`do_vcpu_op` sets `_VPF_down` and puts the running vCPU to sleep on
/// its way back to the guest, RELEASE-4.17.0 common/domain.c). Xen powers
/// the domain off instead if no other vCPU is up.
pub fn down(vcpu: u32) -> Result<(), XenError> {
    // SAFETY: the op takes no argument structure.
    let ret = unsafe { hypercall3(abi::HYPERVISOR_VCPU_OP, VCPUOP_DOWN, u64::from(vcpu), 0) };
    XenError::from_ret(ret).map(drop)
}

/// Whether `vcpu` is up; `-ENOENT` for ids at or beyond the domain's
/// `max_vcpus` (`domain_vcpu` in Xen's do_vcpu_op).
pub fn is_up(vcpu: u32) -> Result<bool, XenError> {
    // SAFETY: the op takes no argument structure.
    let ret = unsafe { hypercall3(abi::HYPERVISOR_VCPU_OP, VCPUOP_IS_UP, u64::from(vcpu), 0) };
    XenError::from_ret(ret).map(|r| r != 0)
}

/// Arm `vcpu`'s one-shot timer for Xen system time `deadline_system_ns`.
///
/// Flags are 0, not `VCPU_SSHOTTMR_future`: with that flag Xen answers
/// `-ETIME` for a deadline already past and delivers nothing, and a caller
/// that computed "now + a little" may well be past by the time Xen looks.
/// Without it a past deadline fires at once, which is what a timer user
/// wants (Linux does the same).
pub fn set_singleshot_timer(vcpu: u32, deadline_system_ns: u64) -> Result<(), XenError> {
    let arg = VcpuSetSingleshotTimer {
        timeout_abs_ns: deadline_system_ns,
        flags: 0,
        _pad: 0,
    };
    // SAFETY: the op reads one `vcpu_set_singleshot_timer` from this frame.
    let ret = unsafe {
        hypercall3(
            abi::HYPERVISOR_VCPU_OP,
            abi::VCPUOP_SET_SINGLESHOT_TIMER,
            u64::from(vcpu),
            &raw const arg as u64,
        )
    };
    XenError::from_ret(ret).map(drop)
}

/// Disarm `vcpu`'s one-shot timer.
pub fn stop_singleshot_timer(vcpu: u32) -> Result<(), XenError> {
    // SAFETY: the op takes no argument structure.
    let ret = unsafe {
        hypercall3(
            abi::HYPERVISOR_VCPU_OP,
            abi::VCPUOP_STOP_SINGLESHOT_TIMER,
            u64::from(vcpu),
            0,
        )
    };
    XenError::from_ret(ret).map(drop)
}

/// Stop `vcpu`'s periodic timer, in case Xen started one (Linux does this
/// defensively; whether PVH vCPUs start with one is not documented).
pub fn stop_periodic_timer(vcpu: u32) -> Result<(), XenError> {
    // SAFETY: the op takes no argument structure.
    let ret = unsafe {
        hypercall3(
            abi::HYPERVISOR_VCPU_OP,
            abi::VCPUOP_STOP_PERIODIC_TIMER,
            u64::from(vcpu),
            0,
        )
    };
    XenError::from_ret(ret).map(drop)
}
