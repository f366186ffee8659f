//! The core's benchmarks: the operations every platform provides through
//! the `Platform` trait, so every column measures the same calls.

use super::{Bench, BenchError, Role, Samples, cycles, sample};
use crate::time::{self, NS_PER_MS, NS_PER_SEC};
use crate::{platform, self_event};
use alloc::vec::Vec;
use core::hint::black_box;

/// Names the benchmark test needs to know (see `check::check_all`).
pub const CONSOLE_BYTE: &str = "console_byte";
pub const CONSOLE_LINE: &str = "console_line";

/// The line's length: a short log line. Short enough that a trapped UART
/// under Xen HVM (2.5 ms a byte, 8 ms on a loaded machine) still writes it
/// the runner's minimum of five times within its 2 s floor budget, so that
/// no column's figure rests on a single sample or few: a 4 KiB line took
/// 14 s there (one sample), an 80-byte line 0.6 s under load (four).
pub const CONSOLE_LINE_BYTES: usize = 32;

pub const BENCHES: &[Bench] = &[
    Bench {
        name: "clock_read",
        what: "read the monotonic clock (now_ns)",
        pair: None,
        role: Role::Neither,
        max_iters: 2000,
        run: clock_read,
    },
    Bench {
        name: "timer_arm",
        what: "arm the one-shot timer 10 s ahead (the earlier deadline restored untimed)",
        pair: None,
        role: Role::Neither,
        max_iters: 2000,
        run: timer_arm,
    },
    Bench {
        name: CONSOLE_BYTE,
        what: "write one byte to the console",
        pair: None,
        role: Role::Neither,
        max_iters: 2000,
        run: console_byte,
    },
    Bench {
        name: CONSOLE_LINE,
        what: "write a 32-byte line (a KTAP comment of dots) to the console",
        pair: None,
        role: Role::Neither,
        max_iters: 200,
        run: console_line,
    },
    Bench {
        name: "self_event_roundtrip",
        what: "send an event to this CPU and spin until its handler ran",
        pair: None,
        role: Role::Neither,
        max_iters: 1000,
        run: self_event_roundtrip,
    },
    Bench {
        name: "block_wake_timer",
        what: "arm the timer 50 us ahead and sleep until it woke the CPU",
        pair: None,
        role: Role::Neither,
        max_iters: 500,
        run: block_wake_timer,
    },
];

fn clock_read(iters: u32) -> Result<Samples, BenchError> {
    let p = platform();
    Ok(sample(
        iters,
        || {
            let _ = black_box(p.now_ns());
        },
        || {},
    ))
}

fn timer_arm(iters: u32) -> Result<Samples, BenchError> {
    let p = platform();
    let far = p.now_ns() + 10 * NS_PER_SEC;
    // Untimed, hand the timer back to the software timers (the benchmark's
    // watchdog among them) rather than leave it cancelled.
    Ok(sample(
        iters,
        || p.timer_arm(far),
        time::resync_platform_timer,
    ))
}

fn console_byte(iters: u32) -> Result<Samples, BenchError> {
    let p = platform();
    // The dots form one comment line, which every host parser skips.
    p.console_write(b"# ");
    let samples = sample(iters, || p.console_write(b"."), || {});
    p.console_write(b"\n");
    Ok(samples)
}

/// `# ` then dots, then a newline: [`CONSOLE_LINE_BYTES`] in all.
static LINE: [u8; CONSOLE_LINE_BYTES] = {
    let mut line = [b'.'; CONSOLE_LINE_BYTES];
    line[0] = b'#';
    line[1] = b' ';
    line[CONSOLE_LINE_BYTES - 1] = b'\n';
    line
};

fn console_line(iters: u32) -> Result<Samples, BenchError> {
    let p = platform();
    Ok(sample(iters, || p.console_write(&LINE), || {}))
}

fn self_event_roundtrip(iters: u32) -> Result<Samples, BenchError> {
    self_event::attach().map_err(|e| alloc::format!("cannot attach the self event: {e}"))?;
    let p = platform();
    if !p.interrupts_enabled() {
        return Err("interrupts are disabled".into());
    }
    let mut samples = Vec::with_capacity(iters as usize);
    for _ in 0..iters {
        let before = self_event::count();
        // Spin rather than sleep: delivery is immediate with interrupts on,
        // and a sleep would add the idle path to the round trip.
        let give_up = time::now_ns() + 1_000 * NS_PER_MS;
        let start = cycles();
        p.send_self_event();
        while self_event::count() == before {
            if time::now_ns() > give_up {
                return Err("a self event was not delivered within 1 s".into());
            }
            core::hint::spin_loop();
        }
        samples.push(cycles().saturating_sub(start));
    }
    Ok(samples)
}

fn block_wake_timer(iters: u32) -> Result<Samples, BenchError> {
    let p = platform();
    let mut samples = Vec::with_capacity(iters as usize);
    for _ in 0..iters {
        let before = time::timer_interrupts();
        let start = cycles();
        // The platform timer directly: the core's handler runs no software
        // timer for it (none is due) and re-arms for the earliest one.
        p.timer_arm(p.now_ns() + 50_000);
        time::wait_for(|| time::timer_interrupts() != before);
        samples.push(cycles().saturating_sub(start));
    }
    Ok(samples)
}
