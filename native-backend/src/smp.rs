//! Starting the other CPUs: which there are (the MADT's usable local APICs),
//! where their trampoline goes (usable RAM below 1 MiB, from the memory
//! map), and INIT-SIPI-SIPI with the delays Intel's SDM gives (vol. 3A,
//! 8.4.4.1: 10 ms after INIT, 200 us after each STARTUP), timed by the
//! platform clock.

use crate::acpi::{self, AcpiInfo};
use crate::ap_trampoline::{self, LowPages};
use crate::lapic::LocalApic;
use alloc::vec::Vec;
use spin::{Mutex, Once};
use virtus_kernel::mem::memmap::MemoryMap;
use virtus_kernel::platform::{CpuStart, PlatformError};

const INIT_DELAY_NS: u64 = 10_000_000;
const STARTUP_DELAY_NS: u64 = 200_000;

/// The CPUs by the core's numbering: their APIC IDs.
pub struct Cpus {
    apic_ids: Vec<u32>,
}

impl Cpus {
    /// CPU 0 is the boot CPU (`boot_apic_id`, read from its own APIC); the
    /// others follow in MADT order. Without ACPI there is only the boot CPU.
    /// Only enabled processors are started: an online-capable one may be
    /// absent until hot-plugged, and a start that times out would stall
    /// every later one behind it.
    pub fn discover(acpi: Option<&AcpiInfo>, boot_apic_id: u32) -> Self {
        let mut apic_ids = alloc::vec![boot_apic_id];
        if let Some(info) = acpi {
            if info.local_apics_beyond() > 0 {
                log::warn!(
                    "smp: the MADT lists {} more CPUs than the {} kept",
                    info.local_apics_beyond(),
                    acpi::MAX_LOCAL_APICS
                );
            }
            let listed = info.local_apics();
            if !listed.iter().any(|l| l.apic_id == boot_apic_id) {
                log::warn!("smp: the boot CPU's APIC ID {boot_apic_id} is not in the MADT");
            }
            let capable = listed.iter().filter(|l| !l.enabled).count();
            if capable > 0 {
                log::info!("smp: {capable} online-capable CPU(s) in the MADT left down");
            }
            apic_ids.extend(
                listed
                    .iter()
                    .filter(|l| l.enabled)
                    .map(|l| l.apic_id)
                    .filter(|&id| id != boot_apic_id),
            );
        }
        Self { apic_ids }
    }

    pub fn count(&self) -> usize {
        self.apic_ids.len()
    }

    pub fn apic_id(&self, cpu: usize) -> Option<u32> {
        self.apic_ids.get(cpu).copied()
    }
}

/// The trampoline's pages, claimed and filled on the first start.
static TRAMPOLINE: Once<Result<Mutex<LowPages>, &'static str>> = Once::new();

/// The highest `pages` whole pages of usable RAM below 1 MiB, page 0 and
/// the loader's `hvm_start_info` page left alone. Highest, away from the
/// real-mode interrupt table and BIOS data at the bottom.
fn find_low_pages(map: &MemoryMap, pages: u64, avoid: u64) -> Option<u64> {
    let size = pages * 4096;
    map.usable()
        .filter_map(|r| {
            let start = r.start.max(0x1000);
            let mut end = r.end.min(1 << 20) & !0xfff;
            let mut base = end.checked_sub(size)?;
            if (base..end).contains(&avoid) {
                end = avoid & !0xfff;
                base = end.checked_sub(size)?;
            }
            (base >= start).then_some(base)
        })
        .max()
}

fn trampoline(start_info: u64) -> Result<&'static Mutex<LowPages>, PlatformError> {
    let claimed = TRAMPOLINE.call_once(|| {
        let map = virtus_kernel::mem::boot_map().ok_or("no memory map")?;
        let base = find_low_pages(map, ap_trampoline::PAGES, start_info)
            .ok_or("no room below 1 MiB for the trampoline")?;
        let mapped = (0..ap_trampoline::PAGES).all(|i| {
            virtus_kernel::mem::translate(base + i * 4096).is_some_and(|(phys, flags)| {
                phys == base + i * 4096
                    && flags.contains(virtus_kernel::mem::paging::Flags::WRITABLE)
            })
        });
        if !mapped {
            return Err("the trampoline's pages are not identity-mapped writable");
        }
        // SAFETY: usable RAM below 1 MiB by the boot map, identity-mapped
        // writable (just checked); the core keeps the first MiB out of the
        // frame allocator and this Once claims it for the trampoline alone.
        let pages = unsafe { LowPages::claim(base) };
        pages
            .install()
            .ok_or("the trampoline does not fit its page or its map")?;
        log::info!("smp: trampoline at {base:#x}");
        Ok(Mutex::new(pages))
    });
    claimed.as_ref().map_err(|&e| PlatformError::Device(e))
}

/// Start the CPU with APIC ID `apic_id` as `start` says.
pub fn start_cpu(
    apic: &LocalApic,
    apic_id: u32,
    start: &CpuStart,
    start_info: u64,
    now_ns: fn() -> u64,
) -> Result<(), PlatformError> {
    if start.page_table >= 1 << 32 {
        return Err(PlatformError::Device("page tables above 4 GiB"));
    }
    let pages = trampoline(start_info)?.lock();
    if !pages.taken() {
        return Err(PlatformError::Device(
            "the previous CPU started never left the trampoline",
        ));
    }
    pages.prepare(start.cpu, start.entry, start.stack_top, start.page_table);
    let wait = |ns: u64| {
        let until = now_ns().saturating_add(ns);
        while now_ns() < until {
            core::hint::spin_loop();
        }
    };
    let sent = |r: Result<(), crate::lapic::ApicError>| {
        r.map_err(|e| {
            log::error!("smp: cpu {} (APIC {apic_id}): {e}", start.cpu);
            PlatformError::Device("the local APIC could not send the start")
        })
    };
    sent(apic.send_init(apic_id, now_ns))?;
    wait(INIT_DELAY_NS);
    for _ in 0..2 {
        sent(apic.send_startup(apic_id, pages.startup_page(), now_ns))?;
        wait(STARTUP_DELAY_NS);
    }
    Ok(())
}
