//! 4-level x86_64 page tables: the only module that writes page-table
//! entries or CR3.
//!
//! Page-table frames are reached through the identity map of physical
//! memory that the kernel keeps (virtual = physical below the top of RAM),
//! so a table's physical address is also a usable pointer.

use bitflags::bitflags;

bitflags! {
    /// Page-table entry bits (Intel SDM vol. 3, 4.5).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Flags: u64 {
        const PRESENT = 1;
        const WRITABLE = 1 << 1;
        const USER = 1 << 2;
        const WRITE_THROUGH = 1 << 3;
        const NO_CACHE = 1 << 4;
        const ACCESSED = 1 << 5;
        const DIRTY = 1 << 6;
        /// In a 2 MiB or 1 GiB entry: the entry is a leaf. In a 4 KiB
        /// entry the same bit is PAT (which, with PCD and PWT, picks the
        /// page's memory type from IA32_PAT).
        const HUGE = 1 << 7;
        const GLOBAL = 1 << 8;
        const NO_EXECUTE = 1 << 63;
    }
}

const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const ENTRIES: usize = 512;

/// Page sizes the kernel maps with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageSize {
    /// 4 KiB, a level-1 entry.
    Small,
    /// 2 MiB, a level-2 entry with the huge bit.
    Large,
}

impl PageSize {
    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            Self::Small => 4096,
            Self::Large => 2 << 20,
        }
    }
}

/// Why a mapping operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// An address is not aligned to the page size.
    Misaligned(u64),
    /// The virtual address is not canonical.
    NonCanonical(u64),
    /// The virtual page is already mapped.
    AlreadyMapped(u64),
    /// The virtual page is not mapped.
    NotMapped(u64),
    /// A huge page covers the address where a smaller mapping was wanted.
    HugePageInTheWay(u64),
    /// No physical frame was left for a page table.
    OutOfFrames,
    /// The paging subsystem is not set up yet.
    NotReady,
    /// Device registers were asked for at this address, which is usable
    /// RAM (mapped write-back already).
    RamNotMmio(u64),
    /// Every slot of the table of device mappings is taken.
    MmioTableFull,
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Misaligned(a) => write!(f, "address {a:#x} is not page-aligned"),
            Self::NonCanonical(a) => write!(f, "virtual address {a:#x} is not canonical"),
            Self::AlreadyMapped(a) => write!(f, "virtual page {a:#x} is already mapped"),
            Self::NotMapped(a) => write!(f, "virtual page {a:#x} is not mapped"),
            Self::HugePageInTheWay(a) => write!(f, "a huge page already covers {a:#x}"),
            Self::OutOfFrames => write!(f, "out of physical frames for page tables"),
            Self::NotReady => write!(f, "paging is not initialised yet"),
            Self::RamNotMmio(a) => write!(
                f,
                "{a:#x} is usable RAM, not device registers: refusing to map it uncached"
            ),
            Self::MmioTableFull => write!(f, "too many device register mappings"),
        }
    }
}

/// A tree of page tables rooted at a PML4 frame.
pub struct PageTables {
    root: u64,
    /// Bits the CPU accepts: NX is reserved (and faults) without EFER.NXE.
    allowed: Flags,
}

fn table(phys: u64) -> *mut [u64; ENTRIES] {
    phys as *mut [u64; ENTRIES]
}

fn index(virt: u64, level: u32) -> usize {
    ((virt >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

fn canonical(virt: u64) -> bool {
    let top = virt >> 47;
    top == 0 || top == 0x1ffff
}

impl PageTables {
    /// Start an empty tree in a fresh frame from `alloc`.
    ///
    /// # Safety
    /// `alloc` must return unused, identity-mapped frames; the resulting
    /// tables are only valid to load once they map the running code.
    pub unsafe fn new(alloc: &mut dyn FnMut() -> Option<u64>, nx: bool) -> Result<Self, MapError> {
        let root = alloc().ok_or(MapError::OutOfFrames)?;
        // SAFETY: the caller promises an unused identity-mapped frame.
        unsafe { (*table(root)).fill(0) };
        let allowed = if nx {
            Flags::all()
        } else {
            Flags::all() - Flags::NO_EXECUTE
        };
        Ok(Self { root, allowed })
    }

    /// Take over the tree rooted at `root`, built by [`PageTables::new`].
    ///
    /// # Safety
    /// `root` must be the PML4 frame of a tree whose tables are
    /// identity-mapped frames owned by the caller, and no other
    /// `PageTables` may write the tree while this one lives.
    pub unsafe fn adopt(root: u64, nx: bool) -> Self {
        let allowed = if nx {
            Flags::all()
        } else {
            Flags::all() - Flags::NO_EXECUTE
        };
        Self { root, allowed }
    }

    /// Physical address of the PML4 (the value for CR3).
    pub fn root(&self) -> u64 {
        self.root
    }

    /// Walk to the entry for `virt` at `target_level` (1 = PT, 2 = PD),
    /// creating intermediate tables with `alloc` when given.
    fn entry(
        &mut self,
        virt: u64,
        target_level: u32,
        mut alloc: Option<&mut dyn FnMut() -> Option<u64>>,
        user: bool,
    ) -> Result<*mut u64, MapError> {
        // A user page needs USER at every level above it too; only user
        // mappings ever set it, and they live in PML4 slots of their own.
        let user_bit = if user { Flags::USER.bits() } else { 0 };
        let mut table_phys = self.root;
        for level in (target_level + 1..=4).rev() {
            // SAFETY: `table_phys` is a page table of this tree (the root or a
            // frame we installed), reachable through the identity map.
            let slot = unsafe { &mut (*table(table_phys))[index(virt, level)] };
            if *slot & Flags::PRESENT.bits() == 0 {
                let Some(alloc) = alloc.as_deref_mut() else {
                    return Err(MapError::NotMapped(virt));
                };
                let frame = alloc().ok_or(MapError::OutOfFrames)?;
                // SAFETY: a fresh identity-mapped frame from the allocator.
                unsafe { (*table(frame)).fill(0) };
                *slot = frame | (Flags::PRESENT | Flags::WRITABLE).bits() | user_bit;
            } else if *slot & Flags::HUGE.bits() != 0 {
                return Err(MapError::HugePageInTheWay(virt));
            } else {
                *slot |= user_bit;
            }
            table_phys = *slot & ADDR_MASK;
        }
        // SAFETY: as above; the index is in range by construction.
        Ok(unsafe { &mut (*table(table_phys))[index(virt, target_level)] })
    }

    /// Map `virt` to `phys` with `flags` (PRESENT is implied).
    pub fn map(
        &mut self,
        virt: u64,
        phys: u64,
        size: PageSize,
        flags: Flags,
        alloc: &mut dyn FnMut() -> Option<u64>,
    ) -> Result<(), MapError> {
        if !canonical(virt) {
            return Err(MapError::NonCanonical(virt));
        }
        for a in [virt, phys] {
            if a % size.bytes() != 0 {
                return Err(MapError::Misaligned(a));
            }
        }
        let level = if size == PageSize::Large { 2 } else { 1 };
        let entry = self.entry(virt, level, Some(alloc), flags.contains(Flags::USER))?;
        // SAFETY: `entry` points into a live table of this tree.
        unsafe {
            if *entry & Flags::PRESENT.bits() != 0 {
                return Err(MapError::AlreadyMapped(virt));
            }
            let mut bits = (flags | Flags::PRESENT) & self.allowed;
            if size == PageSize::Large {
                bits |= Flags::HUGE;
            }
            *entry = (phys & ADDR_MASK) | bits.bits();
        }
        Ok(())
    }

    /// Remove the 4 KiB mapping of `virt`, returning the frame it mapped.
    /// The caller flushes the TLB (see [`flush`]) if the tables are live.
    pub fn unmap(&mut self, virt: u64) -> Result<u64, MapError> {
        if !virt.is_multiple_of(4096) {
            return Err(MapError::Misaligned(virt));
        }
        let entry = self.entry(virt, 1, None, false)?;
        // SAFETY: `entry` points into a live table of this tree.
        unsafe {
            if *entry & Flags::PRESENT.bits() == 0 {
                return Err(MapError::NotMapped(virt));
            }
            let phys = *entry & ADDR_MASK;
            *entry = 0;
            Ok(phys)
        }
    }

    /// Translate `virt` to its physical address and the leaf's flags.
    pub fn translate(&self, virt: u64) -> Option<(u64, Flags)> {
        if !canonical(virt) {
            return None;
        }
        let mut table_phys = self.root;
        for level in (1..=4).rev() {
            // SAFETY: tables of this tree are identity-mapped frames.
            let e = unsafe { (*table(table_phys))[index(virt, level)] };
            if e & Flags::PRESENT.bits() == 0 {
                return None;
            }
            let flags = Flags::from_bits_truncate(e);
            if level == 1 || e & Flags::HUGE.bits() != 0 {
                let page = 1u64 << (12 + 9 * (level - 1));
                return Some(((e & ADDR_MASK & !(page - 1)) | (virt & (page - 1)), flags));
            }
            table_phys = e & ADDR_MASK;
        }
        None
    }

    /// Calls `f(virt, bytes, phys, flags)` for every present leaf mapping
    /// that overlaps `[start, end)` of the lower half, in address order,
    /// skipping absent tables whole (so walking terabytes of holes is
    /// cheap). `bytes` is the leaf's page size.
    pub fn for_each_leaf(&self, start: u64, end: u64, f: &mut dyn FnMut(u64, u64, u64, Flags)) {
        self.walk(self.root, 4, 0, start, end.min(1 << 47), f);
    }

    fn walk(
        &self,
        table_phys: u64,
        level: u32,
        base: u64,
        start: u64,
        end: u64,
        f: &mut dyn FnMut(u64, u64, u64, Flags),
    ) {
        let span = 1u64 << (12 + 9 * (level - 1));
        for i in 0..ENTRIES as u64 {
            let virt = base + i * span;
            if virt >= end {
                break;
            }
            if virt + span <= start {
                continue;
            }
            // SAFETY: tables of this tree are identity-mapped frames; `i` is
            // below 512.
            let e = unsafe { (*table(table_phys))[i as usize] };
            if e & Flags::PRESENT.bits() == 0 {
                continue;
            }
            if level == 1 || e & Flags::HUGE.bits() != 0 {
                f(
                    virt,
                    span,
                    e & ADDR_MASK & !(span - 1),
                    Flags::from_bits_truncate(e),
                );
            } else {
                self.walk(e & ADDR_MASK, level - 1, virt, start, end, f);
            }
        }
    }

    /// Remove every mapping under PML4 slots `slots`, calling `free` with
    /// each leaf frame (4 KiB leaves only) and each page-table frame below
    /// the PML4. The caller flushes the TLB if the tree is live.
    pub fn clear_slots(&mut self, slots: core::ops::Range<usize>, free: &mut dyn FnMut(u64)) {
        fn clear(table_phys: u64, level: u32, free: &mut dyn FnMut(u64)) {
            for i in 0..ENTRIES {
                // SAFETY: tables of this tree are identity-mapped frames.
                let e = unsafe { (*table(table_phys))[i] };
                if e & Flags::PRESENT.bits() == 0 {
                    continue;
                }
                if level > 1 && e & Flags::HUGE.bits() == 0 {
                    clear(e & ADDR_MASK, level - 1, free);
                }
                if level == 1 || e & Flags::HUGE.bits() == 0 {
                    free(e & ADDR_MASK);
                }
                // SAFETY: as above; the entry is ours to clear.
                unsafe { (*table(table_phys))[i] = 0 };
            }
        }
        for slot in slots.start..slots.end.min(ENTRIES) {
            // SAFETY: the root is this tree's PML4, identity-mapped.
            let e = unsafe { (*table(self.root))[slot] };
            if e & Flags::PRESENT.bits() != 0 {
                clear(e & ADDR_MASK, 3, free);
                free(e & ADDR_MASK);
                // SAFETY: as above.
                unsafe { (*table(self.root))[slot] = 0 };
            }
        }
    }

    /// Copy the PML4 entries of `from` into this tree, except `skip`: the
    /// kernel's half of a process's address space (the tables below are
    /// shared, so later kernel mappings show through).
    pub fn share_slots_from(&mut self, from: &PageTables, skip: core::ops::Range<usize>) {
        for slot in (0..ENTRIES).filter(|s| !skip.contains(s)) {
            // SAFETY: both roots are identity-mapped PML4 frames.
            unsafe { (*table(self.root))[slot] = (*table(from.root))[slot] };
        }
    }

    /// Make this tree the active address space.
    ///
    /// # Safety
    /// The tree must map all code, data and stacks in use, and must stay
    /// alive (and its frames unused by anything else) while loaded.
    pub unsafe fn activate(&self) {
        // SAFETY: the caller guarantees the tree maps everything in use.
        unsafe {
            core::arch::asm!("mov cr3, {}", in(reg) self.root, options(nostack, preserves_flags));
        }
    }
}

/// Drop the TLB entry of one page after changing a live mapping.
pub fn flush(virt: u64) {
    // SAFETY: invlpg only invalidates a translation; it cannot break
    // memory safety by itself.
    unsafe { core::arch::asm!("invlpg [{}]", in(reg) virt, options(nostack, preserves_flags)) };
}

/// Whether the CPU runs with EFER.NXE (set at boot when NX exists).
pub fn nx_enabled() -> bool {
    use x86_64::registers::model_specific::{Efer, EferFlags};
    Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE)
}
