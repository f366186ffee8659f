//! [`Signature`], which names a table, and [`AcpiError`], which says what
//! was wrong with one.

use core::fmt;

/// A table's four-byte signature, as it appears in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature(pub [u8; 4]);

impl Signature {
    /// Names the Root System Description Pointer in errors (its real
    /// signature, "RSD PTR ", is eight bytes long).
    pub const RSDP: Self = Self(*b"RSDP");
    pub const RSDT: Self = Self(*b"RSDT");
    pub const XSDT: Self = Self(*b"XSDT");
    /// Multiple APIC Description Table.
    pub const MADT: Self = Self(*b"APIC");
    /// Fixed ACPI Description Table.
    pub const FADT: Self = Self(*b"FACP");
    pub const DSDT: Self = Self(*b"DSDT");
    /// PCI Express memory-mapped configuration (chipsets with PCIe, e.g. Q35).
    pub const MCFG: Self = Self(*b"MCFG");
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Signatures come from firmware: never print raw control bytes.
        self.0.iter().try_for_each(|&b| {
            let c = if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            };
            write!(f, "{c}")
        })
    }
}

/// Why ACPI discovery (or an ACPI operation) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcpiError {
    /// No valid RSDP in the EBDA's first KiB or in 0xE0000-0xFFFFF.
    RsdpNotFound,
    /// Physical memory refused a read of (part of) the table.
    Unreadable { table: Signature, paddr: u64 },
    /// The table a parent pointed at carries another signature.
    WrongSignature {
        expected: Signature,
        found: Signature,
        paddr: u64,
    },
    /// The table's bytes do not sum to zero.
    BadChecksum { table: Signature, paddr: u64 },
    /// The table's length field is too small for its fixed part, too large to
    /// be believable, or does not hold a whole number of entries.
    BadLength { table: Signature, length: u32 },
    /// The table is not listed in the RSDT/XSDT.
    MissingTable(Signature),
    /// The table lacks a field or object the operation needs.
    MissingField {
        table: Signature,
        field: &'static str,
    },
    /// A field or entry at `offset` in the table does not make sense.
    Malformed {
        table: Signature,
        offset: u32,
        what: &'static str,
    },
    /// More entries of a kind than the fixed-capacity list holds.
    TooMany {
        table: Signature,
        what: &'static str,
    },
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::RsdpNotFound => write!(f, "RSDP: not found in the EBDA or 0xE0000-0xFFFFF"),
            Self::Unreadable { table, paddr } => {
                write!(f, "{table}: cannot read memory at {paddr:#x}")
            }
            Self::WrongSignature {
                expected,
                found,
                paddr,
            } => {
                write!(f, "{expected}: found signature {found} at {paddr:#x}")
            }
            Self::BadChecksum { table, paddr } => write!(f, "{table} at {paddr:#x}: bad checksum"),
            Self::BadLength { table, length } => write!(f, "{table}: bad length {length}"),
            Self::MissingTable(table) => write!(f, "{table}: not listed in the RSDT/XSDT"),
            Self::MissingField { table, field } => write!(f, "{table}: no {field}"),
            Self::Malformed {
                table,
                offset,
                what,
            } => write!(f, "{table} at offset {offset}: {what}"),
            Self::TooMany { table, what } => write!(f, "{table}: too many {what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_table() {
        let err = AcpiError::BadLength {
            table: Signature::FADT,
            length: 100,
        };
        assert_eq!(err.to_string(), "FACP: bad length 100");
        let err = AcpiError::WrongSignature {
            expected: Signature::DSDT,
            found: Signature(*b"\x01BAD"),
            paddr: 0x1000,
        };
        assert_eq!(err.to_string(), "DSDT: found signature ?BAD at 0x1000");
    }
}
