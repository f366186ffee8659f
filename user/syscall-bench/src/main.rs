//! `syscall-bench [N] [M]`: times system calls with the clock call and prints
//! one machine-readable line per figure:
//!
//! ```text
//! bench syscall_round_trip n=N ns_per_op=..   getpid, the cheapest call
//! bench yield n=N ns_per_op=..                yield with nobody else to run
//! bench context_switch n=2N ns_per_op=..      yield ping-pong with a partner
//! bench spawn_wait n=M ns_per_op=..           spawn + wait of a program
//! ```
//!
//! `syscall-bench only NAME N` runs one of them (syscall_round_trip,
//! context_switch, spawn_wait) and prints `bench NAME n=N total_ns=T`:
//! what the kernel's `make bench` rows read (kernel/src/bench/proc_benches.rs).
//!
//! The spawned program is `syscall-bench partner 0`, which exits at once
//! without printing, so the figure is process creation and teardown, not the
//! console (a device path that differs between platforms).
#![no_std]
#![no_main]

use core::fmt::Write;

use rt::println;
use rt::sys;
use rt::text::TextBuffer;

rt::main!(main);

const DEFAULT_CALLS: u64 = 20_000;
const DEFAULT_SPAWNS: u64 = 20;

fn main(args: &[&str]) -> i32 {
    if args.get(1) == Some(&"partner") {
        return partner(args.get(2).and_then(|n| n.parse().ok()).unwrap_or(0));
    }
    if args.get(1) == Some(&"only") {
        let n = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(0);
        return only(args.get(2).copied().unwrap_or(""), n);
    }
    let calls = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CALLS);
    let spawns = args
        .get(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_SPAWNS);
    if calls == 0 || spawns == 0 {
        println!("usage: syscall-bench [CALLS] [SPAWNS] (both > 0)");
        return 2;
    }

    report(
        "syscall_round_trip",
        calls,
        time(|| {
            for _ in 0..calls {
                sys::getpid();
            }
        }),
    );
    report(
        "yield",
        calls,
        time(|| {
            for _ in 0..calls {
                sys::yield_now();
            }
        }),
    );
    match context_switches(calls) {
        Ok(ns) => report("context_switch", 2 * calls, ns),
        Err(e) => return failed("context_switch", e),
    }
    let mut spawn_error = None;
    let ns = time(|| {
        for _ in 0..spawns {
            if let Err(e) = spawn_partner(0).and_then(wait_for_success) {
                spawn_error = Some(e);
                return;
            }
        }
    });
    match spawn_error {
        None => report("spawn_wait", spawns, ns),
        Some(e) => return failed("spawn_wait", e),
    }
    0
}

/// The nanoseconds `work` takes, by the kernel's monotonic clock.
fn time(work: impl FnOnce()) -> u64 {
    let start = sys::clock();
    work();
    sys::clock().saturating_sub(start)
}

fn report(name: &str, n: u64, ns: u64) {
    println!("bench {name} n={n} ns_per_op={}", ns / n);
}

fn failed(name: &str, what: &str) -> i32 {
    println!("bench {name} failed: {what}");
    1
}

/// A partner that yields `calls` times: each of our yields switches to it
/// and each of its yields back to us, 2 * calls switches in all (plus the
/// timer's preemptions, which a run of this length makes rare).
fn context_switches(calls: u64) -> Result<u64, &'static str> {
    let child = spawn_partner(calls)?;
    let ns = time(|| {
        for _ in 0..calls {
            sys::yield_now();
        }
    });
    wait_for_success(child)?;
    Ok(ns)
}

fn spawn_partner(calls: u64) -> Result<u64, &'static str> {
    let mut args = TextBuffer::<32>::new();
    write!(args, "partner {calls}").map_err(|_| "argument buffer too small")?;
    sys::spawn("syscall-bench", args.as_str()).map_err(|e| e.name())
}

fn wait_for_success(child: u64) -> Result<(), &'static str> {
    match sys::wait(child).map_err(|e| e.name())? {
        sys::Status::Exited(0) => Ok(()),
        _ => Err("the child did not exit 0"),
    }
}

fn partner(calls: u64) -> i32 {
    for _ in 0..calls {
        sys::yield_now();
    }
    0
}

/// One figure, as `bench NAME n=N total_ns=T` (the operations counted: for
/// a context switch, two per round of yields).
fn only(name: &str, n: u64) -> i32 {
    if n == 0 {
        println!(
            "usage: syscall-bench only syscall_round_trip|context_switch|spawn_wait N (N > 0)"
        );
        return 2;
    }
    let measured = match name {
        "syscall_round_trip" => Ok((
            n,
            time(|| {
                for _ in 0..n {
                    sys::getpid();
                }
            }),
        )),
        "context_switch" => context_switches(n).map(|ns| (2 * n, ns)),
        "spawn_wait" => {
            let mut error = None;
            let ns = time(|| {
                for _ in 0..n {
                    if let Err(e) = spawn_partner(0).and_then(wait_for_success) {
                        error = Some(e);
                        return;
                    }
                }
            });
            error.map_or(Ok((n, ns)), Err)
        }
        _ => Err("no such figure"),
    };
    match measured {
        Ok((ops, ns)) => {
            println!("bench {name} n={ops} total_ns={ns}");
            0
        }
        Err(e) => failed(name, e),
    }
}
