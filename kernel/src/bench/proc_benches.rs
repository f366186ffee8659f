//! What processes cost: a system call's round trip, a context switch
//! between two processes, and spawning and waiting for one. Measured from
//! user space by `syscall-bench only NAME N` (user/syscall-bench), which
//! times N operations with the clock call and prints
//! `bench NAME n=N total_ns=T`; one run of it is one sample here (the mean
//! over its N operations, in cycles at the platform's TSC rate).
//!
//! Under PVH none of these leaves the guest (`syscall`, page tables and
//! the switch are the CPU's own), so they should cost what they cost
//! natively; under HVM too. The device paths (console, timer, disk) are
//! where the columns differ.

use super::{Bench, BenchError, Role, Samples};
use alloc::format;

pub const BENCHES: &[Bench] = &[
    Bench {
        name: "proc_syscall_round_trip",
        what: "getpid from user space: syscall, dispatch, sysret (mean of 2000 per sample)",
        pair: None,
        role: Role::Neither,
        max_iters: 5,
        run: syscall_round_trip,
    },
    Bench {
        name: "proc_context_switch",
        what: "one switch between two processes that yield to each other (mean of 2x500)",
        pair: None,
        role: Role::Neither,
        max_iters: 5,
        run: context_switch,
    },
    Bench {
        name: "proc_spawn_wait",
        what: "spawn a program that exits at once, and wait for it (mean of 5)",
        pair: None,
        role: Role::Neither,
        max_iters: 5,
        run: spawn_wait,
    },
];

fn syscall_round_trip(iters: u32) -> Result<Samples, BenchError> {
    from_user(iters, "syscall_round_trip", 2000)
}

fn context_switch(iters: u32) -> Result<Samples, BenchError> {
    from_user(iters, "context_switch", 500)
}

fn spawn_wait(iters: u32) -> Result<Samples, BenchError> {
    from_user(iters, "spawn_wait", 5)
}

/// Run `syscall-bench only NAME N` `iters` times; one sample per run.
fn from_user(iters: u32, name: &str, n: u64) -> Result<Samples, BenchError> {
    crate::proc::programs()?;
    let tsc_hz = crate::platform().cpu_info().tsc_hz;
    let mut samples = Samples::new();
    for _ in 0..iters {
        crate::proc::capture::start();
        let pid = crate::proc::spawn("syscall-bench", &format!("only {name} {n}"), 0)
            .map_err(|e| format!("spawn syscall-bench: {e}"));
        let status = pid.map(|pid| crate::proc::wait(pid, 0));
        let (out, _) = crate::proc::capture::stop();
        match status? {
            Some(0) => {}
            other => return Err(format!("syscall-bench ended with {other:?}: {out}")),
        }
        let (ops, total_ns) = parse(&out, name)
            .ok_or_else(|| format!("no `bench {name} n= total_ns=` line in {out:?}"))?;
        if ops == 0 {
            return Err(format!("syscall-bench reported n=0 for {name}"));
        }
        let cycles = u128::from(total_ns) * u128::from(tsc_hz)
            / u128::from(crate::time::NS_PER_SEC)
            / u128::from(ops);
        samples.push(u64::try_from(cycles).unwrap_or(u64::MAX));
    }
    Ok(samples)
}

/// `bench NAME n=N total_ns=T` -> (N, T).
fn parse(out: &str, name: &str) -> Option<(u64, u64)> {
    let line = out
        .lines()
        .find(|l| l.split_whitespace().take(2).eq(["bench", name]))?;
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("n=")?, field("total_ns=")?))
}
