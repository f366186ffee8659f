//! `ticker SECS [DISK]`: a long-running check to watch the machine across
//! a suspend (`xl save`/`restore`, `xl migrate`, a checkpoint).
//!
//! Once a second, on a core timer, it prints `ticker: tick N at T ms`
//! and checks that the clock never went backwards and that no tick came
//! before its deadline. With a disk, each tick also writes a 4 KiB block
//! of its own pattern near the end of the disk, flushes, and reads it
//! back; at the end every block is read again. Host requests are served
//! while it waits, so a suspend lands in the middle of it, and a disk that
//! reconnected after a restore must still hold what was written before.
//! It ends with `ticker: done: ... ok` or `ticker: FAILED: <why>`.

use crate::block::{DISKS, Disk, MachineWaiter, pattern};
use crate::kprintln;
use crate::time::{self, NS_PER_MS, NS_PER_SEC};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// Between two ticks.
const PERIOD_NS: u64 = NS_PER_SEC;
/// The longest run the shell accepts.
const MAX_SECS: u64 = 3600;
/// Bytes each tick writes.
const BLOCK_BYTES: usize = 4096;
/// Pattern seeds: tick `n` writes the pattern of `SEED_BASE + n`.
const SEED_BASE: u32 = 0x7100_0000;
/// Each disk request's deadline.
const IO_TIMEOUT_NS: u64 = 30 * NS_PER_SEC;

/// The shell command's usage line.
pub const HELP: &str =
    "  ticker S [DISK]  tick once a second for S seconds (checking the clock), writing DISK too";

/// Where the blocks go and how they are checked.
struct DiskPlan<'a> {
    disk: &'a Disk,
    /// Sectors per block, and 512-byte pattern sectors per disk sector.
    sectors: u64,
    per_pattern: u64,
    /// The first block's sector.
    base: u64,
}

impl DiskPlan<'_> {
    fn lba(&self, n: u64) -> u64 {
        self.base + n * self.sectors
    }

    fn expected(&self, n: u64) -> Vec<u8> {
        let mut data = vec![0u8; BLOCK_BYTES];
        pattern::fill(
            SEED_BASE + n as u32,
            self.lba(n) * self.per_pattern,
            &mut data,
        );
        data
    }

    /// Write block `n`, flush, read it back.
    fn write(&self, n: u64) -> Result<(), String> {
        let (lba, data) = (self.lba(n), self.expected(n));
        let name = self.disk.name();
        self.disk
            .write(lba, &data, &MachineWaiter, IO_TIMEOUT_NS)
            .map_err(|e| alloc::format!("{name}: writing sector {lba}: {e}"))?;
        self.disk
            .flush(&MachineWaiter, IO_TIMEOUT_NS)
            .map_err(|e| alloc::format!("{name}: flush after tick {n}: {e}"))?;
        self.check(n)
    }

    /// Block `n` holds tick `n`'s pattern.
    fn check(&self, n: u64) -> Result<(), String> {
        let lba = self.lba(n);
        let name = self.disk.name();
        let mut data = vec![0u8; BLOCK_BYTES];
        self.disk
            .read(lba, &mut data, &MachineWaiter, IO_TIMEOUT_NS)
            .map_err(|e| alloc::format!("{name}: reading sector {lba}: {e}"))?;
        if data != self.expected(n) {
            return Err(alloc::format!(
                "{name}: sector {lba} does not hold what tick {n} wrote"
            ));
        }
        Ok(())
    }
}

/// The plan for `name`: the blocks of `secs` ticks at the end of the disk.
fn plan(name: &str, secs: u64) -> Result<DiskPlan<'_>, String> {
    let disk = DISKS.get(name).map_err(|e| alloc::format!("{name}: {e}"))?;
    let info = disk.info();
    if info.read_only {
        return Err(alloc::format!("{name} is read-only"));
    }
    let size = u64::from(info.sector_size);
    let sectors = (BLOCK_BYTES as u64).div_ceil(size).max(1);
    if sectors * size != BLOCK_BYTES as u64 {
        return Err(alloc::format!(
            "{name}: sectors of {size} B do not make 4 KiB"
        ));
    }
    let needed = (secs + 1) * sectors;
    let base = info
        .capacity_sectors
        .checked_sub(needed)
        .ok_or_else(|| alloc::format!("{name} is too small for {secs} ticks"))?;
    Ok(DiskPlan {
        disk,
        sectors,
        per_pattern: size / pattern::PATTERN_SECTOR as u64,
        base,
    })
}

/// `ticker SECS [DISK]`.
pub fn run(args: &str) {
    let mut words = args.split_ascii_whitespace();
    let secs = match words.next().map(str::parse::<u64>) {
        Some(Ok(secs)) if (1..=MAX_SECS).contains(&secs) => secs,
        _ => return kprintln!("ticker: usage: ticker SECONDS (1..={MAX_SECS}) [DISK]"),
    };
    let disk = match words.next().map(|name| plan(name, secs)).transpose() {
        Ok(disk) => disk,
        Err(why) => return kprintln!("ticker: FAILED: {why}"),
    };
    match ticks(secs, disk.as_ref()) {
        Ok(summary) => kprintln!("ticker: done: {summary} ok"),
        Err(why) => kprintln!("ticker: FAILED: {why}"),
    }
}

fn ticks(secs: u64, disk: Option<&DiskPlan<'_>>) -> Result<String, String> {
    let start = time::now_ns();
    let mut last = start;
    let mut latest = 0;
    for n in 1..=secs {
        let deadline = start + n * PERIOD_NS;
        // Sleep to the deadline on a timer; a host request wakes it
        // earlier and is served here (a suspend, then back to sleep).
        loop {
            time::wait_until(deadline, crate::power::pending);
            if crate::power::pending() {
                crate::power::serve();
            } else if time::now_ns() >= deadline {
                break;
            }
        }
        let now = time::now_ns();
        if now < last {
            return Err(alloc::format!(
                "the clock went back from {} to {} ns at tick {n}",
                last,
                now
            ));
        }
        last = now;
        let late = now - deadline;
        latest = latest.max(late);
        if let Some(disk) = disk {
            disk.write(n)?;
        }
        kprintln!(
            "ticker: tick {n} at {} ms (late {} ms)",
            (now - start) / NS_PER_MS,
            late / NS_PER_MS
        );
    }
    let mut summary = alloc::format!(
        "{secs} ticks in {} ms, the clock never went back, latest tick {} ms late",
        (time::now_ns() - start) / NS_PER_MS,
        latest / NS_PER_MS
    );
    if let Some(disk) = disk {
        for n in 1..=secs {
            disk.check(n)?;
        }
        summary.push_str(&alloc::format!(
            ", {secs} blocks of {} verified",
            disk.disk.name()
        ));
    }
    Ok(summary)
}
