//! Pure decoding of PCI configuration values: addresses, class codes, BARs.
//! No port access here, so it is tested on the host.

use core::fmt;

const ENABLE: u32 = 1 << 31;

/// A function's place in configuration space; the constructor keeps device
/// and function numbers in range, so the address written to 0xCF8 is sound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Address {
    bus: u8,
    device: u8,
    function: u8,
}

impl Address {
    pub fn new(bus: u8, device: u8, function: u8) -> Option<Self> {
        (device < 32 && function < 8).then_some(Self {
            bus,
            device,
            function,
        })
    }

    pub fn bus(self) -> u8 {
        self.bus
    }
    pub fn device(self) -> u8 {
        self.device
    }
    pub fn function(self) -> u8 {
        self.function
    }

    /// The CONFIG_ADDRESS value for the dword holding `offset`.
    pub fn config_address(self, offset: u8) -> u32 {
        ENABLE
            | u32::from(self.bus) << 16
            | u32::from(self.device) << 11
            | u32::from(self.function) << 8
            | u32::from(offset & 0xfc)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

/// What identifies a function, read once at enumeration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Function {
    pub address: Address,
    pub vendor: u16,
    pub device: u16,
    pub class: u8,
    pub subclass: u8,
    pub prog_if: u8,
    /// Header layout (bit 7, multi-function, masked off): 0 device, 1 bridge.
    pub header_type: u8,
}

impl Function {
    /// A serial ATA controller speaking AHCI 1.0.
    pub fn is_ahci(&self) -> bool {
        (self.class, self.subclass, self.prog_if) == (0x01, 0x06, 0x01)
    }

    pub fn is_pci_bridge(&self) -> bool {
        self.header_type == 1 && (self.class, self.subclass) == (0x06, 0x04)
    }

    /// How many BAR slots the header has.
    pub fn bar_slots(&self) -> u8 {
        match self.header_type {
            0 => 6,
            1 => 2,
            _ => 0,
        }
    }
}

/// A base address register, decoded and sized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bar {
    Memory {
        base: u64,
        size: u64,
        prefetchable: bool,
        wide: bool,
    },
    Io {
        base: u32,
        size: u32,
    },
}

impl Bar {
    /// How many BAR slots this one takes (a 64-bit BAR takes two).
    pub fn slots(&self) -> u8 {
        match self {
            Bar::Memory { wide: true, .. } => 2,
            _ => 1,
        }
    }
}

/// Why a BAR could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarError {
    /// The slot does not exist in this header type.
    NoSuchSlot,
    /// A 64-bit BAR in the last slot, or a reserved memory type.
    Malformed,
}

impl fmt::Display for BarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchSlot => f.write_str("no such BAR slot in this header type"),
            Self::Malformed => {
                f.write_str("reserved memory type, or a 64-bit BAR in the last slot")
            }
        }
    }
}

/// Whether BAR `index` of a header with `slots` BAR slots, holding
/// `value`, is a 64-bit memory BAR (which takes the next slot too). Refused:
/// a slot the header lacks, a reserved memory type (bits 2:1 of 01 or 11),
/// and a 64-bit BAR in the last slot, whose upper half does not exist.
pub fn bar_layout(slots: u8, index: u8, value: u32) -> Result<bool, BarError> {
    if index >= slots {
        return Err(BarError::NoSuchSlot);
    }
    let wide = match (value & 1, (value >> 1) & 0x3) {
        (1, _) | (0, 0) => false,
        (0, 2) => true,
        _ => return Err(BarError::Malformed),
    };
    if wide && index + 1 >= slots {
        return Err(BarError::Malformed);
    }
    Ok(wide)
}

/// Decode a BAR from its original value(s) and what it read back after
/// all ones were written (`high` for the upper half of a 64-bit BAR).
/// `None`: the BAR is not implemented (reads back zero).
pub fn decode_bar(value: u32, probe: u32, high: Option<(u32, u32)>) -> Option<Bar> {
    if value & 1 == 1 {
        let mut mask = probe & !0x3;
        // Devices that decode only 16 bits of I/O address leave the upper
        // half zero: the mask then covers the 64 KiB space only.
        if mask & 0xffff_0000 == 0 {
            mask |= 0xffff_0000;
        }
        let size = (!mask).wrapping_add(1);
        return (probe & !0x3 != 0).then_some(Bar::Io {
            base: value & !0x3,
            size,
        });
    }
    let (hi_value, hi_probe) = high.unwrap_or((0, 0xffff_ffff));
    let mask = u64::from(hi_probe) << 32 | u64::from(probe & !0xf);
    if probe & !0xf == 0 && (high.is_none() || hi_probe == 0) {
        return None;
    }
    // The size is the lowest set bit of the mask (the writable address bits).
    let size = mask & mask.wrapping_neg();
    Some(Bar::Memory {
        base: u64::from(hi_value) << 32 | u64::from(value & !0xf),
        size,
        prefetchable: value & 0x8 != 0,
        wide: high.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_bounded_and_encoded_per_mechanism_1() {
        assert!(Address::new(0, 32, 0).is_none());
        assert!(Address::new(0, 0, 8).is_none());
        let ahci = Address::new(0, 0x1f, 2).unwrap();
        assert_eq!(ahci.config_address(0x26), 0x8000_fa24);
        assert_eq!(alloc::format!("{ahci}"), "00:1f.2");
    }

    #[test]
    fn bar_layouts_follow_the_type_bits_and_the_slots() {
        assert_eq!(bar_layout(6, 0, 0xfebf_1000), Ok(false));
        assert_eq!(bar_layout(6, 0, 0xc041), Ok(false));
        assert_eq!(bar_layout(6, 4, 0x0000_400c), Ok(true));
        // A 64-bit BAR in the last slot has no upper half.
        assert_eq!(bar_layout(6, 5, 0x4), Err(BarError::Malformed));
        assert_eq!(bar_layout(2, 1, 0x4), Err(BarError::Malformed));
        // Memory types 01 (below 1 MiB, PCI 2.x) and 11 are reserved.
        assert_eq!(bar_layout(6, 0, 0x2), Err(BarError::Malformed));
        assert_eq!(bar_layout(6, 0, 0x6), Err(BarError::Malformed));
        assert_eq!(bar_layout(6, 6, 0), Err(BarError::NoSuchSlot));
        assert_eq!(bar_layout(0, 0, 0), Err(BarError::NoSuchSlot));
    }

    #[test]
    fn bars_decode_and_size() {
        // 4 KiB non-prefetchable 32-bit memory BAR at 0xfebf1000.
        assert_eq!(
            decode_bar(0xfebf_1000, 0xffff_f000, None),
            Some(Bar::Memory {
                base: 0xfebf_1000,
                size: 0x1000,
                prefetchable: false,
                wide: false
            })
        );
        // 64-bit prefetchable 16 KiB BAR above 4 GiB.
        assert_eq!(
            decode_bar(0x0000_400c, 0xffff_c00c, Some((0x1, 0xffff_ffff))),
            Some(Bar::Memory {
                base: 0x1_0000_4000,
                size: 0x4000,
                prefetchable: true,
                wide: true
            })
        );
        // 8 GiB 64-bit BAR: the size bit is in the high half.
        assert_eq!(
            decode_bar(0xc, 0xc, Some((0x4, 0xffff_fffe))),
            Some(Bar::Memory {
                base: 0x4_0000_0000,
                size: 0x2_0000_0000,
                prefetchable: true,
                wide: true
            })
        );
        // 32-byte I/O BAR, 16-bit decoder (upper half reads zero).
        assert_eq!(
            decode_bar(0xc041, 0xffe1, None),
            Some(Bar::Io {
                base: 0xc040,
                size: 0x20
            })
        );
        // Unimplemented.
        assert_eq!(decode_bar(0, 0, None), None);
        assert_eq!(decode_bar(0, 0, Some((0, 0))), None);
    }
}
