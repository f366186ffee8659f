//! The kernel's main path, from a backend's entry to the shell or the test
//! run, and the panic handler.

use crate::platform::{EventSource, ExitStatus, Platform};
use crate::{harness, interrupts, logger, mem, shell, time};
use core::panic::PanicInfo;

/// Bring the kernel up on `platform` and never return.
///
/// The backend calls this from its entry point after [`crate::set_platform`],
/// with a working console and validated boot information.
pub fn start(platform: &'static dyn Platform) -> ! {
    let info = platform.boot_info();
    let level = info.cmdline.get("loglevel").and_then(logger::parse_level);
    logger::init(level.unwrap_or(log::LevelFilter::Info));
    if let Some(bad) = info.cmdline.get("loglevel").filter(|_| level.is_none()) {
        log::warn!("ignoring loglevel={bad}: expected off, error, warn, info, debug or trace");
    }
    log::info!(
        "Virtus on {} (cmdline \"{}\")",
        platform.name(),
        info.cmdline.as_str()
    );

    crate::arch::percpu::install(0);
    crate::arch::gdt::init();
    interrupts::init();
    // Before anything runs in a catch point: what an aborted test leaves
    // held must be seen.
    harness::abort::install();
    let mut guards = [0u64; 4];
    let (boot_guard, boot_top) = crate::boot::entry::boot_stack();
    mem::stack::register(mem::stack::StackInfo {
        name: "boot stack",
        guard: boot_guard,
        top: boot_top,
    });
    guards[0] = boot_guard;
    for (i, (name, guard, top)) in crate::arch::gdt::ist_stacks().into_iter().enumerate() {
        mem::stack::register(mem::stack::StackInfo { name, guard, top });
        guards[i + 1] = guard;
    }

    let Some(map) = info.memory_map.as_ref() else {
        fatal(platform, "no memory map: the boot information carried none");
    };
    log::debug!("memory map:\n{map}");
    // Chosen before memory comes up, so its frames are never handed out.
    let image = mem::layout::image();
    let ramdisk = crate::boot::ramdisk::select_and_report(info, map, image.start..image.end);
    let keep = ramdisk.as_ref().map(|r| r.frames.clone());
    if let Err(e) = mem::init(map, &guards, keep.as_slice()) {
        fatal(platform, format_args!("memory initialisation failed: {e}"));
    }
    if let Some(r) = &ramdisk {
        crate::boot::ramdisk::publish(r);
    }
    let (free, total) = mem::frame_stats();
    log::info!(
        "memory: {} MiB usable, {} MiB free, heap {} KiB",
        (total * mem::PAGE_SIZE) >> 20,
        (free * mem::PAGE_SIZE) >> 20,
        mem::heap::HEAP.usage().1 >> 10
    );

    if let Err(e) = platform.start_devices() {
        fatal(platform, format_args!("device start-up failed: {e}"));
    }
    if let Err(e) = platform.attach(EventSource::Timer, time::on_timer_event) {
        fatal(platform, format_args!("cannot attach the timer: {e}"));
    }
    crate::power::init(platform);
    crate::sched::init();
    crate::proc::init();
    platform.interrupts_enable();
    let cpu = platform.cpu_info();
    log::info!(
        "cpu: {} ({}), {}",
        cpu.brand_str(),
        cpu.vendor_str(),
        cpu.interrupt_model
    );
    let online = crate::sched::smp::start_all(platform);
    let offered = crate::sched::smp::offered();
    if offered > 1 {
        log::info!("smp: {online} of {offered} CPUs online");
    }

    // The console soak runs alone, on a quiet console: its burst is read
    // as raw bytes at the other end, where a stray line would count.
    if let Some(spec) = info.cmdline.get("soak.console") {
        let ok = crate::soak::console::run(spec);
        finish(platform, ok);
    }
    let crash = info.cmdline.get("crash");
    if let Some(mode) = crash.filter(|m| *m != crate::tests::CRASH_AFTER_SUMMARY) {
        crate::tests::crash_on_purpose(mode);
    }
    let test = info.cmdline.get("test");
    let bench = info.cmdline.get("bench");
    if test == Some("list") {
        harness::list();
        finish(platform, true);
    }
    if test.is_none() && bench.is_none() {
        user_shell(info.cmdline.get("init").unwrap_or("sh"));
        shell::run();
    }
    // `test=` and `bench=` may come together: tests first, then benchmarks,
    // and one exit status for both.
    let mut ok = true;
    if let Some(filter) = test {
        ok &= match harness::run(Some(filter)) {
            Ok(totals) => totals.failed == 0,
            Err(harness::NoMatch) => no_match("test", filter),
        };
    }
    if let Some(filter) = bench {
        ok &= match crate::bench::run(Some(filter)) {
            Ok(all_ran) => all_ran,
            Err(harness::NoMatch) => no_match("benchmark", filter),
        };
    }
    if crash == Some(crate::tests::CRASH_AFTER_SUMMARY) {
        crate::tests::crash_on_purpose(crate::tests::CRASH_AFTER_SUMMARY);
    }
    finish(platform, ok);
}

/// Say that `filter` selected nothing; the run is then a failure.
/// Run the user-space shell (or the program `init=` names; `init=none`
/// goes straight to the kernel shell) until it ends; the kernel shell is
/// the fallback.
fn user_shell(init: &str) {
    if init == "none" {
        return;
    }
    match crate::proc::spawn(init, "", 0) {
        Ok(pid) => {
            let status = crate::proc::wait(pid, 0).unwrap_or(-1);
            crate::kprintln!(
                "proc: {init} ended with status {status}; the kernel shell takes over"
            );
        }
        Err(e) => crate::kprintln!("proc: cannot start {init}: {e}; the kernel shell takes over"),
    }
}

fn no_match(what: &str, filter: &str) -> bool {
    let _ = harness::no_match_line(&mut crate::console::Writer, what, filter);
    false
}

/// The clean end of a run: the end-of-run marker, then power off with the
/// run's status. Nothing else prints the marker.
fn finish(platform: &dyn Platform, ok: bool) -> ! {
    crate::kprintln!("{}", harness::END_OF_RUN);
    platform.shutdown(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    });
}

fn fatal(platform: &dyn Platform, msg: impl core::fmt::Display) -> ! {
    crate::kprintln!("!!! {msg}");
    platform.shutdown(ExitStatus::Crash);
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    let mut out = crate::diag::RawConsole;
    // Inside a test: the harness reports it and carries on.
    // No allocation here: the heap may be what broke.
    match info.location() {
        Some(l) => {
            let _ = writeln!(
                out,
                "# panicked at {}:{}: {}",
                l.file(),
                l.line(),
                info.message()
            );
        }
        None => {
            let _ = writeln!(out, "# panicked: {}", info.message());
        }
    }
    interrupts::resume_innermost_after_panic();
    let _ = writeln!(out, "!!! kernel panic, stopping");
    match crate::try_platform() {
        Some(p) => p.shutdown(ExitStatus::Crash),
        None => loop {
            core::hint::spin_loop();
        },
    }
}
