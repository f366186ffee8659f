//! The Register Host-to-Device FIS (SATA 3.x 10.5.5) that carries every ATA
//! command Virtus sends, and the commands themselves (ACS-3). Pure: the
//! bytes are built here and copied into a command table by `device`.

/// FIS type of a Register Host-to-Device FIS.
pub const FIS_TYPE_REG_H2D: u8 = 0x27;
/// Bytes of the FIS; the command header's CFL is this in dwords.
pub const H2D_LEN: usize = 20;
/// Byte 1 bit 7: the FIS carries a command (not a device control update).
const C_BIT: u8 = 0x80;
/// Device register bit 6: the address is an LBA (otherwise QEMU, and the
/// standard, decode CHS).
const DEVICE_LBA: u8 = 0x40;

/// The ATA commands the driver issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtaCommand {
    /// READ DMA EXT: 48-bit LBA, DMA in.
    ReadDmaExt,
    /// WRITE DMA EXT: 48-bit LBA, DMA out.
    WriteDmaExt,
    /// FLUSH CACHE EXT: no data.
    FlushCacheExt,
    /// FLUSH CACHE (28-bit), for a device without the EXT form.
    FlushCache,
    /// IDENTIFY DEVICE: 512 bytes PIO in (delivered through the PRDT).
    IdentifyDevice,
}

impl AtaCommand {
    pub const fn opcode(self) -> u8 {
        match self {
            Self::ReadDmaExt => 0x25,
            Self::WriteDmaExt => 0x35,
            Self::FlushCacheExt => 0xea,
            Self::FlushCache => 0xe7,
            Self::IdentifyDevice => 0xec,
        }
    }

    /// Whether data flows from memory to the device (the header's W bit).
    pub const fn writes_device(self) -> bool {
        matches!(self, Self::WriteDmaExt)
    }
}

/// Why a command cannot be expressed in a FIS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FisError {
    /// The LBA needs more than 48 bits.
    LbaTooLarge(u64),
    /// A 48-bit command moves 1..=65536 sectors (0 in the FIS means 65536).
    BadCount(u32),
}

/// A Register H2D FIS for `command` at `lba` moving `count` sectors (0 for
/// commands without data). For the 48-bit commands the LBA is split over
/// bytes 4-6 and 8-10 and the count over 12-13; byte 1 has only the C bit
/// (port multiplier port 0: QEMU ignores a FIS with other bits set there).
pub fn h2d(command: AtaCommand, lba: u64, count: u32) -> Result<[u8; H2D_LEN], FisError> {
    if lba >= 1 << 48 {
        return Err(FisError::LbaTooLarge(lba));
    }
    let has_data = matches!(command, AtaCommand::ReadDmaExt | AtaCommand::WriteDmaExt);
    if has_data && !(1..=65536).contains(&count) {
        return Err(FisError::BadCount(count));
    }
    let count = if has_data { count & 0xffff } else { 0 };
    let mut fis = [0u8; H2D_LEN];
    fis[0] = FIS_TYPE_REG_H2D;
    fis[1] = C_BIT;
    fis[2] = command.opcode();
    fis[4] = lba as u8;
    fis[5] = (lba >> 8) as u8;
    fis[6] = (lba >> 16) as u8;
    fis[7] = DEVICE_LBA;
    fis[8] = (lba >> 24) as u8;
    fis[9] = (lba >> 32) as u8;
    fis[10] = (lba >> 40) as u8;
    fis[12] = count as u8;
    fis[13] = (count >> 8) as u8;
    Ok(fis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_fis_splits_lba48_and_count() {
        let fis = h2d(AtaCommand::ReadDmaExt, 0x0000_1234_5678_9abc, 8).unwrap();
        assert_eq!(fis[0], 0x27);
        assert_eq!(fis[1], 0x80);
        assert_eq!(fis[2], 0x25);
        assert_eq!(&fis[4..7], &[0xbc, 0x9a, 0x78]);
        assert_eq!(fis[7], 0x40);
        assert_eq!(&fis[8..11], &[0x56, 0x34, 0x12]);
        assert_eq!(&fis[12..14], &[8, 0]);
        assert_eq!(fis[3] | fis[11] | fis[14] | fis[15], 0);
    }

    #[test]
    fn count_65536_is_encoded_as_zero_and_limits_hold() {
        let fis = h2d(AtaCommand::WriteDmaExt, 0, 65536).unwrap();
        assert_eq!((fis[2], fis[12], fis[13]), (0x35, 0, 0));
        assert_eq!(
            h2d(AtaCommand::ReadDmaExt, 0, 65537),
            Err(FisError::BadCount(65537))
        );
        assert_eq!(
            h2d(AtaCommand::ReadDmaExt, 0, 0),
            Err(FisError::BadCount(0))
        );
        assert_eq!(
            h2d(AtaCommand::ReadDmaExt, 1 << 48, 1),
            Err(FisError::LbaTooLarge(1 << 48))
        );
    }

    #[test]
    fn flush_and_identify_carry_no_count() {
        let fis = h2d(AtaCommand::FlushCacheExt, 0, 7).unwrap();
        assert_eq!((fis[2], fis[12], fis[13]), (0xea, 0, 0));
        let fis = h2d(AtaCommand::IdentifyDevice, 0, 0).unwrap();
        assert_eq!(fis[2], 0xec);
        assert!(!AtaCommand::IdentifyDevice.writes_device());
        assert!(AtaCommand::WriteDmaExt.writes_device());
    }
}
