//! The console soak's byte streams and their checksum: pure arithmetic,
//! the same on the host (unit tests) and in the kernel.
//!
//! # The streams
//!
//! Byte `i` of the stream with seed `s` is `ALPHABET[mix(s + (i + 1) *
//! GAMMA) >> 58]`, where `mix` is SplitMix64's finaliser: every byte
//! depends on its position, so a lost, doubled or reordered byte changes
//! the stream's CRC-32, and any position can be computed on its own (the
//! guest reports the first byte that differs). The guest sends the stream
//! of the seed the command line gives, and expects the stream of its
//! bitwise complement ([`to_guest_seed`]): two different streams, so a
//! path that echoed the guest's bytes back could not pass.
//!
//! # The alphabet
//!
//! 64 printable ASCII symbols (`A-Z a-z 0-9 + /`): no control byte, so no
//! layer transforms one legitimately. The native UART driver turns `\n`
//! into `\r\n`; a pty in cooked mode would act on `\r`, `^C`, `^S`/`^Q`
//! (XON/XOFF), `^D`, `^Z`, `^\`, DEL and line ends; `xl console`'s escape
//! is `^]`; and no space either, so nothing splits the stream into words.
//! Every layer is put in raw mode as well (dom0 reads the guest's pty
//! with `stty raw -echo`); the alphabet is the second line of defence,
//! and what makes a stray transformation show as a checksum mismatch
//! rather than as a hang.
//!
//! # The checksum
//!
//! CRC-32 as zlib, PNG and busybox's `crc32` compute it (reflected
//! polynomial 0xEDB88320, initial value and final XOR all ones; check
//! value 0xCBF43926 for `123456789`), always reported together with the
//! byte count. dom0 computes its side with busybox's `crc32`: an
//! implementation that is not ours.

/// The stream's symbols: 64 printable ASCII bytes, 6 bits each.
pub const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// SplitMix64's increment (2^64 / the golden ratio, odd).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Byte `index` of the stream of `seed`.
pub const fn byte_at(seed: u64, index: u64) -> u8 {
    let state = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(GAMMA));
    ALPHABET[(mix(state) >> 58) as usize]
}

/// The seed of the stream the guest expects to receive, given the seed of
/// the one it sends.
pub const fn to_guest_seed(seed: u64) -> u64 {
    !seed
}

/// Fill `out` with bytes `start..start + out.len()` of the stream of `seed`.
pub fn fill(seed: u64, start: u64, out: &mut [u8]) {
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = byte_at(seed, start + i as u64);
    }
}

/// CRC-32's table for one byte at a time, built at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

/// A running CRC-32 and byte count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum {
    state: u32,
    len: u64,
}

impl Default for Checksum {
    fn default() -> Self {
        Self::new()
    }
}

impl Checksum {
    pub const fn new() -> Self {
        Self {
            state: 0xffff_ffff,
            len: 0,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        let mut c = self.state;
        for &b in bytes {
            c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
        }
        self.state = c;
        self.len += bytes.len() as u64;
    }

    /// The CRC-32 of the bytes so far.
    pub const fn crc(&self) -> u32 {
        !self.state
    }

    /// How many bytes so far.
    pub const fn len(&self) -> u64 {
        self.len
    }

    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crc(bytes: &[u8]) -> u32 {
        let mut sum = Checksum::new();
        sum.update(bytes);
        sum.crc()
    }

    #[test]
    fn crc32_matches_the_standard_check_values() {
        assert_eq!(crc(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc(b""), 0);
        assert_eq!(crc(b"a"), 0xe8b7_be43);
    }

    #[test]
    fn crc32_in_pieces_is_crc32_of_the_whole() {
        let mut sum = Checksum::new();
        sum.update(b"1234");
        sum.update(b"56789");
        assert_eq!((sum.crc(), sum.len()), (0xcbf4_3926, 9));
    }

    #[test]
    fn streams_use_only_the_alphabet_and_all_of_it() {
        let mut seen = [false; 256];
        let mut bytes = [0u8; 4096];
        fill(7, 0, &mut bytes);
        for b in bytes {
            assert!(ALPHABET.contains(&b), "{b:#x}");
            seen[b as usize] = true;
        }
        assert_eq!(seen.iter().filter(|&&s| s).count(), 64);
    }

    #[test]
    fn a_swap_or_a_loss_changes_the_checksum() {
        let mut bytes = [0u8; 1024];
        fill(1, 0, &mut bytes);
        let whole = crc(&bytes);
        // Two neighbours that differ, swapped.
        let i = (0..1023).find(|&i| bytes[i] != bytes[i + 1]).unwrap();
        let mut swapped = bytes;
        swapped.swap(i, i + 1);
        assert_ne!(crc(&swapped), whole);
        assert_ne!(crc(&bytes[1..]), crc(&bytes[..1023]));
    }

    #[test]
    fn positions_are_independent_and_seeds_differ() {
        let mut tail = [0u8; 16];
        fill(3, 100, &mut tail);
        assert!((0..16).all(|i| tail[i] == byte_at(3, 100 + i as u64)));
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        fill(3, 0, &mut a);
        fill(to_guest_seed(3), 0, &mut b);
        assert_ne!(a, b);
        // The first bytes of seed 1, as the host's own generator must
        // produce them (tests/src/soak_console/stream.rs checks the same).
        let mut first = [0u8; 16];
        fill(1, 0, &mut first);
        assert_eq!(&first, FIRST_OF_SEED_1);
    }

    #[test]
    fn the_first_64_kib_of_seed_1_has_zlibs_crc() {
        // Computed outside Rust: Python's generator and zlib.crc32.
        let mut bytes = alloc::vec![0u8; 65536];
        fill(1, 0, &mut bytes);
        assert_eq!(crc(&bytes), 0x690b_a986);
    }

    const FIRST_OF_SEED_1: &[u8; 16] = b"kv+ccw4hSyZmdhbK";
}
