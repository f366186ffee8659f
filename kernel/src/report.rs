//! The kernel's state in a few lines: the shell's `info` and SysRq `m`.

use crate::{kprint, kprintln, mem, time};

/// Print the `info` report.
pub fn info() {
    let p = crate::platform();
    let cpu = p.cpu_info();
    kprintln!("platform   {}", p.name());
    kprintln!("cpu        {} ({})", cpu.brand_str(), cpu.vendor_str());
    if let Some(hv) = cpu.hypervisor {
        kprintln!(
            "hypervisor {}",
            core::str::from_utf8(&hv)
                .unwrap_or("?")
                .trim_end_matches('\0')
        );
    }
    kprintln!("interrupts {}", cpu.interrupt_model);
    kprintln!(
        "tsc        {}.{:03} MHz",
        cpu.tsc_hz / 1_000_000,
        (cpu.tsc_hz / 1_000) % 1_000
    );
    let (free, total) = mem::frame_stats();
    let (used, heap) = mem::heap::HEAP.usage();
    kprintln!(
        "memory     {} MiB usable, {} MiB free",
        (total * mem::PAGE_SIZE) >> 20,
        (free * mem::PAGE_SIZE) >> 20
    );
    kprintln!("heap       {} KiB used of {} KiB", used >> 10, heap >> 10);
    if mem::balloon::describe(p, &mut crate::console::Writer).is_err() {
        kprintln!("(the balloon's report failed)");
    }
    kprintln!(
        "clock      {} ns since boot, {} timer interrupts",
        time::now_ns(),
        time::timer_interrupts()
    );
    kprintln!("cmdline    {}", p.boot_info().cmdline.as_str());
    let (new_domain, same_domain, failed) = crate::suspend::counts();
    if new_domain + same_domain + failed > 0 {
        kprintln!(
            "suspend    {new_domain} resumed in a new domain, {same_domain} in the same one, \
             {failed} failed"
        );
    }
    if p.describe(&mut crate::console::Writer).is_err() {
        kprintln!("(the platform's own report failed)");
    }
    if let Some(map) = &p.boot_info().memory_map {
        kprint!("{map}");
    }
}
