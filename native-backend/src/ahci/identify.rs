//! IDENTIFY DEVICE data (ACS-3 7.12.7): capacity, sector size, the
//! commands the driver may use, and the model string for `info`. The 256
//! words come from the device, so every field is checked before use.

use alloc::string::String;

/// What the driver takes from IDENTIFY DEVICE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// User-addressable logical sectors.
    pub sectors: u64,
    /// Bytes per logical sector.
    pub sector_size: u32,
    /// The 48-bit feature set is supported (READ/WRITE DMA EXT usable).
    pub lba48: bool,
    /// FLUSH CACHE EXT is supported.
    pub flush_ext: bool,
    /// Model number (words 27-46), trimmed.
    pub model: String,
    /// Serial number (words 10-19), trimmed.
    pub serial: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifyError {
    /// Word 0 bit 15: an ATAPI (packet) device, not an ATA disk.
    NotAta,
    /// Word 49 bit 9 clear: no LBA addressing.
    NoLba,
    /// Word 255 carries the signature 0xA5 and the checksum is wrong.
    BadChecksum,
    /// The device reports no sectors.
    NoCapacity,
    /// The logical sector size is not a power of two in 512..=4096.
    BadSectorSize(u32),
    /// More sectors than the commands can address: `words` (100-103 for
    /// the 48-bit count, 60-61 for the 28-bit one) hold `sectors`, above
    /// `limit` (ACS-3 bounds them by 2^48 and 0x0FFFFFFF).
    TooManySectors {
        sectors: u64,
        limit: u64,
        words: &'static str,
    },
}

impl core::fmt::Display for IdentifyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotAta => write!(f, "an ATAPI device (word 0 bit 15), not a disk"),
            Self::NoLba => write!(f, "no LBA addressing (word 49 bit 9 clear)"),
            Self::BadChecksum => write!(f, "integrity word 255 does not check out"),
            Self::NoCapacity => write!(f, "capacity of 0 sectors"),
            Self::BadSectorSize(n) => write!(f, "logical sector size {n} bytes"),
            Self::TooManySectors {
                sectors,
                limit,
                words,
            } => write!(
                f,
                "capacity of {sectors:#x} sectors in words {words}, above their limit {limit:#x}"
            ),
        }
    }
}

/// An ATA string: two characters per word, the first in the high byte.
fn ata_string(words: &[u16]) -> String {
    let mut s = String::new();
    for w in words {
        for b in [(w >> 8) as u8, *w as u8] {
            s.push(if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            });
        }
    }
    String::from(s.trim())
}

/// Parse IDENTIFY DEVICE data.
pub fn parse(words: &[u16; 256]) -> Result<Identity, IdentifyError> {
    if words[0] & 0x8000 != 0 {
        return Err(IdentifyError::NotAta);
    }
    if words[255] & 0xff == 0xa5 {
        let sum = words.iter().fold(0u8, |s, w| {
            s.wrapping_add(*w as u8).wrapping_add((w >> 8) as u8)
        });
        if sum != 0 {
            return Err(IdentifyError::BadChecksum);
        }
    }
    if words[49] & (1 << 9) == 0 {
        return Err(IdentifyError::NoLba);
    }
    // Words 83 and 86 are valid only when bits 15:14 of 83 read 01.
    let w83_valid = words[83] & 0xc000 == 0x4000;
    let lba48 = w83_valid && words[83] & (1 << 10) != 0;
    let flush_ext = w83_valid && words[83] & (1 << 13) != 0;
    let lba28 = u64::from(words[60]) | u64::from(words[61]) << 16;
    let lba48_count = (100..104).fold(0u64, |n, i| n | u64::from(words[i]) << (16 * (i - 100)));
    // The count must be addressable by the commands that reach it: a
    // device claiming more would have the block layer offer sectors that no
    // FIS can name (and, times the sector size, overflow a byte count).
    let (sectors, limit, field) = if lba48 && lba48_count != 0 {
        (lba48_count, 1 << 48, "100-103")
    } else {
        (lba28, 0x0fff_ffff, "60-61")
    };
    if sectors == 0 {
        return Err(IdentifyError::NoCapacity);
    }
    if sectors > limit {
        return Err(IdentifyError::TooManySectors {
            sectors,
            limit,
            words: field,
        });
    }
    // Word 106: valid when bits 15:14 read 01; bit 12 says words 117-118
    // hold the logical sector size in words.
    let w106 = words[106];
    let sector_size = if w106 & 0xc000 == 0x4000 && w106 & (1 << 12) != 0 {
        (u32::from(words[117]) | u32::from(words[118]) << 16).saturating_mul(2)
    } else {
        512
    };
    if !sector_size.is_power_of_two() || !(512..=4096).contains(&sector_size) {
        return Err(IdentifyError::BadSectorSize(sector_size));
    }
    Ok(Identity {
        sectors,
        sector_size,
        lba48,
        flush_ext,
        model: ata_string(&words[27..47]),
        serial: ata_string(&words[10..20]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_string(words: &mut [u16], s: &str) {
        let bytes: alloc::vec::Vec<u8> = s
            .bytes()
            .chain(core::iter::repeat(b' '))
            .take(words.len() * 2)
            .collect();
        for (w, pair) in words.iter_mut().zip(bytes.chunks(2)) {
            *w = u16::from(pair[0]) << 8 | u16::from(pair[1]);
        }
    }

    /// What QEMU's ide-hd reports for a 16 MiB image, reduced to the fields
    /// parsed (QEMU hw/ide/core.c ide_identify).
    fn qemu_disk(sectors: u64) -> [u16; 256] {
        let mut w = [0u16; 256];
        w[0] = 0x0040;
        put_string(&mut w[10..20], "QM00001");
        put_string(&mut w[27..47], "QEMU HARDDISK");
        w[49] = 1 << 9 | 1 << 8;
        let lba28 = sectors.min((1 << 28) - 1);
        w[60] = lba28 as u16;
        w[61] = (lba28 >> 16) as u16;
        w[83] = 0x4000 | 1 << 13 | 1 << 12 | 1 << 10;
        for i in 0..4 {
            w[100 + i] = (sectors >> (16 * i)) as u16;
        }
        w
    }

    #[test]
    fn qemu_disk_parses() {
        let id = parse(&qemu_disk(32768)).unwrap();
        assert_eq!(id.sectors, 32768);
        assert_eq!(id.sector_size, 512);
        assert!(id.lba48 && id.flush_ext);
        assert_eq!(id.model, "QEMU HARDDISK");
        assert_eq!(id.serial, "QM00001");
    }

    #[test]
    fn lba48_count_beyond_lba28() {
        let big = (1u64 << 32) + 5;
        let id = parse(&qemu_disk(big)).unwrap();
        assert_eq!(id.sectors, big);
    }

    #[test]
    fn lba28_fallback_without_lba48() {
        let mut w = qemu_disk(1000);
        w[83] = 0x4000;
        w[100..104].fill(0xffff);
        let id = parse(&w).unwrap();
        assert_eq!(id.sectors, 1000);
        assert!(!id.lba48 && !id.flush_ext);
        // Word 83 not valid (bits 15:14 not 01): nothing in it counts.
        let mut w = qemu_disk(1000);
        w[83] = 0xffff;
        let id = parse(&w).unwrap();
        assert!(!id.lba48 && !id.flush_ext);
    }

    #[test]
    fn bad_data_is_refused() {
        let mut w = qemu_disk(10);
        w[0] = 0x85c0;
        assert_eq!(parse(&w), Err(IdentifyError::NotAta));
        let mut w = qemu_disk(10);
        w[49] = 0;
        assert_eq!(parse(&w), Err(IdentifyError::NoLba));
        let w = qemu_disk(0);
        assert_eq!(parse(&w), Err(IdentifyError::NoCapacity));
        let mut w = qemu_disk(10);
        w[106] = 0x4000 | 1 << 12;
        w[117] = 300;
        assert_eq!(parse(&w), Err(IdentifyError::BadSectorSize(600)));
        w[117] = 2048;
        assert_eq!(parse(&w).unwrap().sector_size, 4096);
    }

    /// Found by virtus-fuzz (ahci-identify): words 100-103 claimed
    /// 0x2020312030303030 sectors, which no 48-bit LBA reaches and which
    /// overflows a byte count at 512 bytes a sector.
    #[test]
    fn capacity_beyond_what_the_commands_address_is_refused() {
        let mut w = qemu_disk(0x2020_3120_3030_3030);
        w[60] = 0xffff;
        w[61] = 0x0fff;
        assert_eq!(
            parse(&w),
            Err(IdentifyError::TooManySectors {
                sectors: 0x2020_3120_3030_3030,
                limit: 1 << 48,
                words: "100-103"
            })
        );
        assert_eq!(parse(&qemu_disk(1 << 48)).unwrap().sectors, 1 << 48);
        assert!(parse(&qemu_disk((1 << 48) + 1)).is_err());
        // Without the 48-bit feature set the 28-bit count is bounded too.
        let mut w = qemu_disk(1000);
        w[83] = 0x4000;
        w[60] = 0;
        w[61] = 0x1000;
        let err = parse(&w).unwrap_err();
        assert_eq!(
            err.to_string(),
            "capacity of 0x10000000 sectors in words 60-61, above their limit 0xfffffff"
        );
    }

    #[test]
    fn checksum_is_checked_when_signed() {
        let mut w = qemu_disk(10);
        w[255] = 0x00a5;
        let sum = w.iter().fold(0u8, |s, x| {
            s.wrapping_add(*x as u8).wrapping_add((x >> 8) as u8)
        });
        assert_eq!(parse(&w), Err(IdentifyError::BadChecksum));
        w[255] |= u16::from(0u8.wrapping_sub(sum)) << 8;
        assert!(parse(&w).is_ok());
    }
}
