//! The domain's other vCPUs: how many there are, starting one at the
//! core's entry point, its own event delivery, the per-vCPU IPI event
//! channels that carry [`virtus_kernel::EventSource::Ipi`], and each
//! vCPU's own `VIRQ_TIMER` port and single-shot timer, which carry
//! [`virtus_kernel::EventSource::Timer`] on that vCPU.
//!
//! - Count: `VCPUOP_is_up` for ids 0, 1, ... until Xen answers `-ENOENT`,
//!   which `do_vcpu_op` returns for every id at or beyond the domain's
//!   `max_vcpus` (`domain_vcpu()`, xen/include/xen/sched.h, 4.17). It needs
//!   no parsing of guest-visible tables (the MADT Xen writes for PVH would
//!   have to be validated entry by entry) and no xenstore, which is not up
//!   when the core asks. It counts vCPUs that exist, up or not: with xl's
//!   `maxvcpus` above `vcpus` the extra ones exist too (they are offline
//!   only by the toolstack's say-so in `cpu/N/availability`).
//! - Ids: the core's CPU n is Xen's vCPU n (the boot CPU is vCPU 0: it is
//!   the one Xen starts). Each AP checks it against its own CPUID leaf.
//! - Start: `VCPUOP_initialise` with an HVM-type context in 64-bit mode,
//!   then `VCPUOP_up`. Xen gives the vCPU flat long-mode segments itself;
//!   the core's entry loads its own GDT and IDT first thing.
//! - Timers: `VCPUOP_set_singleshot_timer` and `_stop_singleshot_timer`
//!   act on the calling vCPU only (Xen answers `-EINVAL` for another:
//!   `v != current` in `do_vcpu_op`, common/domain.c, 4.17), and
//!   `VIRQ_TIMER` is a per-vCPU VIRQ, so each vCPU has its own timer port,
//!   bound to it, whose upcall comes to it.
//! - vcpu_info: the legacy slots in shared_info cover vCPUs 0..32
//!   (`XEN_LEGACY_MAX_VCPUS`, public/arch-x86/xen.h); the core starts at
//!   most `MAX_CPUS` (8), so `VCPUOP_register_vcpu_info` is not needed and
//!   vCPUs beyond the legacy slots are refused rather than half-served.

use crate::evtchn::{self, DeliveryMode, Port};
use crate::hypercall::XenError;
use crate::{abi, hvm, lapic, vcpu};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use virtus_kernel::PlatformError;
use virtus_kernel::arch::percpu::{self, MAX_CPUS};
use virtus_kernel::platform::CpuStart;

/// The probe's ceiling: `HVM_MAX_VCPUS` (public/hvm/hvm_info_table.h).
const HVM_MAX_VCPUS: u32 = 128;

/// Each CPU's IPI port (0, never a valid port, for none yet).
static IPI_PORTS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];
/// Each CPU's `VIRQ_TIMER` port (0 for none yet).
static TIMER_PORTS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];
/// Set for an AP whose single-shot timer a restore lost: its next IPI
/// also counts as a timer event (see [`rebind_aps`]).
static TIMER_KICK: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// Control register and EFER bits (Intel SDM vol. 3, 2.5; Xen's
/// x86-defns.h names the same values).
const CR0_PE: u64 = 1 << 0;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;
/// RFLAGS bit 1 is always set; IF (bit 9) stays clear: interrupts off.
const RFLAGS_FIXED: u64 = 1 << 1;

/// The domain's vCPUs, by probing (see the module comment). Every answer
/// is checked: vCPU 0 must exist and be up (it is asking), and the count
/// must end with `-ENOENT` before `HVM_MAX_VCPUS`.
pub fn vcpu_count() -> Result<usize, &'static str> {
    for id in 0..=HVM_MAX_VCPUS {
        match vcpu::is_up(id) {
            Ok(false) if id == 0 => return Err("Xen says vCPU 0 (this one) is down"),
            Ok(_) => {}
            Err(XenError::NoEnt) if id > 0 => return Ok(id as usize),
            Err(e) => {
                log::error!("smp: VCPUOP_is_up({id}): {e}");
                return Err("VCPUOP_is_up failed");
            }
        }
    }
    Err("Xen reports more vCPUs than HVM_MAX_VCPUS")
}

/// Xen's vCPU id for the core's CPU `cpu`: the same number, within what
/// this backend serves (the legacy `vcpu_info` slots and the core's
/// table).
pub fn vcpu_id(cpu: usize) -> Result<u32, PlatformError> {
    if cpu >= abi::shared_info_off::LEGACY_MAX_VCPUS || cpu >= MAX_CPUS {
        return Err(PlatformError::Device(
            "vCPU beyond the legacy vcpu_info slots (would need VCPUOP_register_vcpu_info)",
        ));
    }
    u32::try_from(cpu).map_err(|_| PlatformError::Device("CPU number out of range"))
}

/// The start context the core's contract asks for (see [`CpuStart`]).
pub fn start_context(start: &CpuStart, efer_nxe: bool) -> vcpu::VcpuHvmContext {
    vcpu::VcpuHvmContext {
        mode: vcpu::VCPU_HVM_MODE_64B,
        pad: 0,
        x86_64: vcpu::VcpuHvmX86_64 {
            rip: start.entry,
            // The entry is an `extern "C" fn` entered by a jump, not a
            // call: start where a call would have left RSP (the return
            // address slot taken), so the SysV rule "RSP + 8 is 16-byte
            // aligned at entry" holds for the compiled function.
            rsp: start.stack_top - 8,
            rdi: start.cpu as u64,
            rflags: RFLAGS_FIXED,
            cr0: CR0_PE | CR0_ET | CR0_NE | CR0_WP | CR0_PG,
            cr3: start.page_table,
            cr4: CR4_PAE,
            efer: EFER_LME | EFER_LMA | if efer_nxe { EFER_NXE } else { 0 },
            ..Default::default()
        },
        _union_tail: [0; 8],
    }
}

/// Check what the core asks for before Xen sees it.
fn check_start(start: &CpuStart) -> Result<u32, PlatformError> {
    let vcpu = vcpu_id(start.cpu)?;
    if vcpu == 0 {
        return Err(PlatformError::Device(
            "vCPU 0 is the boot CPU, already running",
        ));
    }
    // Canonical (Xen checks this too, but says so only on its console).
    let canonical = |a: u64| (a as i64) << 16 >> 16 == a as i64;
    if start.entry == 0 || !canonical(start.entry) {
        return Err(PlatformError::Device(
            "AP entry point is not a canonical address",
        ));
    }
    if !start.stack_top.is_multiple_of(16) || start.stack_top < 4096 || !canonical(start.stack_top)
    {
        return Err(PlatformError::Device("AP stack top is not 16-byte aligned"));
    }
    if start.page_table == 0
        || !start.page_table.is_multiple_of(4096)
        || start.page_table >> 32 != 0
    {
        return Err(PlatformError::Device(
            "AP page table is not a page below 4 GiB",
        ));
    }
    Ok(vcpu)
}

/// Start the AP `start.cpu` at `start.entry`. Returns once Xen has made it
/// runnable.
pub fn start(start: &CpuStart) -> Result<(), PlatformError> {
    let vcpu = check_start(start)?;
    // NXE as on this CPU: the kernel's tables carry NX bits only when the
    // boot path could turn NXE on (and Xen refuses NXE without NX).
    let nxe = x86_64::registers::model_specific::Efer::read()
        .contains(x86_64::registers::model_specific::EferFlags::NO_EXECUTE_ENABLE);
    let ctx = start_context(start, nxe);
    vcpu::initialise_hvm(vcpu, &ctx).map_err(|e| {
        log::error!("smp: VCPUOP_initialise(vCPU {vcpu}): {e}");
        PlatformError::Device(match e {
            XenError::Exist => "VCPUOP_initialise: vCPU already initialised (EEXIST)",
            XenError::Inval => {
                "VCPUOP_initialise: Xen refused the start context (EINVAL; its console says why)"
            }
            XenError::NoEnt => "VCPUOP_initialise: no such vCPU (ENOENT)",
            XenError::Fault => "VCPUOP_initialise: Xen could not read the context (EFAULT)",
            _ => "VCPUOP_initialise failed",
        })
    })?;
    vcpu::up(vcpu).map_err(|e| {
        log::error!("smp: VCPUOP_up(vCPU {vcpu}): {e}");
        PlatformError::Device(match e {
            XenError::Inval => "VCPUOP_up: vCPU not initialised (EINVAL)",
            XenError::NoEnt => "VCPUOP_up: no such vCPU (ENOENT)",
            _ => "VCPUOP_up failed",
        })
    })
}

/// On the AP `cpu` itself: check that Xen agrees on its id, route its
/// event upcall to `vector` (per vCPU, or nothing to do with the
/// domain-wide callback vector, which Xen injects into whichever vCPU has
/// `evtchn_upcall_pending` set), and bind its IPI channel.
pub fn init_local(cpu: usize, vector: u8, on_ipi: fn(Port)) -> Result<(), PlatformError> {
    let vcpu = vcpu_id(cpu)?;
    if let Some(info) = crate::hypercall::try_info() {
        let leaf = core::arch::x86_64::__cpuid(info.cpuid_base + 4);
        if leaf.eax & abi::XEN_HVM_CPUID_VCPU_ID_PRESENT != 0 && leaf.ebx != vcpu {
            log::error!("smp: cpu {cpu} runs as Xen vCPU {}", leaf.ebx);
            return Err(PlatformError::Device(
                "Xen's vCPU id differs from the CPU number",
            ));
        }
    }
    // As on vCPU 0: the core wants no periodic ticks (harmless if none).
    let _ = vcpu::stop_periodic_timer(vcpu);
    match evtchn::delivery_mode() {
        Some(DeliveryMode::PerVcpuVector) => {
            if !lapic::enable_this_cpu() {
                return Err(PlatformError::Device("no local APIC for the upcall vector"));
            }
            // Xen injects one upcall at once; interrupts are off here, so
            // it waits for the core's first `sti`, by which time this
            // vCPU's scan works (its vcpu_info slot is always there).
            hvm::set_evtchn_upcall_vector(vcpu, vector).map_err(|e| {
                log::error!("smp: HVMOP_set_evtchn_upcall_vector(vCPU {vcpu}): {e}");
                PlatformError::Device("HVMOP_set_evtchn_upcall_vector refused")
            })?;
        }
        Some(DeliveryMode::CallbackVector) => {}
        None => return Err(PlatformError::Device("event channels not set up")),
    }
    bind_ipi_port(cpu, on_ipi).map(drop)
}

/// Xen's vCPU id of the CPU running this (see [`vcpu_id`]: the same
/// number, which [`init_local`] checked against Xen's on each AP).
pub fn current_vcpu() -> u32 {
    percpu::current() as u32
}

/// Bind CPU `cpu`'s `VIRQ_TIMER` (to its vCPU), with `handler`, unmasked.
/// A port already bound in this domain is kept (Xen allows one per vCPU:
/// a CPU set up again, as after a hot-unplug and plug, finds it in place).
pub fn bind_timer_port(cpu: usize, handler: fn(Port)) -> Result<Port, PlatformError> {
    let vcpu = vcpu_id(cpu)?;
    let port = match TIMER_PORTS[cpu].load(Ordering::Acquire) {
        0 => evtchn::bind_virq_on(abi::VIRQ_TIMER, vcpu).map_err(|e| {
            log::error!("smp: EVTCHNOP_bind_virq(VIRQ_TIMER, vCPU {vcpu}): {e}");
            PlatformError::Device("cannot bind VIRQ_TIMER")
        })?,
        port => port,
    };
    serve(
        port,
        handler,
        [
            "timer port beyond the handler table",
            "cannot unmask the timer port",
        ],
    )?;
    TIMER_PORTS[cpu].store(port, Ordering::Release);
    Ok(port)
}

/// Give a freshly bound `port` its `handler` and unmask it; `errors` are
/// what to say if the handler table has no room, or the unmask fails.
fn serve(port: Port, handler: fn(Port), errors: [&'static str; 2]) -> Result<(), PlatformError> {
    if !evtchn::set_handler(port, handler) {
        return Err(PlatformError::Device(errors[0]));
    }
    evtchn::unmask(port).map_err(|e| {
        log::error!("smp: EVTCHNOP_unmask({port}): {e}");
        PlatformError::Device(errors[1])
    })
}

/// In a new domain (after a restore), before binding again: every
/// `VIRQ_TIMER` port number is void (see [`rebind_aps`]).
pub fn forget_timer_ports() {
    for slot in &TIMER_PORTS {
        slot.store(0, Ordering::Release);
    }
}

/// Whether the running CPU's timer was lost in a restore and not yet made
/// up for (taken once; see [`rebind_aps`]).
pub fn take_timer_kick() -> bool {
    TIMER_KICK
        .get(percpu::current())
        .is_some_and(|k| k.swap(false, Ordering::AcqRel))
}

/// Bind CPU `cpu`'s IPI channel (to its vCPU), with `handler`, unmasked.
pub fn bind_ipi_port(cpu: usize, handler: fn(Port)) -> Result<Port, PlatformError> {
    let vcpu = vcpu_id(cpu)?;
    let port = evtchn::bind_ipi_on(vcpu).map_err(|e| {
        log::error!("smp: EVTCHNOP_bind_ipi(vCPU {vcpu}): {e}");
        PlatformError::Device("cannot bind an IPI channel")
    })?;
    serve(
        port,
        handler,
        [
            "IPI port beyond the handler table",
            "cannot unmask the IPI port",
        ],
    )?;
    IPI_PORTS[cpu].store(port, Ordering::Release);
    Ok(port)
}

/// In a new domain (after a restore), from vCPU 0: the APs still run
/// (their registers and local APICs travel in the HVM save records) but
/// their ports are gone, their numbers free for reuse, and the per-vCPU
/// upcall vector is not saved. Route each AP's upcall again and bind it a
/// new IPI port and a new `VIRQ_TIMER` port; all three operations name the
/// target vCPU, so vCPU 0 can do them for it
/// (`hvmop_set_evtchn_upcall_vector`, `evtchn_bind_ipi` and
/// `evtchn_bind_virq` take any vCPU of the domain). An AP that fails is
/// left without IPIs: `send_ipi` then says so instead of using a stale
/// port. Returns how many APs were served.
///
/// An AP's single-shot timer is not in the save records either, and only
/// the AP itself can arm it again, so each AP served gets an IPI whose
/// handler also reports a timer event (`TIMER_KICK`): the core's handler
/// then runs that CPU's expired deadlines and arms its timer again.
pub fn rebind_aps(vector: u8, on_ipi: fn(Port), on_timer: fn(Port)) -> usize {
    let mut served = 0;
    for (cpu, slot) in IPI_PORTS.iter().enumerate().skip(1) {
        if slot.swap(0, Ordering::AcqRel) == 0 {
            continue;
        }
        let Ok(vcpu) = vcpu_id(cpu) else { continue };
        if evtchn::delivery_mode() == Some(DeliveryMode::PerVcpuVector)
            && let Err(e) = hvm::set_evtchn_upcall_vector(vcpu, vector)
        {
            log::error!("smp: after restore, vCPU {vcpu}'s upcall vector: {e}; no IPIs to it");
            continue;
        }
        if let Err(e) = bind_timer_port(cpu, on_timer) {
            log::error!("smp: after restore, cpu {cpu}: {e}; its timer stays silent");
        }
        match bind_ipi_port(cpu, on_ipi) {
            Ok(_) => {
                served += 1;
                TIMER_KICK[cpu].store(true, Ordering::Release);
                if let Err(e) = send_ipi(cpu) {
                    log::error!("smp: after restore, cpu {cpu}'s timer kick: {e}");
                }
            }
            Err(e) => log::error!("smp: after restore, cpu {cpu}: {e}; no IPIs to it"),
        }
    }
    served
}

/// Send CPU `cpu` an IPI: `EVTCHNOP_send` on its port.
pub fn send_ipi(cpu: usize) -> Result<(), PlatformError> {
    let port = IPI_PORTS.get(cpu).map_or(0, |p| p.load(Ordering::Acquire));
    if port == 0 {
        return Err(PlatformError::Unavailable("IPI channel to that CPU"));
    }
    evtchn::send(port).map_err(|e| {
        log::error!("smp: EVTCHNOP_send({port}) to cpu {cpu}: {e}");
        PlatformError::Device("EVTCHNOP_send failed")
    })
}
