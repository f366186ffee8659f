//! The System Description Table header every ACPI table shares (signature,
//! length, checksum), bounded reads of table bytes, and the RSDT/XSDT that
//! lists the other tables.

use virtus_kernel::mem::PhysMemory;

use super::rsdp::Rsdp;
use super::{AcpiError, Signature};

/// Size of the common System Description Table header.
pub(super) const SDT_HEADER_LEN: u32 = 36;
/// Large DSDTs are a few hundred KiB; anything beyond this is a corrupt length
/// that would only make us checksum the whole of memory.
const MAX_TABLE_LEN: u32 = 4 << 20;

pub(super) fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

pub(super) fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

pub(super) fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from(u32_at(b, off)) | u64::from(u32_at(b, off + 4)) << 32
}

/// `base + offset`, where an overflow (a table "at" the top of the address
/// space) counts as unreadable memory.
pub(super) fn addr(table: Signature, base: u64, offset: u32) -> Result<u64, AcpiError> {
    base.checked_add(u64::from(offset))
        .ok_or(AcpiError::Unreadable { table, paddr: base })
}

pub(super) fn read_into(
    mem: &dyn PhysMemory,
    table: Signature,
    paddr: u64,
    buf: &mut [u8],
) -> Result<(), AcpiError> {
    if mem.read(paddr, buf) {
        Ok(())
    } else {
        Err(AcpiError::Unreadable { table, paddr })
    }
}

pub(super) fn read_array<const N: usize>(
    mem: &dyn PhysMemory,
    table: Signature,
    paddr: u64,
) -> Result<[u8; N], AcpiError> {
    let mut buf = [0; N];
    read_into(mem, table, paddr, &mut buf)?;
    Ok(buf)
}

/// Byte sum of `len` bytes at `paddr`, read in chunks because tables can be
/// far larger than what we want on the stack.
pub(super) fn byte_sum(
    mem: &dyn PhysMemory,
    table: Signature,
    paddr: u64,
    len: u32,
) -> Result<u8, AcpiError> {
    let mut chunk = [0u8; 256];
    let mut sum = 0u8;
    let mut off = 0;
    while off < len {
        let n = (len - off).min(chunk.len() as u32);
        let buf = &mut chunk[..n as usize];
        read_into(mem, table, addr(table, paddr, off)?, buf)?;
        sum = buf.iter().fold(sum, |s, &b| s.wrapping_add(b));
        off += n;
    }
    Ok(sum)
}

/// A System Description Table whose header, length and checksum passed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sdt {
    pub(super) signature: Signature,
    pub(super) paddr: u64,
    pub(super) length: u32,
}

pub(super) fn load_sdt(
    mem: &dyn PhysMemory,
    paddr: u64,
    expected: Signature,
    min_len: u32,
) -> Result<Sdt, AcpiError> {
    let header: [u8; SDT_HEADER_LEN as usize] = read_array(mem, expected, paddr)?;
    let found = Signature([header[0], header[1], header[2], header[3]]);
    if found != expected {
        return Err(AcpiError::WrongSignature {
            expected,
            found,
            paddr,
        });
    }
    let length = u32_at(&header, 4);
    if length < min_len.max(SDT_HEADER_LEN) || length > MAX_TABLE_LEN {
        return Err(AcpiError::BadLength {
            table: expected,
            length,
        });
    }
    if byte_sum(mem, expected, paddr, length)? != 0 {
        return Err(AcpiError::BadChecksum {
            table: expected,
            paddr,
        });
    }
    Ok(Sdt {
        signature: expected,
        paddr,
        length,
    })
}

/// The RSDT (32-bit entries) or XSDT (64-bit entries).
pub(super) struct RootTable {
    sdt: Sdt,
    entry_size: u32,
}

impl RootTable {
    pub(super) fn load(mem: &dyn PhysMemory, rsdp: &Rsdp) -> Result<Self, AcpiError> {
        let (sdt, entry_size) = if rsdp.revision >= 2 && rsdp.xsdt_address != 0 {
            (
                load_sdt(mem, rsdp.xsdt_address, Signature::XSDT, SDT_HEADER_LEN)?,
                8,
            )
        } else if rsdp.rsdt_address != 0 {
            (
                load_sdt(
                    mem,
                    rsdp.rsdt_address.into(),
                    Signature::RSDT,
                    SDT_HEADER_LEN,
                )?,
                4,
            )
        } else {
            return Err(AcpiError::MissingField {
                table: Signature::RSDP,
                field: "RSDT address",
            });
        };
        if !(sdt.length - SDT_HEADER_LEN).is_multiple_of(entry_size) {
            return Err(AcpiError::BadLength {
                table: sdt.signature,
                length: sdt.length,
            });
        }
        Ok(Self { sdt, entry_size })
    }

    /// The first listed table with `signature`, validated.
    pub(super) fn find(
        &self,
        mem: &dyn PhysMemory,
        signature: Signature,
        min_len: u32,
    ) -> Result<Sdt, AcpiError> {
        let root = self.sdt.signature;
        for off in (SDT_HEADER_LEN..self.sdt.length).step_by(self.entry_size as usize) {
            let at = addr(root, self.sdt.paddr, off)?;
            let paddr = if self.entry_size == 8 {
                u64::from_le_bytes(read_array(mem, root, at)?)
            } else {
                u32::from_le_bytes(read_array(mem, root, at)?).into()
            };
            if paddr == 0 {
                continue;
            }
            if read_array::<4>(mem, root, paddr)? == signature.0 {
                return load_sdt(mem, paddr, signature, min_len);
            }
        }
        Err(AcpiError::MissingTable(signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::discover;
    use crate::acpi::testing::*;

    #[test]
    fn a_revision_2_rsdp_from_the_loader_leads_to_the_xsdt() {
        let mut mem = qemu_machine();
        // The RSDT address is junk: only the XSDT may be used.
        mem.put(0x10_0000, &rsdp(2, 0xdead_0000, XSDT_AT));
        mem.put(XSDT_AT, &root(b"XSDT", &[MADT_AT, FADT_AT]));
        let info = discover(&mem, 0x10_0000).unwrap();
        assert_eq!((info.rsdp_address(), info.rsdp_revision()), (0x10_0000, 2));
        assert_eq!(info.pm1a_control(), Some(0x604));
    }

    #[test]
    fn a_table_with_a_bad_checksum_is_rejected() {
        let mut table = qemu_madt();
        table[40] ^= 1;
        let mem = machine(table, fadt(276, |_| {}), QEMU_S5);
        assert_eq!(
            discover(&mem, 0).unwrap_err(),
            AcpiError::BadChecksum {
                table: Signature::MADT,
                paddr: MADT_AT
            }
        );
    }

    #[test]
    fn a_length_running_past_memory_is_unreadable_not_a_crash() {
        let mut table = qemu_madt();
        put32(&mut table, 4, 0x10_0000);
        let mut mem = FakeMemory::default();
        mem.put(MADT_AT, &table);
        let rsdt = Sdt {
            signature: Signature::RSDT,
            paddr: RSDT_AT,
            length: 44,
        };
        mem.put(RSDT_AT, &root(b"RSDT", &[MADT_AT, 0]));
        let err = RootTable {
            sdt: rsdt,
            entry_size: 4,
        }
        .find(&mem, Signature::MADT, 44)
        .unwrap_err();
        assert!(
            matches!(
                err,
                AcpiError::Unreadable {
                    table: Signature::MADT,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_root_table_with_a_partial_entry_is_rejected() {
        let mut mem = qemu_machine();
        let mut xsdt = root(b"XSDT", &[MADT_AT, FADT_AT]);
        xsdt.extend_from_slice(&[0; 4]);
        let len = xsdt.len();
        put32(&mut xsdt, 4, len as u32);
        fix_checksum(&mut xsdt, 9, len);
        mem.put(XSDT_AT, &xsdt);
        mem.put(0x10_0000, &rsdp(2, 0, XSDT_AT));
        let err = discover(&mem, 0x10_0000).unwrap_err();
        assert_eq!(
            err,
            AcpiError::BadLength {
                table: Signature::XSDT,
                length: 56
            }
        );
    }

    #[test]
    fn a_missing_madt_is_named() {
        let mut mem = qemu_machine();
        mem.put(RSDT_AT, &root(b"RSDT", &[FADT_AT]));
        assert_eq!(
            discover(&mem, 0).unwrap_err(),
            AcpiError::MissingTable(Signature::MADT)
        );
    }
}
