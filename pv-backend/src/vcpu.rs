//! `vcpu_op`: the per-vCPU timers. The one-shot timer fires `VIRQ_TIMER`
//! on that vCPU at an absolute Xen system time (the pvclock's timebase).

use crate::abi::{self, VcpuSetSingleshotTimer};
use crate::hypercall::{XenError, hypercall3};

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
