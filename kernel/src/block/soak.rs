//! The shell's `disk soak`: a write/read-verify workload on a range of a
//! disk for a given time, for `virtus-run soak-disk`. Each pass writes the
//! range with the test pattern of its own seed, in requests of varying
//! size, flushes, reads it all back and checks every sector. The last pass
//! always writes the pattern of the seed it was given, so the host knows
//! what the image must hold without asking the guest; the guest also says
//! the FNV-1a 64 of what that pass read back, which the host computes again
//! from the seed, and dom0 hashes the image itself.

use alloc::vec;

use super::{BlockError, Disk, MachineWaiter, Operation, pattern};
use crate::{kprintln, time};

/// Per call of the request layer, which cuts it into the device's own
/// requests and keeps several in flight.
const TIMEOUT_NS: u64 = 10_000_000_000;

/// The largest piece one call moves (sectors of the disk): 256 KiB with
/// 512-byte sectors, so several device requests are in flight at once
/// while the heap holds only two such buffers.
const MAX_PIECE: u64 = 512;

/// The figures of a soak so far.
#[derive(Default)]
struct Figures {
    passes: u64,
    written: u64,
    read: u64,
    /// Device requests: each call of the layer is `len / max request`
    /// rounded up, and each flush is one.
    requests: u64,
    /// The FNV-1a 64 of everything the last pass read back.
    fnv: u64,
}

/// `disk soak D L N SECS SEED`: soak `count` sectors of `disk` from `lba`
/// for about `secs` seconds (whole passes; at least one).
pub fn run(disk: &Disk, lba: u64, count: u64, secs: u64, seed: u32) {
    let info = disk.info();
    let name = disk.name();
    let size = u64::from(info.sector_size);
    let checked = count
        .checked_mul(size)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(BlockError::OutOfRange {
            lba,
            sectors: count,
            capacity: info.capacity_sectors,
        })
        .and_then(|len| super::validate(&info, Operation::Write, lba, len));
    if let Err(e) = checked {
        kprintln!("disk soak: end status=failed disk={name} error={e}");
        return;
    }
    let start = time::now_ns();
    let deadline = start.saturating_add(secs.saturating_mul(1_000_000_000));
    let mut figures = Figures::default();
    let mut state = u64::from(seed) | 1 << 32;
    let outcome = loop {
        let last = time::now_ns() >= deadline;
        // Every earlier pass differs from the one before it and from the
        // last, so a write that never landed shows as the old pattern.
        let pass_seed = if last {
            seed
        } else {
            seed.wrapping_add(1 + figures.passes as u32)
        };
        let began = time::now_ns();
        if let Err(e) = pass(disk, lba, count, pass_seed, &mut state, &mut figures) {
            break Err(e);
        }
        figures.passes += 1;
        kprintln!(
            "disk soak: pass {} seed {pass_seed:08x}: wrote, flushed, read and verified {} sectors in {} ms",
            figures.passes,
            count,
            (time::now_ns() - began) / 1_000_000
        );
        if last {
            break Ok(());
        }
    };
    let ms = (time::now_ns() - start) / 1_000_000;
    let (status, errors) = match &outcome {
        Ok(()) => ("ok", 0),
        Err(_) => ("failed", 1),
    };
    kprintln!(
        "disk soak: end status={status} disk={name} lba={lba} sectors={count} passes={} written={} read={} requests={} errors={errors} ms={ms} seed={seed:08x} fnv1a64={:016x}",
        figures.passes,
        figures.written,
        figures.read,
        figures.requests,
        figures.fnv
    );
    if let Err(e) = outcome {
        kprintln!("disk soak: error: {e}");
    }
}

/// The next piece's length: 1 to [`MAX_PIECE`] sectors, drawn so that the
/// sizes (and with them the requests' boundaries) vary between passes.
fn piece_len(state: &mut u64, left: u64) -> u64 {
    *state = pattern::splitmix64(*state);
    let shift = *state % 10; // 1, 2, 4, ... 512 sectors
    (1u64 << shift).min(MAX_PIECE).min(left)
}

/// One pass: write, flush, read back and verify the range.
fn pass(
    disk: &Disk,
    lba: u64,
    count: u64,
    seed: u32,
    state: &mut u64,
    figures: &mut Figures,
) -> Result<(), alloc::string::String> {
    use alloc::format;
    let info = disk.info();
    let size = u64::from(info.sector_size);
    let per_pattern = size / pattern::PATTERN_SECTOR as u64;
    let per_request = u64::from(info.max_sectors).max(1);
    let mut data = vec![0u8; (MAX_PIECE * size) as usize];
    let mut at = lba;
    while at < lba + count {
        let n = piece_len(state, lba + count - at);
        let piece = &mut data[..(n * size) as usize];
        pattern::fill(seed, at * per_pattern, piece);
        disk.write(at, piece, &MachineWaiter, TIMEOUT_NS)
            .map_err(|e| format!("writing sectors {at}..{}: {e}", at + n))?;
        figures.written += n * size;
        figures.requests += n.div_ceil(per_request);
        at += n;
    }
    disk.flush(&MachineWaiter, TIMEOUT_NS)
        .map_err(|e| format!("flush after writing with seed {seed:08x}: {e}"))?;
    figures.requests += 1;
    let mut fnv = FNV_OFFSET;
    at = lba;
    while at < lba + count {
        let n = piece_len(state, lba + count - at);
        let piece = &mut data[..(n * size) as usize];
        piece.fill(0);
        disk.read(at, piece, &MachineWaiter, TIMEOUT_NS)
            .map_err(|e| format!("reading sectors {at}..{}: {e}", at + n))?;
        figures.read += n * size;
        figures.requests += n.div_ceil(per_request);
        if let Some(bad) = pattern::first_mismatch(seed, at * per_pattern, piece) {
            return Err(format!(
                "512-byte sector {bad} read back is not what seed {seed:08x} wrote"
            ));
        }
        fnv = fnv1a64(fnv, piece);
        at += n;
    }
    figures.fnv = fnv;
    Ok(())
}

/// FNV-1a, 64-bit (offset basis and prime from the FNV specification),
/// the hash `blk` prints too.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a64(hash: u64, data: &[u8]) -> u64 {
    data.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
