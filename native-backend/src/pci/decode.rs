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
    /// The BAR's address has bits set below its size, bits a device
    /// hardwires to zero: the base and the size contradict each other, and
    /// mapping either would cover memory the device does not decode.
    Misaligned { base: u64, size: u64 },
}

impl fmt::Display for BarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchSlot => f.write_str("no such BAR slot in this header type"),
            Self::Malformed => {
                f.write_str("reserved memory type, or a 64-bit BAR in the last slot")
            }
            Self::Misaligned { base, size } => {
                write!(f, "base {base:#x} is not aligned to its size {size:#x}")
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
/// `Ok(None)`: the BAR is not implemented (no address bit took the ones).
///
/// The size is the lowest address bit that took a one, as Linux's
/// `pci_size` takes it, so a device whose writable bits are not one run
/// still gets a power of two; a base with bits set below that size is
/// refused rather than mapped.
pub fn decode_bar(
    value: u32,
    probe: u32,
    high: Option<(u32, u32)>,
) -> Result<Option<Bar>, BarError> {
    let lowest = |mask: u64| mask & mask.wrapping_neg();
    let aligned = |base: u64, size: u64| {
        if base.is_multiple_of(size) {
            Ok(())
        } else {
            Err(BarError::Misaligned { base, size })
        }
    };
    if value & 1 == 1 {
        let mut mask = probe & !0x3;
        if mask == 0 {
            return Ok(None);
        }
        // Devices that decode only 16 bits of I/O address leave the upper
        // half zero: the mask then covers the 64 KiB space only.
        if mask & 0xffff_0000 == 0 {
            mask |= 0xffff_0000;
        }
        // At most 1 << 31: a u32, and base + size stays within 4 GiB.
        let size = lowest(mask.into()) as u32;
        let base = value & !0x3;
        aligned(base.into(), size.into())?;
        return Ok(Some(Bar::Io { base, size }));
    }
    let (hi_value, hi_probe) = high.unwrap_or((0, 0xffff_ffff));
    let mask = u64::from(hi_probe) << 32 | u64::from(probe & !0xf);
    if probe & !0xf == 0 && (high.is_none() || hi_probe == 0) {
        return Ok(None);
    }
    let size = lowest(mask);
    let base = u64::from(hi_value) << 32 | u64::from(value & !0xf);
    aligned(base, size)?;
    Ok(Some(Bar::Memory {
        base,
        size,
        prefetchable: value & 0x8 != 0,
        wide: high.is_some(),
    }))
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
            Ok(Some(Bar::Memory {
                base: 0xfebf_1000,
                size: 0x1000,
                prefetchable: false,
                wide: false
            }))
        );
        // 64-bit prefetchable 16 KiB BAR above 4 GiB.
        assert_eq!(
            decode_bar(0x0000_400c, 0xffff_c00c, Some((0x1, 0xffff_ffff))),
            Ok(Some(Bar::Memory {
                base: 0x1_0000_4000,
                size: 0x4000,
                prefetchable: true,
                wide: true
            }))
        );
        // 8 GiB 64-bit BAR: the size bit is in the high half.
        assert_eq!(
            decode_bar(0xc, 0xc, Some((0x4, 0xffff_fffe))),
            Ok(Some(Bar::Memory {
                base: 0x4_0000_0000,
                size: 0x2_0000_0000,
                prefetchable: true,
                wide: true
            }))
        );
        // 32-byte I/O BAR, 16-bit decoder (upper half reads zero).
        assert_eq!(
            decode_bar(0xc041, 0xffe1, None),
            Ok(Some(Bar::Io {
                base: 0xc040,
                size: 0x20
            }))
        );
        // Unimplemented.
        assert_eq!(decode_bar(0, 0, None), Ok(None));
        assert_eq!(decode_bar(0, 0, Some((0, 0))), Ok(None));
        assert_eq!(decode_bar(0x1, 0x1, None), Ok(None));
    }

    /// Found by virtus-fuzz (pci): a 64-bit BAR whose probe took ones only
    /// in bits 24-25 (16 MiB) but whose base 0x2922_8000 has lower bits
    /// set was decoded as a 16 MiB BAR at that base.
    #[test]
    fn a_base_with_bits_below_its_size_is_refused() {
        assert_eq!(
            decode_bar(0x2922_800c, 0x0300_0000, Some((0, 0x400c))),
            Err(BarError::Misaligned {
                base: 0x2922_8000,
                size: 0x100_0000
            })
        );
        assert_eq!(
            decode_bar(0xfebf_1800, 0xffff_f000, None)
                .unwrap_err()
                .to_string(),
            "base 0xfebf1800 is not aligned to its size 0x1000"
        );
        assert!(decode_bar(0xc051, 0xffe1, None).is_err());
    }

    /// An I/O BAR whose writable bits are not one run (0xffff_0101 read
    /// back) was sized `!mask + 1` = 0xff00, not a power of two; its size
    /// is now the lowest writable bit, as for memory BARs.
    #[test]
    fn io_bars_are_sized_by_their_lowest_writable_bit() {
        assert_eq!(
            decode_bar(0x1001, 0xffff_0101, None),
            Ok(Some(Bar::Io {
                base: 0x1000,
                size: 0x100
            }))
        );
    }
}
