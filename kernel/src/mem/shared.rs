//! Frames shared with another domain (the PV console ring today; xenstore
//! and grant frames next): where such a frame may lie, and the registry of
//! the frames the kernel has accepted.
//!
//! The other end writes these pages whenever it likes, so a shared frame
//! must never also be heap, a page table, a stack or part of the image: a
//! stray write from dom0 would then corrupt the kernel. A frame is accepted
//! only if the boot memory map says it is either
//! - memory the firmware or hypervisor set aside (`reserved`, or one of
//!   Xen's OEM types for shared info and grant frames), which the frame
//!   allocator never owns; or
//! - usable RAM that the allocator still has free, which is then withheld
//!   from it for good, atomically with the check.
//!
//! Holes, ACPI tables and NVS, unusable RAM, the image and page 0 are
//! refused, each with an error naming the frame and the reason. This module
//! is the pure part; `mem::reserve_shared` applies it to the kernel's map
//! and allocator.

use core::fmt;

use super::PAGE_SIZE;
use super::identity::ImageLayout;
use super::memmap::{MemoryMap, RegionKind};

/// Why a frame cannot be shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedFrameError {
    /// The address is not 4 KiB aligned.
    Unaligned(u64),
    /// Frame 0: the kernel leaves it unmapped so null pointers fault.
    NullFrame,
    /// The frame is part of the kernel image.
    InKernelImage(u64),
    /// Before the kernel's page tables exist only the first 4 GiB are
    /// mapped, and this frame lies above them.
    AboveBootMap(u64),
    /// The frame is not wholly inside one region of the memory map: a hole
    /// (device space, or nothing at all) or a page that straddles regions.
    NotInMemoryMap(u64),
    /// The memory map gives the frame a kind that must not be written:
    /// ACPI tables or NVS, unusable or disabled memory, persistent memory.
    WrongKind { frame: u64, kind: RegionKind },
    /// Usable RAM that the frame allocator has already handed out (it may
    /// be heap or a page table).
    InUse(u64),
    /// The frame is already registered as shared.
    AlreadyShared(u64),
    /// The registry is full ([`SharedFrames::CAPACITY`]).
    TooMany(u64),
    /// The frame could not be mapped (no memory for a page table).
    MapFailed(u64),
    /// The frame to release is not registered as shared.
    NotShared(u64),
}

impl fmt::Display for SharedFrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Unaligned(a) => write!(f, "cannot share {a:#x}: not a 4 KiB frame address"),
            Self::NullFrame => f.write_str("cannot share frame 0: it is the null page"),
            Self::InKernelImage(a) => {
                write!(f, "cannot share {a:#x}: it is part of the kernel image")
            }
            Self::AboveBootMap(a) => write!(
                f,
                "cannot share {a:#x} before the kernel's page tables exist: above 4 GiB"
            ),
            Self::NotInMemoryMap(a) => write!(
                f,
                "cannot share {a:#x}: not inside one region of the memory map (a hole)"
            ),
            Self::WrongKind { frame, kind } => {
                write!(
                    f,
                    "cannot share {frame:#x}: the memory map says it is {kind}"
                )
            }
            Self::InUse(a) => write!(
                f,
                "cannot share {a:#x}: usable RAM the frame allocator has already handed out"
            ),
            Self::AlreadyShared(a) => write!(f, "cannot share {a:#x}: already shared"),
            Self::TooMany(a) => write!(
                f,
                "cannot share {a:#x}: {} frames are shared already, the most supported",
                SharedFrames::CAPACITY
            ),
            Self::MapFailed(a) => write!(f, "cannot share {a:#x}: mapping it failed"),
            Self::NotShared(a) => write!(f, "cannot release {a:#x}: it is not shared"),
        }
    }
}

/// Where an accepted frame comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharedKind {
    /// Usable RAM: the allocator must give it up (and never get it back).
    Ram,
    /// Memory the map sets aside: the allocator never owned it.
    SetAside,
}

/// The checks that need no memory map: what can be verified before the
/// kernel knows the map, when only the boot page tables (the first 4 GiB)
/// exist.
pub fn check_early(frame: u64, image: &ImageLayout) -> Result<(), SharedFrameError> {
    check_address(frame, image)?;
    if frame.saturating_add(PAGE_SIZE) > 4 << 30 {
        return Err(SharedFrameError::AboveBootMap(frame));
    }
    Ok(())
}

/// Checks `frame` against the boot memory map `map` (as the loader gave
/// it, before the kernel's own reservations) and the image. On success
/// says whether the frame must be withheld from the allocator.
pub fn check_against_map(
    frame: u64,
    map: &MemoryMap,
    image: &ImageLayout,
) -> Result<SharedKind, SharedFrameError> {
    check_address(frame, image)?;
    let end = frame.saturating_add(PAGE_SIZE);
    let region = map
        .regions()
        .iter()
        .find(|r| r.start <= frame && end <= r.end)
        .ok_or(SharedFrameError::NotInMemoryMap(frame))?;
    match region.kind {
        RegionKind::Usable => Ok(SharedKind::Ram),
        // Xen's own types for shared info and grant frames are OEM codes
        // (`0xF000000x`), which the map keeps as unknown.
        RegionKind::Reserved | RegionKind::Unknown(_) => Ok(SharedKind::SetAside),
        kind => Err(SharedFrameError::WrongKind { frame, kind }),
    }
}

fn check_address(frame: u64, image: &ImageLayout) -> Result<(), SharedFrameError> {
    if !frame.is_multiple_of(PAGE_SIZE) {
        return Err(SharedFrameError::Unaligned(frame));
    }
    if frame == 0 {
        return Err(SharedFrameError::NullFrame);
    }
    if image.contains_page(frame) {
        return Err(SharedFrameError::InKernelImage(frame));
    }
    Ok(())
}

/// The frames accepted as shared. Fixed capacity: frames are registered
/// before there is a heap.
#[derive(Clone, Debug)]
pub struct SharedFrames {
    frames: [u64; Self::CAPACITY],
    len: usize,
}

impl SharedFrames {
    /// Most frames shared at once: the console and xenstore rings and a
    /// grant table of a few frames fit with room to spare.
    pub const CAPACITY: usize = 16;

    /// No frame shared.
    pub const fn new() -> Self {
        Self {
            frames: [0; Self::CAPACITY],
            len: 0,
        }
    }

    /// The registered frames, in registration order.
    pub fn frames(&self) -> &[u64] {
        &self.frames[..self.len]
    }

    /// Whether `frame` is registered.
    pub fn contains(&self, frame: u64) -> bool {
        self.frames().contains(&frame)
    }

    /// Whether [`SharedFrames::insert`] of `frame` would succeed; callers
    /// check this before changing anything else, so that a full registry
    /// never leaves a frame withheld but unregistered.
    pub fn can_insert(&self, frame: u64) -> Result<(), SharedFrameError> {
        if self.contains(frame) {
            Err(SharedFrameError::AlreadyShared(frame))
        } else if self.len == Self::CAPACITY {
            Err(SharedFrameError::TooMany(frame))
        } else {
            Ok(())
        }
    }

    /// Register `frame`.
    pub fn insert(&mut self, frame: u64) -> Result<(), SharedFrameError> {
        self.can_insert(frame)?;
        self.frames[self.len] = frame;
        self.len += 1;
        Ok(())
    }

    /// Forget `frame`; false if it was not registered.
    pub fn remove(&mut self, frame: u64) -> bool {
        let Some(i) = self.frames().iter().position(|&f| f == frame) else {
            return false;
        };
        self.frames.copy_within(i + 1..self.len, i);
        self.len -= 1;
        true
    }
}

impl Default for SharedFrames {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: u32 = 1;
    const RESERVED: u32 = 2;
    const ACPI: u32 = 3;
    const NVS: u32 = 4;
    const MIB: u64 = 1 << 20;

    fn image() -> ImageLayout {
        ImageLayout {
            start: 4 * MIB,
            text_end: 4 * MIB + 0x1_0000,
            rodata_start: 4 * MIB + 0x1_0000,
            rodata_end: 4 * MIB + 0x2_0000,
            data_start: 4 * MIB + 0x2_0000,
            end: 4 * MIB + 0x3_0000,
        }
    }

    /// Xen's map for a 32 MiB PVH guest, plus an NVS range and a Xen OEM
    /// region for the sake of the test.
    fn map() -> MemoryMap {
        MemoryMap::from_entries([
            (0, 32 * MIB, RAM),
            (0xfc00_0000, 0x8040, ACPI),
            (0xfd00_0000, 0x1000, NVS),
            (0xfe00_0000, 0x2000, 0xF000_0002),
            (0xfeff_8000, 0x8000, RESERVED),
        ])
        .unwrap()
    }

    #[test]
    fn set_aside_memory_is_accepted_as_is() {
        let (m, img) = (map(), image());
        assert_eq!(
            check_against_map(0xfeff_c000, &m, &img),
            Ok(SharedKind::SetAside)
        );
        assert_eq!(
            check_against_map(0xfe00_1000, &m, &img),
            Ok(SharedKind::SetAside)
        );
    }

    #[test]
    fn usable_ram_must_be_withheld() {
        assert_eq!(
            check_against_map(0x20_0000, &map(), &image()),
            Ok(SharedKind::Ram)
        );
    }

    #[test]
    fn holes_and_straddling_pages_are_refused() {
        let (m, img) = (map(), image());
        for frame in [32 * MIB, 0xfee0_0000, 0xfc00_8000, 0xffff_f000, 1 << 40] {
            assert_eq!(
                check_against_map(frame, &m, &img),
                Err(SharedFrameError::NotInMemoryMap(frame)),
                "{frame:#x}"
            );
        }
        // A page that is half RAM, half reserved.
        let split = MemoryMap::from_entries([(0, 0x1800, RAM), (0x1800, 0x800, RESERVED)]).unwrap();
        assert_eq!(
            check_against_map(0x1000, &split, &img),
            Err(SharedFrameError::NotInMemoryMap(0x1000))
        );
        assert!(
            SharedFrameError::NotInMemoryMap(0xfee0_0000)
                .to_string()
                .contains("0xfee00000")
        );
    }

    #[test]
    fn firmware_tables_are_refused_naming_the_kind() {
        let (m, img) = (map(), image());
        let err = check_against_map(0xfc00_0000, &m, &img).unwrap_err();
        assert_eq!(
            err,
            SharedFrameError::WrongKind {
                frame: 0xfc00_0000,
                kind: RegionKind::AcpiReclaimable
            }
        );
        assert_eq!(
            err.to_string(),
            "cannot share 0xfc000000: the memory map says it is ACPI reclaimable"
        );
        assert!(matches!(
            check_against_map(0xfd00_0000, &m, &img),
            Err(SharedFrameError::WrongKind {
                kind: RegionKind::AcpiNvs,
                ..
            })
        ));
    }

    #[test]
    fn the_image_page_zero_and_odd_addresses_are_refused() {
        let (m, img) = (map(), image());
        for frame in [4 * MIB, 4 * MIB + 0x2_f000] {
            assert_eq!(
                check_against_map(frame, &m, &img),
                Err(SharedFrameError::InKernelImage(frame))
            );
            assert_eq!(
                check_early(frame, &img),
                Err(SharedFrameError::InKernelImage(frame))
            );
        }
        assert_eq!(
            check_against_map(4 * MIB + 0x3_0000, &m, &img),
            Ok(SharedKind::Ram)
        );
        assert_eq!(
            check_against_map(0, &m, &img),
            Err(SharedFrameError::NullFrame)
        );
        assert_eq!(
            check_against_map(0xfeff_c001, &m, &img),
            Err(SharedFrameError::Unaligned(0xfeff_c001))
        );
    }

    #[test]
    fn early_checks_need_the_boot_map_to_reach_the_frame() {
        let img = image();
        assert_eq!(check_early(0xfeff_c000, &img), Ok(()));
        assert_eq!(check_early((4 << 30) - PAGE_SIZE, &img), Ok(()));
        assert_eq!(
            check_early(4 << 30, &img),
            Err(SharedFrameError::AboveBootMap(4 << 30))
        );
        assert_eq!(
            check_early(!0xfff_u64, &img),
            Err(SharedFrameError::AboveBootMap(!0xfff_u64))
        );
    }

    #[test]
    fn the_registry_refuses_duplicates_and_overflow() {
        let mut r = SharedFrames::new();
        r.insert(0x1000).unwrap();
        assert_eq!(
            r.insert(0x1000),
            Err(SharedFrameError::AlreadyShared(0x1000))
        );
        for i in 1..SharedFrames::CAPACITY as u64 {
            r.insert(0x1000 * (i + 1)).unwrap();
        }
        assert_eq!(
            r.can_insert(0x99_000),
            Err(SharedFrameError::TooMany(0x99_000))
        );
        assert!(r.remove(0x3000));
        assert!(!r.remove(0x3000));
        assert!(!r.contains(0x3000));
        assert_eq!(r.frames().len(), SharedFrames::CAPACITY - 1);
        assert_eq!(r.frames()[..3], [0x1000, 0x2000, 0x4000]);
        r.insert(0x99_000).unwrap();
    }
}
