//! The physical memory map: which ranges of physical address space are RAM
//! the kernel may use, and which belong to firmware, devices or the
//! hypervisor.
//!
//! The map comes from outside the kernel (the PVH start info, or a
//! hypercall) and is treated as untrusted: entries may be unsorted, overlap,
//! be empty or wrap around the address space. [`MemoryMap::from_entries`]
//! turns that into a sorted list of non-overlapping regions, so nothing
//! downstream (the frame allocator above all) has to care.

use core::fmt;

use super::PAGE_SIZE;

/// What a range of physical memory is, in the words of the E820 / ACPI
/// address range types that Xen's `hvm_memmap_table_entry.type` reuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// RAM the kernel may allocate (`XEN_HVM_MEMMAP_TYPE_RAM`).
    Usable,
    /// In use by firmware or devices (`XEN_HVM_MEMMAP_TYPE_RESERVED`).
    Reserved,
    /// ACPI tables; RAM again once they have been read (`..._ACPI`).
    AcpiReclaimable,
    /// ACPI non-volatile storage, must survive sleep (`..._NVS`).
    AcpiNvs,
    /// RAM with detected errors (`..._UNUSABLE`).
    Unusable,
    /// Not enabled (`..._DISABLED`).
    Disabled,
    /// Persistent memory (`..._PMEM`).
    Persistent,
    /// A type this kernel does not know, such as Xen's OEM-range
    /// `0xF000000x` types for shared info and grant table frames. Never
    /// allocated from.
    Unknown(u32),
}

impl RegionKind {
    /// Decodes an E820 / `XEN_HVM_MEMMAP_TYPE_*` value.
    pub const fn from_e820(ty: u32) -> Self {
        match ty {
            1 => Self::Usable,
            2 => Self::Reserved,
            3 => Self::AcpiReclaimable,
            4 => Self::AcpiNvs,
            5 => Self::Unusable,
            6 => Self::Disabled,
            7 => Self::Persistent,
            other => Self::Unknown(other),
        }
    }

    /// Short lower-case name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Usable => "usable",
            Self::Reserved => "reserved",
            Self::AcpiReclaimable => "ACPI reclaimable",
            Self::AcpiNvs => "ACPI NVS",
            Self::Unusable => "unusable",
            Self::Disabled => "disabled",
            Self::Persistent => "persistent",
            Self::Unknown(_) => "unknown",
        }
    }

    /// Which kind wins where entries overlap. Usable always loses: handing
    /// out RAM that firmware also claims corrupts both sides, while losing a
    /// few usable pages costs nothing. Among the others the kind that asks
    /// more of the kernel (keep it intact, never touch it) wins; unknown
    /// codes are ordered by value only so the result is deterministic.
    const fn precedence(self) -> u64 {
        let (rank, code) = match self {
            Self::Usable => (0, 0),
            Self::AcpiReclaimable => (1, 0),
            Self::Persistent => (2, 0),
            Self::AcpiNvs => (3, 0),
            Self::Reserved => (4, 0),
            Self::Unknown(code) => (5, code),
            Self::Unusable => (6, 0),
            Self::Disabled => (7, 0),
        };
        ((rank as u64) << 32) | code as u64
    }
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(code) => write!(f, "unknown type {code:#x}"),
            kind => f.write_str(kind.name()),
        }
    }
}

/// One range of physical address space, `start..end` (end exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    pub start: u64,
    pub end: u64,
    pub kind: RegionKind,
}

impl MemoryRegion {
    const EMPTY: Self = Self::new(0, 0, RegionKind::Usable);

    pub const fn new(start: u64, end: u64, kind: RegionKind) -> Self {
        Self { start, end, kind }
    }

    /// Length in bytes (0 for a malformed region with `end < start`).
    pub const fn size(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// `[0x0000000000100000-0x0000000007fdffff] usable (126.9 MiB)`: the end is
/// printed inclusive, as firmware and Linux print E820 maps.
impl fmt::Display for MemoryRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.end.saturating_sub(1);
        write!(
            f,
            "[{:#018x}-{last:#018x}] {} ({})",
            self.start,
            self.kind,
            ByteSize(self.size())
        )
    }
}

/// A byte count printed with a binary unit and one decimal: `126.9 MiB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        if self.0 < 1024 {
            return write!(f, "{} B", self.0);
        }
        // Largest unit not above the value: KiB is 1 << 10, EiB 1 << 60.
        let shift = (self.0.ilog2() / 10 * 10).min(60);
        let name = UNITS.get(shift as usize / 10 - 1).copied().unwrap_or("B");
        // Tenths, rounded to nearest; u128 so 16 EiB cannot overflow.
        let unit = 1u128 << shift;
        let tenths = (u128::from(self.0) * 10 + unit / 2) / unit;
        write!(f, "{}.{} {name}", tenths / 10, tenths % 10)
    }
}

/// Why a memory map was rejected or could not be changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryMapError {
    /// Entry `index` has `addr + size` past the end of the 64-bit space.
    EntryOverflows { index: usize, addr: u64, size: u64 },
    /// The input had `count` non-empty entries, more than
    /// [`MemoryMap::CAPACITY`].
    TooManyEntries { count: usize },
    /// Splitting overlapping entries produced more than
    /// [`MemoryMap::CAPACITY`] regions.
    TooFragmented,
    /// [`MemoryMap::reserve`] was given `start > end`.
    InvalidRange { start: u64, end: u64 },
    /// Reserving `start..end` would split the map into more than
    /// [`MemoryMap::CAPACITY`] regions; the map is unchanged.
    ReserveWouldOverflow { start: u64, end: u64 },
}

impl fmt::Display for MemoryMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cap = MemoryMap::CAPACITY;
        match *self {
            Self::EntryOverflows { index, addr, size } => write!(
                f,
                "memory map entry {index}: addr {addr:#x} + size {size:#x} overflows 64 bits"
            ),
            Self::TooManyEntries { count } => write!(
                f,
                "memory map has {count} non-empty entries, at most {cap} are supported"
            ),
            Self::TooFragmented => write!(
                f,
                "memory map needs more than {cap} regions once overlapping entries are split"
            ),
            Self::InvalidRange { start, end } => {
                write!(f, "cannot reserve {start:#x}..{end:#x}: start is above end")
            }
            Self::ReserveWouldOverflow { start, end } => write!(
                f,
                "reserving {start:#x}..{end:#x} would need more than {cap} memory map regions"
            ),
        }
    }
}

/// Sorted, non-overlapping regions of physical memory; adjacent regions
/// always differ in kind. Fixed capacity, because it is built before there
/// is a heap.
#[derive(Clone)]
pub struct MemoryMap {
    regions: [MemoryRegion; Self::CAPACITY],
    len: usize,
}

impl MemoryMap {
    /// Most regions a map holds. Real maps have a few dozen at most; Xen's
    /// `XENMEM_memory_map` and PVH loaders stay well below this.
    pub const CAPACITY: usize = 128;

    /// An empty map.
    pub const fn new() -> Self {
        Self {
            regions: [MemoryRegion::EMPTY; Self::CAPACITY],
            len: 0,
        }
    }

    /// Builds a map from untrusted `(addr, size, type)` entries as found in
    /// an E820 table or `hvm_memmap_table_entry` array.
    ///
    /// Zero-size entries are skipped. Where entries overlap, any non-usable
    /// kind wins over [`RegionKind::Usable`]; the result is sorted, with
    /// adjacent regions of one kind merged.
    pub fn from_entries<I>(entries: I) -> Result<Self, MemoryMapError>
    where
        I: IntoIterator<Item = (u64, u64, u32)>,
    {
        let mut map = Self::new();
        map.load_entries(entries)?;
        Ok(map)
    }

    /// [`Self::from_entries`] into an existing map, which is left empty on
    /// error. Boot code uses it to build the map where it will live: at -O0
    /// every by-value move of a 3 KiB map is another copy on the boot stack.
    pub(crate) fn load_entries<I>(&mut self, entries: I) -> Result<(), MemoryMapError>
    where
        I: IntoIterator<Item = (u64, u64, u32)>,
    {
        self.regions.fill(MemoryRegion::EMPTY);
        self.len = 0;
        let mut raw = [MemoryRegion::EMPTY; Self::CAPACITY];
        let mut count = 0usize;
        for (index, (addr, size, ty)) in entries.into_iter().enumerate() {
            let Some(end) = addr.checked_add(size) else {
                return Err(MemoryMapError::EntryOverflows { index, addr, size });
            };
            if size == 0 {
                continue;
            }
            if let Some(slot) = raw.get_mut(count) {
                *slot = MemoryRegion::new(addr, end, RegionKind::from_e820(ty));
            }
            // Keep counting past capacity so the error says how big the
            // table really was.
            count = count.saturating_add(1);
        }
        if count > Self::CAPACITY {
            return Err(MemoryMapError::TooManyEntries { count });
        }
        let result = self.resolve_overlaps(&raw[..count]);
        if result.is_err() {
            self.len = 0;
        }
        result
    }

    /// Appends `raw` (unsorted, possibly overlapping) as sorted regions.
    ///
    /// Entry starts and ends cut the address space into elementary pieces;
    /// no boundary lies inside a piece, so an entry covers a piece entirely
    /// or not at all, and each piece takes the winning kind of the entries
    /// covering it. Walking the boundaries by repeated minimum is quadratic,
    /// but n <= 128 once at boot, and it needs no sort buffer.
    fn resolve_overlaps(&mut self, raw: &[MemoryRegion]) -> Result<(), MemoryMapError> {
        let Some(mut start) = raw.iter().map(|r| r.start).min() else {
            return Ok(());
        };
        let next_boundary = |after: u64| {
            raw.iter()
                .flat_map(|r| [r.start, r.end])
                .filter(|&b| b > after)
                .min()
        };
        while let Some(end) = next_boundary(start) {
            let winner = raw
                .iter()
                .filter(|r| r.start <= start && end <= r.end)
                .map(|r| r.kind)
                .max_by_key(|kind| kind.precedence());
            // No winner: a hole between entries, which stays a hole.
            if let Some(kind) = winner
                && !self.push_merging(MemoryRegion::new(start, end, kind))
            {
                return Err(MemoryMapError::TooFragmented);
            }
            start = end;
        }
        Ok(())
    }

    /// The regions, sorted by address and non-overlapping.
    pub fn regions(&self) -> &[MemoryRegion] {
        &self.regions[..self.len]
    }

    /// Usable regions shrunk inward to whole pages (start rounded up, end
    /// rounded down); regions with no whole page in them are left out.
    pub fn usable(&self) -> impl Iterator<Item = MemoryRegion> + '_ {
        self.regions()
            .iter()
            .filter(|r| r.kind == RegionKind::Usable)
            .filter_map(|r| {
                let start = align_up(r.start, PAGE_SIZE)?;
                let end = align_down(r.end, PAGE_SIZE);
                (start < end).then_some(MemoryRegion::new(start, end, RegionKind::Usable))
            })
    }

    /// Marks the usable parts of `start..end` as [`RegionKind::Reserved`],
    /// splitting regions as needed, so the frame allocator never hands them
    /// out: the kernel image, boot data, the allocator's own bitmap. Parts
    /// of the range that are holes or already non-usable are left alone.
    /// The bytes are recorded exactly; [`Self::usable`] rounds inward, so a
    /// partly reserved page is never allocatable.
    pub fn reserve(&mut self, start: u64, end: u64) -> Result<(), MemoryMapError> {
        if start > end {
            return Err(MemoryMapError::InvalidRange { start, end });
        }
        let mut out = Self::new();
        for &r in self.regions() {
            let overlaps = r.start < end && start < r.end;
            let pieces = if r.kind == RegionKind::Usable && overlaps {
                let cut_start = r.start.max(start);
                let cut_end = r.end.min(end);
                [
                    MemoryRegion::new(r.start, cut_start, RegionKind::Usable),
                    MemoryRegion::new(cut_start, cut_end, RegionKind::Reserved),
                    MemoryRegion::new(cut_end, r.end, RegionKind::Usable),
                ]
            } else {
                [r, MemoryRegion::EMPTY, MemoryRegion::EMPTY]
            };
            for piece in pieces.into_iter().filter(|p| p.start < p.end) {
                if !out.push_merging(piece) {
                    return Err(MemoryMapError::ReserveWouldOverflow { start, end });
                }
            }
        }
        *self = out;
        Ok(())
    }

    /// Bytes of usable memory in whole pages.
    pub fn total_usable(&self) -> u64 {
        self.usable().fold(0, |sum, r| sum.saturating_add(r.size()))
    }

    /// End (exclusive, page-aligned) of the highest usable page, or 0 if
    /// there is none. The frame allocator's bitmap covers `0..` this.
    pub fn highest_usable_end(&self) -> u64 {
        self.usable().last().map_or(0, |r| r.end)
    }

    /// Start of the lowest range of `size` bytes (rounded up to pages) that
    /// lies within one usable region, at or above `min_addr`, aligned to
    /// `align` (at least a page; must be a power of two). `None` if there
    /// is no such range, `size` is 0 or `align` is not a power of two.
    pub fn find_usable(&self, size: u64, align: u64, min_addr: u64) -> Option<u64> {
        let align = align.max(PAGE_SIZE);
        if size == 0 || !align.is_power_of_two() {
            return None;
        }
        let size = align_up(size, PAGE_SIZE)?;
        self.usable().find_map(|r| {
            let start = align_up(r.start.max(min_addr), align)?;
            let end = start.checked_add(size)?;
            (end <= r.end).then_some(start)
        })
    }

    /// Whether every byte of `start..end` lies in some region (of any
    /// kind): the range is memory the loader told us about, not a hole.
    /// An empty range is covered.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        spans(self.regions().iter().copied(), start, end)
    }

    /// Whether every byte of `start..end` lies in whole usable pages
    /// ([`MemoryMap::usable`]; adjacent usable regions count as one).
    pub fn usable_covers(&self, start: u64, end: u64) -> bool {
        spans(self.usable(), start, end)
    }

    /// Appends `region` (which must not start before the last region ends),
    /// growing the last region instead when it is adjacent and of the same
    /// kind. False when the map is full.
    fn push_merging(&mut self, region: MemoryRegion) -> bool {
        if let Some(last) = self.regions[..self.len].last_mut()
            && last.end == region.start
            && last.kind == region.kind
        {
            last.end = region.end;
            return true;
        }
        match self.regions.get_mut(self.len) {
            Some(slot) => {
                *slot = region;
                self.len += 1;
                true
            }
            None => false,
        }
    }
}

impl Default for MemoryMap {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for MemoryMap {
    fn eq(&self, other: &Self) -> bool {
        self.regions() == other.regions()
    }
}

impl Eq for MemoryMap {}

/// Only the regions in use, not 128 slots of padding.
impl fmt::Debug for MemoryMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.regions()).finish()
    }
}

/// One newline-terminated line per region, so `print!("{map}")` ends cleanly.
impl fmt::Display for MemoryMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len == 0 {
            return f.write_str("(empty memory map)\n");
        }
        self.regions()
            .iter()
            .try_for_each(|region| writeln!(f, "{region}"))
    }
}

/// Whether `regions` (sorted, non-overlapping) leave no gap in
/// `start..end`. An empty range is spanned.
fn spans(regions: impl Iterator<Item = MemoryRegion>, start: u64, end: u64) -> bool {
    let mut at = start;
    for r in regions {
        if at >= end {
            break;
        }
        if r.end <= at {
            continue;
        }
        if r.start > at {
            return false;
        }
        at = r.end;
    }
    at >= end
}

/// `value` rounded up to a multiple of `align` (a power of two), or `None`
/// past the top of the address space.
fn align_up(value: u64, align: u64) -> Option<u64> {
    Some(value.checked_add(align - 1)? & !(align - 1))
}

fn align_down(value: u64, align: u64) -> u64 {
    value & !(align - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: u32 = 1;
    const RESERVED: u32 = 2;
    const ACPI: u32 = 3;
    const NVS: u32 = 4;
    const GIB: u64 = 1 << 30;

    fn region(start: u64, end: u64, kind: RegionKind) -> MemoryRegion {
        MemoryRegion { start, end, kind }
    }

    fn map(entries: &[(u64, u64, u32)]) -> MemoryMap {
        match MemoryMap::from_entries(entries.iter().copied()) {
            Ok(map) => map,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    /// The map QEMU's PVH loader hands a 6 GiB guest: low RAM, the BIOS
    /// hole, RAM up to the PCI hole, then the rest above 4 GiB.
    fn qemu_6g() -> MemoryMap {
        map(&[
            (0, 0x9fc00, RAM),
            (0x9fc00, 0x400, RESERVED),
            (0xf0000, 0x10000, RESERVED),
            (0x100000, 0xbff0_0000, RAM),
            (0xfeff_c000, 0x4000, RESERVED),
            (0x1_0000_0000, 0x1_4000_0000, RAM),
        ])
    }

    #[test]
    fn decodes_every_e820_type() {
        let kinds = [
            (1, RegionKind::Usable),
            (2, RegionKind::Reserved),
            (3, RegionKind::AcpiReclaimable),
            (4, RegionKind::AcpiNvs),
            (5, RegionKind::Unusable),
            (6, RegionKind::Disabled),
            (7, RegionKind::Persistent),
            (0, RegionKind::Unknown(0)),
            (0xF000_0001, RegionKind::Unknown(0xF000_0001)),
        ];
        for (code, kind) in kinds {
            assert_eq!(RegionKind::from_e820(code), kind);
        }
        assert_eq!(RegionKind::Usable.name(), "usable");
        assert_eq!(RegionKind::AcpiNvs.name(), "ACPI NVS");
        assert_eq!(RegionKind::Unknown(9).to_string(), "unknown type 0x9");
    }

    #[test]
    fn well_formed_map_passes_through() {
        let m = qemu_6g();
        assert_eq!(m.regions().len(), 6);
        assert_eq!(m.regions()[0], region(0, 0x9fc00, RegionKind::Usable));
        assert_eq!(
            m.regions()[5],
            region(0x1_0000_0000, 0x2_4000_0000, RegionKind::Usable)
        );
    }

    #[test]
    fn unsorted_entries_are_sorted() {
        let m = map(&[
            (0x300000, 0x1000, RAM),
            (0x100000, 0x1000, RESERVED),
            (0x200000, 0x1000, ACPI),
        ]);
        let starts: Vec<u64> = m.regions().iter().map(|r| r.start).collect();
        assert_eq!(starts, [0x100000, 0x200000, 0x300000]);
    }

    #[test]
    fn zero_size_entries_are_skipped() {
        let m = map(&[
            (0x1000, 0, RESERVED),
            (0x1000, 0x1000, RAM),
            (u64::MAX, 0, RAM),
        ]);
        assert_eq!(m.regions(), [region(0x1000, 0x2000, RegionKind::Usable)]);
    }

    #[test]
    fn overflowing_entry_is_rejected_with_its_index_and_values() {
        let entries = [(0, 0x1000, RAM), (u64::MAX - 0xfff, 0x1000, RAM)];
        let err = MemoryMap::from_entries(entries).unwrap_err();
        assert_eq!(
            err,
            MemoryMapError::EntryOverflows {
                index: 1,
                addr: u64::MAX - 0xfff,
                size: 0x1000
            }
        );
        assert_eq!(
            err.to_string(),
            "memory map entry 1: addr 0xfffffffffffff000 + size 0x1000 overflows 64 bits"
        );
        // Ending one byte short of the top is fine.
        assert!(MemoryMap::from_entries([(u64::MAX - 0xfff, 0xfff, RAM)]).is_ok());
    }

    #[test]
    fn more_than_capacity_entries_are_rejected_with_the_count() {
        let spaced = |n: u64| (0..n).map(|i| (i * 0x2000, 0x1000, RAM));
        assert_eq!(
            MemoryMap::from_entries(spaced(128)).map(|m| m.regions().len()),
            Ok(128)
        );
        let err = MemoryMap::from_entries(spaced(200)).unwrap_err();
        assert_eq!(err, MemoryMapError::TooManyEntries { count: 200 });
        assert!(
            err.to_string()
                .contains("200 non-empty entries, at most 128")
        );
        // Empty entries do not count against the limit.
        let padded = spaced(128).chain((0..50).map(|_| (0, 0, RAM)));
        assert!(MemoryMap::from_entries(padded).is_ok());
    }

    #[test]
    fn reserved_inside_usable_splits_it() {
        let m = map(&[(0, 0x10000, RAM), (0x4000, 0x2000, RESERVED)]);
        assert_eq!(
            m.regions(),
            [
                region(0, 0x4000, RegionKind::Usable),
                region(0x4000, 0x6000, RegionKind::Reserved),
                region(0x6000, 0x10000, RegionKind::Usable),
            ]
        );
    }

    #[test]
    fn non_usable_wins_partial_overlaps_in_either_order() {
        let expected = [
            region(0, 0x2000, RegionKind::Usable),
            region(0x2000, 0x5000, RegionKind::AcpiNvs),
        ];
        assert_eq!(
            map(&[(0, 0x4000, RAM), (0x2000, 0x3000, NVS)]).regions(),
            expected
        );
        assert_eq!(
            map(&[(0x2000, 0x3000, NVS), (0, 0x4000, RAM)]).regions(),
            expected
        );
        // Usable swallowed whole by a reserved range disappears.
        let m = map(&[(0x1000, 0x1000, RAM), (0, 0x10000, RESERVED)]);
        assert_eq!(m.regions(), [region(0, 0x10000, RegionKind::Reserved)]);
    }

    #[test]
    fn stricter_non_usable_kind_wins_over_milder_one() {
        let m = map(&[
            (0, 0x3000, ACPI),
            (0x1000, 0x1000, NVS),
            (0x1000, 0x1000, 5),
        ]);
        assert_eq!(
            m.regions(),
            [
                region(0, 0x1000, RegionKind::AcpiReclaimable),
                region(0x1000, 0x2000, RegionKind::Unusable),
                region(0x2000, 0x3000, RegionKind::AcpiReclaimable),
            ]
        );
    }

    #[test]
    fn overlapping_and_adjacent_same_kind_merge() {
        let m = map(&[
            (0, 0x3000, RAM),
            (0x2000, 0x3000, RAM),
            (0x5000, 0x1000, RAM),
            (0x5000, 0x1000, RAM),
        ]);
        assert_eq!(m.regions(), [region(0, 0x6000, RegionKind::Usable)]);
        // Adjacent but different kinds stay apart; holes stay holes.
        let m = map(&[
            (0, 0x1000, RAM),
            (0x1000, 0x1000, RESERVED),
            (0x8000, 0x1000, RAM),
        ]);
        assert_eq!(m.regions().len(), 3);
    }

    #[test]
    fn too_fragmented_after_splitting_is_an_error() {
        let with_holes = |n: u64| {
            core::iter::once((0, 0x1000_0000, RAM))
                .chain((0..n).map(|i| (0x10000 * (i + 1), 0x1000, RESERVED)))
        };
        // 63 holes: 63 reserved + 64 usable pieces fit.
        assert_eq!(
            MemoryMap::from_entries(with_holes(63)).map(|m| m.regions().len()),
            Ok(127)
        );
        // 64 holes: 129 regions do not.
        assert_eq!(
            MemoryMap::from_entries(with_holes(64)).unwrap_err(),
            MemoryMapError::TooFragmented
        );
    }

    #[test]
    fn load_entries_replaces_the_map_and_empties_it_on_error() {
        let mut m = qemu_6g();
        m.load_entries([(0x1000, 0x1000, RAM)]).unwrap();
        assert_eq!(m.regions(), [region(0x1000, 0x2000, RegionKind::Usable)]);
        assert!(
            m.load_entries([(0, 0x1000, RAM), (u64::MAX, 1, RAM)])
                .is_err()
        );
        assert!(m.regions().is_empty());
        // Failing late, after regions were already pushed, also empties it.
        m = qemu_6g();
        let fragmented = core::iter::once((0, 0x1000_0000, RAM))
            .chain((0..64).map(|i| (0x10000 * (i + 1), 0x1000, RESERVED)));
        assert_eq!(
            m.load_entries(fragmented),
            Err(MemoryMapError::TooFragmented)
        );
        assert_eq!(m, MemoryMap::new());
    }

    #[test]
    fn usable_is_page_aligned_inward() {
        let m = map(&[
            (0x1001, 0x2fff, RAM),
            (0x5001, 0xffe, RAM),
            (0x8000, 0x100, RESERVED),
        ]);
        let usable: Vec<MemoryRegion> = m.usable().collect();
        assert_eq!(usable, [region(0x2000, 0x4000, RegionKind::Usable)]);
        assert_eq!(m.total_usable(), 0x2000);
        assert_eq!(m.highest_usable_end(), 0x4000);
    }

    #[test]
    fn usable_near_the_top_of_the_address_space_does_not_overflow() {
        let m = map(&[
            (u64::MAX - 0x800, 0x800, RAM),
            (u64::MAX - 0x3800, 0x2000, RAM),
        ]);
        let usable: Vec<MemoryRegion> = m.usable().collect();
        assert_eq!(
            usable,
            [region(
                u64::MAX - 0x2fff,
                u64::MAX - 0x1fff,
                RegionKind::Usable
            )]
        );
        assert_eq!(m.find_usable(0x1000, 0x1000, 0), Some(u64::MAX - 0x2fff));
        assert_eq!(m.find_usable(0x1000, 0x1000, u64::MAX), None);
    }

    #[test]
    fn totals_of_a_map_above_4gib() {
        let m = qemu_6g();
        assert_eq!(m.highest_usable_end(), 0x2_4000_0000);
        // 0x9f000 (low RAM, rounded down) + RAM to 3 GiB + 5 GiB high.
        assert_eq!(m.total_usable(), 0x9f000 + 0xbff0_0000 + 5 * GIB);
        assert_eq!(MemoryMap::new().highest_usable_end(), 0);
        assert_eq!(MemoryMap::new().total_usable(), 0);
    }

    #[test]
    fn reserve_carves_out_of_usable_memory() {
        let mut m = map(&[(0, 0x100000, RAM)]);
        m.reserve(0x10000, 0x18000).unwrap();
        assert_eq!(
            m.regions(),
            [
                region(0, 0x10000, RegionKind::Usable),
                region(0x10000, 0x18000, RegionKind::Reserved),
                region(0x18000, 0x100000, RegionKind::Usable),
            ]
        );
        // At an edge, and adjacent to an existing reservation: merges.
        m.reserve(0x18000, 0x20000).unwrap();
        m.reserve(0, 0x1000).unwrap();
        assert_eq!(
            m.regions(),
            [
                region(0, 0x1000, RegionKind::Reserved),
                region(0x1000, 0x10000, RegionKind::Usable),
                region(0x10000, 0x20000, RegionKind::Reserved),
                region(0x20000, 0x100000, RegionKind::Usable),
            ]
        );
    }

    #[test]
    fn reserve_leaves_holes_and_other_kinds_alone() {
        let mut m = map(&[
            (0, 0x2000, RAM),
            (0x3000, 0x1000, NVS),
            (0x5000, 0x2000, RAM),
        ]);
        m.reserve(0x1000, 0x6000).unwrap();
        assert_eq!(
            m.regions(),
            [
                region(0, 0x1000, RegionKind::Usable),
                region(0x1000, 0x2000, RegionKind::Reserved),
                region(0x3000, 0x4000, RegionKind::AcpiNvs),
                region(0x5000, 0x6000, RegionKind::Reserved),
                region(0x6000, 0x7000, RegionKind::Usable),
            ]
        );
        let before = m.clone();
        m.reserve(0x4000, 0x4000).unwrap();
        assert_eq!(m, before);
    }

    #[test]
    fn reserve_rejects_inverted_range_and_overflow_leaving_map_unchanged() {
        let mut m = map(&[(0, 0x1000_0000, RAM)]);
        assert_eq!(
            m.reserve(0x2000, 0x1000),
            Err(MemoryMapError::InvalidRange {
                start: 0x2000,
                end: 0x1000
            })
        );
        // Each hole adds two regions: 63 holes make 127 regions.
        for i in 0..63 {
            m.reserve(0x10000 * (i + 1), 0x10000 * (i + 1) + 0x1000)
                .unwrap();
        }
        assert_eq!(m.regions().len(), 127);
        let before = m.clone();
        let err = m.reserve(0x0800_0000, 0x0800_1000).unwrap_err();
        assert_eq!(
            err,
            MemoryMapError::ReserveWouldOverflow {
                start: 0x0800_0000,
                end: 0x0800_1000
            }
        );
        assert!(err.to_string().contains("0x8000000..0x8001000"));
        assert_eq!(m, before);
    }

    #[test]
    fn reserved_partial_page_is_not_usable() {
        let mut m = map(&[(0x100000, 0x100000, RAM)]);
        m.reserve(0x100000, 0x123456).unwrap();
        assert_eq!(m.usable().next().map(|r| r.start), Some(0x124000));
    }

    #[test]
    fn find_usable_honours_size_alignment_and_minimum() {
        let m = qemu_6g();
        assert_eq!(m.find_usable(1, 0, 0), Some(0));
        assert_eq!(m.find_usable(0x1000, 0x1000, 0x1001), Some(0x2000));
        // Does not fit below 640 KiB, so the next region serves it.
        assert_eq!(m.find_usable(0x100000, 0x1000, 0), Some(0x100000));
        assert_eq!(
            m.find_usable(0x1000, 0x4000_0000, 0x1000),
            Some(0x4000_0000)
        );
        assert_eq!(m.find_usable(GIB, 0, 4 * GIB), Some(4 * GIB));
        assert_eq!(m.find_usable(6 * GIB, 0, 0), None);
        assert_eq!(m.find_usable(0, 0, 0), None);
        assert_eq!(m.find_usable(0x1000, 0x3000, 0), None);
        assert_eq!(m.find_usable(u64::MAX, 0, 0), None);
        assert_eq!(m.find_usable(0x1000, 1 << 63, 0), Some(0));
        assert_eq!(m.find_usable(0x1000, 1 << 63, 1), None);
    }

    #[test]
    fn covers_means_no_hole_anywhere_in_the_range() {
        let m = qemu_6g();
        assert!(m.covers(0, 0x9fc00));
        // Across two adjacent regions of different kinds.
        assert!(m.covers(0x9f000, 0xa0000));
        assert!(!m.covers(0x9f000, 0xa0001));
        assert!(!m.covers(0xe0000, 0xf0010));
        assert!(m.covers(0xf0000, 0x100000 + 0x1000));
        assert!(!m.covers(0xc000_0000, 0xc000_0010));
        assert!(m.covers(0xfeff_c000, 0xff00_0000));
        assert!(!m.covers(0xfeff_c000, 0xff00_0001));
        assert!(m.covers(5, 5));
        assert!(!MemoryMap::new().covers(0, 1));
    }

    #[test]
    fn display_prints_one_line_per_region() {
        let m = map(&[
            (0, 0x9fc00, RAM),
            (0x100000, 0x7ee0000, RAM),
            (0xfeffc000, 0x4000, RESERVED),
        ]);
        assert_eq!(
            m.to_string(),
            "[0x0000000000000000-0x000000000009fbff] usable (639.0 KiB)\n\
             [0x0000000000100000-0x0000000007fdffff] usable (126.9 MiB)\n\
             [0x00000000feffc000-0x00000000feffffff] reserved (16.0 KiB)\n"
        );
        assert_eq!(MemoryMap::new().to_string(), "(empty memory map)\n");
    }

    #[test]
    fn byte_sizes_pick_the_right_unit() {
        assert_eq!(ByteSize(0).to_string(), "0 B");
        assert_eq!(ByteSize(1023).to_string(), "1023 B");
        assert_eq!(ByteSize(1024).to_string(), "1.0 KiB");
        assert_eq!(ByteSize(1536).to_string(), "1.5 KiB");
        assert_eq!(ByteSize(5 * GIB).to_string(), "5.0 GiB");
        assert_eq!(ByteSize(u64::MAX).to_string(), "16.0 EiB");
    }
}
