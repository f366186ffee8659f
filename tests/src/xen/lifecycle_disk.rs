//! The disk side of `lc-destroy-flush`: where the guest writes and with
//! what, and the runner's own digests of it, against which dom0's sums of
//! the image are judged. The digests come from the runner's pattern
//! (`crate::disk`), not from the kernel's, and dom0 hashes the image file
//! itself: three independent ends.

use std::ops::Range;

use crate::disk::{DURABLE_SECTORS, DiskPlan, SECTOR, TEST_SECTORS, fill_sector, sha256_hex};

/// A guest's disk image in dom0, where `disk_serve` puts it.
pub const IMAGE: &str = "/virtus-run/disks/@NAME@.img";

/// What `lc-destroy-flush` writes: sectors in the image's second half (the
/// first is only ever read, and `disk_serve`'s check proves it untouched),
/// clear of the durability test's last sectors. 128 KiB: more than one
/// request of either driver (a blkfront slot without indirect segments
/// carries 44 KiB), so several are in flight before the flush. The seed is
/// fixed, and not the image's: the runner makes sure of that per run
/// ([`fill_is_visible`]).
pub const FILL_SECTORS: Range<u64> =
    TEST_SECTORS / 2 + TEST_SECTORS / 8..TEST_SECTORS / 2 + TEST_SECTORS / 8 + 256;
pub const FILL_SEED: u32 = 0xd357_f1a5;

/// Sectors per sha256 dom0 reports, so a loss is located to 16 KiB.
pub const SUM_CHUNK: u64 = 32;

/// The line `disk fill` prints once the data is written and flushed.
pub fn fill_line(disk: &str) -> String {
    format!(
        "disk fill: wrote and flushed sectors {}..{} of {disk}",
        FILL_SECTORS.start, FILL_SECTORS.end
    )
}

/// Each chunk of `sectors` dom0 reports a sum for, with the sha256 of the
/// pattern of `seed` there.
pub fn expected_sums(sectors: &Range<u64>, seed: u32) -> Vec<(Range<u64>, String)> {
    let mut sums = Vec::new();
    let mut lba = sectors.start;
    while lba < sectors.end {
        let end = (lba + SUM_CHUNK).min(sectors.end);
        let mut bytes = vec![0; (end - lba) as usize * SECTOR];
        for (i, sector) in bytes.chunks_exact_mut(SECTOR).enumerate() {
            fill_sector(seed, lba + i as u64, sector);
        }
        sums.push((lba..end, sha256_hex(&bytes)));
        lba = end;
    }
    sums
}

/// Whether a loss of what `lc-destroy-flush` writes would show on the image
/// `plan` makes: the image's own pattern there must differ from the fill's
/// (its seed is drawn per run and could, once in 2^32 runs, be the fill's),
/// and the region must lie in the image, in its written half, clear of the
/// durability test's sectors.
pub fn fill_is_visible(plan: &DiskPlan) -> Result<(), String> {
    let writable = plan.sectors / 2..plan.sectors - DURABLE_SECTORS;
    if FILL_SECTORS.start < writable.start || FILL_SECTORS.end > writable.end {
        return Err(format!(
            "sectors {FILL_SECTORS:?} are not in the image's writable sectors {writable:?}"
        ));
    }
    let image = expected_sums(&FILL_SECTORS, plan.seed);
    let fill = expected_sums(&FILL_SECTORS, FILL_SEED);
    if image.iter().zip(&fill).any(|(a, b)| a.1 == b.1) {
        return Err(format!(
            "the image's pattern (seed {:08x}) already holds what the fill writes",
            plan.seed
        ));
    }
    Ok(())
}
