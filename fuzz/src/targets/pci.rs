//! `pci::decode`: what the enumeration and BAR sizing make of values a
//! device writes into its configuration space. The input is one function
//! as `pci::bar` sees it: its address and header, then one BAR's original
//! value and what it read back after all ones were written (and the same
//! for the upper half of a 64-bit BAR).
//!
//! Properties: the address written to CONFIG_ADDRESS has the enable bit,
//! a dword-aligned offset and gives back the bus, device and function; a
//! header has 0, 2 or 6 BAR slots; a BAR accepted by `bar_layout` has a
//! defined memory type and its upper half inside the header; a decoded BAR
//! is absent exactly when no address bit took the ones, and otherwise has
//! a size that is a power of two, at least the type bits' span, and a base
//! aligned to it whose range does not wrap (nor pass 4 GiB for a 32-bit
//! BAR or the 32-bit I/O space); a BAR refused as misaligned is one.

use virtus_native::pci::{Address, Bar, BarError, Function, bar_layout, decode_bar};

use super::{Outcome, Target};
use crate::mutate::Hints;

pub struct PciTarget;

/// Input layout.
const BUS: usize = 0;
const HEADER_TYPE: usize = 3;
const ID: usize = 4;
const CLASS: usize = 8;
const INDEX: usize = 12;
const VALUE: usize = 16;
const PROBE: usize = 20;
const HI_VALUE: usize = 24;
const HI_PROBE: usize = 28;
const LEN: usize = 32;

const FIELDS: [(usize, usize); 10] = [
    (BUS, 1),
    (BUS + 1, 1),
    (BUS + 2, 1),
    (HEADER_TYPE, 1),
    (CLASS, 4),
    (INDEX, 1),
    (VALUE, 4),
    (PROBE, 4),
    (HI_VALUE, 4),
    (HI_PROBE, 4),
];

const VALUES: [u64; 12] = [
    0xfebf_1000,
    0xffff_f000,
    0x0000_400c,
    0xffff_c00c,
    0xc041,
    0xffe1,
    0xffff_0101,
    0x8000_0000,
    0xfffe,
    0x0106_0100,
    0x0604_0000,
    0x81,
];

/// A function at `bus:device.function` of header type `header`, with BAR
/// `index` holding `value` and reading back `probe` (and the upper half).
#[allow(clippy::too_many_arguments)]
fn input(
    at: [u8; 3],
    header: u8,
    class: u32,
    index: u8,
    value: u32,
    probe: u32,
    high: (u32, u32),
) -> Vec<u8> {
    let mut out = vec![0u8; LEN];
    out[..3].copy_from_slice(&at);
    out[HEADER_TYPE] = header;
    out[ID..ID + 4].copy_from_slice(&0x2922_8086u32.to_le_bytes());
    out[CLASS..CLASS + 4].copy_from_slice(&class.to_le_bytes());
    out[INDEX] = index;
    for (at, v) in [
        (VALUE, value),
        (PROBE, probe),
        (HI_VALUE, high.0),
        (HI_PROBE, high.1),
    ] {
        out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    out
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
}

impl Target for PciTarget {
    fn name(&self) -> &'static str {
        "pci"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let ahci = 0x0106_0102;
        vec![
            // Q35's AHCI controller, BAR5: 4 KiB of 32-bit memory.
            input([0, 0x1f, 2], 0, ahci, 5, 0xfebf_1000, 0xffff_f000, (0, 0)),
            // A 64-bit prefetchable 16 KiB BAR above 4 GiB.
            input(
                [0, 3, 0],
                0x80,
                0x0300_0000,
                0,
                0x400c,
                0xffff_c00c,
                (1, 0xffff_ffff),
            ),
            // An 8 GiB 64-bit BAR: the size bit is in the upper half.
            input([1, 0, 0], 0, 0x0200_0000, 2, 0xc, 0xc, (4, 0xffff_fffe)),
            // A 32-byte I/O BAR behind a 16-bit decoder.
            input([0, 2, 0], 0, 0x0101_8000, 4, 0xc041, 0xffe1, (0, 0)),
            // A PCI-to-PCI bridge's BAR1, unimplemented.
            input([0, 0x1e, 0], 1, 0x0604_0000, 1, 0, 0, (0, 0)),
        ]
    }

    fn hints(&self) -> Hints<'static> {
        Hints {
            fields: &FIELDS,
            values: &VALUES,
            hex: false,
        }
    }

    fn run(&self, input: &[u8]) -> Result<Outcome, String> {
        let mut b = [0u8; LEN];
        b[..input.len().min(LEN)].copy_from_slice(&input[..input.len().min(LEN)]);
        let [bus, device, function] = [b[BUS], b[BUS + 1], b[BUS + 2]];
        let Some(at) = Address::new(bus, device, function) else {
            if device < 32 && function < 8 {
                return Err(format!("{bus}:{device}.{function} refused"));
            }
            return Ok(Outcome {
                accepted: false,
                refusal: Some("NoSuchAddress".into()),
            });
        };
        check_address(at, [bus, device, function], b[INDEX])?;
        let class = u32_at(&b, CLASS);
        let f = Function {
            address: at,
            vendor: u32_at(&b, ID) as u16,
            device: (u32_at(&b, ID) >> 16) as u16,
            class: (class >> 24) as u8,
            subclass: (class >> 16) as u8,
            prog_if: (class >> 8) as u8,
            // As read: bit 7 (multi-function) masked off.
            header_type: b[HEADER_TYPE] & 0x7f,
        };
        let slots = f.bar_slots();
        if ![0, 2, 6].contains(&slots) || (f.is_pci_bridge() && slots != 2) {
            return Err(format!("{slots} BAR slots for {f:?}"));
        }
        let _ = (f.is_ahci(), at.to_string());
        let (index, value) = (b[INDEX], u32_at(&b, VALUE));
        let wide = match bar_layout(slots, index, value) {
            Ok(wide) => wide,
            Err(e) => return Ok(Outcome::refused(false, &e)),
        };
        let reserved_type = value & 1 == 0 && (value >> 1) & 3 != 0 && (value >> 1) & 3 != 2;
        if reserved_type || (wide && index + 1 >= slots) || index >= slots {
            return Err(format!(
                "BAR {index} of {slots} holding {value:#x} accepted"
            ));
        }
        let probe = u32_at(&b, PROBE);
        let high = wide.then(|| (u32_at(&b, HI_VALUE), u32_at(&b, HI_PROBE)));
        match decode_bar(value, probe, high) {
            Ok(bar) => check_bar(bar, value, probe, high).map(|()| Outcome::ACCEPTED),
            Err(e @ BarError::Misaligned { base, size }) => {
                let hi = high.map_or(0, |(v, _)| v);
                let address_bits = if value & 1 == 1 { !0x3 } else { !0xf };
                let real = u64::from(hi) << 32 | u64::from(value & address_bits);
                if base != real || !size.is_power_of_two() || base.is_multiple_of(size) {
                    return Err(format!("{e:?} for {value:#x}/{probe:#x}/{high:x?}"));
                }
                Ok(Outcome::refused(false, &e))
            }
            Err(e) => Err(format!("{e:?} from decode_bar")),
        }
    }
}

fn check_address(at: Address, [bus, device, function]: [u8; 3], offset: u8) -> Result<(), String> {
    let cfg = at.config_address(offset);
    let back = (
        (cfg >> 16) as u8,
        (cfg >> 11) as u8 & 0x1f,
        (cfg >> 8) as u8 & 0x7,
    );
    if cfg & (1 << 31) == 0
        || cfg & 0x3 != 0
        || cfg & 0xfc != u32::from(offset & 0xfc)
        || cfg & 0x7f00_0000 != 0
        || back != (bus, device, function)
        || (at.bus(), at.device(), at.function()) != back
    {
        return Err(format!(
            "{at} offset {offset:#x} gave CONFIG_ADDRESS {cfg:#x}"
        ));
    }
    Ok(())
}

fn check_bar(
    bar: Option<Bar>,
    value: u32,
    probe: u32,
    high: Option<(u32, u32)>,
) -> Result<(), String> {
    let io = value & 1 == 1;
    let took_ones = if io {
        probe & !0x3 != 0
    } else {
        probe & !0xf != 0 || high.is_some_and(|(_, p)| p != 0)
    };
    let wrong = |why: &str| {
        Err(format!(
            "{bar:x?} from {value:#x}/{probe:#x}/{high:x?}: {why}"
        ))
    };
    let Some(bar) = bar else {
        return if took_ones {
            wrong("an implemented BAR read as absent")
        } else {
            Ok(())
        };
    };
    if !took_ones {
        return wrong("an absent BAR decoded");
    }
    let (base, size, limit, min) = match bar {
        Bar::Io { base, size } => {
            if base != value & !0x3 {
                return wrong("I/O base is not the value's address bits");
            }
            (u64::from(base), u64::from(size), Some(1u64 << 32), 4)
        }
        Bar::Memory {
            base,
            size,
            prefetchable,
            wide,
        } => {
            let hi = high.map_or(0, |(v, _)| v);
            if base != (u64::from(hi) << 32 | u64::from(value & !0xf))
                || prefetchable != (value & 0x8 != 0)
                || wide != high.is_some()
            {
                return wrong("memory BAR fields are not the value's");
            }
            let limit = (!wide).then_some(1u64 << 32);
            (base, size, limit, 16)
        }
    };
    if !size.is_power_of_two() || size < min {
        return wrong("size is not a power of two of at least the type bits' span");
    }
    if !base.is_multiple_of(size) {
        return wrong("base is not aligned to the size");
    }
    // `limit`: the end of a 32-bit space; a 64-bit BAR only must not wrap.
    let last = base.checked_add(size - 1);
    if last.is_none_or(|last| limit.is_some_and(|limit| last >= limit)) {
        return wrong("the range wraps or passes the end of its address space");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_accepted() {
        for (i, seed) in PciTarget.seeds().iter().enumerate() {
            assert_eq!(PciTarget.run(seed), Ok(Outcome::ACCEPTED), "seed {i}");
        }
    }
}
