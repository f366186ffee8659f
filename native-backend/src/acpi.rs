//! ACPI table discovery: the RSDP, the RSDT/XSDT, the MADT ("APIC"), the FADT
//! ("FACP") and the `\_S5_` package in the DSDT.
//!
//! Everything here is pure logic over [`PhysMemory`], so it runs unchanged on
//! the host under `cargo test`. Firmware tables are untrusted input: every
//! table's signature, length and checksum is checked before a field is used,
//! every offset is bounded by the table's own length, and an error names the
//! table and what was wrong with it.
//!
//! Only what the native backend needs is decoded: where the interrupt
//! controllers are and how ISA IRQs reach them, how to power off and reset,
//! and where the ACPI PM timer is. There is no AML interpreter: `\_S5_` is
//! found by its encoding, which firmware (QEMU, hvmloader, iasl) emits as a
//! plain `Name (\_S5, Package () {...})`.

use core::fmt;

use virtus_kernel::boot::pvh::PhysMemory;

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

/// Size of the common System Description Table header.
const SDT_HEADER_LEN: u32 = 36;
/// Large DSDTs are a few hundred KiB; anything beyond this is a corrupt length
/// that would only make us checksum the whole of memory.
const MAX_TABLE_LEN: u32 = 4 << 20;
/// How many I/O APICs [`AcpiInfo`] records; PCs have one, large servers a handful.
pub const MAX_IOAPICS: usize = 8;
/// How many ISA interrupt source overrides [`AcpiInfo`] records (one per ISA IRQ).
pub const MAX_OVERRIDES: usize = 16;

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from(u32_at(b, off)) | u64::from(u32_at(b, off + 4)) << 32
}

/// `base + offset`, where an overflow (a table "at" the top of the address
/// space) counts as unreadable memory.
fn addr(table: Signature, base: u64, offset: u32) -> Result<u64, AcpiError> {
    base.checked_add(u64::from(offset))
        .ok_or(AcpiError::Unreadable { table, paddr: base })
}

fn read_into(
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

fn read_array<const N: usize>(
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
fn byte_sum(mem: &dyn PhysMemory, table: Signature, paddr: u64, len: u32) -> Result<u8, AcpiError> {
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
struct Sdt {
    signature: Signature,
    paddr: u64,
    length: u32,
}

fn load_sdt(
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

/// The Root System Description Pointer, validated.
#[derive(Clone, Copy, Debug)]
struct Rsdp {
    paddr: u64,
    revision: u8,
    rsdt_address: u32,
    /// Zero before revision 2.
    xsdt_address: u64,
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
const EBDA_SEGMENT_PTR: u64 = 0x40e;
const BIOS_AREA: (u64, u64) = (0xe0000, 0x20000);

fn find_rsdp(mem: &dyn PhysMemory, hint: u64) -> Result<Rsdp, AcpiError> {
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

/// The RSDT (32-bit entries) or XSDT (64-bit entries).
struct RootTable {
    sdt: Sdt,
    entry_size: u32,
}

impl RootTable {
    fn load(mem: &dyn PhysMemory, rsdp: &Rsdp) -> Result<Self, AcpiError> {
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
    fn find(
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

/// A fixed-capacity list: discovery runs before there is a heap.
#[derive(Clone, Copy, Debug)]
struct FixedList<T: Copy + Default, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<T: Copy + Default, const N: usize> FixedList<T, N> {
    fn new() -> Self {
        Self {
            items: [T::default(); N],
            len: 0,
        }
    }

    fn push(&mut self, item: T) -> bool {
        let Some(slot) = self.items.get_mut(self.len) else {
            return false;
        };
        *slot = item;
        self.len += 1;
        true
    }

    fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }
}

/// An I/O APIC as the MADT lists it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoApicInfo {
    pub id: u8,
    /// Physical address of its register block (IOREGSEL, IOWIN).
    pub address: u32,
    /// First Global System Interrupt its redirection table serves.
    pub gsi_base: u32,
}

/// An ISA interrupt source override: ISA IRQ `source` arrives at `gsi`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterruptOverride {
    pub source: u8,
    pub gsi: u32,
    pub active_low: bool,
    pub level_triggered: bool,
}

/// What the MADT says about interrupt controllers.
#[derive(Clone, Copy, Debug)]
struct Madt {
    local_apic_address: u64,
    pcat_compat: bool,
    ioapics: FixedList<IoApicInfo, MAX_IOAPICS>,
    overrides: FixedList<InterruptOverride, MAX_OVERRIDES>,
}

/// MADT Flags bit 0: the machine also has a dual 8259 PIC to mask.
const MADT_PCAT_COMPAT: u32 = 1 << 0;
/// MPS INTI flags: polarity in bits 0-1, trigger mode in bits 2-3; `0b11` is
/// active low / level, `0b00` "conforms to the bus" (ISA: high, edge).
const MPS_INTI_POLARITY_ACTIVE_LOW: u16 = 0b11;
const MPS_INTI_TRIGGER_LEVEL: u16 = 0b11 << 2;

impl Madt {
    fn parse(mem: &dyn PhysMemory, sdt: &Sdt) -> Result<Self, AcpiError> {
        let table = sdt.signature;
        let fixed: [u8; 8] = read_array(mem, table, addr(table, sdt.paddr, SDT_HEADER_LEN)?)?;
        let mut madt = Self {
            local_apic_address: u32_at(&fixed, 0).into(),
            pcat_compat: u32_at(&fixed, 4) & MADT_PCAT_COMPAT != 0,
            ioapics: FixedList::new(),
            overrides: FixedList::new(),
        };
        let malformed = |offset, what| AcpiError::Malformed {
            table,
            offset,
            what,
        };
        let mut off = SDT_HEADER_LEN + 8;
        while off < sdt.length {
            let mut entry = [0u8; 16];
            let header_len = (sdt.length - off).min(2) as usize;
            read_into(
                mem,
                table,
                addr(table, sdt.paddr, off)?,
                &mut entry[..header_len],
            )?;
            let (kind, len) = (entry[0], u32::from(entry[1]));
            if header_len < 2 || len < 2 || len > sdt.length - off {
                return Err(malformed(
                    off,
                    "entry length is below 2 or runs past the table",
                ));
            }
            let body = len.min(entry.len() as u32) as usize;
            read_into(mem, table, addr(table, sdt.paddr, off)?, &mut entry[..body])?;
            match kind {
                MADT_IO_APIC => {
                    if len < 12 {
                        return Err(malformed(off, "I/O APIC entry shorter than 12 bytes"));
                    }
                    let ioapic = IoApicInfo {
                        id: entry[2],
                        address: u32_at(&entry, 4),
                        gsi_base: u32_at(&entry, 8),
                    };
                    if ioapic.address == 0 {
                        return Err(malformed(off, "I/O APIC at address 0"));
                    }
                    if !madt.ioapics.push(ioapic) {
                        return Err(AcpiError::TooMany {
                            table,
                            what: "I/O APICs",
                        });
                    }
                }
                MADT_INTERRUPT_SOURCE_OVERRIDE => {
                    if len < 10 {
                        return Err(malformed(
                            off,
                            "interrupt source override shorter than 10 bytes",
                        ));
                    }
                    let flags = u16_at(&entry, 8);
                    // Bus 0 (ISA) is the only bus the spec defines.
                    if entry[2] == 0 {
                        let iso = InterruptOverride {
                            source: entry[3],
                            gsi: u32_at(&entry, 4),
                            active_low: flags & 0b11 == MPS_INTI_POLARITY_ACTIVE_LOW,
                            level_triggered: flags & (0b11 << 2) == MPS_INTI_TRIGGER_LEVEL,
                        };
                        if !madt.overrides.push(iso) {
                            return Err(AcpiError::TooMany {
                                table,
                                what: "interrupt source overrides",
                            });
                        }
                    }
                }
                MADT_LOCAL_APIC_ADDRESS_OVERRIDE => {
                    if len < 12 {
                        return Err(malformed(
                            off,
                            "local APIC address override shorter than 12 bytes",
                        ));
                    }
                    madt.local_apic_address = u64_at(&entry, 4);
                }
                // Processor Local APICs, NMI sources and the rest: not needed here.
                _ => {}
            }
            off += len;
        }
        Ok(madt)
    }
}

const MADT_IO_APIC: u8 = 1;
const MADT_INTERRUPT_SOURCE_OVERRIDE: u8 = 2;
const MADT_LOCAL_APIC_ADDRESS_OVERRIDE: u8 = 5;

/// Where the FADT's RESET_REG lives. The spec also allows PCI configuration
/// space; such a register is ignored and [`crate::power::reset`] goes on to
/// its fallbacks (port 0xCF9 first, which is what those registers name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetRegisterAddress {
    SystemMemory(u64),
    SystemIo(u16),
}

/// RESET_REG and the RESET_VALUE to write to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResetRegister {
    pub address: ResetRegisterAddress,
    pub value: u8,
}

/// The ACPI PM timer: a 3.579545 MHz counter read from an I/O port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PmTimer {
    pub port: u16,
    /// TMR_VAL_EXT: the counter has 32 bits rather than 24.
    pub width32: bool,
}

/// What the FADT says about power management.
#[derive(Clone, Copy, Debug)]
struct Fadt {
    pm1a_control: Option<u16>,
    pm1b_control: Option<u16>,
    pm_timer: Option<PmTimer>,
    reset: Option<ResetRegister>,
    dsdt_address: u64,
    sci_interrupt: u16,
    hardware_reduced: bool,
}

/// Length of the ACPI 1.0 FADT, which ends just after Flags.
const FADT_MIN_LEN: u32 = 116;
/// Bytes of the FADT we decode (through the ACPI 5.0+ hypervisor vendor field).
const FADT_PARSED_LEN: usize = 276;
const FADT_TMR_VAL_EXT: u32 = 1 << 8;
const FADT_RESET_REG_SUP: u32 = 1 << 10;
const FADT_HW_REDUCED_ACPI: u32 = 1 << 20;
const GAS_SYSTEM_MEMORY: u8 = 0;
const GAS_SYSTEM_IO: u8 = 1;

impl Fadt {
    fn parse(mem: &dyn PhysMemory, sdt: &Sdt) -> Result<Self, AcpiError> {
        let table = sdt.signature;
        // Fields past the table's length stay zero, which every field below
        // reads as "absent": an ACPI 1.0 FADT simply has no X_ fields.
        let mut b = [0u8; FADT_PARSED_LEN];
        let len = (sdt.length as usize).min(FADT_PARSED_LEN);
        read_into(mem, table, sdt.paddr, &mut b[..len])?;
        let flags = u32_at(&b, 112);
        let malformed = |offset: usize, what| AcpiError::Malformed {
            table,
            offset: offset as u32,
            what,
        };
        // X_ block if it is set and in I/O space (we only do port I/O), else
        // the legacy 32-bit field, which is always an I/O port.
        let io_block = |x_off: usize, legacy_off: usize| -> Result<Option<u16>, AcpiError> {
            let x = u64_at(&b, x_off + 4);
            let (port, off) = if x != 0 && b[x_off] == GAS_SYSTEM_IO {
                (x, x_off)
            } else {
                (u32_at(&b, legacy_off).into(), legacy_off)
            };
            match port {
                0 => Ok(None),
                1..=0xffff => Ok(Some(port as u16)),
                _ => Err(malformed(off, "I/O port beyond 0xffff")),
            }
        };
        let reset = if flags & FADT_RESET_REG_SUP != 0 && sdt.length >= 129 {
            let gas_addr = u64_at(&b, 116 + 4);
            let address = match b[116] {
                _ if gas_addr == 0 => None,
                GAS_SYSTEM_MEMORY => Some(ResetRegisterAddress::SystemMemory(gas_addr)),
                GAS_SYSTEM_IO if gas_addr <= 0xffff => {
                    Some(ResetRegisterAddress::SystemIo(gas_addr as u16))
                }
                GAS_SYSTEM_IO => return Err(malformed(116, "RESET_REG I/O port beyond 0xffff")),
                // PCI configuration space, functional fixed hardware, ...
                _ => None,
            };
            address.map(|address| ResetRegister {
                address,
                value: b[128],
            })
        } else {
            None
        };
        let x_dsdt = u64_at(&b, 140);
        Ok(Self {
            pm1a_control: io_block(172, 64)?,
            pm1b_control: io_block(184, 68)?,
            pm_timer: io_block(208, 76)?.map(|port| PmTimer {
                port,
                width32: flags & FADT_TMR_VAL_EXT != 0,
            }),
            reset,
            dsdt_address: if x_dsdt != 0 {
                x_dsdt
            } else {
                u32_at(&b, 40).into()
            },
            sci_interrupt: u16_at(&b, 46),
            hardware_reduced: flags & FADT_HW_REDUCED_ACPI != 0,
        })
    }
}

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
fn find_s5(mem: &dyn PhysMemory, dsdt_address: u64) -> Result<SleepTypes, AcpiError> {
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

/// Everything the native backend learns from ACPI.
///
/// Only [`discover`] makes one, so the ports and addresses in it are the
/// firmware's, which is what lets [`crate::power`] write to them safely.
#[derive(Clone, Copy, Debug)]
pub struct AcpiInfo {
    rsdp_address: u64,
    rsdp_revision: u8,
    madt: Madt,
    fadt: Fadt,
    s5: Result<SleepTypes, AcpiError>,
}

impl AcpiInfo {
    pub fn rsdp_address(&self) -> u64 {
        self.rsdp_address
    }

    /// 0 for ACPI 1.0 (RSDT), 2 or more for ACPI 2.0+ (XSDT).
    pub fn rsdp_revision(&self) -> u8 {
        self.rsdp_revision
    }

    /// Physical address of the local APIC registers (the MADT's 64-bit
    /// override if it has one).
    pub fn local_apic_address(&self) -> u64 {
        self.madt.local_apic_address
    }

    /// MADT PCAT_COMPAT: a legacy 8259 pair is present (and must be masked).
    pub fn pcat_compat(&self) -> bool {
        self.madt.pcat_compat
    }

    pub fn ioapics(&self) -> &[IoApicInfo] {
        self.madt.ioapics.as_slice()
    }

    /// The I/O APIC serving `gsi` as `(register block address, GSI base)`:
    /// the one with the highest GSI base not above it. (How many inputs it
    /// has only its own version register tells; `IoApic::route` checks.)
    pub fn ioapic_for_gsi(&self, gsi: u32) -> Option<(u64, u32)> {
        let ioapic = self
            .ioapics()
            .iter()
            .filter(|i| i.gsi_base <= gsi)
            .max_by_key(|i| i.gsi_base)?;
        Some((ioapic.address.into(), ioapic.gsi_base))
    }

    /// ISA interrupt source overrides (bus 0 only).
    pub fn interrupt_overrides(&self) -> &[InterruptOverride] {
        self.madt.overrides.as_slice()
    }

    /// `(gsi, active_low, level_triggered)` for ISA IRQ `isa_irq`: its
    /// override if the MADT has one, else the ISA default (same number, edge,
    /// active high).
    pub fn irq_to_gsi(&self, isa_irq: u8) -> (u32, bool, bool) {
        self.interrupt_overrides()
            .iter()
            .find(|o| o.source == isa_irq)
            .map_or((isa_irq.into(), false, false), |o| {
                (o.gsi, o.active_low, o.level_triggered)
            })
    }

    /// PM1a_CNT_BLK port (where SLP_TYPa and SLP_EN are written).
    pub fn pm1a_control(&self) -> Option<u16> {
        self.fadt.pm1a_control
    }

    /// PM1b_CNT_BLK port, on machines with a second PM1 block.
    pub fn pm1b_control(&self) -> Option<u16> {
        self.fadt.pm1b_control
    }

    pub fn pm_timer(&self) -> Option<PmTimer> {
        self.fadt.pm_timer
    }

    /// RESET_REG, only if the FADT flags say it is supported.
    pub fn reset_register(&self) -> Option<ResetRegister> {
        self.fadt.reset
    }

    /// X_DSDT if set, else DSDT.
    pub fn dsdt_address(&self) -> u64 {
        self.fadt.dsdt_address
    }

    /// SCI_INT: the ISA IRQ of the ACPI System Control Interrupt.
    pub fn sci_interrupt(&self) -> u16 {
        self.fadt.sci_interrupt
    }

    /// HW_REDUCED_ACPI: no PM1 blocks; sleep goes through SLEEP_CONTROL_REG,
    /// which this module does not decode.
    pub fn hardware_reduced(&self) -> bool {
        self.fadt.hardware_reduced
    }

    /// `\_S5_`'s sleep types, or why the DSDT did not yield them: a DSDT
    /// without a usable `\_S5_` only rules out ACPI power-off, not the rest.
    pub fn s5(&self) -> Result<SleepTypes, AcpiError> {
        self.s5
    }
}

/// Find and validate the ACPI tables. `rsdp_hint` is hvm_start_info's
/// `rsdp_paddr` (0 if the loader gave none, in which case the BIOS areas
/// are scanned).
pub fn discover(mem: &dyn PhysMemory, rsdp_hint: u64) -> Result<AcpiInfo, AcpiError> {
    let rsdp = find_rsdp(mem, rsdp_hint)?;
    let root = RootTable::load(mem, &rsdp)?;
    let madt = Madt::parse(mem, &root.find(mem, Signature::MADT, SDT_HEADER_LEN + 8)?)?;
    let fadt = Fadt::parse(mem, &root.find(mem, Signature::FADT, FADT_MIN_LEN)?)?;
    let s5 = find_s5(mem, fadt.dsdt_address);
    Ok(AcpiInfo {
        rsdp_address: rsdp.paddr,
        rsdp_revision: rsdp.revision,
        madt,
        fadt,
        s5,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Physical memory made of disjoint regions; a read must fall wholly
    /// inside one of them, as it would inside one RAM range.
    #[derive(Default)]
    struct FakeMemory {
        regions: Vec<(u64, Vec<u8>)>,
    }

    impl FakeMemory {
        fn put(&mut self, paddr: u64, bytes: &[u8]) {
            let end = paddr + bytes.len() as u64;
            for (base, data) in &mut self.regions {
                if paddr >= *base && end <= *base + data.len() as u64 {
                    let off = (paddr - *base) as usize;
                    data[off..off + bytes.len()].copy_from_slice(bytes);
                    return;
                }
            }
            self.regions.push((paddr, bytes.to_vec()));
        }
    }

    impl PhysMemory for FakeMemory {
        fn read(&self, paddr: u64, buf: &mut [u8]) -> bool {
            let Some(end) = paddr.checked_add(buf.len() as u64) else {
                return false;
            };
            self.regions.iter().any(|(base, data)| {
                let ok = paddr >= *base && end <= *base + data.len() as u64;
                if ok {
                    let off = (paddr - *base) as usize;
                    buf.copy_from_slice(&data[off..off + buf.len()]);
                }
                ok
            })
        }
    }

    fn put16(t: &mut [u8], off: usize, v: u16) {
        t[off..off + 2].copy_from_slice(&v.to_le_bytes());
    }
    fn put32(t: &mut [u8], off: usize, v: u32) {
        t[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn put64(t: &mut [u8], off: usize, v: u64) {
        t[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }
    fn gas(t: &mut [u8], off: usize, space: u8, address: u64) {
        t[off] = space;
        t[off + 1] = 8;
        put64(t, off + 4, address);
    }
    /// Make the bytes `range` of `t` sum to zero by adjusting `t[at]`.
    fn fix_checksum(t: &mut [u8], at: usize, len: usize) {
        t[at] = 0;
        t[at] = 0u8.wrapping_sub(t[..len].iter().fold(0u8, |s, &b| s.wrapping_add(b)));
    }

    fn sdt(sig: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut t = vec![0; 36];
        t[..4].copy_from_slice(sig);
        put32(&mut t, 4, (36 + body.len()) as u32);
        t[8] = 2;
        t[10..16].copy_from_slice(b"VIRTUS");
        t.extend_from_slice(body);
        let len = t.len();
        fix_checksum(&mut t, 9, len);
        t
    }

    fn rsdp(revision: u8, rsdt: u32, xsdt: u64) -> Vec<u8> {
        let mut t = vec![0; 36];
        t[..8].copy_from_slice(b"RSD PTR ");
        t[9..15].copy_from_slice(b"VIRTUS");
        t[15] = revision;
        put32(&mut t, 16, rsdt);
        put32(&mut t, 20, 36);
        put64(&mut t, 24, xsdt);
        // The extended checksum covers the first one, so it comes last.
        fix_checksum(&mut t, 8, 20);
        fix_checksum(&mut t, 32, 36);
        if revision < 2 {
            t.truncate(20);
        }
        t
    }

    fn root(sig: &[u8; 4], entries: &[u64]) -> Vec<u8> {
        let body: Vec<u8> = if sig == b"XSDT" {
            entries.iter().flat_map(|e| e.to_le_bytes()).collect()
        } else {
            entries
                .iter()
                .flat_map(|&e| (e as u32).to_le_bytes())
                .collect()
        };
        sdt(sig, &body)
    }

    fn madt(local_apic: u32, entries: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![0; 8];
        put32(&mut body, 0, local_apic);
        put32(&mut body, 4, MADT_PCAT_COMPAT);
        entries.iter().for_each(|e| body.extend_from_slice(e));
        sdt(b"APIC", &body)
    }

    fn ioapic_entry(id: u8, address: u32, gsi_base: u32) -> Vec<u8> {
        let mut e = vec![MADT_IO_APIC, 12, id, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        put32(&mut e, 4, address);
        put32(&mut e, 8, gsi_base);
        e
    }

    fn override_entry(source: u8, gsi: u32, flags: u16) -> Vec<u8> {
        let mut e = vec![
            MADT_INTERRUPT_SOURCE_OVERRIDE,
            10,
            0,
            source,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        put32(&mut e, 4, gsi);
        put16(&mut e, 8, flags);
        e
    }

    const RSDP_AT: u64 = 0xf5a40;
    const RSDT_AT: u64 = 0x7fe_0000;
    const XSDT_AT: u64 = 0x7fe_0100;
    const MADT_AT: u64 = 0x7fe_1000;
    const FADT_AT: u64 = 0x7fe_2000;
    const DSDT_AT: u64 = 0x7fe_3000;

    /// A FADT laid out like QEMU's q35 one: PM block at 0x600, 32-bit PM
    /// timer, RESET_REG at port 0xCF9.
    fn fadt(length: usize, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let mut t = vec![0u8; length.max(FADT_PARSED_LEN)];
        t[..4].copy_from_slice(b"FACP");
        put32(&mut t, 4, length as u32);
        put32(&mut t, 40, DSDT_AT as u32);
        put16(&mut t, 46, 9);
        put32(&mut t, 64, 0x604);
        put32(&mut t, 76, 0x608);
        put32(&mut t, 112, FADT_TMR_VAL_EXT | FADT_RESET_REG_SUP);
        gas(&mut t, 116, GAS_SYSTEM_IO, 0xcf9);
        t[128] = 6;
        put64(&mut t, 140, DSDT_AT);
        gas(&mut t, 172, GAS_SYSTEM_IO, 0x604);
        gas(&mut t, 208, GAS_SYSTEM_IO, 0x608);
        edit(&mut t);
        t.truncate(length);
        fix_checksum(&mut t, 9, length);
        t
    }

    /// `Name (_S5, Package (4) {Zero, Zero, Zero, Zero})` as QEMU emits it.
    const QEMU_S5: &[u8] = &[
        0x08, b'_', b'S', b'5', b'_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
    ];

    /// Low memory with an EBDA pointer, the BIOS area with a revision-0
    /// RSDP, and an RSDT listing `madt` and `fadt`; the DSDT holds `aml`.
    fn machine(madt_table: Vec<u8>, fadt_table: Vec<u8>, aml: &[u8]) -> FakeMemory {
        let mut mem = FakeMemory::default();
        mem.put(0, &[0; 0xa0000]);
        mem.put(EBDA_SEGMENT_PTR, &0x9fc0u16.to_le_bytes());
        mem.put(BIOS_AREA.0, &[0; BIOS_AREA.1 as usize]);
        mem.put(RSDP_AT, &rsdp(0, RSDT_AT as u32, 0));
        mem.put(RSDT_AT, &root(b"RSDT", &[FADT_AT, MADT_AT]));
        mem.put(MADT_AT, &madt_table);
        mem.put(FADT_AT, &fadt_table);
        mem.put(DSDT_AT, &sdt(b"DSDT", aml));
        mem
    }

    fn qemu_madt() -> Vec<u8> {
        madt(
            0xfee0_0000,
            &[
                vec![0, 8, 0, 0, 1, 0, 0, 0], // Processor Local APIC, skipped
                ioapic_entry(0, 0xfec0_0000, 0),
                override_entry(0, 2, 0),
                override_entry(9, 9, 0x000d),
                override_entry(11, 11, 0x000f),
            ],
        )
    }

    fn qemu_machine() -> FakeMemory {
        machine(qemu_madt(), fadt(276, |_| {}), QEMU_S5)
    }

    #[test]
    fn finds_a_revision_0_rsdp_by_scanning_the_bios_area() {
        let info = discover(&qemu_machine(), 0).unwrap();
        assert_eq!((info.rsdp_address(), info.rsdp_revision()), (RSDP_AT, 0));
        assert_eq!(info.local_apic_address(), 0xfee0_0000);
        assert!(info.pcat_compat());
        assert_eq!(
            info.ioapics(),
            &[IoApicInfo {
                id: 0,
                address: 0xfec0_0000,
                gsi_base: 0
            }]
        );
        assert_eq!(
            (info.pm1a_control(), info.pm1b_control()),
            (Some(0x604), None)
        );
        assert_eq!(
            info.pm_timer(),
            Some(PmTimer {
                port: 0x608,
                width32: true
            })
        );
        let reset = ResetRegister {
            address: ResetRegisterAddress::SystemIo(0xcf9),
            value: 6,
        };
        assert_eq!(info.reset_register(), Some(reset));
        assert_eq!(
            (
                info.dsdt_address(),
                info.sci_interrupt(),
                info.hardware_reduced()
            ),
            (DSDT_AT, 9, false)
        );
        assert_eq!(
            info.s5(),
            Ok(SleepTypes {
                slp_typ_a: 0,
                slp_typ_b: 0
            })
        );
    }

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
    fn a_fadt_shorter_than_acpi_1_is_rejected() {
        let mem = machine(qemu_madt(), fadt(100, |_| {}), QEMU_S5);
        assert_eq!(
            discover(&mem, 0).unwrap_err(),
            AcpiError::BadLength {
                table: Signature::FADT,
                length: 100
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
    fn madt_entries_must_fit_the_table() {
        let zero_length = madt(0xfee0_0000, &[vec![MADT_IO_APIC, 0]]);
        let mem = machine(zero_length, fadt(276, |_| {}), QEMU_S5);
        let err = discover(&mem, 0).unwrap_err();
        assert!(
            matches!(
                err,
                AcpiError::Malformed {
                    table: Signature::MADT,
                    offset: 44,
                    ..
                }
            ),
            "{err:?}"
        );
        let mut entry = ioapic_entry(0, 0xfec0_0000, 0);
        entry[1] = 20;
        let too_long = madt(0xfee0_0000, &[entry]);
        let mem = machine(too_long, fadt(276, |_| {}), QEMU_S5);
        assert!(matches!(
            discover(&mem, 0),
            Err(AcpiError::Malformed { offset: 44, .. })
        ));
        let mut short = ioapic_entry(0, 0xfec0_0000, 0);
        short[1] = 8;
        short.truncate(8);
        let mem = machine(madt(0xfee0_0000, &[short]), fadt(276, |_| {}), QEMU_S5);
        assert!(matches!(
            discover(&mem, 0),
            Err(AcpiError::Malformed { offset: 44, .. })
        ));
    }

    #[test]
    fn more_ioapics_than_the_list_holds_is_an_error() {
        let entries: Vec<_> = (0..=MAX_IOAPICS as u8)
            .map(|i| ioapic_entry(i, 0xfec0_0000 + u32::from(i) * 0x1000, u32::from(i) * 24))
            .collect();
        let mem = machine(madt(0xfee0_0000, &entries), fadt(276, |_| {}), QEMU_S5);
        assert_eq!(
            discover(&mem, 0).unwrap_err(),
            AcpiError::TooMany {
                table: Signature::MADT,
                what: "I/O APICs"
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

    #[test]
    fn isa_irqs_follow_the_overrides() {
        let info = discover(&qemu_machine(), 0).unwrap();
        assert_eq!(info.interrupt_overrides().len(), 3);
        assert_eq!(info.irq_to_gsi(0), (2, false, false));
        assert_eq!(info.irq_to_gsi(9), (9, false, true)); // active high, level
        assert_eq!(info.irq_to_gsi(11), (11, true, true));
        assert_eq!(info.irq_to_gsi(4), (4, false, false));
    }

    #[test]
    fn without_overrides_isa_irqs_are_identity_mapped_edge_high() {
        let mem = machine(
            madt(0xfee0_0000, &[ioapic_entry(1, 0xfec0_0000, 0)]),
            fadt(276, |_| {}),
            QEMU_S5,
        );
        let info = discover(&mem, 0).unwrap();
        assert!(info.interrupt_overrides().is_empty());
        assert!((0..16).all(|irq| info.irq_to_gsi(irq) == (u32::from(irq), false, false)));
    }

    #[test]
    fn a_gsi_belongs_to_the_ioapic_with_the_highest_base_below_it() {
        let entries = [
            ioapic_entry(2, 0xfec1_0000, 24),
            ioapic_entry(1, 0xfec0_0000, 0),
        ];
        let info = discover(
            &machine(madt(0xfee0_0000, &entries), fadt(276, |_| {}), QEMU_S5),
            0,
        )
        .unwrap();
        assert_eq!(info.ioapic_for_gsi(4), Some((0xfec0_0000, 0)));
        assert_eq!(info.ioapic_for_gsi(30), Some((0xfec1_0000, 24)));
        let info = discover(
            &machine(madt(0xfee0_0000, &entries[..1]), fadt(276, |_| {}), QEMU_S5),
            0,
        )
        .unwrap();
        assert_eq!(info.ioapic_for_gsi(4), None);
    }

    #[test]
    fn the_local_apic_address_override_wins() {
        let mut entry = vec![MADT_LOCAL_APIC_ADDRESS_OVERRIDE, 12, 0, 0];
        entry.extend_from_slice(&0x1_0000_0000u64.to_le_bytes());
        let mem = machine(madt(0xfee0_0000, &[entry]), fadt(276, |_| {}), QEMU_S5);
        assert_eq!(
            discover(&mem, 0).unwrap().local_apic_address(),
            0x1_0000_0000
        );
    }

    #[test]
    fn x_fields_win_only_when_set_and_in_io_space() {
        let table = fadt(276, |t| {
            put32(t, 64, 0x1234); // legacy PM1a_CNT_BLK, superseded by X_PM1a_CNT_BLK (0x604)
            gas(t, 184, GAS_SYSTEM_IO, 0xb005); // X_PM1b_CNT_BLK only
            gas(t, 208, GAS_SYSTEM_MEMORY, 0xfed0_0000); // X_PM_TMR_BLK in memory: use PM_TMR_BLK
            put32(t, 40, 0xdead_0000); // DSDT, superseded by X_DSDT
        });
        let info = discover(&machine(qemu_madt(), table, QEMU_S5), 0).unwrap();
        assert_eq!(
            (info.pm1a_control(), info.pm1b_control()),
            (Some(0x604), Some(0xb005))
        );
        assert_eq!(info.pm_timer().map(|t| t.port), Some(0x608));
        assert_eq!(info.dsdt_address(), DSDT_AT);
    }

    #[test]
    fn a_port_beyond_16_bits_is_malformed() {
        let table = fadt(276, |t| gas(t, 172, GAS_SYSTEM_IO, 0x1_0000));
        let err = discover(&machine(qemu_madt(), table, QEMU_S5), 0).unwrap_err();
        assert_eq!(
            err,
            AcpiError::Malformed {
                table: Signature::FADT,
                offset: 172,
                what: "I/O port beyond 0xffff"
            }
        );
    }

    #[test]
    fn an_acpi_1_fadt_has_only_legacy_fields() {
        let table = fadt(116, |t| {
            put32(t, 64, 0xb004);
            put32(t, 112, FADT_RESET_REG_SUP); // claims RESET_REG, which is past its end
        });
        let info = discover(&machine(qemu_madt(), table, QEMU_S5), 0).unwrap();
        assert_eq!(info.pm1a_control(), Some(0xb004));
        assert_eq!(
            info.pm_timer(),
            Some(PmTimer {
                port: 0x608,
                width32: false
            })
        );
        assert_eq!(info.reset_register(), None);
        assert_eq!(
            info.s5(),
            Ok(SleepTypes {
                slp_typ_a: 0,
                slp_typ_b: 0
            })
        );
    }

    #[test]
    fn reset_register_only_when_the_flags_say_so() {
        let table = fadt(276, |t| put32(t, 112, 0));
        let info = discover(&machine(qemu_madt(), table, QEMU_S5), 0).unwrap();
        assert_eq!(info.reset_register(), None);
        let table = fadt(276, |t| gas(t, 116, GAS_SYSTEM_MEMORY, 0xfed0_0100));
        let info = discover(&machine(qemu_madt(), table, QEMU_S5), 0).unwrap();
        let reset = ResetRegister {
            address: ResetRegisterAddress::SystemMemory(0xfed0_0100),
            value: 6,
        };
        assert_eq!(info.reset_register(), Some(reset));
    }

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

    #[test]
    fn a_bad_dsdt_only_costs_s5() {
        let mut mem = qemu_machine();
        let mut dsdt = sdt(b"DSDT", QEMU_S5);
        dsdt[40] ^= 1;
        mem.put(DSDT_AT, &dsdt);
        let info = discover(&mem, 0).unwrap();
        assert_eq!(
            info.s5(),
            Err(AcpiError::BadChecksum {
                table: Signature::DSDT,
                paddr: DSDT_AT
            })
        );
        assert_eq!(info.pm1a_control(), Some(0x604));
    }

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
