//! The seam between the kernel core and the machine underneath.
//!
//! Everything the core needs from the hardware (or from the hypervisor) goes
//! through [`Platform`]: `native-backend` implements this trait with real
//! devices, `pv-backend` with Xen hypercalls and shared memory. The trait
//! says *what* the kernel needs, not *how* a given machine provides it.
//!
//! The rule, precisely. The core owns the x86-64 *CPU*, which is the same
//! on every machine Virtus runs on: the PVH boot protocol that both QEMU's
//! `-kernel` loader and Xen use to enter it (the `XEN_ELFNOTE_PHYS32_ENTRY`
//! note names Xen only because the protocol was defined there), the
//! architectural control registers and EFER that enter long mode, the GDT,
//! IDT and TSS, exceptions, page tables and the TSC. It never names a
//! *machine*: no I/O port, no device register (MMIO), no platform MSR
//! (x2APIC, TSC deadline), no hypercall, no Xen interface. Those belong to
//! a backend. `kernel/src/seam_tests.rs` keeps this true: it fails if the
//! core's sources use port I/O, a hypercall instruction or a backend's MSR.

use crate::boot::BootInfo;

/// Why the machine is being shut down; backends turn it into an exit status
/// the outside world can read (a QEMU exit code, a Xen shutdown reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything that ran succeeded (or the user asked to power off).
    Success,
    /// The kernel ran to completion but something it checked failed.
    Failure,
    /// The kernel itself broke: a panic or an unhandled CPU exception.
    Crash,
    /// Start the machine again (the user or the host asked for a reboot).
    Reboot,
}

/// What the world outside the kernel asks it to do: the toolstack through
/// the hypervisor, or a person pressing the machine's power button. The
/// backend only translates its mechanism into one of these; the core
/// (`power`) decides what each means and cleans up before acting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostRequest {
    /// Stop everything and power off.
    PowerOff,
    /// Stop everything and start again.
    Reboot,
    /// Stop everything; the machine may stay on, but nothing runs.
    Halt,
    /// A "magic SysRq" key: a diagnostic request by a single letter.
    SysRq(u8),
    /// Save the machine's state for the host (`xl save`, `xl migrate`, a
    /// checkpoint) and carry on when it runs again: see [`Platform::suspend`].
    Suspend,
    /// Hold this much memory, in KiB, as the host counts it (Xen:
    /// `memory/target`): give frames back or take them again
    /// (`mem::balloon`).
    MemoryTarget { kib: u64 },
}

/// How a suspended machine came back ([`Platform::suspend`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resumed {
    /// Restored (or migrated) into a new machine: every connection to the
    /// outside was rebuilt by the backend, and drivers must reconnect.
    /// False: the suspend was cancelled or was a checkpoint, and the
    /// machine is the one that suspended (its connections are intact).
    pub new_domain: bool,
    /// How long the machine was away by the host's wall clock, if the host
    /// keeps one. The kernel's own clock does not count this time: it
    /// carries on from where it stopped.
    pub away_ns: Option<u64>,
}

/// A source of asynchronous notifications that the core can attach a
/// handler to. Each backend maps these onto its own mechanism: an IOAPIC pin
/// or a local APIC vector natively, an event channel port under Xen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventSource {
    /// Bytes arrived on the console input.
    ConsoleInput,
    /// The one-shot timer armed with [`Platform::timer_arm`] expired. Each
    /// CPU has its own timer, and the handler runs on the CPU whose timer
    /// it was (the one that armed it), with interrupts off there.
    Timer,
    /// An event the CPU sent to itself with [`Platform::send_self_event`].
    SelfEvent,
    /// The host has a request waiting: fetch it with
    /// [`Platform::host_request`] outside interrupt context.
    HostRequest,
    /// Another CPU sent this one an event with [`Platform::send_ipi`]; the
    /// handler runs on the CPU that received it.
    Ipi,
}

/// Handler attached to an [`EventSource`]. Runs in interrupt context with
/// interrupts disabled: it must not block, allocate or take a lock that
/// non-interrupt code holds with interrupts enabled.
pub type EventHandler = fn();

/// The handlers attached to the event sources: one per source, attached
/// once. Every backend keeps one of these and calls [`EventHandlers::notify`]
/// from the interrupt or upcall that signals the source.
pub struct EventHandlers([spin::Once<EventHandler>; 5]);

impl EventHandlers {
    /// No handler attached yet.
    pub const fn new() -> Self {
        Self([const { spin::Once::new() }; 5])
    }

    fn slot(&self, source: EventSource) -> &spin::Once<EventHandler> {
        &self.0[match source {
            EventSource::ConsoleInput => 0,
            EventSource::Timer => 1,
            EventSource::SelfEvent => 2,
            EventSource::HostRequest => 3,
            EventSource::Ipi => 4,
        }]
    }

    /// Attach `handler` to `source`; a source takes one handler for good.
    pub fn attach(&self, source: EventSource, handler: EventHandler) -> Result<(), PlatformError> {
        let once = self.slot(source);
        if once.is_completed() {
            return Err(PlatformError::AlreadyAttached(source));
        }
        once.call_once(|| handler);
        Ok(())
    }

    /// Run the handler attached to `source`, if any (interrupt context).
    pub fn notify(&self, source: EventSource) {
        if let Some(handler) = self.slot(source).get() {
            handler();
        }
    }
}

impl Default for EventHandlers {
    fn default() -> Self {
        Self::new()
    }
}

/// A command a backend adds to the shell ([`Platform::shell_commands`]).
pub struct ShellCommand {
    /// The word that invokes it (`xs`).
    pub name: &'static str,
    /// One line for `help`: arguments and what it does.
    pub help: &'static str,
    /// Run it on the rest of the line (the words after `name`, trimmed).
    pub run: fn(args: &str),
}

/// Errors a backend reports through the trait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// The machine has no way to provide this source.
    Unsupported(EventSource),
    /// A handler is already attached to this source.
    AlreadyAttached(EventSource),
    /// Backend-specific failure, described for the log.
    Device(&'static str),
    /// The machine has no such operation (says which, for the log).
    Unavailable(&'static str),
}

impl core::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Unsupported(s) => write!(f, "event source {s:?} is not supported here"),
            Self::AlreadyAttached(s) => write!(f, "a handler is already attached to {s:?}"),
            Self::Device(msg) => write!(f, "device error: {msg}"),
            Self::Unavailable(what) => write!(f, "this machine has no {what}"),
        }
    }
}

/// What the CPU and the machine say about themselves, for `info` and for
/// tests that must know which features to expect.
#[derive(Clone, Copy, Debug)]
pub struct CpuInfo {
    /// CPUID vendor string, e.g. `GenuineIntel`, `AuthenticAMD`.
    pub vendor: [u8; 12],
    /// CPUID brand string (up to 48 bytes, NUL padded).
    pub brand: [u8; 48],
    /// Hypervisor signature from CPUID leaf 0x4000_0000 if one is present.
    pub hypervisor: Option<[u8; 12]>,
    /// Measured or reported TSC frequency in Hz (0 if unknown).
    pub tsc_hz: u64,
    /// Free-form description of the interrupt controller and timer in use
    /// (e.g. "x2APIC, TSC-deadline timer").
    pub interrupt_model: &'static str,
}

impl CpuInfo {
    /// The vendor string as text.
    pub fn vendor_str(&self) -> &str {
        core::str::from_utf8(&self.vendor).unwrap_or("?")
    }
    /// The brand string as text, trimmed.
    pub fn brand_str(&self) -> &str {
        let end = self
            .brand
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.brand.len());
        core::str::from_utf8(&self.brand[..end])
            .unwrap_or("?")
            .trim()
    }
}

/// A block of device registers a backend uses. The kernel maps such
/// registers uncached through `mem::map_mmio` and nowhere else: its
/// identity map holds RAM only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioRegion {
    /// What the registers are ("local APIC", "IOAPIC").
    pub name: &'static str,
    /// Physical address of the first register.
    pub paddr: u64,
    /// Length in bytes.
    pub size: u64,
}

/// How the core asks a backend to start a CPU ([`Platform::start_cpu`]).
/// The backend must bring the CPU to `entry` in 64-bit mode with paging on
/// through `page_table` (the kernel's PML4, below 4 GiB), EFER.NXE set,
/// RSP = `stack_top`, RDI = `cpu`, interrupts off; GDT, IDT and segments
/// may be anything flat (the core loads its own first thing).
#[derive(Clone, Copy, Debug)]
pub struct CpuStart {
    /// The core's number for the CPU (1.. for APs).
    pub cpu: usize,
    /// Address of an `extern "C" fn(usize) -> !`.
    pub entry: u64,
    /// Top of the CPU's first stack (16-byte aligned).
    pub stack_top: u64,
    /// Physical address of the page tables to run with.
    pub page_table: u64,
}

/// The machine, as the kernel core sees it.
///
/// One implementation is active per image; the core reaches it through
/// [`crate::platform()`]. All methods may be called from any context unless
/// said otherwise.
pub trait Platform: Sync {
    /// Short name of the backend ("native", "xen-pvh").
    fn name(&self) -> &'static str;

    /// How many CPUs the machine offers, the boot CPU included (the MADT's
    /// usable local APICs natively, the domain's vCPUs under Xen).
    fn cpu_count(&self) -> usize {
        1
    }

    /// Start another CPU as `start` says. Returns once the start is under
    /// way; the core waits for the CPU to report in.
    fn start_cpu(&self, start: &CpuStart) -> Result<(), PlatformError> {
        let _ = start;
        Err(PlatformError::Unavailable("way to start another CPU"))
    }

    /// On CPU `cpu` itself, first thing after the core's own set-up: its
    /// local interrupt controller (natively) or its `vcpu_info` and upcall
    /// (Xen), so that [`EventSource::Ipi`] reaches it, and its own one-shot
    /// timer, so that [`Platform::timer_arm`] works there.
    fn cpu_init_local(&self, cpu: usize) -> Result<(), PlatformError> {
        let _ = cpu;
        Ok(())
    }

    /// One turn of a spin-wait for another CPU to act. Natively a PAUSE. A
    /// backend whose CPUs may share a physical CPU (a Xen guest's vCPUs)
    /// lets the hypervisor run another of them instead: a vCPU spinning
    /// for one that is not running only burns the time that one needs.
    fn relax(&self) {
        core::hint::spin_loop();
    }

    /// On CPU `cpu` itself, idle with interrupts off, nothing of the
    /// scheduler's left on it (`sched::hotplug` sees to that): take it out
    /// of service until [`Platform::restart_cpu`], and return once it runs
    /// again, where it was, interrupts still off. Calls `stopping` once,
    /// just before the point of no return (the core then counts the CPU
    /// offline); an error returned without calling it means the CPU never
    /// stopped. Its event bindings stay as they are while it is stopped.
    ///
    /// Not provided natively: an AP stopped there would have to be started
    /// again with INIT-SIPI-SIPI through the real-mode trampoline, and a
    /// native machine has no source of "take this CPU away" requests (no
    /// ACPI processor hot-plug is modelled); nothing needs it.
    fn stop_this_cpu(&self, cpu: usize, stopping: &dyn Fn()) -> Result<(), PlatformError> {
        let _ = (cpu, stopping);
        Err(PlatformError::Unavailable(
            "way to stop a CPU and start it again",
        ))
    }

    /// Start CPU `cpu` again, which [`Platform::stop_this_cpu`] stopped.
    /// The core may call this as soon as `stopping` ran, before the CPU is
    /// actually stopped: the backend must not lose that wake-up. Returns
    /// once the CPU is under way; the core waits for it to report in.
    fn restart_cpu(&self, cpu: usize) -> Result<(), PlatformError> {
        let _ = cpu;
        Err(PlatformError::Unavailable(
            "way to stop a CPU and start it again",
        ))
    }

    /// Send CPU `cpu` an [`EventSource::Ipi`] event.
    fn send_ipi(&self, cpu: usize) -> Result<(), PlatformError> {
        let _ = cpu;
        Err(PlatformError::Unsupported(EventSource::Ipi))
    }

    /// Drop every CPU's TLB entries through the platform itself, without
    /// an event to each CPU (a hypervisor flush), and return once none of
    /// them can use a stale one. `Unavailable` where there is no such
    /// operation: the core then shoots down by IPIs (`smp::shootdown`).
    fn flush_tlb_all_cpus(&self) -> Result<(), PlatformError> {
        Err(PlatformError::Unavailable("TLB flush through the platform"))
    }

    /// The boot information the backend received and validated: command
    /// line and memory map.
    fn boot_info(&self) -> &BootInfo;

    /// Bring up the devices that need the kernel's memory management
    /// (interrupt controllers, timers, console input). Called once, after
    /// the kernel's page tables and heap exist and before interrupts are
    /// enabled. Earlier, only [`Platform::console_write`],
    /// [`Platform::now_ns`] (may read 0) and [`Platform::shutdown`] are used.
    fn start_devices(&self) -> Result<(), PlatformError>;

    /// The backend's own in-kernel tests, run after the core's.
    fn tests(&self) -> &'static [crate::harness::Test];

    /// The backend's own benchmarks, run after the core's: operations only
    /// this backend can name, such as a hypercall and the emulated device
    /// access it replaces, grouped by [`crate::bench::Bench::pair`]. May be
    /// empty. A benchmark that uses the one-shot timer directly need not
    /// restore it: the runner re-arms the core's deadline afterwards.
    fn benches(&self) -> &'static [crate::bench::Bench];

    /// The device registers this backend has mapped (with `mem::map_mmio`)
    /// once [`Platform::start_devices`] has run: all it needs outside RAM.
    /// Tests check that each is mapped uncached and that nothing else is.
    /// Allocates; not for interrupt context.
    fn mmio_regions(&self) -> alloc::vec::Vec<MmioRegion>;

    /// Write bytes to the console, in order, without dropping any. May wait
    /// for the device or the other end, never for an interrupt.
    fn console_write(&self, bytes: &[u8]);

    /// Move console input received so far into `buf`; returns how many bytes
    /// were copied (0 if none is waiting). Never blocks.
    fn console_read(&self, buf: &mut [u8]) -> usize;

    /// Allow interrupts/events to be delivered to this CPU.
    fn interrupts_enable(&self);

    /// Stop interrupts/events from being delivered to this CPU.
    fn interrupts_disable(&self);

    /// Whether interrupts/events are currently delivered.
    fn interrupts_enabled(&self) -> bool;

    /// Enable interrupts and sleep until the next interrupt or event has
    /// been handled, without a window in which a wake-up could be lost.
    /// Returns with interrupts enabled.
    fn wait_for_event(&self);

    /// Monotonic time since boot, in nanoseconds.
    fn now_ns(&self) -> u64;

    /// Arm the calling CPU's one-shot timer to fire at `deadline_ns` (same
    /// time base as [`Platform::now_ns`], which every CPU shares),
    /// replacing that CPU's earlier deadline; other CPUs' timers are not
    /// touched. When it fires, the [`EventSource::Timer`] handler runs on
    /// this same CPU. A deadline in the past fires as soon as possible.
    /// Every CPU's timer works once [`Platform::start_devices`] (the boot
    /// CPU) or [`Platform::cpu_init_local`] (another CPU) has run there.
    fn timer_arm(&self, deadline_ns: u64);

    /// Disarm the calling CPU's one-shot timer (only that CPU's).
    fn timer_cancel(&self);

    /// Attach `handler` to `source`; the backend routes and unmasks it.
    fn attach(&self, source: EventSource, handler: EventHandler) -> Result<(), PlatformError>;

    /// Deliver [`EventSource::SelfEvent`] to this CPU (a self-IPI natively,
    /// an event channel sent to itself under Xen).
    fn send_self_event(&self);

    /// What the CPU says about itself.
    fn cpu_info(&self) -> CpuInfo;

    /// The oldest request from the host not yet taken, if any. Called by
    /// the core outside interrupt context after
    /// [`EventSource::HostRequest`] fired (and once at start-up); may take
    /// a round trip to the other end. A backend whose machine has no way
    /// to ask returns `None`.
    fn host_request(&self) -> Option<HostRequest>;

    /// Commands only this backend can offer, which the shell lists after
    /// its own (`xs` under Xen). May be empty.
    fn shell_commands(&self) -> &'static [ShellCommand];

    /// Lines for the shell's `info` that only this backend knows (under
    /// Xen: the domain's id and name, the features it advertised). Each
    /// line is written whole, ending in a newline. Not for interrupt
    /// context.
    fn describe(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result;

    /// Save the machine for the host and return once it runs again, with
    /// interrupts as they were. The core has quiesced first (no block
    /// request in flight, its timer cancelled); the backend redoes whatever
    /// the machine lost (event bindings, shared pages, its clock's base, so
    /// that [`Platform::now_ns`] carries on from where it stopped) and the
    /// core then resumes its drivers and re-arms its timers. A machine whose
    /// host cannot suspend it says [`PlatformError::Unavailable`].
    fn suspend(&self) -> Result<Resumed, PlatformError> {
        Err(PlatformError::Unavailable("suspend to its host"))
    }

    /// Stop the machine and report `status` to whoever started it.
    fn shutdown(&self, status: ExitStatus) -> !;

    // Memory the host can take back (ballooning, `mem::balloon`). The core
    // decides which frames; the backend only moves them. Main line only.

    /// Give these 4 KiB frames (physical addresses, which the core no
    /// longer uses and will not touch) back to the host. Returns how many
    /// it took: always a prefix of `frames`; the rest are still backed.
    fn release_frames(&self, frames: &[u64]) -> Result<usize, PlatformError> {
        let _ = frames;
        Err(PlatformError::Unavailable("host to give memory back to"))
    }

    /// Back frames given away by [`Platform::release_frames`] again.
    /// Returns how many are backed (a prefix of `frames`); their contents
    /// are undefined.
    fn reclaim_frames(&self, frames: &[u64]) -> Result<usize, PlatformError> {
        let _ = frames;
        Err(PlatformError::Unavailable("host to take memory from"))
    }

    /// The memory the host counts this machine as holding, in KiB (Xen:
    /// `XENMEM_current_reservation`); `None` without such a host.
    fn memory_held_kib(&self) -> Option<u64> {
        None
    }

    /// The most memory the host would let this machine hold, in KiB, which
    /// is all the RAM it booted with (Xen: `memory/static-max`); `None`
    /// when unknown (then the RAM in the boot memory map is taken).
    fn memory_max_kib(&self) -> Option<u64> {
        None
    }
}
