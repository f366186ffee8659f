//! The shell's `disk` command: list the disks, dump sectors, and take a
//! quick look at a disk's speed (`make bench` is where figures come from).

use alloc::vec;
use alloc::vec::Vec;

use super::{BlockBuffer, DISKS, Disk, MachineWaiter, Operation, RequestId, pattern};
use crate::{kprint, kprintln, time};

/// What `help` says about it.
pub const HELP: &str = "\
  disk             list the disks: capacity, sector size, driver
  disk read D L [N]  hex dump of N sectors (default 1, at most 8) of disk D from sector L
  disk bench D     a quick look at disk D: 4 KiB random reads, one at a time and 32 at once
  disk fill D L N S  write N sectors of disk D from sector L with the test pattern of seed S (hex), then flush
  disk soak D L N T S  write, flush, read back and verify N sectors of disk D from sector L for T seconds; the last pass with seed S (hex)";

const TIMEOUT_NS: u64 = 10_000_000_000;

/// Run `disk` with the words after it.
pub fn run(args: &str) {
    let mut words = args.split_ascii_whitespace();
    match (words.next(), words.next(), words.next(), words.next()) {
        (None, ..) => list(),
        (Some("read"), Some(name), Some(lba), count) => {
            let (Ok(lba), Ok(count)) = (lba.parse::<u64>(), count.unwrap_or("1").parse::<u64>())
            else {
                kprintln!("disk read: sector and count are decimal numbers");
                return;
            };
            with_disk(name, |disk| dump(disk, lba, count.clamp(1, 8)));
        }
        (Some("bench"), Some(name), None, _) => with_disk(name, bench),
        (Some("fill"), Some(name), Some(lba), Some(count)) => {
            let seed = words.next().map(|s| s.strip_prefix("0x").unwrap_or(s));
            let seed = seed.map(|s| u32::from_str_radix(s, 16));
            match (lba.parse::<u64>(), count.parse::<u64>(), seed, words.next()) {
                (Ok(lba), Ok(count), Some(Ok(seed)), None) => {
                    with_disk(name, |disk| fill(disk, lba, count, seed));
                }
                _ => kprintln!(
                    "disk fill: usage: disk fill DISK SECTOR COUNT SEED (decimal, decimal, hex)"
                ),
            }
        }
        (Some("soak"), Some(name), Some(lba), Some(count)) => {
            let secs = words.next().map(str::parse::<u64>);
            let seed = words.next().map(|s| s.strip_prefix("0x").unwrap_or(s));
            let seed = seed.map(|s| u32::from_str_radix(s, 16));
            match (
                lba.parse::<u64>(),
                count.parse::<u64>(),
                secs,
                seed,
                words.next(),
            ) {
                (Ok(lba), Ok(count), Some(Ok(secs)), Some(Ok(seed)), None) => {
                    with_disk(name, |disk| super::soak::run(disk, lba, count, secs, seed));
                }
                _ => kprintln!(
                    "disk soak: usage: disk soak DISK SECTOR COUNT SECONDS SEED (decimal x3, hex)"
                ),
            }
        }
        _ => kprintln!("usage:\n{HELP}"),
    }
}

fn with_disk(name: &str, f: impl FnOnce(&Disk)) {
    match DISKS.get(name) {
        Ok(disk) => f(disk),
        Err(_) => kprintln!("disk: no disk `{name}`; `disk` lists them"),
    }
}

fn list() {
    let mut any = false;
    for disk in DISKS.iter() {
        any = true;
        let info = disk.info();
        let bytes = info.capacity_sectors * u64::from(info.sector_size);
        kprintln!(
            "{:<6} {:>10} sectors of {} B ({} MiB), {}, queue depth {}, {} sectors per request{}",
            disk.name(),
            info.capacity_sectors,
            info.sector_size,
            bytes >> 20,
            info.driver,
            info.queue_depth,
            info.max_sectors,
            if info.read_only { ", read-only" } else { "" }
        );
    }
    if !any {
        kprintln!("no disks");
    }
}

fn dump(disk: &Disk, lba: u64, count: u64) {
    let size = disk.info().sector_size as usize;
    let mut data = vec![0u8; size * count as usize];
    if let Err(e) = disk.read(lba, &mut data, &MachineWaiter, TIMEOUT_NS) {
        kprintln!("disk read: {e}");
        return;
    }
    for (row, chunk) in data.chunks(16).enumerate() {
        let offset = lba * size as u64 + (row * 16) as u64;
        kprint!("{offset:010x} ");
        for byte in chunk {
            kprint!(" {byte:02x}");
        }
        kprint!("  ");
        for &byte in chunk {
            let c = if byte.is_ascii_graphic() {
                byte as char
            } else {
                '.'
            };
            kprint!("{c}");
        }
        kprintln!();
    }
}

/// Sectors written per request of `disk fill`: 64 KiB, so a fill of any
/// size needs no more heap than that, and a large one still has several
/// requests to cut into pieces and keep in flight.
const FILL_PIECE: u64 = 128;

/// Write `count` sectors from `lba` with the pattern of `seed`, then flush,
/// and say so in one line only once the flush completed: that line is the
/// guest's word that the data is durable (`virtus-run lifecycle` destroys
/// the domain the moment it sees it, then looks at the image). The pattern
/// is in 512-byte units whatever the sector size, as the runner's image is.
fn fill(disk: &Disk, lba: u64, count: u64, seed: u32) {
    let info = disk.info();
    let size = u64::from(info.sector_size);
    let name = disk.name();
    let whole = count
        .checked_mul(size)
        .and_then(|n| usize::try_from(n).ok());
    // The whole range is checked first, so nothing is written if it does
    // not fit (a part written before an error would be a surprise).
    let checked = whole
        .ok_or(super::BlockError::OutOfRange {
            lba,
            sectors: count,
            capacity: info.capacity_sectors,
        })
        .and_then(|len| super::validate(&info, Operation::Write, lba, len));
    if let Err(e) = checked {
        kprintln!("disk fill: {name}: {e}");
        return;
    }
    let per_pattern = size / pattern::PATTERN_SECTOR as u64;
    let mut data = vec![0u8; (FILL_PIECE * size) as usize];
    let mut at = lba;
    while at < lba + count {
        let n = FILL_PIECE.min(lba + count - at);
        let piece = &mut data[..(n * size) as usize];
        pattern::fill(seed, at * per_pattern, piece);
        if let Err(e) = disk.write(at, piece, &MachineWaiter, TIMEOUT_NS) {
            kprintln!("disk fill: {name}: writing sectors {at}..{}: {e}", at + n);
            return;
        }
        at += n;
    }
    if let Err(e) = disk.flush(&MachineWaiter, TIMEOUT_NS) {
        kprintln!("disk fill: {name}: wrote sectors {lba}..{at}, but the flush failed: {e}");
        return;
    }
    kprintln!("disk fill: wrote and flushed sectors {lba}..{at} of {name}");
}

/// 4 KiB reads at random page-aligned places: 200 one at a time (median
/// latency), then as many as the device takes at once for about a second
/// (operations per second). Rough by design; `make bench` measures.
fn bench(disk: &Disk) {
    let info = disk.info();
    let page = (4096 / info.sector_size).max(1) as u64;
    let pages = info.capacity_sectors / page;
    if pages == 0 {
        kprintln!("disk bench: the disk is smaller than 4 KiB");
        return;
    }
    let mut state = time::now_ns() | 1;
    let mut next_lba = move || {
        state = pattern::splitmix64(state);
        (state % pages) * page
    };
    let mut latencies: Vec<u64> = Vec::new();
    let mut data = vec![0u8; 4096];
    for _ in 0..200 {
        let start = time::now_ns();
        if let Err(e) = disk.read(next_lba(), &mut data, &MachineWaiter, TIMEOUT_NS) {
            kprintln!("disk bench: {e}");
            return;
        }
        latencies.push(time::now_ns() - start);
    }
    latencies.sort_unstable();
    let at = |q: usize| latencies[latencies.len() * q / 100] / 1000;
    kprintln!(
        "4 KiB random reads, one at a time: median {} us (p10 {} us, p90 {} us), n=200",
        at(50),
        at(10),
        at(90)
    );
    let depth = usize::from(info.queue_depth).min(32);
    let start = time::now_ns();
    let end = start + 1_000_000_000;
    let (mut done, mut out): (u64, Vec<RequestId>) = (0, Vec::new());
    let mut failed = None;
    while failed.is_none() && (time::now_ns() < end || !out.is_empty()) {
        while time::now_ns() < end && out.len() < depth {
            match disk.submit(Operation::Read, next_lba(), BlockBuffer::zeroed(4096)) {
                Ok(id) => out.push(id),
                Err(refused) => {
                    failed = Some(refused.error);
                    break;
                }
            }
        }
        time::wait_until(end + TIMEOUT_NS, || disk.poll().map_or(true, |n| n > 0));
        out.retain(|&id| match disk.take(id) {
            Some(Ok(_)) => {
                done += 1;
                false
            }
            Some(Err(e)) => {
                failed = Some(e);
                false
            }
            None => true,
        });
    }
    if let Some(e) = failed {
        for id in out {
            disk.abandon(id);
        }
        kprintln!("disk bench: {e}");
        return;
    }
    let ns = time::now_ns() - start;
    kprintln!(
        "4 KiB random reads, {depth} at once: {} per second ({done} in {} ms)",
        done * 1_000_000_000 / ns.max(1),
        ns / 1_000_000
    );
}
