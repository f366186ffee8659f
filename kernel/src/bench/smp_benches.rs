//! What it costs CPUs to talk to each other: an event's round trip from
//! CPU 0 to CPU 1 and back, a TLB shootdown to every other CPU, and a lock
//! handed from one CPU to another. Listed only when more than one CPU is
//! online (`all_benches`).
//!
//! Natively an event is a write to the local APIC's ICR and an interrupt;
//! under HVM each ICR write is an exit that Xen's emulated APIC turns into
//! an interrupt for the other vCPU; under PVH it is an event channel: one
//! hypercall to send, an upcall to receive. A lock hand-off crosses no
//! device at all, so it should cost about the same everywhere (on the
//! nested bed, as much as the host's scheduling of the vCPUs allows).

use super::{Bench, BenchError, Role, Samples, cycles};
use crate::sched::smp;
use core::sync::atomic::{AtomicU64, Ordering};

pub const BENCHES: &[Bench] = &[
    Bench {
        name: "smp_ipi_round_trip",
        what: "CPU 0 -> CPU 1 -> CPU 0: an event there, one back, until CPU 0 handled it",
        pair: None,
        role: Role::Neither,
        max_iters: 2000,
        run: ipi_round_trip,
    },
    Bench {
        name: "smp_tlb_shootdown",
        what: "invalidate one page on every CPU: locally, then an event to each other CPU and wait",
        pair: None,
        role: Role::Neither,
        max_iters: 2000,
        run: tlb_shootdown,
    },
    Bench {
        name: "smp_lock_handoff",
        what: "a spin lock passed from CPU 0 to CPU 1 and back, per hand-off (half the round)",
        pair: None,
        role: Role::Neither,
        max_iters: 2000,
        run: lock_handoff,
    },
];

/// How long any one wait may last before the bench gives up.
const WAIT_NS: u64 = 2_000_000_000;

fn wait_for(done: impl Fn() -> bool) -> Result<(), BenchError> {
    if smp::spin_until(WAIT_NS, done) {
        Ok(())
    } else {
        Err("the other CPU did not answer within 2 s".into())
    }
}

/// The CPU the two-CPU benches talk to: CPU 1, or the first AP online if
/// it was taken offline (`sched::hotplug`).
fn peer() -> Result<usize, BenchError> {
    smp::online_aps()
        .next()
        .ok_or_else(|| "no other CPU online".into())
}

fn send_back(_: u64) {
    // The answer to CPU 0; a failure shows there as a timeout.
    let _ = crate::platform().send_ipi(0);
}

fn ipi_round_trip(iters: u32) -> Result<Samples, BenchError> {
    let peer = peer()?;
    let mut samples = Samples::new();
    for _ in 0..iters {
        let handled = smp::ipis(0);
        let done = smp::calls_done(peer);
        let start = cycles();
        smp::call_on(peer, send_back, 0).map_err(|e| alloc::format!("{e}"))?;
        wait_for(|| smp::ipis(0) > handled)?;
        samples.push(cycles().saturating_sub(start));
        // The call counts as done just after it sent: wait for that too.
        wait_for(|| smp::calls_done(peer) > done)?;
    }
    Ok(samples)
}

fn tlb_shootdown(iters: u32) -> Result<Samples, BenchError> {
    // Any kernel page will do: the invalidation is what is measured.
    let virt = BENCHES.as_ptr() as u64 & !0xfff;
    let mut samples = Samples::new();
    for _ in 0..iters {
        let start = cycles();
        smp::shootdown_by_ipi(virt).map_err(|e| alloc::format!("{e}"))?;
        samples.push(cycles().saturating_sub(start));
    }
    Ok(samples)
}

static LOCK: spin::Mutex<()> = spin::Mutex::new(());
/// Whose turn it is to take the lock: even for CPU 0, odd for the peer.
static TURN: AtomicU64 = AtomicU64::new(0);

/// Take the lock on turn `mine` and give the turn to the other CPU.
fn pass(mine: u64) {
    let guard = LOCK.lock();
    TURN.store(mine + 1, Ordering::Release);
    drop(guard);
}

/// The peer's side: take the lock on each of `rounds` odd turns, pass it
/// back; give up (as CPU 0 does) if a turn does not come within [`WAIT_NS`].
fn other_side(rounds: u64) {
    for round in 0..rounds {
        let mine = 2 * round + 1;
        if !smp::spin_until(WAIT_NS, || TURN.load(Ordering::Acquire) == mine) {
            return;
        }
        pass(mine);
    }
}

/// One sample is one round (CPU 0 -> the peer -> CPU 0), halved: a
/// hand-off. The peer gets one call for the whole run, so that the runner's plan sizes
/// the run from a round's cost: under HVM on the one-pCPU bed a hand-off
/// waits for Xen to switch vCPUs (both spin with PAUSE), and runs of a
/// fixed 2x200 or 2x50 hand-offs per sample outlasted the 10 s watchdog.
/// Round 0 is not timed: it includes the peer taking the call's IPI.
fn lock_handoff(iters: u32) -> Result<Samples, BenchError> {
    let peer = peer()?;
    let rounds = u64::from(iters) + 1;
    TURN.store(0, Ordering::Release);
    let done = smp::calls_done(peer);
    smp::call_on(peer, other_side, rounds).map_err(|e| alloc::format!("{e}"))?;
    pass(0);
    wait_for(|| TURN.load(Ordering::Acquire) == 2)?;
    let mut samples = Samples::new();
    for round in 1..rounds {
        let mine = 2 * round;
        let start = cycles();
        pass(mine);
        wait_for(|| TURN.load(Ordering::Acquire) == mine + 2)?;
        samples.push(cycles().saturating_sub(start) / 2);
    }
    wait_for(|| smp::calls_done(peer) > done)?;
    Ok(samples)
}
