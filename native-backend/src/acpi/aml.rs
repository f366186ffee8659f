//! `\_S5_` in the DSDT: found by its encoding and decoded without an AML
//! interpreter.

use virtus_kernel::mem::PhysMemory;

use super::tables::{SDT_HEADER_LEN, addr, load_sdt, read_array, read_into};
use super::{AcpiError, Signature};

/// `\_S5_`'s SLP_TYPa and SLP_TYPb: the values that put the machine into S5
/// (soft off) when written to PM1a_CNT and PM1b_CNT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SleepTypes {
    pub slp_typ_a: u8,
    pub slp_typ_b: u8,
}

const AML_NAME_OP: u8 = 0x08;
const AML_ROOT_CHAR: u8 = b'\\';
const AML_PACKAGE_OP: u8 = 0x12;
const AML_ZERO_OP: u8 = 0x00;
const AML_ONE_OP: u8 = 0x01;
const AML_BYTE_PREFIX: u8 = 0x0a;
const AML_WORD_PREFIX: u8 = 0x0b;
const AML_DWORD_PREFIX: u8 = 0x0c;
/// PackageOp, PkgLength (at most 4), NumElements, two DWordPrefix'd integers.
const S5_WINDOW: usize = 16;

/// Decode `PackageOp PkgLength NumElements a b ...` at the start of `aml`
/// (the bytes after the `_S5_` name), where `remaining` bytes are left in the
/// table from there; `offset` is `aml[0]`'s offset in the DSDT, for errors.
fn parse_s5_package(aml: &[u8], remaining: u32, offset: u32) -> Result<SleepTypes, AcpiError> {
    let err = |at: usize, what| AcpiError::Malformed {
        table: Signature::DSDT,
        offset: offset + at as u32,
        what,
    };
    let byte = |at: usize| {
        aml.get(at)
            .copied()
            .ok_or_else(|| err(at, "\\_S5_ package runs past the table"))
    };
    if byte(0)? != AML_PACKAGE_OP {
        return Err(err(0, "\\_S5_ is not a Package"));
    }
    // PkgLength: bits 7-6 of the lead byte count the bytes that follow; with
    // none, bits 5-0 are the length, else bits 3-0 are its low nibble.
    let lead = byte(1)?;
    let follow = usize::from(lead >> 6);
    let mut pkg_length = u32::from(lead & if follow == 0 { 0x3f } else { 0x0f });
    for i in 0..follow {
        pkg_length |= u32::from(byte(2 + i)?) << (4 + 8 * i);
    }
    // PkgLength counts itself and the rest of the package, from byte 1 on.
    let end = 1 + pkg_length as usize;
    if end as u64 > u64::from(remaining) {
        return Err(err(1, "\\_S5_ package length runs past the table"));
    }
    let num_elements = byte(2 + follow)?;
    if num_elements < 2 {
        return Err(err(2 + follow, "\\_S5_ package has fewer than 2 elements"));
    }
    let mut at = 3 + follow;
    let mut element = || -> Result<u8, AcpiError> {
        let start = at;
        let in_package = |n: usize| {
            if start + n <= end {
                Ok(())
            } else {
                Err(err(start, "\\_S5_ element runs past the package"))
            }
        };
        let (value, size) = match byte(start)? {
            AML_ZERO_OP => (0, 1),
            AML_ONE_OP => (1, 1),
            AML_BYTE_PREFIX => (u32::from(byte(start + 1)?), 2),
            AML_WORD_PREFIX => (
                u32::from(u16::from_le_bytes([byte(start + 1)?, byte(start + 2)?])),
                3,
            ),
            AML_DWORD_PREFIX => (
                u32::from_le_bytes([
                    byte(start + 1)?,
                    byte(start + 2)?,
                    byte(start + 3)?,
                    byte(start + 4)?,
                ]),
                5,
            ),
            _ => return Err(err(start, "\\_S5_ element is not an integer constant")),
        };
        in_package(size)?;
        at += size;
        // SLP_TYPx is a 3-bit field of PM1x_CNT.
        u8::try_from(value)
            .ok()
            .filter(|&v| v <= 7)
            .ok_or_else(|| err(start, "\\_S5_ SLP_TYP wider than 3 bits"))
    };
    Ok(SleepTypes {
        slp_typ_a: element()?,
        slp_typ_b: element()?,
    })
}

/// Find `Name (\_S5_, Package ...)` in the DSDT's AML and decode it.
pub(super) fn find_s5(mem: &dyn PhysMemory, dsdt_address: u64) -> Result<SleepTypes, AcpiError> {
    if dsdt_address == 0 {
        return Err(AcpiError::MissingField {
            table: Signature::FADT,
            field: "DSDT",
        });
    }
    let sdt = load_sdt(mem, dsdt_address, Signature::DSDT, SDT_HEADER_LEN)?;
    let table = sdt.signature;
    let byte_at =
        |off: u32| read_array::<1>(mem, table, addr(table, sdt.paddr, off)?).map(|b| b[0]);
    const CHUNK: u32 = 256;
    // Chunks overlap by three bytes so a name straddling two is still seen.
    let mut buf = [0u8; CHUNK as usize + 3];
    let mut chunk_start = SDT_HEADER_LEN;
    while chunk_start < sdt.length {
        let n = (sdt.length - chunk_start).min(buf.len() as u32) as usize;
        read_into(
            mem,
            table,
            addr(table, sdt.paddr, chunk_start)?,
            &mut buf[..n],
        )?;
        for (i, window) in buf[..n].windows(4).enumerate() {
            let name = chunk_start + i as u32;
            if window != b"_S5_" {
                continue;
            }
            // Only the definition counts, not a reference to it from a method.
            let defined = match name - SDT_HEADER_LEN {
                0 => false,
                1 => byte_at(name - 1)? == AML_NAME_OP,
                _ => {
                    let prev = byte_at(name - 1)?;
                    prev == AML_NAME_OP
                        || (prev == AML_ROOT_CHAR && byte_at(name - 2)? == AML_NAME_OP)
                }
            };
            if !defined {
                continue;
            }
            let start = name + 4;
            let remaining = sdt.length - start;
            let mut aml = [0u8; S5_WINDOW];
            let len = remaining.min(S5_WINDOW as u32) as usize;
            read_into(mem, table, addr(table, sdt.paddr, start)?, &mut aml[..len])?;
            return parse_s5_package(&aml[..len], remaining, start);
        }
        chunk_start += CHUNK;
    }
    Err(AcpiError::MissingField {
        table,
        field: "\\_S5_",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::discover;
    use crate::acpi::testing::*;

    fn s5_of(aml: &[u8]) -> Result<SleepTypes, AcpiError> {
        discover(&machine(qemu_madt(), fadt(276, |_| {}), aml), 0)
            .unwrap()
            .s5()
    }

    #[test]
    fn s5_with_root_prefix_and_byte_prefix() {
        // Name (\_S5, Package (0x04) {0x07, 0x05, 0x00, 0x00}), as iasl emits it.
        let aml = [
            0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x08, 0x04, 0x0a, 0x07, 0x0a, 0x05, 0x00,
            0x00,
        ];
        assert_eq!(
            s5_of(&aml),
            Ok(SleepTypes {
                slp_typ_a: 7,
                slp_typ_b: 5
            })
        );
    }

    #[test]
    fn s5_with_zero_and_one_ops() {
        let aml = [0x08, b'_', b'S', b'5', b'_', 0x12, 0x04, 0x02, 0x01, 0x00];
        assert_eq!(
            s5_of(&aml),
            Ok(SleepTypes {
                slp_typ_a: 1,
                slp_typ_b: 0
            })
        );
    }

    #[test]
    fn s5_with_word_prefix_and_two_byte_pkg_length() {
        // PkgLength 0x41 0x01: one more byte follows; length 0x1 | 0x01 << 4 = 17,
        // counting itself, NumElements and five elements.
        let mut aml = vec![
            0x08, b'_', b'S', b'5', b'_', 0x12, 0x41, 0x01, 0x05, 0x0b, 0x03, 0x00, 0x0c, 0x02, 0,
            0, 0,
        ];
        aml.extend_from_slice(&[0x0a, 0x00, 0x0a, 0x00, 0x0a, 0x00]);
        assert_eq!(
            s5_of(&aml),
            Ok(SleepTypes {
                slp_typ_a: 3,
                slp_typ_b: 2
            })
        );
    }

    #[test]
    fn a_dsdt_without_s5_leaves_the_rest_usable() {
        let aml = [0x08, b'_', b'S', b'4', b'_', 0x12, 0x04, 0x02, 0x00, 0x00];
        assert_eq!(
            s5_of(&aml),
            Err(AcpiError::MissingField {
                table: Signature::DSDT,
                field: "\\_S5_"
            })
        );
        assert_eq!(
            s5_of(&[]),
            Err(AcpiError::MissingField {
                table: Signature::DSDT,
                field: "\\_S5_"
            })
        );
    }

    #[test]
    fn a_reference_to_s5_is_not_its_definition() {
        // Store (\_S5_, Local0) inside some method, then the real definition.
        let mut aml = vec![0x70, b'\\', b'_', b'S', b'5', b'_', 0x60];
        aml.extend_from_slice(&[
            0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x06, 0x02, 0x0a, 0x05, 0x0a, 0x05,
        ]);
        assert_eq!(
            s5_of(&aml),
            Ok(SleepTypes {
                slp_typ_a: 5,
                slp_typ_b: 5
            })
        );
    }

    #[test]
    fn s5_is_found_across_a_chunk_boundary() {
        // NoopOps push the name so that it straddles the 256-byte scan chunks.
        let mut aml = vec![0xa3; 254];
        aml.extend_from_slice(&[
            0x08, b'_', b'S', b'5', b'_', 0x12, 0x05, 0x02, 0x0a, 0x06, 0x00,
        ]);
        assert_eq!(
            s5_of(&aml),
            Ok(SleepTypes {
                slp_typ_a: 6,
                slp_typ_b: 0
            })
        );
    }

    #[test]
    fn malformed_s5_packages_are_reported() {
        let name = [0x08, b'_', b'S', b'5', b'_'];
        let with = |tail: &[u8]| s5_of(&[&name[..], tail].concat());
        let what = |r: Result<SleepTypes, AcpiError>| match r {
            Err(AcpiError::Malformed {
                table: Signature::DSDT,
                what,
                ..
            }) => what,
            other => panic!("{other:?}"),
        };
        assert_eq!(what(with(&[0x0a, 0x05])), "\\_S5_ is not a Package");
        assert_eq!(
            what(with(&[0x12, 0x3f, 0x02, 0x00, 0x00])),
            "\\_S5_ package length runs past the table"
        );
        assert_eq!(
            what(with(&[0x12, 0x03, 0x01, 0x00])),
            "\\_S5_ package has fewer than 2 elements"
        );
        assert_eq!(
            what(with(&[0x12, 0x04, 0x02, 0x0a, 0x09, 0x00])),
            "\\_S5_ SLP_TYP wider than 3 bits"
        );
        assert_eq!(
            what(with(&[0x12, 0x04, 0x02, 0x0a, 0x01, 0x0a, 0x01])),
            "\\_S5_ element runs past the package"
        );
        assert_eq!(
            what(with(&[0x12, 0x04, 0x02, 0xff, 0x00])),
            "\\_S5_ element is not an integer constant"
        );
        assert_eq!(what(with(&[0x12])), "\\_S5_ package runs past the table");
    }
}
