//! A small interactive shell on the console, for `make run`.

use crate::platform::ExitStatus;
use crate::{harness, kprint, kprintln, mem, time};

const HELP: &str = "\
commands:
  help             this text
  info             platform, CPU, memory and clock report
  uptime           time since boot
  test [filter]    run the in-kernel tests (all, or names containing filter)
  tests            list the tests
  bench [filter]   run the micro-benchmarks (all, or names containing filter)
  bench list       list the benchmarks and what they measure
  shutdown         power off";

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
    kprintln!(
        "clock      {} ns since boot, {} timer interrupts",
        time::now_ns(),
        time::timer_interrupts()
    );
    kprintln!("cmdline    {}", p.boot_info().cmdline.as_str());
    if let Some(map) = &p.boot_info().memory_map {
        kprint!("{map}");
    }
}

/// Run the shell forever (until `shutdown`).
pub fn run() -> ! {
    // Timestamped by the kernel's own clock: the end of boot, which the
    // benchmark report reads as "ready".
    log::info!("shell ready");
    kprintln!("Virtus shell. Type 'help'.");
    let mut line = [0u8; 128];
    loop {
        kprint!("virtus> ");
        let len = crate::console::read_line(&mut line);
        let text = core::str::from_utf8(&line[..len]).unwrap_or("");
        let mut words = text.split_ascii_whitespace();
        match (words.next(), words.next()) {
            (None, _) => {}
            (Some("help"), _) => kprintln!("{HELP}"),
            (Some("info"), _) => info(),
            (Some("uptime"), _) => {
                let ns = time::now_ns();
                kprintln!(
                    "up {}.{:03} s",
                    ns / time::NS_PER_SEC,
                    (ns / time::NS_PER_MS) % 1000
                );
            }
            (Some("test"), filter) => {
                if harness::run(filter).is_err() {
                    let _ = harness::no_match_line(
                        &mut crate::console::Writer,
                        "test",
                        filter.unwrap_or(""),
                    );
                }
            }
            (Some("tests"), _) => harness::list(),
            (Some("bench"), Some("list")) => crate::bench::list(),
            (Some("bench"), filter) => {
                if crate::bench::run(filter).is_err() {
                    let _ = harness::no_match_line(
                        &mut crate::console::Writer,
                        "benchmark",
                        filter.unwrap_or(""),
                    );
                }
            }
            (Some("shutdown"), _) => {
                kprintln!("powering off");
                crate::platform().shutdown(ExitStatus::Success);
            }
            (Some(cmd), _) => kprintln!("unknown command '{cmd}'; try 'help'"),
        }
    }
}
