//! The PV console's rings (`virtus_pv::console::Console`, the kernel's own
//! code) against a fake xenconsoled that runs a script from the input:
//! it produces input bytes honestly, or writes hostile `in_prod`,
//! `in_cons` and `out_cons` values (wraps, huge gaps, indices behind),
//! while the guest reads input and writes output.
//!
//! Checked on every read: a ring whose indices are more than a ring apart
//! is refused as `Corrupt` with those indices, once, and `Abandoned` after;
//! otherwise exactly `min(len, in_prod - in_cons)` bytes come back, each
//! the ring slot it should be (nothing outside the ring), `in_cons` moves
//! by that much, and while the backend was honest the bytes are the ones
//! it produced, in order. On every write: the bytes reach the backend in
//! order, `out_prod` moves by their number, a backend that takes nothing
//! is reported `Stalled`; and the console's fault count is the model's.

use std::collections::VecDeque;
use std::ptr::NonNull;

use virtus_pv::abi::XenconsInterface;
use virtus_pv::console::{Console, Ring, RingFault, Signal};

use super::shared_page::{Fields, SharedPage};
use super::{Outcome, Target};
use crate::mutate::{Hints, script_fields};

pub struct ConsoleRingTarget;

/// `struct xencons_interface` (abi.rs checks these against Xen's header).
const IN_SIZE: u32 = 1024;
const OUT_SIZE: u32 = 2048;
const INPUT: usize = 0;
const OUTPUT: usize = 1024;
const IN_CONS: usize = 0xc00;
const IN_PROD: usize = 0xc04;
const OUT_CONS: usize = 0xc08;
const OUT_PROD: usize = 0xc0c;

/// The script: in and out start indices, then 8-byte steps (kind, a,
/// b: u16, v: u32).
const HEADER: usize = 8;
const STEP: usize = 8;
const MAX_STEPS: usize = 64;
/// The fake's clock moves this much per wait (the kernel's wait slice).
const TICK_NS: u64 = 10_000_000;

/// Each step: kind u8, a u8, b u16, v u32.
const FIELDS: [(usize, usize); 2 + 4 * 12] = script_fields(
    &[(0, 4), (4, 4)],
    HEADER,
    STEP,
    &[(0, 1), (1, 1), (2, 2), (4, 4)],
);

const VALUES: [u64; 10] = [
    IN_SIZE as u64,
    IN_SIZE as u64 + 1,
    OUT_SIZE as u64,
    OUT_SIZE as u64 + 1,
    u32::MAX as u64 - 3,
    0x8000_0000,
    0xfff,
    5,
    8,
    4,
];

#[derive(Clone, Copy)]
enum Step {
    /// The backend produces `n` bytes honestly (as many as fit).
    Produce(usize),
    SetInProd(u32),
    AddInProd(u32),
    SetInCons(u32),
    SetOutCons(u32),
    /// The guest reads into a buffer of this many bytes.
    Read(usize),
    /// The guest writes `n` bytes; the backend takes `per_wait` per wait.
    Write {
        n: usize,
        per_wait: u32,
    },
    /// Restored into a new domain: the toolstack zeroed the indices.
    Resume,
}

fn step(f: &Fields<'_>, at: usize) -> Step {
    let (kind, a, b, v) = (f.u8(at), f.u8(at + 1), f.u16(at + 2), f.u32(at + 4));
    match kind % 9 {
        0 => Step::Produce(usize::from(a) + 1),
        1 => Step::Produce(usize::from(b) % (IN_SIZE as usize + 1)),
        2 => Step::SetInProd(v),
        3 => Step::AddInProd(v),
        4 => Step::SetInCons(v),
        5 => Step::SetOutCons(v),
        6 => Step::Read(usize::from(b) % 1100),
        7 => Step::Write {
            n: usize::from(b) % 3000,
            per_wait: u32::from(a),
        },
        _ => Step::Resume,
    }
}

/// Encodes steps, for the seeds.
fn script(in_start: u32, out_start: u32, steps: &[(u8, u8, u16, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&in_start.to_le_bytes());
    out.extend_from_slice(&out_start.to_le_bytes());
    for &(kind, a, b, v) in steps {
        out.extend_from_slice(&[kind, a]);
        out.extend_from_slice(&b.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The fake xenconsoled's output side: takes bytes out of the output ring.
struct Backend<'a> {
    page: &'a SharedPage,
    per_wait: u32,
    received: Vec<u8>,
    clock: u64,
}

impl Backend<'_> {
    fn drain(&mut self, max: u32) {
        let prod = self.page.read_u32(OUT_PROD);
        let mut cons = self.page.read_u32(OUT_CONS);
        let mut taken = 0;
        // A corrupt ring (more than a ring apart) is not drained.
        if prod.wrapping_sub(cons) > OUT_SIZE {
            return;
        }
        while cons != prod && taken < max {
            let at = OUTPUT + (cons % OUT_SIZE) as usize;
            self.received.push(self.page.read_u8(at));
            cons = cons.wrapping_add(1);
            taken += 1;
        }
        self.page.write_u32(OUT_CONS, cons);
    }
}

impl Signal for Backend<'_> {
    fn notify(&mut self) {}
    fn arm(&mut self) {}
    fn wait(&mut self) {
        self.clock += TICK_NS;
        self.drain(self.per_wait);
    }
    fn now_ns(&mut self) -> Option<u64> {
        Some(self.clock)
    }
}

/// What the model expects of the rings.
#[derive(Default)]
struct Model {
    /// Bytes produced honestly and not yet read, while `honest`.
    stream: VecDeque<u8>,
    honest: bool,
    produced: u64,
    in_broken: bool,
    out_broken: bool,
    errors: u64,
    faults: Vec<RingFault>,
}

impl Target for ConsoleRingTarget {
    fn name(&self) -> &'static str {
        "console-ring"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        vec![
            // Produce, read in parts, write through a slow backend, fill
            // the input ring and empty it.
            script(
                0,
                0,
                &[
                    (0, 99, 0, 0),
                    (6, 0, 50, 0),
                    (6, 0, 100, 0),
                    (7, 64, 300, 0),
                    (1, 0, 1024, 0),
                    (6, 0, 1024, 0),
                    (6, 0, 10, 0),
                ],
            ),
            // Both rings across the u32 wrap.
            script(
                u32::MAX - 10,
                u32::MAX - 100,
                &[
                    (0, 40, 0, 0),
                    (7, 255, 200, 0),
                    (6, 0, 30, 0),
                    (1, 0, 900, 0),
                    (6, 0, 1000, 0),
                ],
            ),
            // More than the output ring holds, a read of nothing.
            script(1000, 2040, &[(7, 200, 2999, 0), (6, 0, 0, 0), (0, 0, 0, 0)]),
            // A restore in the middle.
            script(
                77,
                5000,
                &[(0, 10, 0, 0), (8, 0, 0, 0), (0, 20, 0, 0), (6, 0, 21, 0)],
            ),
        ]
    }

    fn hints(&self) -> Hints<'static> {
        Hints {
            fields: &FIELDS,
            values: &VALUES,
            hex: false,
        }
    }

    fn run(&self, input: &[u8]) -> Result<Outcome, String> {
        let f = Fields(input);
        let page = SharedPage::new(4096);
        let (in_start, out_start) = (f.u32(0), f.u32(4));
        for (at, v) in [
            (IN_CONS, in_start),
            (IN_PROD, in_start),
            (OUT_CONS, out_start),
            (OUT_PROD, out_start),
        ] {
            page.write_u32(at, v);
        }
        let ring: NonNull<XenconsInterface> = page.ptr().cast();
        // SAFETY: a zeroed, page-aligned 4 KiB allocation (larger than the
        // 3088-byte interface), alive until after `console` is dropped
        // (declared after it); the fake reaches it only volatilely.
        let console = unsafe { Console::from_raw(ring, 7) };
        let mut m = Model {
            honest: true,
            ..Model::default()
        };
        let steps = input
            .len()
            .saturating_sub(HEADER)
            .div_ceil(STEP)
            .min(MAX_STEPS);
        for k in 0..steps {
            run_step(&page, &console, &mut m, step(&f, HEADER + STEP * k))
                .map_err(|e| format!("step {k}: {e}"))?;
        }
        if console.ring_errors() != m.errors {
            return Err(format!(
                "{} ring errors counted, {} expected",
                console.ring_errors(),
                m.errors
            ));
        }
        Ok(match m.faults.first() {
            None => Outcome::ACCEPTED,
            Some(fault) => Outcome::refused(true, fault),
        })
    }
}

fn run_step(page: &SharedPage, console: &Console, m: &mut Model, step: Step) -> Result<(), String> {
    match step {
        Step::Produce(n) => {
            let (cons, prod) = (page.read_u32(IN_CONS), page.read_u32(IN_PROD));
            let used = prod.wrapping_sub(cons);
            if used > IN_SIZE {
                return Ok(());
            }
            let n = n.min((IN_SIZE - used) as usize) as u32;
            for i in 0..n {
                m.produced += 1;
                let byte = (m.produced.wrapping_mul(0x9e37_79b9) >> 11) as u8;
                page.write_u8(INPUT + (prod.wrapping_add(i) % IN_SIZE) as usize, byte);
                m.stream.push_back(byte);
            }
            page.write_u32(IN_PROD, prod.wrapping_add(n));
        }
        Step::SetInProd(v) => {
            page.write_u32(IN_PROD, v);
            m.honest = false;
        }
        Step::AddInProd(v) => {
            page.write_u32(IN_PROD, page.read_u32(IN_PROD).wrapping_add(v));
            m.honest = false;
        }
        Step::SetInCons(v) => {
            page.write_u32(IN_CONS, v);
            m.honest = false;
        }
        Step::SetOutCons(v) => page.write_u32(OUT_CONS, v),
        Step::Read(len) => check_read(page, console, m, len)?,
        Step::Write { n, per_wait } => check_write(page, console, m, n, per_wait)?,
        Step::Resume => {
            for at in [IN_CONS, IN_PROD, OUT_CONS, OUT_PROD] {
                page.write_u32(at, 0);
            }
            console.resume(8);
            m.in_broken = false;
            m.out_broken = false;
            m.stream.clear();
            m.honest = true;
        }
    }
    Ok(())
}

fn check_read(
    page: &SharedPage,
    console: &Console,
    m: &mut Model,
    len: usize,
) -> Result<(), String> {
    let (cons, prod) = (page.read_u32(IN_CONS), page.read_u32(IN_PROD));
    let mut out = vec![0xa5u8; len];
    let mut be = Backend {
        page,
        per_wait: 0,
        received: Vec::new(),
        clock: 0,
    };
    let got = console.read_with(&mut out, &mut be);
    let avail = prod.wrapping_sub(cons);
    if m.in_broken {
        return match got {
            Err(RingFault::Abandoned) => Ok(()),
            other => Err(format!("read of an abandoned ring: {other:?}")),
        };
    }
    if avail > IN_SIZE {
        let want = RingFault::Corrupt {
            ring: Ring::Input,
            prod,
            cons,
        };
        if got != Err(want) {
            return Err(format!(
                "read with in_prod {prod:#x} in_cons {cons:#x}: {got:?}"
            ));
        }
        m.in_broken = true;
        m.errors += 1;
        m.faults.push(want);
        let _ = want.to_string();
        return Ok(());
    }
    let n = got.map_err(|e| format!("read of a sound ring refused: {e}"))?;
    if n != len.min(avail as usize) {
        return Err(format!("read {n} of {avail} bytes into {len}"));
    }
    // The reader writes only `in_cons`: the slots are as they were.
    for (i, &byte) in out[..n].iter().enumerate() {
        let slot = (cons.wrapping_add(i as u32) % IN_SIZE) as usize;
        if byte != page.read_u8(INPUT + slot) {
            return Err(format!("byte {i} is not the ring's slot {slot}"));
        }
    }
    if out[n..].iter().any(|&b| b != 0xa5) {
        return Err("bytes written past the count returned".into());
    }
    if page.read_u32(IN_CONS) != cons.wrapping_add(n as u32) {
        return Err(format!(
            "in_cons {:#x} after reading {n} from {cons:#x}",
            page.read_u32(IN_CONS)
        ));
    }
    if m.honest {
        let want: Vec<u8> = m.stream.drain(..n.min(m.stream.len())).collect();
        if want.len() != n || out[..n] != want[..] {
            return Err(format!("the {n} bytes read are not the next ones produced"));
        }
    }
    Ok(())
}

fn check_write(
    page: &SharedPage,
    console: &Console,
    m: &mut Model,
    n: usize,
    per_wait: u32,
) -> Result<(), String> {
    let (prod, cons) = (page.read_u32(OUT_PROD), page.read_u32(OUT_CONS));
    let bytes: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
    let mut be = Backend {
        page,
        per_wait,
        received: Vec::new(),
        clock: 1_000,
    };
    let got = console.write_with(&bytes, &mut be);
    let used = prod.wrapping_sub(cons);
    if n == 0 {
        return match got {
            Ok(()) => Ok(()),
            Err(e) => Err(format!("an empty write failed: {e}")),
        };
    }
    if m.out_broken {
        return match got {
            Err(RingFault::Abandoned) => Ok(()),
            other => Err(format!("write to an abandoned ring: {other:?}")),
        };
    }
    if used > OUT_SIZE {
        let want = RingFault::Corrupt {
            ring: Ring::Output,
            prod,
            cons,
        };
        if got != Err(want) {
            return Err(format!(
                "write with out_prod {prod:#x} out_cons {cons:#x}: {got:?}"
            ));
        }
        m.out_broken = true;
        m.errors += 1;
        m.faults.push(want);
        return Ok(());
    }
    let fits = n <= (OUT_SIZE - used) as usize;
    match got {
        Ok(()) => {
            if per_wait == 0 && !fits {
                return Err("a write larger than the room finished with no backend".into());
            }
            if page.read_u32(OUT_PROD) != prod.wrapping_add(n as u32) {
                return Err("out_prod did not move by the bytes written".into());
            }
            be.drain(u32::MAX);
            let ours = be.received.get(used as usize..).unwrap_or(&[]);
            if ours != bytes {
                return Err(format!(
                    "the backend got {} bytes, not the {n} written in order",
                    ours.len()
                ));
            }
        }
        Err(fault @ RingFault::Stalled { waited_ns, .. }) => {
            if per_wait != 0 || fits || waited_ns < virtus_pv::console::STALL_NS {
                return Err(format!(
                    "stalled with the backend taking {per_wait} a wait: {fault}"
                ));
            }
            m.out_broken = true;
            m.errors += 1;
            m.faults.push(fault);
            let _ = fault.to_string();
        }
        Err(e) => return Err(format!("a write to a sound ring failed: {e}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_accepted() {
        for (i, seed) in ConsoleRingTarget.seeds().iter().enumerate() {
            assert_eq!(
                ConsoleRingTarget.run(seed),
                Ok(Outcome::ACCEPTED),
                "seed {i}"
            );
        }
    }

    #[test]
    fn hostile_indices_are_refused_and_counted() {
        let corrupt = script(0, 0, &[(2, 0, 0, 2000), (6, 0, 10, 0), (6, 0, 10, 0)]);
        let out = ConsoleRingTarget.run(&corrupt).unwrap();
        assert_eq!(out.refusal.as_deref(), Some("Corrupt"));
        let stalled = script(0, 0, &[(7, 0, 2999, 0)]);
        let out = ConsoleRingTarget.run(&stalled).unwrap();
        assert_eq!(out.refusal.as_deref(), Some("Stalled"));
    }
}
