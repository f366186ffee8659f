//! Finding the Root System Description Pointer (from the loader's hint, the
//! EBDA or the BIOS area) and validating it.

use virtus_kernel::mem::PhysMemory;

use super::tables::{byte_sum, read_array, u32_at, u64_at};
use super::{AcpiError, Signature};

/// The Root System Description Pointer, validated.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rsdp {
    pub(super) paddr: u64,
    pub(super) revision: u8,
    pub(super) rsdt_address: u32,
    /// Zero before revision 2.
    pub(super) xsdt_address: u64,
}

/// Length of the revision-0 (ACPI 1.0) RSDP, which its checksum covers.
const RSDP_V1_LEN: u32 = 20;
/// Length of the revision-2 RSDP, which its extended checksum covers.
const RSDP_V2_LEN: u32 = 36;

fn parse_rsdp(mem: &dyn PhysMemory, paddr: u64) -> Result<Rsdp, AcpiError> {
    let table = Signature::RSDP;
    let v1: [u8; RSDP_V1_LEN as usize] = read_array(mem, table, paddr)?;
    if &v1[..8] != b"RSD PTR " {
        let found = Signature([v1[0], v1[1], v1[2], v1[3]]);
        return Err(AcpiError::WrongSignature {
            expected: table,
            found,
            paddr,
        });
    }
    if v1.iter().fold(0u8, |s, &b| s.wrapping_add(b)) != 0 {
        return Err(AcpiError::BadChecksum { table, paddr });
    }
    let revision = v1[15];
    let rsdt_address = u32_at(&v1, 16);
    // Revision 1 was never defined; anything below 2 is the ACPI 1.0 layout.
    if revision < 2 {
        return Ok(Rsdp {
            paddr,
            revision,
            rsdt_address,
            xsdt_address: 0,
        });
    }
    let v2: [u8; RSDP_V2_LEN as usize] = read_array(mem, table, paddr)?;
    let length = u32_at(&v2, 20);
    if !(RSDP_V2_LEN..=4096).contains(&length) {
        return Err(AcpiError::BadLength { table, length });
    }
    if byte_sum(mem, table, paddr, length)? != 0 {
        return Err(AcpiError::BadChecksum { table, paddr });
    }
    Ok(Rsdp {
        paddr,
        revision,
        rsdt_address,
        xsdt_address: u64_at(&v2, 24),
    })
}

/// Scan `[start, start + len)` on 16-byte boundaries for a valid RSDP; a
/// candidate with a bad checksum is stale and the scan goes on.
fn scan_rsdp(mem: &dyn PhysMemory, start: u64, len: u64) -> Option<Rsdp> {
    (start..start + len).step_by(16).find_map(|p| {
        let mut sig = [0u8; 8];
        (mem.read(p, &mut sig) && &sig == b"RSD PTR ")
            .then(|| parse_rsdp(mem, p).ok())
            .flatten()
    })
}

/// Real-mode pointer to the Extended BIOS Data Area's segment.
pub(super) const EBDA_SEGMENT_PTR: u64 = 0x40e;
pub(super) const BIOS_AREA: (u64, u64) = (0xe0000, 0x20000);

pub(super) fn find_rsdp(mem: &dyn PhysMemory, hint: u64) -> Result<Rsdp, AcpiError> {
    // The loader found it for us (hvm_start_info.rsdp_paddr): it is the only
    // candidate, and a bad one is an error rather than a reason to guess.
    if hint != 0 {
        return parse_rsdp(mem, hint);
    }
    if let Ok(seg) = read_array::<2>(mem, Signature::RSDP, EBDA_SEGMENT_PTR) {
        let ebda = u64::from(u16::from_le_bytes(seg)) << 4;
        // Zero means no EBDA; the EBDA lives below the BIOS area in low memory.
        if ebda != 0
            && ebda < BIOS_AREA.0
            && let Some(rsdp) = scan_rsdp(mem, ebda, 1024)
        {
            return Ok(rsdp);
        }
    }
    scan_rsdp(mem, BIOS_AREA.0, BIOS_AREA.1).ok_or(AcpiError::RsdpNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::discover;
    use crate::acpi::testing::*;

    #[test]
    fn the_ebda_is_scanned_before_the_bios_area() {
        let mut mem = qemu_machine();
        mem.put(0x9fc00 + 0x30, &rsdp(0, RSDT_AT as u32, 0));
        mem.put(RSDP_AT, &rsdp(0, 0xdead_0000, 0));
        assert_eq!(discover(&mem, 0).unwrap().rsdp_address(), 0x9fc30);
    }

    #[test]
    fn the_scan_skips_an_rsdp_with_a_bad_checksum() {
        let mut mem = qemu_machine();
        let mut stale = rsdp(0, 0xdead_0000, 0);
        stale[8] ^= 1;
        mem.put(0xe0000, &stale);
        assert_eq!(discover(&mem, 0).unwrap().rsdp_address(), RSDP_AT);
    }

    #[test]
    fn no_rsdp_anywhere_is_an_error() {
        let mut mem = qemu_machine();
        mem.put(RSDP_AT, &[0; 36]);
        assert_eq!(discover(&mem, 0).unwrap_err(), AcpiError::RsdpNotFound);
    }

    #[test]
    fn a_hinted_rsdp_is_checked_and_not_second_guessed() {
        let mut mem = qemu_machine();
        let mut bad = rsdp(0, RSDT_AT as u32, 0);
        bad[19] ^= 0x80;
        mem.put(0x10_0000, &bad);
        let table = Signature::RSDP;
        assert_eq!(
            discover(&mem, 0x10_0000).unwrap_err(),
            AcpiError::BadChecksum {
                table,
                paddr: 0x10_0000
            }
        );
        let found = Signature(*b"FACP");
        assert_eq!(
            discover(&mem, FADT_AT).unwrap_err(),
            AcpiError::WrongSignature {
                expected: table,
                found,
                paddr: FADT_AT
            }
        );
    }

    #[test]
    fn the_extended_checksum_of_a_revision_2_rsdp_is_checked() {
        let mut mem = qemu_machine();
        let mut bad = rsdp(2, 0, XSDT_AT);
        bad[28] ^= 1; // in the XSDT address: only the extended checksum covers it
        mem.put(0x10_0000, &bad);
        let err = discover(&mem, 0x10_0000).unwrap_err();
        assert_eq!(
            err,
            AcpiError::BadChecksum {
                table: Signature::RSDP,
                paddr: 0x10_0000
            }
        );
    }
}
