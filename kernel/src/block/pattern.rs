//! The test disks' contents: a pattern fixed by a seed and the sector
//! number. The runner writes it into every column's image (its own
//! implementation, tests/src/disk.rs), the core's block tests check what
//! they read against this one, and what they write with another seed the
//! runner finds in the image after the guest ended.

/// Bytes of one pattern sector.
pub const PATTERN_SECTOR: usize = 512;

/// Fill `out` (a whole number of 512-byte sectors) with the pattern of
/// `seed` from sector `lba` on: in each sector, 64 little-endian words,
/// word `i` = splitmix64(seed << 40 ^ lba << 6 ^ i).
pub fn fill(seed: u32, lba: u64, out: &mut [u8]) {
    for (n, sector) in out.chunks_exact_mut(PATTERN_SECTOR).enumerate() {
        for (i, word) in sector.chunks_exact_mut(8).enumerate() {
            let x = (u64::from(seed) << 40) ^ ((lba + n as u64) << 6) ^ i as u64;
            word.copy_from_slice(&splitmix64(x).to_le_bytes());
        }
    }
}

/// The first sector (from `lba` on) of `data` that does not hold the
/// pattern of `seed`, if any.
pub fn first_mismatch(seed: u32, lba: u64, data: &[u8]) -> Option<u64> {
    let mut expected = [0u8; PATTERN_SECTOR];
    data.chunks(PATTERN_SECTOR)
        .enumerate()
        .find_map(|(n, sector)| {
            let at = lba + n as u64;
            fill(seed, at, &mut expected);
            (sector != &expected[..sector.len()]).then_some(at)
        })
}

/// Sebastiano Vigna's splitmix64 finalizer: every input bit reaches every
/// output bit, so neighbouring sectors share no bytes.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_runners_pinned_value() {
        // tests/src/disk_tests.rs pins the same first word.
        let mut sector = [0u8; PATTERN_SECTOR];
        fill(0, 0, &mut sector);
        assert_eq!(
            u64::from_le_bytes(sector[..8].try_into().unwrap()),
            0xe220_a839_7b1d_cdaf
        );
    }

    #[test]
    fn mismatch_names_the_sector() {
        let mut data = [0u8; 4 * PATTERN_SECTOR];
        fill(7, 100, &mut data);
        assert_eq!(first_mismatch(7, 100, &data), None);
        assert_eq!(first_mismatch(8, 100, &data), Some(100));
        data[2 * PATTERN_SECTOR + 3] ^= 0x40;
        assert_eq!(first_mismatch(7, 100, &data), Some(102));
    }
}
