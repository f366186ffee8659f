//! `Platform` for a Xen PVH domU: every device the native backend drives is
//! replaced by a Xen facility.
//!
//! | what the core needs | native backend          | here                                  |
//! |---------------------|-------------------------|---------------------------------------|
//! | console             | 16550 UART (port I/O)   | PV console ring + event channel       |
//! | clock               | TSC calibrated by PIT   | pvclock in `vcpu_time_info`           |
//! | one-shot timer      | local APIC timer        | `VCPUOP_set_singleshot_timer` + VIRQ  |
//! | (one per CPU)       | (each CPU's own)        | (each vCPU's own timer and port)      |
//! | interrupts          | IOAPIC + local APIC     | event channels, an upcall per vCPU    |
//! | idle                | `sti; hlt`              | `sti; SCHEDOP_block`                  |
//! | power off           | isa-debug-exit / ACPI   | `SCHEDOP_shutdown`                    |
//! | host requests       | ACPI power button (SCI) | xenstore `control/` watches           |
//! | other CPUs          | INIT-SIPI-SIPI          | `VCPUOP_initialise` + `VCPUOP_up`     |
//! | IPIs                | local APIC ICR          | an IPI event channel per vCPU         |
//! | CPU hot-unplug      | (none)                  | `cpu/` watch, `VCPUOP_down`/`up`      |

use crate::console::{Console, RingFault};
use crate::debug_console;
use crate::evtchn::{self, DeliveryMode, Port};
use crate::hypercall::{self, XenInfo};
use crate::sched::{self, ShutdownReason};
use crate::shared_info::{self, SharedInfo};
use crate::{abi, memory, time, vcpu};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use spin::Once;
use virtus_kernel::bench::Bench;
use virtus_kernel::boot::BootInfo;
use virtus_kernel::harness::Test;
use virtus_kernel::mem::MemoryMap;
use virtus_kernel::platform::{CpuStart, EventHandlers, HostRequest, Resumed, ShellCommand};
use virtus_kernel::{
    CpuInfo, EventHandler, EventSource, ExitStatus, MmioRegion, Platform, PlatformError,
};

/// The MSR holding the local APIC's physical base address.
const IA32_APIC_BASE: u32 = 0x1b;

/// The vector Xen raises for event-channel upcalls.
pub const UPCALL_VECTOR: u8 = 0xf3;

/// Event-channel ports bound at start-up (and again after a restore into
/// a new domain).
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// vCPU 0's `VIRQ_TIMER`: its single-shot timer fired (each AP has
    /// its own, bound in `cpu_init_local`).
    pub timer: Port,
    /// An IPI channel to ourselves, for `send_self_event`.
    pub self_event: Port,
    /// The console's channel (input arrived, or output was consumed).
    pub console: Port,
    /// vCPU 0's IPI channel, for `send_ipi(0)` (distinct from
    /// `self_event`: the core tells the two events apart).
    pub ipi: Port,
}

/// The Xen PVH machine.
pub struct PvPlatform {
    pub(crate) boot_info: Once<BootInfo>,
    pub(crate) xen: Once<&'static XenInfo>,
    pub(crate) console: Once<Console>,
    pub(crate) shared: Once<&'static SharedInfo>,
    /// The self-event port ([`Ports::self_event`]); 0 (never a valid
    /// port) before binding. Atomic: a restore changes it.
    self_event_port: AtomicU32,
    pub(crate) mode: Once<DeliveryMode>,
    /// Xen system time at boot: the core's clock starts at zero here.
    boot_system_ns: AtomicU64,
    handlers: EventHandlers,
}

pub(crate) static PLATFORM: PvPlatform = PvPlatform {
    boot_info: Once::new(),
    xen: Once::new(),
    console: Once::new(),
    shared: Once::new(),
    self_event_port: AtomicU32::new(0),
    mode: Once::new(),
    boot_system_ns: AtomicU64::new(0),
    handlers: EventHandlers::new(),
};

fn notify(source: EventSource) {
    PLATFORM.handlers.notify(source);
}

/// A `VIRQ_TIMER` port's upcall, on the vCPU the port is bound to, whose
/// single-shot timer fired: the core's handler serves that CPU's timers.
fn on_timer_port(_: Port) {
    notify(EventSource::Timer);
}

fn on_self_event_port(_: Port) {
    notify(EventSource::SelfEvent);
}

/// An IPI port's upcall, on the vCPU the port is bound to: the core's
/// handler only counts and runs its lock-free mailbox. After a restore
/// lost this vCPU's single-shot timer, the first IPI is a timer event too
/// (`smp::rebind_aps`), so that the core arms it again.
fn on_ipi_port(_: Port) {
    if crate::smp::take_timer_kick() {
        notify(EventSource::Timer);
    }
    notify(EventSource::Ipi);
}

fn on_console_port(_: Port) {
    notify(EventSource::ConsoleInput);
}

/// The xenstore port's upcall: xenstored wrote something (a reply, or a
/// watch event while the guest idles). Only noted: the main line reads
/// the ring when it asks `host_request`.
pub(crate) fn on_store_port(_: Port) {
    crate::blkfront::note_store_activity();
    notify(EventSource::HostRequest);
}

/// The same note from the main line: the xenstore client queued a watch
/// event it read while waiting for a reply.
pub(crate) fn notify_host_request() {
    crate::blkfront::note_store_activity();
    notify(EventSource::HostRequest);
}

/// Stop without a PV console: only Xen's own console and shutdown code
/// (if Xen is there) carry the news.
fn die_without_console(xen_present: bool, why: core::fmt::Arguments<'_>) -> ! {
    if xen_present {
        debug_console::report(why);
        sched::shutdown(ShutdownReason::Crash);
    }
    // Not on Xen, and no console: nothing can report; never a power-off.
    virtus_kernel::arch::reset::triple_fault()
}

/// Write a message straight to the console ring, for start-of-day errors.
fn early_message(console: &Console, parts: &[&[u8]]) {
    for part in parts {
        if let Err(fault) = console.write(part) {
            console_failed(fault);
        }
    }
}

/// A console ring was abandoned (see `console.rs`): say so once on Xen's
/// console, the output that remains. A corrupt ring is counted, and the
/// count turns the run's exit status into a crash at shutdown; a stalled
/// ring ends the run now, as a crash: every later line would stall again,
/// and a run whose result cannot be read must not look like one that
/// passed.
fn console_failed(fault: RingFault) {
    match fault {
        RingFault::Abandoned => {}
        RingFault::Corrupt { .. } => {
            debug_console::report(format_args!(
                "PV console {fault}; the run will end as a crash"
            ));
        }
        RingFault::Stalled { .. } => {
            debug_console::report(format_args!("PV console {fault}; crashing the domain"));
            sched::shutdown(ShutdownReason::Crash);
        }
    }
}

/// Entry from the PVH boot path (see `main.rs`).
pub fn boot(start_info_paddr: u64) -> ! {
    let Some(info) = hypercall::detect() else {
        // Not on Xen: no PV console to speak through.
        die_without_console(false, format_args!("not on Xen"));
    };
    PLATFORM.xen.call_once(hypercall::info);
    let console = match Console::from_hvm_params() {
        Ok(console) => PLATFORM.console.call_once(|| console),
        Err(e) => die_without_console(true, format_args!("no PV console: {e}")),
    };
    virtus_kernel::set_platform(&PLATFORM);

    // shared_info first: it carries the clock every log line reads.
    match shared_info::map() {
        Ok(shared) => {
            PLATFORM.shared.call_once(|| shared);
            PLATFORM
                .boot_system_ns
                .store(time::system_time_ns(shared), Ordering::Relaxed);
        }
        Err(e) => {
            let mut buf = [0u8; 128];
            let msg = virtus_kernel::fixed_fmt::format_into(&mut buf, format_args!("{e}"));
            early_message(console, &[b"!!! cannot map shared_info: ", msg, b"\n"]);
            sched::shutdown(ShutdownReason::Crash);
        }
    }

    let mem = virtus_kernel::mem::phys_memory();
    let mut boot_info = match virtus_kernel::boot::pvh::parse_start_info(mem, start_info_paddr) {
        Ok(boot_info) => boot_info,
        Err(e) => {
            let mut buf = [0u8; 256];
            let msg = virtus_kernel::fixed_fmt::format_into(&mut buf, format_args!("{e}"));
            early_message(console, &[b"!!! bad hvm_start_info from Xen: ", msg, b"\n"]);
            sched::shutdown(ShutdownReason::Crash);
        }
    };
    if boot_info.memory_map.is_none() {
        // Version 0 start info: ask Xen for the map instead.
        boot_info.memory_map = xen_memory_map();
    }
    PLATFORM.boot_info.call_once(|| boot_info);
    log::debug!(
        "Xen {}.{} ({})",
        info.major,
        info.minor,
        if info.amd { "vmmcall" } else { "vmcall" }
    );
    virtus_kernel::start(&PLATFORM)
}

/// The memory map from `XENMEM_memory_map`.
fn xen_memory_map() -> Option<MemoryMap> {
    let mut entries = [memory::E820Entry::default(); 64];
    let count = memory::memory_map(&mut entries).ok()?;
    let list = entries.get(..count)?;
    MemoryMap::from_entries(list.iter().map(|e| (e.addr(), e.size(), e.kind()))).ok()
}

fn xen_error(what: &'static str) -> impl Fn(hypercall::XenError) -> PlatformError {
    move |e| {
        log::error!("{what}: {e}");
        PlatformError::Device(what)
    }
}

impl PvPlatform {
    /// Xen system time (the hypervisor's clock, which timers are set in).
    pub(crate) fn system_ns(&self) -> u64 {
        self.shared.get().map_or(0, |s| time::system_time_ns(s))
    }

    /// The boot offset between Xen system time and the core's clock.
    pub(crate) fn boot_system_ns(&self) -> u64 {
        self.boot_system_ns.load(Ordering::Relaxed)
    }

    /// Make [`Platform::now_ns`] read `core_ns` now: after a suspend, Xen
    /// system time may have moved on by the time away (same host) or be
    /// another host's altogether (migration); the core's clock carries on
    /// from where it stopped, so it never goes backwards and its timers
    /// keep their distance from now.
    pub(crate) fn rebase_clock(&self, core_ns: u64) {
        let system = self.system_ns();
        self.boot_system_ns
            .store(system.saturating_sub(core_ns), Ordering::Relaxed);
    }

    /// In a new domain: bind the timer and self-event ports again (every
    /// vCPU's timer port: `smp::rebind_aps`), and take the console's new
    /// port from `HVM_PARAM_CONSOLE_EVTCHN`.
    pub(crate) fn rebind(&self) -> Result<Ports, PlatformError> {
        let _ = vcpu::stop_periodic_timer(0);
        let port = crate::hvm::get_param(abi::HVM_PARAM_CONSOLE_EVTCHN)
            .map_err(xen_error("HVM_PARAM_CONSOLE_EVTCHN"))?;
        let port = Port::try_from(port)
            .map_err(|_| PlatformError::Device("HVM_PARAM_CONSOLE_EVTCHN is not a port"))?;
        if let Some(console) = self.console.get() {
            console.resume(port);
        }
        // Every vCPU's timer port is gone with the old domain.
        crate::smp::forget_timer_ports();
        let ports = self.bind()?;
        let aps = crate::smp::rebind_aps(UPCALL_VECTOR, on_ipi_port, on_timer_port);
        if aps > 0 {
            log::info!("smp: {aps} other vCPU(s) given their upcall, IPI and timer port again");
        }
        self.self_event_port
            .store(ports.self_event, Ordering::Relaxed);
        Ok(ports)
    }

    fn bind(&self) -> Result<Ports, PlatformError> {
        let timer = crate::smp::bind_timer_port(0, on_timer_port)?;
        let self_event = evtchn::bind_ipi().map_err(xen_error("cannot bind an IPI channel"))?;
        let console = self
            .console
            .get()
            .map(Console::port)
            .ok_or(PlatformError::Device("no console"))?;
        for (port, handler) in [
            (self_event, on_self_event_port as fn(Port)),
            (console, on_console_port),
        ] {
            if !evtchn::set_handler(port, handler) {
                return Err(PlatformError::Device(
                    "event channel port beyond the handler table",
                ));
            }
            evtchn::unmask(port).map_err(xen_error("cannot unmask a port"))?;
        }
        let ipi = crate::smp::bind_ipi_port(0, on_ipi_port)?;
        Ok(Ports {
            timer,
            self_event,
            console,
            ipi,
        })
    }
}

impl Platform for PvPlatform {
    fn name(&self) -> &'static str {
        "xen-pvh"
    }

    fn cpu_count(&self) -> usize {
        match crate::smp::vcpu_count() {
            Ok(n) => n,
            Err(e) => {
                log::warn!("smp: cannot count this domain's vCPUs ({e}); using vCPU 0 only");
                1
            }
        }
    }

    fn start_cpu(&self, start: &CpuStart) -> Result<(), PlatformError> {
        crate::smp::start(start)
    }

    /// The upcall and IPI port (`smp::init_local`), then this vCPU's own
    /// `VIRQ_TIMER` port, so that `timer_arm` on it fires on it.
    fn cpu_init_local(&self, cpu: usize) -> Result<(), PlatformError> {
        crate::smp::init_local(cpu, UPCALL_VECTOR, on_ipi_port)?;
        crate::smp::bind_timer_port(cpu, on_timer_port).map(drop)
    }

    fn send_ipi(&self, cpu: usize) -> Result<(), PlatformError> {
        crate::smp::send_ipi(cpu)
    }

    /// `HVMOP_flush_tlbs`, offered to HVM-type guests (PVH included); the
    /// PV-only `MMUEXT_TLB_FLUSH_MULTI` is refused to them (x86 mm.c).
    fn flush_tlb_all_cpus(&self) -> Result<(), PlatformError> {
        crate::hvm::flush_tlbs().map_err(|e| {
            log::error!("HVMOP_flush_tlbs: {e}");
            PlatformError::Device("HVMOP_flush_tlbs failed")
        })
    }

    fn stop_this_cpu(&self, cpu: usize, stopping: &dyn Fn()) -> Result<(), PlatformError> {
        crate::hotplug::stop_this_vcpu(cpu, stopping)
    }

    fn restart_cpu(&self, cpu: usize) -> Result<(), PlatformError> {
        crate::hotplug::restart_vcpu(cpu)
    }

    /// `SCHEDOP_yield`: the vCPU stays runnable, and Xen may run another
    /// (the one being waited for, when they share a pCPU) before it
    /// returns. Measured on the one-pCPU bed with 2 vCPUs: IPI round trip
    /// 20.5 ms -> 1.0 ms (median), lock hand-off from over 10 s (the
    /// bench's watchdog) to 185 us.
    fn relax(&self) {
        sched::yield_now();
    }

    fn boot_info(&self) -> &BootInfo {
        self.boot_info
            .get()
            .expect("boot info is set before the kernel starts")
    }

    fn start_devices(&self) -> Result<(), PlatformError> {
        // Xen may run a periodic timer for us; the core wants one-shots only.
        let _ = vcpu::stop_periodic_timer(0);
        let mode = evtchn::init(UPCALL_VECTOR)
            .map_err(xen_error("cannot set up event-channel upcalls"))?;
        self.mode.call_once(|| mode);
        let ports = self.bind()?;
        log::info!(
            "event channels: {:?} delivery; timer port {}, self-event port {}, console port {}, \
             IPI port {}",
            mode,
            ports.timer,
            ports.self_event,
            ports.console,
            ports.ipi
        );
        self.self_event_port
            .store(ports.self_event, Ordering::Relaxed);
        // The toolstack's requests (`xl shutdown`, `reboot`, `sysrq`)
        // arrive through xenstore. Without it the domain still runs; only
        // `xl destroy` can stop it then, so say so.
        if let Err(e) = crate::control::start() {
            log::warn!("control: {e}; xl shutdown/reboot/sysrq will go unanswered");
        }
        // Disks: each device/vbd/* through the handshake into DISKS. One
        // that fails is logged and left out; the domain still runs.
        crate::blkfront::start();
        // `xl mem-set`: the `memory/target` watch.
        if let Err(e) = crate::balloon::start() {
            log::warn!("balloon: {e}; xl mem-set will go unanswered");
        }
        // `xl vcpu-set`: the `cpu/` watch.
        if let Err(e) = crate::hotplug::start() {
            log::warn!("hotplug: {e}; xl vcpu-set will go unanswered");
        }
        Ok(())
    }

    fn tests(&self) -> &'static [Test] {
        // The facility's own lists after the general one, in that order.
        static ALL: Once<alloc::vec::Vec<Test>> = Once::new();
        ALL.call_once(|| {
            [
                crate::tests::TESTS,
                &crate::xenstore::kernel_tests::TESTS,
                crate::balloon::kernel_tests::TESTS,
                crate::blkfront::kernel_tests::TESTS,
                crate::suspend_tests::TESTS,
            ]
            .concat()
        })
    }

    fn benches(&self) -> &'static [Bench] {
        &crate::bench::BENCHES
    }

    fn mmio_regions(&self) -> alloc::vec::Vec<MmioRegion> {
        // The local APIC is the one device a PVH guest has; in x2APIC mode
        // it is reached through MSRs and nothing is mapped.
        if crate::lapic::mode() != Some(crate::lapic::ApicMode::XApic) {
            return alloc::vec::Vec::new();
        }
        // SAFETY: IA32_APIC_BASE exists on every CPU with a local APIC,
        // which every PVH vCPU has.
        let base = unsafe { x86_64::registers::model_specific::Msr::new(IA32_APIC_BASE).read() };
        alloc::vec![MmioRegion {
            name: "local APIC",
            paddr: base & 0x000f_ffff_ffff_f000,
            size: 4096,
        }]
    }

    fn console_write(&self, bytes: &[u8]) {
        if let Some(console) = self.console.get()
            && let Err(fault) = console.write(bytes)
        {
            console_failed(fault);
        }
    }

    fn console_read(&self, buf: &mut [u8]) -> usize {
        match self.console.get().map(|c| c.read(buf)) {
            Some(Ok(n)) => n,
            Some(Err(fault)) => {
                console_failed(fault);
                0
            }
            None => 0,
        }
    }

    fn interrupts_enable(&self) {
        x86_64::instructions::interrupts::enable();
    }

    fn interrupts_disable(&self) {
        x86_64::instructions::interrupts::disable();
    }

    fn interrupts_enabled(&self) -> bool {
        x86_64::instructions::interrupts::are_enabled()
    }

    fn wait_for_event(&self) {
        sched::block_with_interrupts_enabled();
    }

    fn now_ns(&self) -> u64 {
        self.system_ns().saturating_sub(self.boot_system_ns())
    }

    /// The calling vCPU's single-shot timer (Xen arms no other), whose
    /// `VIRQ_TIMER` is bound to that vCPU.
    fn timer_arm(&self, deadline_ns: u64) {
        let deadline = deadline_ns.saturating_add(self.boot_system_ns());
        let vcpu = crate::smp::current_vcpu();
        if let Err(e) = vcpu::set_singleshot_timer(vcpu, deadline) {
            log::error!("VCPUOP_set_singleshot_timer(vCPU {vcpu}): {e}");
        }
    }

    fn timer_cancel(&self) {
        let _ = vcpu::stop_singleshot_timer(crate::smp::current_vcpu());
    }

    fn attach(&self, source: EventSource, handler: EventHandler) -> Result<(), PlatformError> {
        self.handlers.attach(source, handler)
    }

    fn send_self_event(&self) {
        let port = self.self_event_port.load(Ordering::Relaxed);
        if port != 0 {
            let _ = evtchn::send(port);
        }
    }

    fn cpu_info(&self) -> CpuInfo {
        let tsc_hz = self
            .shared
            .get()
            .map_or(0, |s| time::tsc_hz(&s.vcpu0_time()));
        CpuInfo {
            vendor: cpuid_vendor(),
            brand: cpuid_brand(),
            hypervisor: Some(*b"XenVMMXenVMM"),
            tsc_hz,
            interrupt_model: match self.mode.get() {
                Some(DeliveryMode::PerVcpuVector) => "Xen event channels, per-vCPU upcall vector",
                Some(DeliveryMode::CallbackVector) => "Xen event channels, callback vector",
                None => "not started",
            },
        }
    }

    fn suspend(&self) -> Result<Resumed, PlatformError> {
        crate::suspend::suspend(self)
    }

    fn host_request(&self) -> Option<HostRequest> {
        // `xl vcpu-set` is served here, on the main line, straight into
        // the core's `sched::hotplug` (it needs no stop of the kernel).
        crate::hotplug::serve();
        crate::control::next_request().or_else(crate::balloon::next_request)
    }

    fn shell_commands(&self) -> &'static [ShellCommand] {
        &crate::xs_shell::COMMANDS
    }

    fn describe(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
        let facts = crate::xenstore::with_client(|c| {
            let domid = c.read("domid")?;
            let name = c.read("name")?;
            Ok((domid, name, c.stats, c.event_counts()))
        });
        let (domid, name, stats, events) = match facts {
            Ok(facts) => facts,
            Err(e) => return writeln!(out, "xenstore   unavailable: {e}"),
        };
        let text = |v: &[u8]| alloc::string::String::from_utf8_lossy(v).into_owned();
        writeln!(out, "domid      {}", text(&domid))?;
        writeln!(out, "name       {}", text(&name))?;
        write!(out, "features  ")?;
        for feature in crate::control::advertised() {
            write!(out, " {feature}")?;
        }
        match crate::suspend::channel_port() {
            Some(port) => writeln!(out, "; suspend event channel on port {port}")?,
            None => writeln!(out, "; suspend through control/shutdown only")?,
        }
        writeln!(
            out,
            "xenstore   {} requests, {} transaction retries; watch events: {} delivered, \
             {} merged, {} dropped (queue full), {} stray, {} malformed",
            stats.requests,
            stats.tx_retries,
            events.delivered,
            events.merged,
            events.dropped,
            events.stray,
            events.malformed
        )?;
        crate::blkfront::describe(out)
    }

    fn shutdown(&self, status: ExitStatus) -> ! {
        x86_64::instructions::interrupts::disable();
        let mut status = status;
        if let Some(console) = self.console.get() {
            // Let xenconsoled take the last bytes before the domain goes away.
            console.drain(1_000_000_000);
            // A run whose console was lost on the way cannot have been
            // seen to pass.
            let errors = console.ring_errors();
            if errors > 0 && status != ExitStatus::Crash {
                debug_console::report(format_args!(
                    "exit status {status:?} becomes Crash: {errors} PV console ring fault(s) during the run"
                ));
                status = ExitStatus::Crash;
            }
        }
        let reason = match status {
            ExitStatus::Success => ShutdownReason::Poweroff,
            ExitStatus::Reboot => ShutdownReason::Reboot,
            ExitStatus::Failure | ExitStatus::Crash => ShutdownReason::Crash,
        };
        // `xen.refuse_shutdown`: act as if Xen had refused the request, to
        // prove (xen-suite --red) that the fallback never reads as success.
        if self
            .boot_info
            .get()
            .is_some_and(|i| i.cmdline.flag("xen.refuse_shutdown"))
        {
            sched::refused(reason, -1);
        }
        sched::shutdown(reason)
    }

    fn release_frames(&self, frames: &[u64]) -> Result<usize, PlatformError> {
        crate::balloon::release_frames(frames)
    }

    fn reclaim_frames(&self, frames: &[u64]) -> Result<usize, PlatformError> {
        crate::balloon::reclaim_frames(frames)
    }

    fn memory_held_kib(&self) -> Option<u64> {
        crate::balloon::held_kib()
    }

    fn memory_max_kib(&self) -> Option<u64> {
        crate::balloon::static_max_kib()
    }
}

fn cpuid_vendor() -> [u8; 12] {
    let r = core::arch::x86_64::__cpuid(0);
    let mut v = [0u8; 12];
    v[0..4].copy_from_slice(&r.ebx.to_le_bytes());
    v[4..8].copy_from_slice(&r.edx.to_le_bytes());
    v[8..12].copy_from_slice(&r.ecx.to_le_bytes());
    v
}

fn cpuid_brand() -> [u8; 48] {
    let mut b = [0u8; 48];
    if core::arch::x86_64::__cpuid(0x8000_0000).eax < 0x8000_0004 {
        return b;
    }
    for (i, leaf) in (0x8000_0002u32..=0x8000_0004).enumerate() {
        let r = core::arch::x86_64::__cpuid(leaf);
        for (j, reg) in [r.eax, r.ebx, r.ecx, r.edx].into_iter().enumerate() {
            b[i * 16 + j * 4..i * 16 + j * 4 + 4].copy_from_slice(&reg.to_le_bytes());
        }
    }
    b
}
