//! Order statistics of a benchmark's samples and the result line the host
//! parses. Host-tested.

use alloc::string::String;
use core::fmt::{self, Write};

/// What a benchmark's samples say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Timed iterations.
    pub iters: u32,
    /// Median, 10th and 90th percentile and minimum, in TSC cycles.
    pub median_cycles: u64,
    pub p10_cycles: u64,
    pub p90_cycles: u64,
    pub min_cycles: u64,
    /// The median in nanoseconds (0 if the TSC frequency is unknown).
    pub median_ns: u64,
    /// The TSC frequency the conversion used.
    pub tsc_hz: u64,
}

/// What one timed iteration of a block benchmark moved, and on which disk:
/// the host divides it by the iteration's time for IOPS and MB/s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Work<'a> {
    /// Requests per iteration.
    pub ops: u64,
    /// Bytes transferred per iteration (0 for flushes).
    pub bytes: u64,
    /// Most requests in flight at once.
    pub depth: u16,
    /// The disk's registered name and its driver.
    pub disk: &'a str,
    pub driver: &'a str,
}

/// Nearest-rank percentile `p` (0..=100) of sorted, non-empty `sorted`.
fn percentile(sorted: &[u64], p: usize) -> u64 {
    let i = (p * (sorted.len() - 1) + 50) / 100;
    sorted[i.min(sorted.len() - 1)]
}

/// Cycles to nanoseconds at `tsc_hz` (0 when the frequency is unknown).
pub fn cycles_to_ns(cycles: u64, tsc_hz: u64) -> u64 {
    if tsc_hz == 0 {
        return 0;
    }
    (u128::from(cycles) * 1_000_000_000 / u128::from(tsc_hz)) as u64
}

impl Stats {
    /// Sort `samples` in place and summarise them; `None` if empty.
    pub fn from_samples(samples: &mut [u64], tsc_hz: u64) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let median = percentile(samples, 50);
        Some(Stats {
            iters: u32::try_from(samples.len()).unwrap_or(u32::MAX),
            median_cycles: median,
            p10_cycles: percentile(samples, 10),
            p90_cycles: percentile(samples, 90),
            min_cycles: samples[0],
            median_ns: cycles_to_ns(median, tsc_hz),
            tsc_hz,
        })
    }
}

/// What a benchmark's figures must show to be believed at all, whatever
/// the machine: the time-stamp counter moved across the measured operation
/// (a median of 0 cycles means the brackets measured nothing), and there is
/// a TSC frequency to turn cycles into time. No timing assertions.
///
/// Only what real samples can violate: order of the percentiles, a
/// non-empty sample and `median_ns` follow from [`Stats::from_samples`] by
/// construction (its host tests pin them down), so checking them here
/// could never fail.
pub fn check_sane(s: &Stats) -> Result<(), String> {
    if s.median_cycles == 0 {
        Err(alloc::format!("nothing measured: {s:?}"))
    } else if s.tsc_hz == 0 {
        Err(alloc::format!("no TSC frequency to convert with: {s:?}"))
    } else {
        Ok(())
    }
}

/// `# bench <name> iters=... role=...`, then ` ops=... driver=...` when
/// the benchmark says what an iteration moved.
pub fn write_result(
    out: &mut impl Write,
    name: &str,
    s: &Stats,
    pair: Option<&str>,
    role: super::Role,
    work: Option<&Work<'_>>,
) -> fmt::Result {
    write!(
        out,
        "# bench {name} iters={} median_cycles={} p10_cycles={} p90_cycles={} min_cycles={} \
         median_ns={} tsc_hz={} pair={} role={}",
        s.iters,
        s.median_cycles,
        s.p10_cycles,
        s.p90_cycles,
        s.min_cycles,
        s.median_ns,
        s.tsc_hz,
        pair.unwrap_or("-"),
        role.as_str()
    )?;
    if let Some(w) = work {
        write!(
            out,
            " ops={} bytes={} depth={} disk={} driver={}",
            w.ops, w.bytes, w.depth, w.disk, w.driver
        )?;
    }
    writeln!(out)
}

/// `# bench <name> error=<text>`, the text kept to its first line.
pub fn write_error(out: &mut impl Write, name: &str, error: &str) -> fmt::Result {
    writeln!(
        out,
        "# bench {name} error={}",
        error.lines().next().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::super::Role;
    use super::*;

    #[test]
    fn order_statistics() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        let s = Stats::from_samples(&mut v, 2_000_000_000).unwrap();
        assert_eq!(s.iters, 100);
        assert_eq!(s.min_cycles, 1);
        assert_eq!(s.p10_cycles, 11);
        assert_eq!(s.median_cycles, 51);
        assert_eq!(s.p90_cycles, 90);
        assert_eq!(s.median_ns, 25);
        assert_eq!(check_sane(&s), Ok(()));
    }

    #[test]
    fn one_sample_and_none() {
        let s = Stats::from_samples(&mut [7], 1_000_000_000).unwrap();
        assert_eq!(
            (s.min_cycles, s.p10_cycles, s.median_cycles, s.p90_cycles),
            (7, 7, 7, 7)
        );
        assert_eq!(s.median_ns, 7);
        assert_eq!(Stats::from_samples(&mut [], 1), None);
    }

    #[test]
    fn insane_figures_are_caught() {
        let good = Stats::from_samples(&mut [3, 1, 2], 1_000_000_000).unwrap();
        assert!(
            check_sane(&Stats {
                median_cycles: 0,
                ..good
            })
            .is_err()
        );
        assert!(
            check_sane(&Stats {
                tsc_hz: 0,
                median_ns: 0,
                ..good
            })
            .is_err()
        );
    }

    #[test]
    fn result_line_format() {
        let s = Stats::from_samples(&mut [100, 200, 300], 3_000_000_000).unwrap();
        let mut out = String::new();
        write_result(
            &mut out,
            "pvclock_read",
            &s,
            Some("time_read"),
            Role::Pv,
            None,
        )
        .unwrap();
        assert_eq!(
            out,
            "# bench pvclock_read iters=3 median_cycles=200 p10_cycles=100 p90_cycles=300 \
             min_cycles=100 median_ns=66 tsc_hz=3000000000 pair=time_read role=pv\n"
        );
        let mut out = String::new();
        write_result(&mut out, "clock_read", &s, None, Role::Neither, None).unwrap();
        assert!(out.ends_with(" pair=- role=-\n"));
        let mut out = String::new();
        let work = Work {
            ops: 64,
            bytes: 64 * 4096,
            depth: 32,
            disk: "xvda",
            driver: "blkfront",
        };
        write_result(
            &mut out,
            "block_read_4k_qd32",
            &s,
            None,
            Role::Neither,
            Some(&work),
        )
        .unwrap();
        assert!(
            out.ends_with(
                " pair=- role=- ops=64 bytes=262144 depth=32 disk=xvda driver=blkfront\n"
            ),
            "{out}"
        );
        let mut out = String::new();
        write_error(&mut out, "x", "no APIC\nmore").unwrap();
        assert_eq!(out, "# bench x error=no APIC\n");
    }
}
