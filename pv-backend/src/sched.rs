//! `sched_op`: giving the CPU back to Xen (yield, block, poll) and ending
//! the domain (shutdown).

use crate::abi::{self, SchedPoll, SchedShutdown};
use crate::hypercall::{XenError, hypercall2};

/// Why the domain ends; `xl` reports the number as "reason code".
/// Suspend and soft reset are left out: both return to the guest, which
/// [`shutdown`] never does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownReason {
    Poweroff,
    Reboot,
    Crash,
    Watchdog,
}

impl ShutdownReason {
    /// The `SHUTDOWN_*` code.
    pub fn code(self) -> u32 {
        match self {
            ShutdownReason::Poweroff => abi::SHUTDOWN_POWEROFF,
            ShutdownReason::Reboot => abi::SHUTDOWN_REBOOT,
            ShutdownReason::Crash => abi::SHUTDOWN_CRASH,
            ShutdownReason::Watchdog => abi::SHUTDOWN_WATCHDOG,
        }
    }
}

/// Ask Xen to end the domain with `reason`; returns Xen's answer if it
/// did not (it does not return from one it carries out).
fn request_shutdown(reason: ShutdownReason) -> i64 {
    let arg = SchedShutdown {
        reason: reason.code(),
    };
    // SAFETY: SCHEDOP_shutdown reads one `sched_shutdown` from this frame.
    unsafe {
        hypercall2(
            abi::HYPERVISOR_SCHED_OP,
            abi::SCHEDOP_SHUTDOWN,
            &raw const arg as u64,
        )
    }
}

/// End the domain with `reason` (SCHEDOP_shutdown).
pub fn shutdown(reason: ShutdownReason) -> ! {
    let ret = request_shutdown(reason);
    refused(reason, ret)
}

/// What follows a `SCHEDOP_shutdown` that returned: Xen does not return
/// from one it carried out. The fallback must never read as success: a
/// `cli; hlt` would (Xen reports a vCPU halted with interrupts off as a
/// power-off, code 0, "all passed"). So ask for a crash instead, and if
/// that returns too, triple-fault, which Xen reports as a reboot.
pub fn refused(reason: ShutdownReason, ret: i64) -> ! {
    log::error!(
        "SCHEDOP_shutdown({}) refused: returned {ret}; ending the domain as crashed",
        reason.code()
    );
    if reason != ShutdownReason::Crash {
        let ret = request_shutdown(ShutdownReason::Crash);
        log::error!("SCHEDOP_shutdown(crash) returned {ret} too; triple-faulting");
    }
    triple_fault()
}

#[cfg(target_os = "none")]
use virtus_kernel::arch::reset::triple_fault;

/// Host builds (unit tests) never end a domain.
#[cfg(not(target_os = "none"))]
fn triple_fault() -> ! {
    unreachable!("host builds never end a domain")
}

/// How `SCHEDOP_shutdown(SHUTDOWN_suspend)` came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuspendReturn {
    /// 0: the domain was saved and now runs restored (or migrated) as a
    /// new domain.
    NewDomain,
    /// 1: the toolstack resumed the same domain (a checkpoint, `xl save
    /// -c`, or a cancelled or failed save). libxl writes the 1 into vCPU 0's
    /// RAX only if `HVM_PARAM_CALLBACK_IRQ` is not 0 (`evtchn::init` makes
    /// sure), else a cancelled suspend looks like a new domain.
    SameDomain,
}

/// Ask Xen to suspend the domain for the toolstack, which saves it; returns
/// when the domain runs again. The third argument is the start_info frame
/// for a PV guest, 0 for PVH and HVM. A negative answer means Xen refused
/// and nothing happened.
pub fn suspend() -> Result<SuspendReturn, XenError> {
    let arg = SchedShutdown {
        reason: abi::SHUTDOWN_SUSPEND,
    };
    // SAFETY: SCHEDOP_shutdown reads one `sched_shutdown` from this frame;
    // the third argument is 0 for a PVH guest.
    let ret = unsafe {
        crate::hypercall::hypercall3(
            abi::HYPERVISOR_SCHED_OP,
            abi::SCHEDOP_SHUTDOWN,
            &raw const arg as u64,
            0,
        )
    };
    match ret {
        0 => Ok(SuspendReturn::NewDomain),
        r if r > 0 => Ok(SuspendReturn::SameDomain),
        r => Err(XenError::from_ret(r).err().unwrap_or(XenError::Inval)),
    }
}

/// Enable interrupts and sleep until an event is pending, without a
/// window in which a wake-up can be lost.
///
/// `sti` is immediately followed by `hlt`: STI's interrupt shadow holds any
/// interrupt until after the next instruction, so nothing can be taken
/// between the two, and an interrupt already pending ends the `hlt` at once.
/// For a PVH vCPU `hlt` traps to Xen, which advances RIP (ending the
/// shadow) and then blocks the vCPU exactly as SCHEDOP_block does, checking
/// for a deliverable event after marking it blocked.
///
/// This is `hlt` and not `sti; vmcall(SCHEDOP_block)` on purpose: Xen runs
/// a hypercall *before* stepping RIP past it, so at the time of the check
/// the vCPU is still in the STI shadow and Xen counts a pending event as
/// not deliverable (`hvm_interrupt_blocked` returns `hvm_intblk_shadow`).
/// It would block with an event pending, and since `evtchn_upcall_pending`
/// is already set, later events would not kick it either.
///
/// The pair is the core's (`arch::idle`), whose interrupt entry keeps the
/// wake-up where the nested test bed loses the STI shadow.
#[cfg(target_os = "none")]
pub fn block_with_interrupts_enabled() {
    virtus_kernel::arch::idle::enable_interrupts_and_halt();
}

/// Block until `port` is pending or Xen system time reaches
/// `timeout_ns_abs` (0: no timeout), whatever the interrupt flag and the
/// port's mask bit: Xen checks the pending bit itself after marking the
/// vCPU blocked. Returns at once if the port is already pending, so
/// callers that wait repeatedly clear the pending bit before re-checking
/// their condition.
pub fn poll(port: u32, timeout_ns_abs: u64) -> Result<(), XenError> {
    let ports = [port];
    let arg = SchedPoll {
        ports: ports.as_ptr() as u64,
        nr_ports: 1,
        _pad: 0,
        timeout: timeout_ns_abs,
    };
    // SAFETY: SCHEDOP_poll reads `arg` and the one-port array it points to,
    // both on this frame.
    let ret = unsafe {
        hypercall2(
            abi::HYPERVISOR_SCHED_OP,
            abi::SCHEDOP_POLL,
            &raw const arg as u64,
        )
    };
    XenError::from_ret(ret).map(drop)
}

/// Let Xen run something else if it wants to.
pub fn yield_now() {
    // SAFETY: SCHEDOP_yield takes no argument.
    unsafe { hypercall2(abi::HYPERVISOR_SCHED_OP, abi::SCHEDOP_YIELD, 0) };
}
