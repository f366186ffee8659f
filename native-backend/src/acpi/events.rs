//! What the FADT says about ACPI events: the PM1 event blocks (where the
//! fixed power button's status and enable bits are), the general-purpose
//! event blocks that share the SCI with them, how the power button is
//! wired, and how to switch the machine from legacy mode to ACPI mode.

use super::fadt::{FADT_PARSED_LEN, io_block};
use super::tables::u32_at;
use super::{AcpiError, Signature};

/// FADT Flags PWR_BUTTON: set, the power button is a control-method device
/// (an ACPI `PNP0C0C` object that signals through a GPE and AML `Notify`);
/// clear, it is the fixed feature in the PM1 registers.
pub(super) const FADT_PWR_BUTTON: u32 = 1 << 4;

/// The PM1 event registers. Each PM1x_EVT_BLK is PM1_EVT_LEN bytes: the
/// status register in the first half, the enable register in the second.
/// PM1b, where there is one, holds the rest of the same logical registers:
/// a bit is set if it is set in either, and writes go to both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pm1EventBlocks {
    pub pm1a: u16,
    pub pm1b: Option<u16>,
    /// PM1_EVT_LEN: bytes per block, at least 4 and even.
    pub len: u8,
}

impl Pm1EventBlocks {
    /// The ports of PM1_STS (PM1a first).
    pub fn status_ports(&self) -> impl Iterator<Item = u16> {
        [Some(self.pm1a), self.pm1b].into_iter().flatten()
    }

    /// The ports of PM1_EN, PM1_EVT_LEN / 2 bytes after each status register.
    pub fn enable_ports(&self) -> impl Iterator<Item = u16> {
        let half = u16::from(self.len / 2);
        // Cannot overflow: `Events::parse` checked that the block fits.
        self.status_ports().map(move |port| port + half)
    }
}

/// A general-purpose event block: GPEx_BLK_LEN / 2 status bytes, then as
/// many enable bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpeBlock {
    pub port: u16,
    pub len: u8,
}

impl GpeBlock {
    /// The `(status port, enable port)` of each of the block's byte-wide
    /// register pairs.
    pub fn register_pairs(&self) -> impl Iterator<Item = (u16, u16)> {
        let half = u16::from(self.len / 2);
        let port = self.port;
        // Cannot overflow: `Events::parse` checked that the block fits.
        (0..half).map(move |i| (port + i, port + half + i))
    }
}

/// The way from legacy mode (events go to the firmware's SMI handler) to
/// ACPI mode (SCI_EN set, events go to the OS): write ACPI_ENABLE to SMI_CMD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcpiModeSwitch {
    pub smi_command: u16,
    pub acpi_enable: u8,
}

/// The FADT's event fields.
#[derive(Clone, Copy, Debug)]
pub(super) struct Events {
    pub(super) pm1: Result<Pm1EventBlocks, AcpiError>,
    pub(super) gpe: [Option<GpeBlock>; 2],
    pub(super) mode_switch: Option<AcpiModeSwitch>,
    pub(super) power_button_is_control_method: bool,
}

impl Events {
    /// Decode from the FADT's bytes `b` (zero past the table's end) and its
    /// Flags. Nothing here fails the table: a bad event field costs the
    /// power button, not power-off or the PM timer.
    pub(super) fn parse(b: &[u8; FADT_PARSED_LEN], flags: u32) -> Self {
        let malformed = |offset, what| AcpiError::Malformed {
            table: Signature::FADT,
            offset,
            what,
        };
        let len = b[88];
        let pm1 = io_block(b, 148, 56).and_then(|pm1a| {
            let pm1a = pm1a.ok_or(AcpiError::MissingField {
                table: Signature::FADT,
                field: "PM1a_EVT_BLK",
            })?;
            let pm1b = io_block(b, 160, 60)?;
            if len < 4 || !len.is_multiple_of(2) {
                return Err(malformed(88, "PM1_EVT_LEN is below 4 or odd"));
            }
            let fits = |port: u16| u32::from(port) + u32::from(len) <= 0x1_0000;
            if !fits(pm1a) || !pm1b.is_none_or(fits) {
                return Err(malformed(56, "PM1 event block runs past port 0xffff"));
            }
            Ok(Pm1EventBlocks { pm1a, pm1b, len })
        });
        // A GPE block that is absent, odd-sized or past the port space is
        // left alone: the SCI handler then cannot disable a GPE in it, and
        // masks a storm of SCIs it cannot explain instead.
        let gpe = |x_off, legacy_off, len: u8| {
            let port = io_block(b, x_off, legacy_off).ok().flatten()?;
            (len >= 2 && len.is_multiple_of(2) && u32::from(port) + u32::from(len) <= 0x1_0000)
                .then_some(GpeBlock { port, len })
        };
        let smi_command = u32_at(b, 48);
        let acpi_enable = b[52];
        // SMI_CMD zero means the machine has no legacy mode (ACPI spec
        // 5.2.9); so does an ACPI_ENABLE of zero.
        let mode_switch = match u16::try_from(smi_command) {
            Ok(smi_command) if smi_command != 0 && acpi_enable != 0 => Some(AcpiModeSwitch {
                smi_command,
                acpi_enable,
            }),
            _ => None,
        };
        Self {
            pm1,
            gpe: [gpe(220, 80, b[92]), gpe(232, 84, b[93])],
            mode_switch,
            power_button_is_control_method: flags & FADT_PWR_BUTTON != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acpi::discover;
    use crate::acpi::fadt::{GAS_SYSTEM_IO, GAS_SYSTEM_MEMORY};
    use crate::acpi::testing::*;

    #[test]
    fn a_qemu_fadt_has_a_fixed_power_button_at_0x600() {
        let info = discover(&qemu_machine(), 0).unwrap();
        let pm1 = info.pm1_events().unwrap();
        assert_eq!(
            pm1,
            Pm1EventBlocks {
                pm1a: 0x600,
                pm1b: None,
                len: 4
            }
        );
        assert_eq!(pm1.status_ports().collect::<Vec<_>>(), [0x600]);
        assert_eq!(pm1.enable_ports().collect::<Vec<_>>(), [0x602]);
        assert!(!info.power_button_is_control_method());
        assert_eq!(
            info.acpi_mode_switch(),
            Some(AcpiModeSwitch {
                smi_command: 0xb2,
                acpi_enable: 0x02
            })
        );
        let gpe = info.gpe_blocks().collect::<Vec<_>>();
        assert_eq!(
            gpe,
            [GpeBlock {
                port: 0x620,
                len: 16
            }]
        );
        let pairs = gpe[0].register_pairs().collect::<Vec<_>>();
        assert_eq!(pairs.len(), 8);
        assert_eq!((pairs[0], pairs[7]), ((0x620, 0x628), (0x627, 0x62f)));
    }

    #[test]
    fn a_xen_fadt_has_its_pm1_block_at_0xb000_and_no_legacy_mode() {
        // hvmloader's static FADT (tools/libacpi/static_tables.c): X_ and
        // legacy PM1a_EVT_BLK at 0xb000, no SMI_CMD, no PM1b.
        let table = fadt(244, |t| {
            put32(t, 48, 0);
            t[52] = 0;
            put32(t, 56, 0xb000);
            put32(t, 80, 0xb00c);
            t[92] = 4;
            gas(t, 148, GAS_SYSTEM_IO, 0xb000);
            gas(t, 220, GAS_SYSTEM_IO, 0);
        });
        let info = discover(&machine(qemu_madt(), table, QEMU_S5), 0).unwrap();
        let pm1 = info.pm1_events().unwrap();
        assert_eq!(pm1.enable_ports().collect::<Vec<_>>(), [0xb002]);
        assert_eq!(info.acpi_mode_switch(), None);
        assert_eq!(
            info.gpe_blocks().collect::<Vec<_>>(),
            [GpeBlock {
                port: 0xb00c,
                len: 4
            }]
        );
    }

    #[test]
    fn pm1b_doubles_the_ports_and_shares_the_length() {
        let table = fadt(276, |t| gas(t, 160, GAS_SYSTEM_IO, 0x700));
        let info = discover(&machine(qemu_madt(), table, QEMU_S5), 0).unwrap();
        let pm1 = info.pm1_events().unwrap();
        assert_eq!(pm1.status_ports().collect::<Vec<_>>(), [0x600, 0x700]);
        assert_eq!(pm1.enable_ports().collect::<Vec<_>>(), [0x602, 0x702]);
    }

    #[test]
    fn bad_event_fields_cost_the_power_button_not_the_table() {
        let odd = fadt(276, |t| t[88] = 3);
        let info = discover(&machine(qemu_madt(), odd, QEMU_S5), 0).unwrap();
        assert_eq!(
            info.pm1_events(),
            Err(AcpiError::Malformed {
                table: Signature::FADT,
                offset: 88,
                what: "PM1_EVT_LEN is below 4 or odd"
            })
        );
        assert_eq!(info.pm1a_control(), Some(0x604));

        let past_the_end = fadt(276, |t| {
            gas(t, 148, GAS_SYSTEM_IO, 0xfffe);
            gas(t, 220, GAS_SYSTEM_IO, 0xfff8);
        });
        let info = discover(&machine(qemu_madt(), past_the_end, QEMU_S5), 0).unwrap();
        assert!(matches!(
            info.pm1_events(),
            Err(AcpiError::Malformed { offset: 56, .. })
        ));
        assert_eq!(info.gpe_blocks().count(), 0);

        let absent = fadt(276, |t| {
            put32(t, 56, 0);
            gas(t, 148, GAS_SYSTEM_MEMORY, 0xfed0_0000);
        });
        let info = discover(&machine(qemu_madt(), absent, QEMU_S5), 0).unwrap();
        assert_eq!(
            info.pm1_events(),
            Err(AcpiError::MissingField {
                table: Signature::FADT,
                field: "PM1a_EVT_BLK"
            })
        );
    }

    #[test]
    fn the_flags_say_when_the_power_button_is_a_control_method_device() {
        let table = fadt(276, |t| put32(t, 112, FADT_PWR_BUTTON));
        let info = discover(&machine(qemu_madt(), table, QEMU_S5), 0).unwrap();
        assert!(info.power_button_is_control_method());
    }

    #[test]
    fn an_smi_command_port_beyond_16_bits_is_no_mode_switch() {
        let table = fadt(276, |t| put32(t, 48, 0x1_00b2));
        let info = discover(&machine(qemu_madt(), table, QEMU_S5), 0).unwrap();
        assert_eq!(info.acpi_mode_switch(), None);
    }
}
