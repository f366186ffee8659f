//! Command list headers, command tables and PRD tables (AHCI 1.3 4.2.2-4.2.3),
//! as values: what `device` copies into DMA memory. Pure, host-tested.

use super::fis::H2D_LEN;

/// Command slots a port can have (CAP.NCS + 1 is at most this).
pub const MAX_SLOTS: usize = 32;
/// Bytes of one command header; the list is 32 of them, 1 KiB-aligned.
pub const HEADER_LEN: usize = 32;
/// Offset of the PRD table in a command table (after the command FIS,
/// the ATAPI command and reserved space).
pub const PRDT_OFFSET: usize = 0x80;
/// Bytes of one PRD entry.
pub const PRD_LEN: usize = 16;
/// Most bytes one PRD entry describes (DBC is 22 bits, count minus one).
pub const PRD_MAX_BYTES: u32 = 4 << 20;

/// PRD entries that fit in a command table of `table_bytes` bytes.
pub const fn prds_in(table_bytes: usize) -> usize {
    (table_bytes - PRDT_OFFSET) / PRD_LEN
}

/// DW0 of a command header: CFL (FIS length in dwords), W (host to device),
/// PRDTL (PRD entries). The ATAPI, prefetch, reset, BIST, clear-busy and
/// port multiplier fields stay 0.
pub fn header_dw0(writes_device: bool, prdtl: u16) -> u32 {
    let cfl = (H2D_LEN / 4) as u32;
    cfl | u32::from(writes_device) << 6 | u32::from(prdtl) << 16
}

/// One PRD entry: a physically contiguous piece of the transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Prd {
    pub addr: u64,
    pub bytes: u32,
}

impl Prd {
    /// The entry's four dwords: DBA, DBAU, reserved, DBC (bytes - 1; no
    /// interrupt on completion: the command's own D2H FIS interrupts).
    pub fn encode(self) -> [u32; 4] {
        [
            self.addr as u32,
            (self.addr >> 32) as u32,
            0,
            (self.bytes - 1) & (PRD_MAX_BYTES - 1),
        ]
    }
}

/// Why a buffer cannot be described by the PRD table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrdError {
    /// A piece with an odd address or length (DBA bit 0 and DBC bit 0 are
    /// fixed by the specification), or an empty one.
    Misaligned { addr: u64, bytes: u32 },
    /// Memory the controller cannot reach (above 4 GiB without CAP.S64A).
    Unreachable(u64),
    /// More discontiguous pieces than the table holds.
    TooManyPieces(usize),
}

/// Builds a PRD table piece by piece, merging a piece into the previous
/// entry when it continues it physically (heap pages usually do), so a
/// 1 MiB buffer often needs one entry rather than 256.
pub struct PrdtBuilder<'a> {
    entries: &'a mut [Prd],
    used: usize,
    total: u64,
    addr_limit: u64,
}

impl<'a> PrdtBuilder<'a> {
    /// Entries go to `entries`; every address must lie below `addr_limit`.
    pub fn new(entries: &'a mut [Prd], addr_limit: u64) -> Self {
        Self {
            entries,
            used: 0,
            total: 0,
            addr_limit,
        }
    }

    pub fn push(&mut self, addr: u64, bytes: u32) -> Result<(), PrdError> {
        if bytes == 0 || addr & 1 != 0 || bytes & 1 != 0 {
            return Err(PrdError::Misaligned { addr, bytes });
        }
        let end = addr.checked_add(u64::from(bytes));
        if end.is_none_or(|end| end > self.addr_limit) {
            return Err(PrdError::Unreachable(addr));
        }
        if let Some(last) = self.used.checked_sub(1).map(|i| &mut self.entries[i])
            && last.addr + u64::from(last.bytes) == addr
            && last.bytes + bytes <= PRD_MAX_BYTES
        {
            last.bytes += bytes;
        } else {
            let slot = self
                .entries
                .get_mut(self.used)
                .ok_or(PrdError::TooManyPieces(self.used + 1))?;
            *slot = Prd { addr, bytes };
            self.used += 1;
        }
        self.total += u64::from(bytes);
        Ok(())
    }

    /// The entries built, and the bytes they describe.
    pub fn finish(self) -> (&'a [Prd], u64) {
        let Self {
            entries,
            used,
            total,
            ..
        } = self;
        (&entries[..used], total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_dw0_has_cfl_w_and_prdtl() {
        assert_eq!(header_dw0(false, 1), 0x0001_0005);
        assert_eq!(header_dw0(true, 256), 0x0100_0045);
        assert_eq!(header_dw0(false, 0), 5);
    }

    #[test]
    fn prd_encodes_count_minus_one_and_high_address() {
        let prd = Prd {
            addr: 0x1_2345_6000,
            bytes: 4096,
        };
        assert_eq!(prd.encode(), [0x2345_6000, 1, 0, 4095]);
        let big = Prd {
            addr: 0,
            bytes: PRD_MAX_BYTES,
        };
        assert_eq!(big.encode()[3], PRD_MAX_BYTES - 1);
    }

    #[test]
    fn contiguous_pages_merge_and_gaps_start_entries() {
        let mut space = [Prd::default(); 4];
        let mut b = PrdtBuilder::new(&mut space, u64::MAX);
        b.push(0x10000, 4096).unwrap();
        b.push(0x11000, 4096).unwrap();
        b.push(0x20000, 512).unwrap();
        b.push(0x30000, 4096).unwrap();
        let (prds, total) = b.finish();
        assert_eq!(total, 4096 * 3 + 512);
        assert_eq!(
            prds,
            &[
                Prd {
                    addr: 0x10000,
                    bytes: 8192
                },
                Prd {
                    addr: 0x20000,
                    bytes: 512
                },
                Prd {
                    addr: 0x30000,
                    bytes: 4096
                }
            ]
        );
    }

    #[test]
    fn merging_stops_at_the_entry_limit() {
        let mut space = [Prd::default(); 2];
        let mut b = PrdtBuilder::new(&mut space, u64::MAX);
        b.push(0, PRD_MAX_BYTES).unwrap();
        b.push(u64::from(PRD_MAX_BYTES), 4096).unwrap();
        let (prds, _) = b.finish();
        assert_eq!(prds.len(), 2);
        assert_eq!(prds[1].bytes, 4096);
    }

    #[test]
    fn bad_pieces_are_refused() {
        let mut space = [Prd::default(); 1];
        let mut b = PrdtBuilder::new(&mut space, 1 << 32);
        assert_eq!(
            b.push(0x1001, 512),
            Err(PrdError::Misaligned {
                addr: 0x1001,
                bytes: 512
            })
        );
        assert!(matches!(
            b.push(0x1000, 0),
            Err(PrdError::Misaligned { .. })
        ));
        assert_eq!(
            b.push(0xffff_f000, 8192),
            Err(PrdError::Unreachable(0xffff_f000))
        );
        b.push(0x1000, 4096).unwrap();
        assert_eq!(b.push(0x8000, 4096), Err(PrdError::TooManyPieces(2)));
    }

    #[test]
    fn table_sizes() {
        assert_eq!(prds_in(4096), 248);
        assert_eq!(prds_in(8192), 504);
    }
}
