//! The host's own copy of the console soak's streams and checksum, written
//! apart from the kernel's (`kernel/src/soak/stream.rs`) so that the three
//! sums the runner compares are three computations: the guest's, the other
//! end's (this file natively, busybox's `crc32` in dom0) and this one of
//! the stream as the seed defines it.
//!
//! Byte `i` of the stream of seed `s` is the symbol at the top 6 bits of
//! `mix(s + (i + 1) * GAMMA)` in [`ALPHABET`], where `mix` is SplitMix64's
//! output function. The guest sends the stream of the seed, and receives
//! the stream of its bitwise complement.

/// 64 printable symbols: no control byte any layer may act on.
pub const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The stream the guest sends: `bytes` bytes of `seed`'s.
pub fn from_guest(seed: u64, bytes: u64) -> Vec<u8> {
    generate(seed, bytes)
}

/// The stream the guest expects to receive.
pub fn to_guest(seed: u64, bytes: u64) -> Vec<u8> {
    generate(!seed, bytes)
}

fn generate(seed: u64, bytes: u64) -> Vec<u8> {
    // SplitMix64 as a sequence: the state advances by GAMMA per byte.
    let mut state = seed;
    (0..bytes)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            ALPHABET[(z >> 58) as usize]
        })
        .collect()
}

/// A running CRC-32 (zlib's: reflected 0xEDB88320, all ones in and out),
/// bit by bit, and the byte count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crc32 {
    register: u32,
    pub len: u64,
}

impl Default for Crc32 {
    fn default() -> Self {
        Self {
            register: u32::MAX,
            len: 0,
        }
    }
}

impl Crc32 {
    pub fn update(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.register ^= u32::from(byte);
            for _ in 0..8 {
                let low = self.register & 1;
                self.register = (self.register >> 1) ^ (0xedb8_8320 & low.wrapping_neg());
            }
        }
        self.len += bytes.len() as u64;
    }

    pub fn value(&self) -> u32 {
        !self.register
    }

    /// The checksum of `bytes`, all at once.
    pub fn of(bytes: &[u8]) -> Self {
        let mut crc = Self::default();
        crc.update(bytes);
        crc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_values() {
        assert_eq!(Crc32::of(b"123456789").value(), 0xcbf4_3926);
        assert_eq!(Crc32::of(b"").value(), 0);
    }

    /// The same figures the kernel's tests check, computed outside Rust
    /// (Python's generator and zlib.crc32).
    #[test]
    fn seed_1_as_the_kernel_makes_it() {
        assert_eq!(&from_guest(1, 16), b"kv+ccw4hSyZmdhbK");
        assert_eq!(Crc32::of(&from_guest(1, 65536)).value(), 0x690b_a986);
        assert_ne!(from_guest(1, 64), to_guest(1, 64));
        assert!(to_guest(5, 4096).iter().all(|b| ALPHABET.contains(b)));
    }
}
