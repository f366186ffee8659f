//! The FADT ("FACP"): the PM1 control blocks, the PM timer, RESET_REG and
//! where the DSDT is.

use virtus_kernel::mem::PhysMemory;

use super::events::Events;
use super::tables::{Sdt, read_into, u16_at, u32_at, u64_at};
use super::{AcpiError, Signature};

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
pub(super) struct Fadt {
    pub(super) pm1a_control: Option<u16>,
    pub(super) pm1b_control: Option<u16>,
    pub(super) pm_timer: Option<PmTimer>,
    pub(super) reset: Option<ResetRegister>,
    pub(super) dsdt_address: u64,
    pub(super) sci_interrupt: u16,
    pub(super) hardware_reduced: bool,
    pub(super) events: Events,
}

/// Length of the ACPI 1.0 FADT, which ends just after Flags.
pub(super) const FADT_MIN_LEN: u32 = 116;
/// Bytes of the FADT we decode (through the ACPI 5.0+ hypervisor vendor field).
pub(super) const FADT_PARSED_LEN: usize = 276;
pub(super) const FADT_TMR_VAL_EXT: u32 = 1 << 8;
pub(super) const FADT_RESET_REG_SUP: u32 = 1 << 10;
const FADT_HW_REDUCED_ACPI: u32 = 1 << 20;
pub(super) const GAS_SYSTEM_MEMORY: u8 = 0;
pub(super) const GAS_SYSTEM_IO: u8 = 1;

impl Fadt {
    pub(super) fn parse(mem: &dyn PhysMemory, sdt: &Sdt) -> Result<Self, AcpiError> {
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
        let io_block = |x_off, legacy_off| io_block(&b, x_off, legacy_off);
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
            events: Events::parse(&b, flags),
        })
    }
}

/// The port of the I/O block whose X_ Generic Address Structure is at
/// `x_off` and legacy 32-bit field at `legacy_off`: the X_ block if it is set
/// and in I/O space (only port I/O is done here), else the legacy field,
/// which is always an I/O port.
pub(super) fn io_block(
    b: &[u8; FADT_PARSED_LEN],
    x_off: usize,
    legacy_off: usize,
) -> Result<Option<u16>, AcpiError> {
    let x = u64_at(b, x_off + 4);
    let (port, off) = if x != 0 && b[x_off] == GAS_SYSTEM_IO {
        (x, x_off)
    } else {
        (u32_at(b, legacy_off).into(), legacy_off)
    };
    match port {
        0 => Ok(None),
        1..=0xffff => Ok(Some(port as u16)),
        _ => Err(AcpiError::Malformed {
            table: Signature::FADT,
            offset: off as u32,
            what: "I/O port beyond 0xffff",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::testing::*;
    use crate::acpi::{SleepTypes, discover};

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
}
