//! What the kernel's identity map covers: RAM as RAM, the kernel image with
//! its section permissions, the pages shared with another domain, and
//! nothing else. No device registers (they are mapped uncached elsewhere,
//! see `map_mmio`), no firmware tables (read through a window, see
//! `mem::phys`), no holes.
//!
//! Pure logic over the boot memory map, tested on the host; `layout::build`
//! turns the plan into page tables.

use super::PAGE_SIZE;
use super::memmap::MemoryMap;

/// Size of a large (2 MiB) page: chunks wholly inside RAM use one.
pub const LARGE: u64 = 2 << 20;

/// Addresses of the image's sections, from the linker script.
#[derive(Clone, Copy, Debug)]
pub struct ImageLayout {
    /// First byte of the image (text).
    pub start: u64,
    /// End of text.
    pub text_end: u64,
    /// Start of read-only data.
    pub rodata_start: u64,
    /// End of read-only data.
    pub rodata_end: u64,
    /// Start of data and bss.
    pub data_start: u64,
    /// End of the image, page-aligned.
    pub end: u64,
}

impl ImageLayout {
    /// Whether the page at `addr` belongs to the image.
    pub fn contains_page(&self, addr: u64) -> bool {
        addr.saturating_add(PAGE_SIZE) > self.start && addr < self.end
    }
}

/// What a mapped page of the identity map is, which decides its
/// permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageUse {
    /// Kernel text: read-only, executable.
    Text,
    /// Kernel read-only data.
    Rodata,
    /// Kernel data and bss: writable, not executable.
    Data,
    /// Other RAM: writable, not executable.
    Ram,
    /// A page shared with another domain (`mem::reserve_shared`): RAM to
    /// the CPU, writable, not executable.
    Shared,
}

/// Page size of one mapping in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size {
    /// 4 KiB.
    Small,
    /// 2 MiB, only for [`PageUse::Ram`].
    Large,
}

/// The identity map the kernel builds from the boot memory map.
pub struct IdentityPlan<'a> {
    /// The memory map as the loader gave it (before the kernel reserved
    /// its own image and data in it: those are RAM all the same).
    pub map: &'a MemoryMap,
    /// The running image.
    pub image: ImageLayout,
    /// Stack guard pages: left unmapped so that overflows fault.
    pub guards: &'a [u64],
    /// Frames shared with another domain, mapped wherever they lie.
    pub shared: &'a [u64],
}

impl IdentityPlan<'_> {
    /// What the page at `addr` (page-aligned) is mapped as, or `None` if
    /// it is left unmapped: page 0 (null dereferences fault), guard pages,
    /// and everything that is not RAM.
    pub fn page_use(&self, addr: u64) -> Option<PageUse> {
        let img = &self.image;
        if addr == 0 || self.guards.contains(&addr) {
            return None;
        }
        if img.contains_page(addr) {
            return Some(if addr < img.text_end.next_multiple_of(PAGE_SIZE) {
                PageUse::Text
            } else if addr >= img.rodata_start && addr < img.rodata_end.next_multiple_of(PAGE_SIZE)
            {
                PageUse::Rodata
            } else {
                PageUse::Data
            });
        }
        if self.shared.contains(&addr) {
            return Some(PageUse::Shared);
        }
        let end = addr.checked_add(PAGE_SIZE)?;
        self.map
            .usable()
            .any(|r| r.start <= addr && end <= r.end)
            .then_some(PageUse::Ram)
    }

    /// End of the identity range: everything mapped lies below it.
    pub fn top(&self) -> u64 {
        let shared_top = self.shared.iter().map(|&f| f + PAGE_SIZE).max();
        self.map
            .highest_usable_end()
            .max(self.image.end)
            .max(shared_top.unwrap_or(0))
            .next_multiple_of(LARGE)
    }

    /// Calls `f(addr, size, use)` for every mapping of the plan, in address
    /// order, and stops at the first error. A 2 MiB chunk that lies wholly
    /// in one usable region and holds nothing special is one large page;
    /// other chunks are mapped page by page.
    pub fn for_each<E>(
        &self,
        mut f: impl FnMut(u64, Size, PageUse) -> Result<(), E>,
    ) -> Result<(), E> {
        let top = self.top();
        let mut chunk = 0;
        while chunk < top {
            let end = chunk + LARGE;
            if self.is_plain_ram(chunk) {
                f(chunk, Size::Large, PageUse::Ram)?;
            } else if self.touches_anything(chunk, end) {
                for addr in (chunk..end).step_by(PAGE_SIZE as usize) {
                    if let Some(page_use) = self.page_use(addr) {
                        f(addr, Size::Small, page_use)?;
                    }
                }
            }
            chunk = end;
        }
        Ok(())
    }

    /// Whether the 2 MiB chunk at `chunk` is RAM throughout, with no page
    /// that must be left out or mapped differently.
    fn is_plain_ram(&self, chunk: u64) -> bool {
        let end = chunk + LARGE;
        let inside = |a: u64| a >= chunk && a < end;
        let special = chunk == 0
            || (chunk < self.image.end && end > self.image.start)
            || self.guards.iter().any(|&g| inside(g))
            || self.shared.iter().any(|&s| inside(s));
        !special && self.map.usable().any(|r| r.start <= chunk && end <= r.end)
    }

    /// Whether anything the plan maps lies in `[start, end)`, so chunks of
    /// a hole are skipped without looking at each page.
    fn touches_anything(&self, start: u64, end: u64) -> bool {
        let inside = |a: u64| a >= start && a < end;
        (start < self.image.end && end > self.image.start)
            || self.shared.iter().any(|&s| inside(s))
            || self.map.usable().any(|r| r.start < end && start < r.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    const RAM: u32 = 1;
    const RESERVED: u32 = 2;
    const ACPI: u32 = 3;
    const MIB: u64 = 1 << 20;

    /// The map Xen gives a 32 MiB PVH guest: RAM, ACPI tables, then the
    /// special pages (console and xenstore rings) just below the LAPIC.
    fn xen_pvh_map() -> MemoryMap {
        MemoryMap::from_entries([
            (0, 32 * MIB, RAM),
            (0xfc00_0000, 0x8040, ACPI),
            (0xfeff_8000, 0x8000, RESERVED),
        ])
        .unwrap()
    }

    fn image() -> ImageLayout {
        ImageLayout {
            start: 4 * MIB,
            text_end: 4 * MIB + 0x3_0123,
            rodata_start: 4 * MIB + 0x3_1000,
            rodata_end: 4 * MIB + 0x4_0800,
            data_start: 4 * MIB + 0x4_1000,
            end: 4 * MIB + 0x9_0000,
        }
    }

    fn plan<'a>(map: &'a MemoryMap, guards: &'a [u64], shared: &'a [u64]) -> IdentityPlan<'a> {
        IdentityPlan {
            map,
            image: image(),
            guards,
            shared,
        }
    }

    fn mappings(plan: &IdentityPlan<'_>) -> Vec<(u64, Size, PageUse)> {
        let mut out = Vec::new();
        plan.for_each(|a, s, u| {
            out.push((a, s, u));
            Ok::<(), ()>(())
        })
        .unwrap();
        out
    }

    /// Every byte the plan maps, as page addresses.
    fn mapped_pages(plan: &IdentityPlan<'_>) -> Vec<u64> {
        mappings(plan)
            .into_iter()
            .flat_map(|(a, s, _)| {
                let len = if s == Size::Large { LARGE } else { PAGE_SIZE };
                (a..a + len).step_by(PAGE_SIZE as usize)
            })
            .collect()
    }

    #[test]
    fn only_ram_the_image_and_shared_pages_are_mapped() {
        let map = xen_pvh_map();
        let console = 0xfeff_c000;
        let guards = [4 * MIB + 0x5_0000];
        let shared = [console];
        let p = plan(&map, &guards, &shared);
        let pages = mapped_pages(&p);
        // 32 MiB of RAM less page 0 and the guard page, plus the console.
        assert_eq!(pages.len() as u64, 32 * MIB / PAGE_SIZE - 2 + 1);
        assert!(pages.contains(&console));
        assert!(!pages.contains(&0));
        assert!(!pages.contains(&guards[0]));
        // Nothing of the ACPI tables, the other special pages, the LAPIC
        // page or the hole in between.
        for addr in [0xfc00_0000, 0xfeff_8000, 0xfeff_b000, 0xfee0_0000, 64 * MIB] {
            assert!(!pages.contains(&addr), "{addr:#x} is mapped");
        }
        assert_eq!(p.page_use(console), Some(PageUse::Shared));
        assert_eq!(p.page_use(0xfeff_d000), None);
    }

    #[test]
    fn image_sections_get_their_own_use() {
        let map = xen_pvh_map();
        let p = plan(&map, &[], &[]);
        assert_eq!(p.page_use(4 * MIB), Some(PageUse::Text));
        assert_eq!(p.page_use(4 * MIB + 0x3_0000), Some(PageUse::Text));
        assert_eq!(p.page_use(4 * MIB + 0x3_1000), Some(PageUse::Rodata));
        assert_eq!(p.page_use(4 * MIB + 0x4_0000), Some(PageUse::Rodata));
        assert_eq!(p.page_use(4 * MIB + 0x4_1000), Some(PageUse::Data));
        assert_eq!(p.page_use(4 * MIB + 0x8_f000), Some(PageUse::Data));
        assert_eq!(p.page_use(4 * MIB + 0x9_0000), Some(PageUse::Ram));
        assert_eq!(p.page_use(4 * MIB - PAGE_SIZE), Some(PageUse::Ram));
    }

    #[test]
    fn large_pages_only_for_chunks_of_plain_ram() {
        let map = MemoryMap::from_entries([
            (0, 0x9_fc00, RAM),
            (0x10_0000, 16 * MIB - 0x10_0000 - 0x1000, RAM),
        ])
        .unwrap();
        let shared = [10 * MIB + 0x3000];
        let m = mappings(&plan(&map, &[], &shared));
        let large: Vec<u64> = m
            .iter()
            .filter(|(_, s, _)| *s == Size::Large)
            .map(|(a, ..)| *a)
            .collect();
        // Chunk 0 holds page 0 and the BIOS hole, chunk 4 MiB the image,
        // chunk 10 MiB a shared page, chunk 14 MiB ends a page short.
        assert_eq!(large, [2 * MIB, 6 * MIB, 8 * MIB, 12 * MIB]);
        assert!(
            m.iter()
                .all(|&(_, s, u)| s == Size::Small || u == PageUse::Ram)
        );
        // The partial page at the end of low RAM (0x9f000..0x9fc00) is
        // not RAM to the plan: its tail belongs to the EBDA.
        let p = plan(&map, &[], &shared);
        assert_eq!(p.page_use(0x9_e000), Some(PageUse::Ram));
        assert_eq!(p.page_use(0x9_f000), None);
        assert_eq!(p.page_use(16 * MIB - PAGE_SIZE), None);
        assert_eq!(p.top(), 16 * MIB);
    }

    #[test]
    fn ram_above_4gib_is_mapped_and_the_hole_below_it_is_not() {
        let map = MemoryMap::from_entries([
            (0, 0x9_fc00, RAM),
            (0x10_0000, 0xbff0_0000, RAM),
            (0xb000_0000 + 0x1000_0000, 0x1000_0000, RESERVED),
            (4 << 30, 1 << 30, RAM),
        ])
        .unwrap();
        let p = plan(&map, &[], &[]);
        assert_eq!(p.top(), 5 << 30);
        let m = mappings(&p);
        assert!(m.iter().any(|&(a, ..)| a == 4 << 30));
        assert!(
            m.iter()
                .all(|&(a, ..)| !(0xc000_0000..4 << 30).contains(&a))
        );
    }

    #[test]
    fn errors_stop_the_walk() {
        let map = xen_pvh_map();
        let p = plan(&map, &[], &[]);
        let mut calls = 0;
        let result = p.for_each(|_, _, _| {
            calls += 1;
            if calls == 3 { Err("full") } else { Ok(()) }
        });
        assert_eq!((result, calls), (Err("full"), 3));
    }
}
