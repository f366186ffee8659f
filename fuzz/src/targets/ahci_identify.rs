//! `ahci::identify::parse`: the 512 bytes of IDENTIFY DEVICE data a disk
//! writes into memory by DMA, taken as the driver takes them (256
//! little-endian words; a short input is the rest of the frame left zero).
//!
//! Properties of an accepted identity, checked against the words: an ATA
//! device with LBA; the integrity word checks out whenever it is signed;
//! a capacity the commands can address (at most 2^48 sectors with the
//! 48-bit feature set, at most 0x0FFFFFFF without, as ACS-3 bounds words
//! 60-61 and 100-103) so that sectors times sector size never overflows;
//! a sector size the driver can divide a page by (a power of two in
//! 512..=4096); 48-bit and FLUSH CACHE EXT only when word 83 is valid;
//! the strings printable ASCII of at most their field's length.

use virtus_native::ahci::identify::{Identity, parse};

use super::{Outcome, Target};
use crate::mutate::Hints;

pub struct AhciIdentifyTarget;

/// Words a driver reads: general config, serial, model, capabilities,
/// LBA28 count, command sets, LBA48 count, sector size, integrity.
const FIELDS: [(usize, usize); 14] = [
    (0, 2),
    (20, 2),
    (54, 2),
    (98, 2),
    (120, 2),
    (122, 2),
    (166, 2),
    (172, 2),
    (200, 8),
    (206, 2),
    (212, 2),
    (234, 2),
    (236, 2),
    (510, 2),
];

const VALUES: [u64; 12] = [
    0x4000,
    0x4000 | 1 << 13 | 1 << 10,
    0x4000 | 1 << 12,
    1 << 9,
    0x00a5,
    0x0fff_ffff,
    1 << 28,
    1 << 48,
    (1 << 48) + 1,
    256,
    2048,
    0x8000,
];

fn words_of(input: &[u8]) -> [u16; 256] {
    let mut words = [0u16; 256];
    for (w, pair) in words.iter_mut().zip(input.chunks(2)) {
        *w = u16::from_le_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
    }
    words
}

fn put_string(w: &mut [u16], s: &str) {
    let bytes: Vec<u8> = s
        .bytes()
        .chain(std::iter::repeat(b' '))
        .take(w.len() * 2)
        .collect();
    for (w, pair) in w.iter_mut().zip(bytes.chunks(2)) {
        *w = u16::from(pair[0]) << 8 | u16::from(pair[1]);
    }
}

/// What QEMU's ide-hd/ahci disk reports (hw/ide/core.c, ide_identify),
/// reduced to the fields parsed, for `sectors`.
fn disk(sectors: u64, lba48: bool) -> [u16; 256] {
    let mut w = [0u16; 256];
    w[0] = 0x0040;
    put_string(&mut w[10..20], "QM00001");
    put_string(&mut w[27..47], "QEMU HARDDISK");
    w[49] = 1 << 9 | 1 << 8;
    let lba28 = sectors.min((1 << 28) - 1);
    w[60] = lba28 as u16;
    w[61] = (lba28 >> 16) as u16;
    w[83] = 0x4000 | if lba48 { 1 << 13 | 1 << 10 } else { 0 };
    for i in 0..4 {
        w[100 + i] = (sectors >> (16 * i)) as u16;
    }
    w
}

fn bytes_of(w: &[u16; 256]) -> Vec<u8> {
    w.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Sign `w` with the integrity word (signature 0xA5, checksum byte).
fn sign(w: &mut [u16; 256]) {
    w[255] = 0x00a5;
    let sum = w.iter().fold(0u8, |s, x| {
        s.wrapping_add(*x as u8).wrapping_add((x >> 8) as u8)
    });
    w[255] |= u16::from(0u8.wrapping_sub(sum)) << 8;
}

impl Target for AhciIdentifyTarget {
    fn name(&self) -> &'static str {
        "ahci-identify"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let mut four_k = disk(1 << 30, true);
        four_k[106] = 0x4000 | 1 << 12;
        four_k[117] = 2048;
        let mut signed = disk(32768, true);
        sign(&mut signed);
        vec![
            bytes_of(&disk(32768, true)),
            bytes_of(&disk((1 << 48) - 1, true)),
            bytes_of(&disk(1000, false)),
            bytes_of(&four_k),
            bytes_of(&signed),
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
        let words = words_of(input);
        match parse(&words) {
            Ok(id) => check(&id, &words).map(|()| Outcome::ACCEPTED),
            Err(e) => Ok(Outcome::refused(false, &e)),
        }
    }
}

fn check(id: &Identity, w: &[u16; 256]) -> Result<(), String> {
    let bad = |what: &str| Err(format!("{what}: {id:?}"));
    if w[0] & 0x8000 != 0 || w[49] & (1 << 9) == 0 {
        return bad("an ATAPI device or one without LBA accepted");
    }
    let sum = w.iter().fold(0u8, |s, x| {
        s.wrapping_add(*x as u8).wrapping_add((x >> 8) as u8)
    });
    if w[255] & 0xff == 0xa5 && sum != 0 {
        return bad("signed data with a bad checksum accepted");
    }
    let w83_valid = w[83] & 0xc000 == 0x4000;
    if (id.lba48 || id.flush_ext) && !w83_valid {
        return bad("48-bit or FLUSH CACHE EXT from an invalid word 83");
    }
    let limit = if id.lba48 { 1u64 << 48 } else { 0x0fff_ffff };
    if id.sectors == 0 || id.sectors > limit {
        return bad("capacity the commands cannot address");
    }
    if !id.sector_size.is_power_of_two() || !(512..=4096).contains(&id.sector_size) {
        return bad("sector size");
    }
    if id.sectors.checked_mul(u64::from(id.sector_size)).is_none() {
        return bad("capacity in bytes overflows");
    }
    let printable = |s: &str, max: usize| {
        s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') && s.trim() == s
    };
    if !printable(&id.model, 40) || !printable(&id.serial, 20) {
        return bad("model or serial not trimmed printable ASCII of its field's size");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_accepted() {
        for (i, seed) in AhciIdentifyTarget.seeds().iter().enumerate() {
            assert_eq!(
                AhciIdentifyTarget.run(seed),
                Ok(Outcome::ACCEPTED),
                "seed {i}"
            );
        }
    }
}
