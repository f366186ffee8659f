//! Event channels, Xen's interrupts: binding ports, sending on them, and
//! the upcall handler that turns the 2-level pending bitmaps into calls to
//! per-port handlers.
//!
//! A PVH domain has no emulated IOAPIC or PIC, so the upcall arrives as a
//! vector: preferably per vCPU (`HVMOP_set_evtchn_upcall_vector`, a real
//! local APIC interrupt that needs an EOI), else the domain-wide callback
//! vector (`HVM_PARAM_CALLBACK_IRQ` type 2, injected by Xen while
//! `evtchn_upcall_pending` is set, no EOI).
//!
//! With several vCPUs, every port is bound to one of them. The 2-level
//! pending bitmap is the domain's, but Xen flags the selector and upcall
//! in the `vcpu_info` of the port's vCPU and interrupts that vCPU only. So
//! each vCPU scans its own `vcpu_info` and handles only its own ports
//! ([`OWNER`]): a port bound to vCPU 0 that shares a bitmap word with an
//! AP's port stays pending for vCPU 0, and the reverse.

use crate::abi::{self, DOMID_SELF};
use crate::hypercall::{XenError, hypercall2};
use crate::shared_info;
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, Ordering};

/// The vCPU each port is bound to (0 unless [`bind_ipi_on`] or
/// [`bind_virq_on`] said otherwise: every global VIRQ, interdomain and
/// unbound port of this backend is bound to vCPU 0, where Xen binds them
/// by default). vCPU ids fit: only the 32 legacy `vcpu_info` slots are
/// used.
static OWNER: [AtomicU8; MAX_PORTS] = [const { AtomicU8::new(0) }; MAX_PORTS];

/// An event channel port (`evtchn_port_t`).
pub type Port = u32;

/// How the upcall is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryMode {
    /// `HVMOP_set_evtchn_upcall_vector`: LAPIC interrupt, EOI required.
    PerVcpuVector,
    /// `HVM_PARAM_CALLBACK_IRQ = (2 << 56) | vector`: no EOI.
    CallbackVector,
}

/// Ports with a handler slot: all 4096 of the 2-level ABI.
pub const MAX_PORTS: usize = abi::EVTCHN_2L_NR_CHANNELS as usize;

/// Handlers as type-erased `fn(Port)` pointers (null: none). Atomics, not
/// a lock: the upcall handler reads the table in interrupt context and
/// must never wait for a `set_handler` it interrupted.
static HANDLERS: [AtomicPtr<()>; MAX_PORTS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_PORTS];
static UPCALLS: AtomicU64 = AtomicU64::new(0);
static UNHANDLED: AtomicU64 = AtomicU64::new(0);
const MODE_NONE: u8 = 0;
const MODE_PER_VCPU: u8 = 1;
const MODE_CALLBACK: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(MODE_NONE);

/// The event bitmaps the scan works on: shared_info in the kernel, plain
/// arrays in the host tests.
pub trait EventBitmap {
    /// Pending word `w` (< 64).
    fn pending_word(&self, w: usize) -> u64;
    /// Mask word `w` (< 64).
    fn mask_word(&self, w: usize) -> u64;
    /// Atomically clear `port`'s pending bit; true if it was set.
    fn test_and_clear_pending(&self, port: Port) -> bool;
}

impl EventBitmap for shared_info::SharedInfo {
    fn pending_word(&self, w: usize) -> u64 {
        shared_info::SharedInfo::pending_word(self, w)
    }
    fn mask_word(&self, w: usize) -> u64 {
        shared_info::SharedInfo::mask_word(self, w)
    }
    fn test_and_clear_pending(&self, port: Port) -> bool {
        shared_info::SharedInfo::test_and_clear_pending(self, port)
    }
}

/// One pass of the 2-level scan: for each word selected in `sel`, take a
/// snapshot of its pending-and-unmasked bits and, for each, clear the
/// pending bit and call `handle` if this scan was the one that cleared it.
/// Masked ports keep their pending bit for `unmask` to re-deliver. Events
/// arriving during the pass set `evtchn_pending_sel` and the upcall flag
/// again, so the caller loops on the flag rather than re-scanning here
/// (which would let one busy port starve the others). Only ports for which
/// `mine` holds are taken (the others belong to another vCPU and stay
/// pending for it). Returns the number of ports handled.
pub fn scan_pending(
    sel: u64,
    bits: &impl EventBitmap,
    mine: impl Fn(Port) -> bool,
    mut handle: impl FnMut(Port),
) -> usize {
    let mut handled = 0;
    let mut words = sel;
    while words != 0 {
        let w = words.trailing_zeros() as usize;
        words &= words - 1;
        let mut ready = bits.pending_word(w) & !bits.mask_word(w);
        while ready != 0 {
            let port = (w * 64) as Port + ready.trailing_zeros();
            ready &= ready - 1;
            if mine(port) && bits.test_and_clear_pending(port) {
                handle(port);
                handled += 1;
            }
        }
    }
    handled
}

/// Call `port`'s handler, or count it as unhandled.
fn dispatch(port: Port) {
    let slot = HANDLERS
        .get(port as usize)
        .map(|h| h.load(Ordering::Acquire));
    match slot {
        Some(ptr) if !ptr.is_null() => {
            // SAFETY: only `set_handler` stores non-null values, and it
            // stores `fn(Port)` pointers, so this converts one back.
            let handler = unsafe { core::mem::transmute::<*mut (), fn(Port)>(ptr) };
            handler(port);
        }
        _ => {
            UNHANDLED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Whether `port` is bound to `vcpu`.
fn owned_by(port: Port, vcpu: usize) -> bool {
    OWNER
        .get(port as usize)
        .is_some_and(|o| usize::from(o.load(Ordering::Acquire)) == vcpu)
}

/// The work of one upcall on vCPU `vcpu`: clear its upcall flag *before*
/// scanning (an event that arrives mid-scan sets it again), take its
/// selector, scan its ports, and repeat until Xen has not flagged
/// anything new.
pub fn handle_upcall(vcpu: usize) {
    UPCALLS.fetch_add(1, Ordering::Relaxed);
    if let Some(si) = shared_info::get()
        && vcpu < abi::shared_info_off::LEGACY_MAX_VCPUS
    {
        loop {
            si.clear_upcall_pending(vcpu);
            let sel = si.pending_sel_take(vcpu);
            scan_pending(sel, si, |port| owned_by(port, vcpu), dispatch);
            if !si.upcall_pending(vcpu) {
                break;
            }
        }
    }
    // Whatever happened above, the vector must be acknowledged or the
    // LAPIC holds back every later upcall.
    if MODE.load(Ordering::Relaxed) == MODE_PER_VCPU {
        crate::lapic::eoi();
    }
}

#[cfg(target_os = "none")]
fn upcall_entry(_frame: &mut virtus_kernel::arch::trap::TrapFrame) {
    // The core numbers CPUs as Xen numbers vCPUs (see `smp::vcpu_id`).
    handle_upcall(virtus_kernel::arch::percpu::current());
}

/// Route event upcalls to `vector`: map shared_info, enable the local APIC
/// (Xen only raises the per-vCPU vector into an enabled one, and injects a
/// first upcall as soon as it is set, so the handler must be in place
/// before), install the handler, then ask for the per-vCPU vector and fall
/// back to the callback vector. Fails with `EEXIST` if the vector is taken.
#[cfg(target_os = "none")]
pub fn init(vector: u8) -> Result<DeliveryMode, XenError> {
    let info = crate::hypercall::try_info().ok_or(XenError::NoSys)?;
    shared_info::map()?;
    crate::lapic::enable();
    // The mode must be known before the first upcall, which may come as
    // soon as the vector is set; assume the per-vCPU way (an EOI with
    // nothing in service is harmless) and correct it on fallback.
    MODE.store(MODE_PER_VCPU, Ordering::Relaxed);
    if !virtus_kernel::interrupts::register_vector(vector, upcall_entry) {
        MODE.store(MODE_NONE, Ordering::Relaxed);
        return Err(XenError::Exist);
    }
    route_upcalls(info, vector).inspect_err(|_| MODE.store(MODE_NONE, Ordering::Relaxed))
}

/// Ask Xen for the per-vCPU vector, else the callback vector.
#[cfg(target_os = "none")]
fn route_upcalls(info: &crate::hypercall::XenInfo, vector: u8) -> Result<DeliveryMode, XenError> {
    if info.upcall_vector_supported && crate::lapic::mode().is_some() {
        match crate::hvm::set_evtchn_upcall_vector(info.vcpu_id, vector) {
            Ok(()) => {
                // libxl tells a cancelled suspend (return 1) from a
                // restore (0) by writing vCPU 0's RAX only if
                // HVM_PARAM_CALLBACK_IRQ is set, so set it to something
                // harmless as Linux does: GSI 1, which the per-vCPU vector
                // overrides for event delivery.
                if let Err(e) =
                    crate::hvm::set_param(abi::HVM_PARAM_CALLBACK_IRQ, CALLBACK_PLACEHOLDER)
                {
                    log::warn!("evtchn: HVM_PARAM_CALLBACK_IRQ placeholder refused ({e})");
                }
                MODE.store(MODE_PER_VCPU, Ordering::Relaxed);
                return Ok(DeliveryMode::PerVcpuVector);
            }
            Err(e) => log::warn!("evtchn: per-vCPU upcall vector refused ({e}), using callback"),
        }
    }
    MODE.store(MODE_CALLBACK, Ordering::Relaxed);
    crate::hvm::set_param(
        abi::HVM_PARAM_CALLBACK_IRQ,
        crate::hvm::callback_via_vector(vector),
    )?;
    Ok(DeliveryMode::CallbackVector)
}

/// `HVM_PARAM_CALLBACK_IRQ` with the per-vCPU vector in use: "GSI 1", a
/// value whose only purpose is not to be 0 (see [`route_upcalls`]).
#[cfg(target_os = "none")]
const CALLBACK_PLACEHOLDER: u64 = 1;

/// After a suspend. In a new domain every port is gone and their numbers
/// will be reused: forget every handler (each owner binds again and sets
/// its own), mask every port until then, and route upcalls to `vector`
/// again (neither the per-vCPU vector nor `HVM_PARAM_CALLBACK_IRQ` travels
/// with a saved domain). In the same domain the bindings are intact and
/// routing again is harmless. The vector's handler is still installed.
#[cfg(target_os = "none")]
pub fn resume(vector: u8, new_domain: bool) -> Result<DeliveryMode, XenError> {
    let info = crate::hypercall::try_info().ok_or(XenError::NoSys)?;
    if new_domain {
        for slot in &HANDLERS {
            slot.store(core::ptr::null_mut(), Ordering::Release);
        }
        for owner in &OWNER {
            owner.store(0, Ordering::Release);
        }
        if let Some(si) = shared_info::get() {
            si.mask_all();
        }
    }
    route_upcalls(info, vector)
}

/// How upcalls are delivered, once [`init`] has succeeded.
pub fn delivery_mode() -> Option<DeliveryMode> {
    match MODE.load(Ordering::Relaxed) {
        MODE_PER_VCPU => Some(DeliveryMode::PerVcpuVector),
        MODE_CALLBACK => Some(DeliveryMode::CallbackVector),
        _ => None,
    }
}

fn op<T>(cmd: u64, arg: &mut T) -> Result<(), XenError> {
    // SAFETY: every caller passes the `evtchn_*` structure `cmd` expects,
    // borrowed mutably for the call so Xen may write its OUT fields.
    let ret = unsafe {
        hypercall2(
            abi::HYPERVISOR_EVENT_CHANNEL_OP,
            cmd,
            core::ptr::from_mut(arg) as u64,
        )
    };
    XenError::from_ret(ret).map(drop)
}

/// Bind virtual IRQ `virq` on vCPU `vcpu` (< 32) to a new port, whose
/// events that vCPU alone is interrupted for and handles. A per-vCPU VIRQ
/// (`VIRQ_TIMER`: "V." in public/xen.h) has one port per vCPU; Xen
/// answers `-EEXIST` if `vcpu` has one already and `-EINVAL` for a global
/// VIRQ on any vCPU but 0 (`evtchn_bind_virq`, common/event_channel.c,
/// 4.17). Any vCPU of the domain may bind it for any other.
pub fn bind_virq_on(virq: u32, vcpu: u32) -> Result<Port, XenError> {
    let owner = legacy_owner(vcpu)?;
    let mut arg = abi::EvtchnBindVirq {
        virq,
        vcpu,
        port: 0,
    };
    op(abi::EVTCHNOP_BIND_VIRQ, &mut arg)?;
    set_owner(arg.port, owner)?;
    Ok(arg.port)
}

/// `vcpu` as an [`OWNER`] entry: one of the legacy `vcpu_info` slots.
fn legacy_owner(vcpu: u32) -> Result<u8, XenError> {
    u8::try_from(vcpu)
        .ok()
        .filter(|&v| usize::from(v) < abi::shared_info_off::LEGACY_MAX_VCPUS)
        .ok_or(XenError::Inval)
}

/// Note that `port`, just bound, belongs to vCPU `owner`; a port the
/// 2-level ABI cannot signal is given back.
fn set_owner(port: Port, owner: u8) -> Result<(), XenError> {
    match OWNER.get(port as usize) {
        Some(slot) => {
            slot.store(owner, Ordering::Release);
            Ok(())
        }
        None => {
            let _ = op(abi::EVTCHNOP_CLOSE, &mut abi::EvtchnPort { port });
            Err(XenError::NoSpace)
        }
    }
}

/// A new port for interrupting vCPU 0 from this domain.
pub fn bind_ipi() -> Result<Port, XenError> {
    bind_ipi_on(0)
}

/// A new port for interrupting vCPU `vcpu` (< 32) from this domain;
/// events on it are delivered to, and handled by, that vCPU only.
pub fn bind_ipi_on(vcpu: u32) -> Result<Port, XenError> {
    let owner = legacy_owner(vcpu)?;
    let mut arg = abi::EvtchnBindIpi { vcpu, port: 0 };
    op(abi::EVTCHNOP_BIND_IPI, &mut arg)?;
    set_owner(arg.port, owner)?;
    Ok(arg.port)
}

/// A new port that domain `remote` may bind to.
pub fn alloc_unbound(remote: u16) -> Result<Port, XenError> {
    let mut arg = abi::EvtchnAllocUnbound {
        dom: DOMID_SELF,
        remote_dom: remote,
        port: 0,
    };
    op(abi::EVTCHNOP_ALLOC_UNBOUND, &mut arg)?;
    Ok(arg.port)
}

/// Connect a new local port to `remote_port` of domain `remote_dom`.
pub fn bind_interdomain(remote_dom: u16, remote_port: Port) -> Result<Port, XenError> {
    let mut arg = abi::EvtchnBindInterdomain {
        remote_dom,
        _pad: 0,
        remote_port,
        local_port: 0,
    };
    op(abi::EVTCHNOP_BIND_INTERDOMAIN, &mut arg)?;
    Ok(arg.local_port)
}

/// Notify the other end of `port`.
pub fn send(port: Port) -> Result<(), XenError> {
    op(abi::EVTCHNOP_SEND, &mut abi::EvtchnPort { port })
}

/// Close `port` and forget its handler.
pub fn close(port: Port) -> Result<(), XenError> {
    if let Some(slot) = HANDLERS.get(port as usize) {
        slot.store(core::ptr::null_mut(), Ordering::Release);
    }
    if let Some(owner) = OWNER.get(port as usize) {
        owner.store(0, Ordering::Release);
    }
    op(abi::EVTCHNOP_CLOSE, &mut abi::EvtchnPort { port })
}

/// Mask `port` (a local bit in shared_info; no hypercall).
pub fn mask(port: Port) {
    if let Some(si) = shared_info::get() {
        si.set_mask(port);
    }
}

/// Unmask `port` through Xen, which re-raises the upcall if an event
/// arrived while it was masked (clearing the bit locally would lose it).
pub fn unmask(port: Port) -> Result<(), XenError> {
    op(abi::EVTCHNOP_UNMASK, &mut abi::EvtchnPort { port })
}

/// Call `handler` (in interrupt context) for each event on `port`.
/// Replaces any previous handler; false for ports beyond [`MAX_PORTS`].
pub fn set_handler(port: Port, handler: fn(Port)) -> bool {
    match HANDLERS.get(port as usize) {
        Some(slot) => {
            slot.store(handler as *mut (), Ordering::Release);
            true
        }
        None => false,
    }
}

/// Upcalls taken so far.
pub fn upcalls() -> u64 {
    UPCALLS.load(Ordering::Relaxed)
}

/// Events found on ports without a handler.
pub fn unhandled() -> u64 {
    UNHANDLED.load(Ordering::Relaxed)
}

#[cfg(test)]
#[path = "evtchn_tests.rs"]
mod tests;
