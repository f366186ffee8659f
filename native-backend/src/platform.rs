//! `Platform` for real hardware: wiring the devices to the kernel core.

use crate::acpi::{self, AcpiInfo};
use crate::ioapic::IoApic;
use crate::lapic::{LocalApic, TimerMode};
use crate::power_button::{self, PowerButton};
use crate::uart16550::{COM1, COM1_IRQ, Uart};
use crate::{cpu, pic, pit, power, sci, tsc};
use alloc::string::String;
use spin::Once;
use virtus_kernel::arch::trap::TrapFrame;
use virtus_kernel::bench::Bench;
use virtus_kernel::boot::BootInfo;
use virtus_kernel::harness::Test;
use virtus_kernel::platform::{CpuStart, EventHandlers, HostRequest, ShellCommand};
use virtus_kernel::{
    CpuInfo, EventHandler, EventSource, ExitStatus, MmioRegion, Platform, PlatformError,
};

/// Interrupt vectors this backend uses.
pub mod vectors {
    /// COM1 receive, routed through the IOAPIC.
    pub const UART: u8 = 0x24;
    /// The ACPI System Control Interrupt (the power button), through the IOAPIC.
    pub const SCI: u8 = 0x25;
    /// AHCI controllers, by MSI.
    pub const AHCI: u8 = 0x26;
    /// Local APIC timer.
    pub const TIMER: u8 = 0x30;
    /// Self-IPI for `send_self_event`.
    pub const SELF_EVENT: u8 = 0x31;
    /// An IPI from another CPU (or this one): `send_ipi`.
    pub const IPI: u8 = 0x32;
    /// APIC spurious interrupts.
    pub const SPURIOUS: u8 = 0xff;
}

/// The native machine.
pub struct NativePlatform {
    boot_info: Once<BootInfo>,
    pub(crate) uart: Uart,
    pub(crate) apic: Once<LocalApic>,
    pub(crate) ioapic: Once<IoApic>,
    /// Where the IOAPIC's registers are (from the MADT, or the PC default).
    ioapic_paddr: Once<u64>,
    pub(crate) acpi: Once<Option<AcpiInfo>>,
    pub(crate) uart_gsi: Once<u32>,
    /// The power button, or why there is none (see `sci`).
    pub(crate) power_button: Once<Result<PowerButton, String>>,
    /// The SCI's GSI, once routed.
    pub(crate) sci_gsi: Once<u32>,
    handlers: EventHandlers,
    model: Once<&'static str>,
    /// The CPUs and their APIC IDs, once the boot CPU's APIC is up.
    cpus: Once<crate::smp::Cpus>,
}

pub(crate) static PLATFORM: NativePlatform = NativePlatform {
    boot_info: Once::new(),
    // SAFETY: COM1 sits at 0x3f8 on PC-compatible machines; this backend is
    // its only driver.
    uart: unsafe { Uart::new(COM1) },
    apic: Once::new(),
    ioapic: Once::new(),
    ioapic_paddr: Once::new(),
    acpi: Once::new(),
    uart_gsi: Once::new(),
    power_button: Once::new(),
    sci_gsi: Once::new(),
    handlers: EventHandlers::new(),
    model: Once::new(),
    cpus: Once::new(),
};

pub(crate) fn notify(source: EventSource) {
    PLATFORM.handlers.notify(source);
}

pub(crate) fn eoi() {
    if let Some(apic) = PLATFORM.apic.get() {
        apic.eoi();
    }
}

/// The local APIC timer, on whichever CPU it fired: each CPU's timer
/// interrupts only that CPU, and the EOI goes to the running CPU's APIC.
fn on_timer(_: &mut TrapFrame) {
    eoi();
    notify(EventSource::Timer);
}

fn on_self_event(_: &mut TrapFrame) {
    eoi();
    notify(EventSource::SelfEvent);
}

/// Another CPU's event, on any CPU (the boot CPU included): only the EOI
/// and the shared, read-only handlers table, no lock another CPU may hold.
fn on_ipi(_: &mut TrapFrame) {
    eoi();
    notify(EventSource::Ipi);
}

fn on_uart(_: &mut TrapFrame) {
    PLATFORM.uart.on_interrupt();
    eoi();
    notify(EventSource::ConsoleInput);
}

fn on_spurious(_: &mut TrapFrame) {
    // Spurious APIC interrupts must not be acknowledged (Intel SDM 11.9).
}

/// Entry from the PVH boot path (see `main.rs`).
pub fn boot(start_info_paddr: u64) -> ! {
    tsc::mark_boot();
    PLATFORM.uart.init();
    virtus_kernel::set_platform(&PLATFORM);
    let mem = virtus_kernel::mem::phys_memory();
    match virtus_kernel::boot::pvh::parse_start_info(mem, start_info_paddr) {
        Ok(info) => {
            PLATFORM.boot_info.call_once(|| info);
        }
        Err(e) => {
            PLATFORM
                .uart
                .write(b"!!! bad boot information from the loader: ");
            let mut buf = [0u8; 256];
            let msg = virtus_kernel::fixed_fmt::format_into(&mut buf, format_args!("{e}"));
            PLATFORM.uart.write(msg);
            PLATFORM.uart.write(b"\n");
            PLATFORM.shutdown(ExitStatus::Crash);
        }
    }
    // The PIT is the known clock the TSC is measured against.
    tsc::set_frequency(pit::measure_tsc_hz(10));
    virtus_kernel::start(&PLATFORM)
}

/// The APIC timer's ticks per second against the PIT, bracketed like the
/// TSC's calibration. A plain 10 ms PIT busy-wait overshoots by whatever its
/// last (trapped) poll took: as a Xen HVM guest under nested emulation that
/// was 44 % (9.0 MHz measured for Xen's 6.25 MHz bus/16), found by
/// native_apic_timer_rate_vs_acpi_pm_timer. That wait stays the fallback if
/// the bracketed measurement fails.
fn measure_apic_timer(apic: &LocalApic) -> u64 {
    match apic.with_free_running_count(|elapsed| pit::measure_hz(10, elapsed)) {
        0 => {
            log::warn!("APIC timer: bracketed calibration failed; using a 10 ms PIT wait");
            apic.measure_timer(|| pit::busy_wait_us(10_000))
        }
        hz => hz,
    }
}

impl NativePlatform {
    fn start_interrupt_controllers(&self) -> Result<(), PlatformError> {
        pic::disable();
        let features = cpu::features();
        let rsdp_hint = self.boot_info().rsdp_paddr;
        let acpi = self.acpi.call_once(|| {
            match acpi::discover(virtus_kernel::mem::phys_memory(), rsdp_hint) {
                Ok(info) => Some(info),
                Err(e) => {
                    log::warn!("ACPI: {e}; assuming PC defaults");
                    None
                }
            }
        });

        let mut apic = LocalApic::enable(features.x2apic, vectors::SPURIOUS)
            .map_err(|_| PlatformError::Device("cannot map the local APIC"))?;
        let mode = if features.tsc_deadline {
            TimerMode::TscDeadline
        } else {
            TimerMode::OneShot {
                ticks_per_sec: measure_apic_timer(&apic),
            }
        };
        apic.configure_timer(mode, vectors::TIMER);
        self.model.call_once(|| match (apic.is_x2apic(), mode) {
            (true, TimerMode::TscDeadline) => "x2APIC, TSC-deadline timer, IOAPIC",
            (true, _) => "x2APIC, APIC one-shot timer, IOAPIC",
            (false, TimerMode::TscDeadline) => "xAPIC, TSC-deadline timer, IOAPIC",
            (false, _) => "xAPIC, APIC one-shot timer, IOAPIC",
        });
        let apic_id = apic.id();
        self.apic.call_once(|| apic);
        self.cpus
            .call_once(|| crate::smp::Cpus::discover(acpi.as_ref(), apic_id));

        let registered = [
            (vectors::TIMER, on_timer as fn(&mut TrapFrame)),
            (vectors::SELF_EVENT, on_self_event),
            (vectors::IPI, on_ipi),
            (vectors::UART, on_uart),
            (vectors::SCI, sci::on_sci),
            (vectors::SPURIOUS, on_spurious),
        ]
        .into_iter()
        .all(|(v, h)| virtus_kernel::interrupts::register_vector(v, h));
        if !registered {
            return Err(PlatformError::Device("interrupt vector already taken"));
        }

        // The UART's ISA IRQ, through whatever override the firmware states.
        let (gsi, active_low, level) = acpi
            .as_ref()
            .map_or((u32::from(COM1_IRQ), false, false), |a| {
                a.irq_to_gsi(COM1_IRQ)
            });
        let (addr, base) = match acpi.as_ref().and_then(|a| a.ioapic_for_gsi(gsi)) {
            Some(found) => found,
            None => {
                log::warn!("no IOAPIC in ACPI for GSI {gsi}; trying the PC default at 0xfec00000");
                (0xfec0_0000, 0)
            }
        };
        // SAFETY: the address comes from the firmware's MADT (or is the
        // architectural PC default); this backend is the IOAPIC's only driver.
        let ioapic = unsafe { IoApic::new(addr, base) }
            .map_err(|_| PlatformError::Device("cannot bring up the IOAPIC"))?;
        ioapic
            .route(gsi, vectors::UART, apic_id, active_low, level)
            .and_then(|()| ioapic.unmask(gsi))
            .map_err(|_| PlatformError::Device("cannot route the UART interrupt"))?;
        self.ioapic.call_once(|| ioapic);
        self.ioapic_paddr.call_once(|| addr);
        self.uart_gsi.call_once(|| gsi);
        self.uart.enable_receive_interrupt();
        sci::start_power_button(self, acpi.as_ref(), apic_id);
        Ok(())
    }
}

impl NativePlatform {
    /// The APIC ID of CPU `cpu` by the core's numbering.
    pub(crate) fn cpu_apic_id(&self, cpu: usize) -> Option<u32> {
        self.cpus.get().and_then(|c| c.apic_id(cpu))
    }
}

impl Platform for NativePlatform {
    fn name(&self) -> &'static str {
        "native"
    }

    fn cpu_count(&self) -> usize {
        self.cpus.get().map_or(1, crate::smp::Cpus::count)
    }

    fn start_cpu(&self, start: &CpuStart) -> Result<(), PlatformError> {
        let apic = self
            .apic
            .get()
            .ok_or(PlatformError::Device("the local APIC is not up"))?;
        let apic_id = self
            .cpus
            .get()
            .and_then(|c| c.apic_id(start.cpu))
            .filter(|_| start.cpu != 0)
            .ok_or(PlatformError::Unavailable("such CPU"))?;
        let start_info = self.boot_info().start_info_paddr;
        crate::smp::start_cpu(apic, apic_id, start, start_info, tsc::now_ns)
    }

    fn cpu_init_local(&self, cpu: usize) -> Result<(), PlatformError> {
        let apic = self
            .apic
            .get()
            .ok_or(PlatformError::Device("the local APIC is not up"))?;
        apic.enable_on_this_cpu(vectors::SPURIOUS).map_err(|e| {
            log::error!("cpu {cpu}: {e}");
            PlatformError::Device("cannot enable this CPU's local APIC")
        })
    }

    fn send_ipi(&self, cpu: usize) -> Result<(), PlatformError> {
        let apic = self
            .apic
            .get()
            .ok_or(PlatformError::Unsupported(EventSource::Ipi))?;
        let apic_id = self
            .cpus
            .get()
            .and_then(|c| c.apic_id(cpu))
            .ok_or(PlatformError::Unavailable("such CPU"))?;
        apic.send_ipi(apic_id, vectors::IPI, tsc::now_ns)
            .map_err(|_| PlatformError::Device("the local APIC could not send the IPI"))
    }

    fn boot_info(&self) -> &BootInfo {
        self.boot_info
            .get()
            .expect("boot info is set before the kernel starts")
    }

    fn start_devices(&self) -> Result<(), PlatformError> {
        self.start_interrupt_controllers()?;
        crate::pci::init();
        let apic_id = self.apic.get().map_or(0, LocalApic::id);
        crate::ahci::start(vectors::AHCI, apic_id);
        Ok(())
    }

    fn tests(&self) -> &'static [Test] {
        // The devices' own lists after the general one, in that order.
        static ALL: Once<alloc::vec::Vec<Test>> = Once::new();
        ALL.call_once(|| {
            [
                crate::tests::TESTS,
                crate::smp_tests::TESTS,
                crate::ahci::kernel_tests::TESTS,
            ]
            .concat()
        })
    }

    fn benches(&self) -> &'static [Bench] {
        crate::bench::BENCHES
    }

    fn mmio_regions(&self) -> alloc::vec::Vec<MmioRegion> {
        let mut regions = alloc::vec::Vec::new();
        // In x2APIC mode the local APIC is reached through MSRs: no MMIO.
        if self.apic.get().is_some_and(|apic| !apic.is_x2apic()) {
            // SAFETY: IA32_APIC_BASE exists on every CPU with an APIC.
            let base = unsafe { cpu::rdmsr(cpu::MSR_APIC_BASE) } & 0x000f_ffff_ffff_f000;
            regions.push(MmioRegion {
                name: "local APIC",
                paddr: base,
                size: 4096,
            });
        }
        for c in crate::ahci::controllers() {
            regions.push(MmioRegion {
                name: "AHCI ABAR",
                paddr: c.abar,
                size: c.abar_len,
            });
        }
        if let Some(&paddr) = self.ioapic_paddr.get() {
            regions.push(MmioRegion {
                name: "IOAPIC",
                paddr,
                size: crate::ioapic::REGISTER_BLOCK_LEN,
            });
        }
        regions
    }

    fn console_write(&self, bytes: &[u8]) {
        self.uart.write(bytes);
    }

    fn console_read(&self, buf: &mut [u8]) -> usize {
        virtus_kernel::arch::irq::without_interrupts(|| self.uart.read(buf))
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
        // `sti; hlt`, whose wake-up the core keeps even where the STI shadow
        // is lost (Xen HVM on the nested test bed): see `arch::idle`.
        virtus_kernel::arch::idle::enable_interrupts_and_halt();
    }

    fn now_ns(&self) -> u64 {
        tsc::now_ns()
    }

    /// The calling CPU's local APIC timer (every CPU's was set up alike:
    /// the boot CPU's in `start_devices`, an AP's in `cpu_init_local`).
    fn timer_arm(&self, deadline_ns: u64) {
        if let Some(apic) = self.apic.get() {
            apic.arm(
                tsc::ns_to_tsc(deadline_ns),
                deadline_ns.saturating_sub(tsc::now_ns()),
            );
        }
    }

    fn timer_cancel(&self) {
        if let Some(apic) = self.apic.get() {
            apic.disarm();
        }
    }

    fn attach(&self, source: EventSource, handler: EventHandler) -> Result<(), PlatformError> {
        // The host's only way to ask is the power button; without one,
        // say so rather than take a handler that never runs.
        if source == EventSource::HostRequest && !self.power_button.get().is_some_and(Result::is_ok)
        {
            return Err(PlatformError::Unsupported(source));
        }
        self.handlers.attach(source, handler)
    }

    fn send_self_event(&self) {
        if let Some(apic) = self.apic.get() {
            apic.self_ipi(vectors::SELF_EVENT);
        }
    }

    fn cpu_info(&self) -> CpuInfo {
        CpuInfo {
            vendor: cpu::vendor(),
            brand: cpu::brand(),
            hypervisor: cpu::hypervisor(),
            tsc_hz: tsc::frequency(),
            interrupt_model: self.model.get().copied().unwrap_or("not started"),
        }
    }

    fn host_request(&self) -> Option<HostRequest> {
        // A press of the ACPI power button, noted by the SCI, taken once.
        power_button::take_press().then_some(HostRequest::PowerOff)
    }

    fn shell_commands(&self) -> &'static [ShellCommand] {
        &[]
    }

    fn describe(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
        sci::describe(self, out)?;
        crate::pci::describe(out)?;
        crate::ahci::describe(out)
    }

    fn shutdown(&self, status: ExitStatus) -> ! {
        x86_64::instructions::interrupts::disable();
        // QEMU's isa-debug-exit turns this into the process exit status
        // (value << 1 | 1): 33 success, 35 failure, 37 crash. A reboot is
        // a reset, which the device has no code for.
        let code = match status {
            ExitStatus::Success => Some(0x10),
            ExitStatus::Failure => Some(0x11),
            ExitStatus::Crash => Some(0x12),
            ExitStatus::Reboot => None,
        };
        if let Some(code) = code {
            power::debug_exit(code);
        }
        let acpi = self.acpi.get().and_then(|a| a.as_ref());
        if status == ExitStatus::Reboot {
            power::reset(acpi);
        }
        // Still here: no debug-exit device (real hardware, Xen HVM). The
        // status is on the console; power off the ACPI way, else reset.
        if let Some(info) = acpi
            && let Err(e) = power::acpi_poweroff(info)
        {
            log::error!("ACPI power-off failed: {e}");
        }
        power::reset(acpi)
    }
}
