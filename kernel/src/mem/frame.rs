//! Physical frame allocation: one bit per 4 KiB frame, from physical address
//! 0 up to the end of the highest usable page.
//!
//! A bitmap needs no allocator of its own (its storage is carved out of the
//! memory map before the allocator exists), frees are O(1), and the whole
//! state can be checked by a test. The search is next-fit, so a run of
//! allocations does not rescan the already allocated prefix each time.

use core::fmt;

use super::PAGE_SIZE;
use super::memmap::MemoryMap;

/// Frames tracked by one bitmap word.
const FRAMES_PER_WORD: u64 = u64::BITS as u64;

/// Frame 0 is never handed out, even when the map says it is RAM: the
/// kernel identity-maps low memory, so its address is the null pointer, and
/// Xen's boot structures use address 0 to mean "not present".
const FIRST_ALLOCATABLE_FRAME: u64 = 1;

/// Most frames withheld at once (see [`BitmapFrameAllocator::withhold`]).
pub const WITHHELD_CAPACITY: usize = 16;

/// Why the allocator could not be built or a frame could not be freed.
/// Every variant about a frame carries the physical address it was given.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum FrameError {
    /// The caller's bitmap storage holds `given` words; `needed` are required.
    StorageTooSmall { needed: usize, given: usize },
    /// The address is not 4 KiB aligned.
    Unaligned(u64),
    /// The address lies above every frame the bitmap covers.
    OutOfRange(u64),
    /// The frame was never usable RAM (reserved, a hole, frame 0), so it
    /// cannot have come from this allocator.
    NotAllocatable(u64),
    /// The frame is already free.
    DoubleFree(u64),
    /// The frame was withheld (shared with another domain): it is not the
    /// allocator's to hand out or to take back through `free`.
    Withheld(u64),
    /// The frame cannot be withheld: it is allocated already.
    InUse(u64),
    /// The frame cannot be released: it was never withheld.
    NotWithheld(u64),
    /// The frame cannot be withheld: the table of withheld frames is full.
    TooManyWithheld(u64),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::StorageTooSmall { needed, given } => write!(
                f,
                "frame bitmap needs {needed} words of storage, only {given} were given"
            ),
            Self::Unaligned(addr) => {
                write!(f, "cannot free {addr:#x}: not aligned to a 4 KiB frame")
            }
            Self::OutOfRange(addr) => write!(
                f,
                "cannot free {addr:#x}: above the highest frame the allocator manages"
            ),
            Self::NotAllocatable(addr) => write!(
                f,
                "cannot free {addr:#x}: not a usable RAM frame, so never allocated"
            ),
            Self::DoubleFree(addr) => {
                write!(
                    f,
                    "cannot free {addr:#x}: frame is already free (double free)"
                )
            }
            Self::Withheld(addr) => write!(
                f,
                "cannot free {addr:#x}: the frame is withheld (shared with another domain)"
            ),
            Self::InUse(addr) => {
                write!(f, "cannot withhold {addr:#x}: the frame is allocated")
            }
            Self::NotWithheld(addr) => {
                write!(f, "cannot release {addr:#x}: the frame was not withheld")
            }
            Self::TooManyWithheld(addr) => write!(
                f,
                "cannot withhold {addr:#x}: {WITHHELD_CAPACITY} frames are withheld already"
            ),
        }
    }
}

/// Allocator of 4 KiB physical frames over a caller-provided bitmap.
pub struct BitmapFrameAllocator {
    /// Bit set = frame free. Free-is-one lets a search skip a word of
    /// allocated frames with one compare against zero; bits past the last
    /// frame stay zero, so they are never found.
    bitmap: &'static mut [u64],
    /// Frames covered by the bitmap: `0..frame_count`.
    frame_count: u64,
    /// Usable frame ranges (`first..end` frame numbers) the bitmap was built
    /// from, so `free` can refuse frames this allocator never owned instead
    /// of quietly injecting reserved memory into the pool.
    usable: [(u64, u64); MemoryMap::CAPACITY],
    usable_len: usize,
    /// Usable frames taken out of the pool for good (shared with another
    /// domain): allocated in the bitmap, refused by `free`, not counted in
    /// `total`.
    withheld: [u64; WITHHELD_CAPACITY],
    withheld_len: usize,
    total: u64,
    free: u64,
    /// Word where the last `alloc` found a frame: next-fit starts there.
    next_word: usize,
}

impl BitmapFrameAllocator {
    /// Number of `u64` words of storage `new` needs for `map`.
    pub fn storage_words(map: &MemoryMap) -> usize {
        let frames = map.highest_usable_end() / PAGE_SIZE;
        usize::try_from(frames.div_ceil(FRAMES_PER_WORD)).unwrap_or(usize::MAX)
    }

    /// Builds the allocator with every frame of every usable page of `map`
    /// free (frame 0 excepted) and everything else allocated. `storage` may
    /// be longer than needed; the excess is left untouched.
    ///
    /// In the kernel `storage` lives in memory that `map` already marks
    /// reserved; otherwise the allocator would hand out its own bitmap.
    pub fn new(storage: &'static mut [u64], map: &MemoryMap) -> Result<Self, FrameError> {
        let needed = Self::storage_words(map);
        let given = storage.len();
        if given < needed {
            return Err(FrameError::StorageTooSmall { needed, given });
        }
        let (bitmap, _) = storage.split_at_mut(needed);
        bitmap.fill(0);
        let mut allocator = Self {
            bitmap,
            frame_count: map.highest_usable_end() / PAGE_SIZE,
            usable: [(0, 0); MemoryMap::CAPACITY],
            usable_len: 0,
            withheld: [0; WITHHELD_CAPACITY],
            withheld_len: 0,
            total: 0,
            free: 0,
            next_word: 0,
        };
        for region in map.usable() {
            let first = (region.start / PAGE_SIZE).max(FIRST_ALLOCATABLE_FRAME);
            let end = region.end / PAGE_SIZE;
            if first >= end {
                continue;
            }
            // A map holds at most CAPACITY regions, so this slot exists.
            if let Some(slot) = allocator.usable.get_mut(allocator.usable_len) {
                *slot = (first, end);
                allocator.usable_len += 1;
            }
            allocator.mark(first, end, true);
            allocator.total += end - first;
        }
        allocator.free = allocator.total;
        Ok(allocator)
    }

    /// Physical address of a free frame, now allocated; `None` when memory
    /// is exhausted. The frame's contents are whatever was there before.
    pub fn alloc(&mut self) -> Option<u64> {
        if self.free == 0 {
            return None;
        }
        let words = self.bitmap.len();
        let start = self.next_word.min(words);
        for w in (start..words).chain(0..start) {
            let bits = self.bitmap.get(w).copied().unwrap_or(0);
            if bits != 0 {
                let frame = w as u64 * FRAMES_PER_WORD + u64::from(bits.trailing_zeros());
                self.next_word = w;
                return Some(self.take(frame, 1));
            }
        }
        None
    }

    /// Allocates up to `out.len()` frames into `out`, but stops while
    /// `keep` frames are still free; returns how many were taken. For the
    /// balloon, which must never leave the kernel without memory.
    pub fn alloc_keeping(&mut self, out: &mut [u64], keep: u64) -> usize {
        let mut taken = 0;
        for slot in out.iter_mut() {
            if self.free <= keep {
                break;
            }
            match self.alloc() {
                Some(frame) => *slot = frame,
                None => break,
            }
            taken += 1;
        }
        taken
    }

    /// Physical address of the lowest free frame at or above `min_addr`,
    /// now allocated.
    pub fn alloc_at_or_above(&mut self, min_addr: u64) -> Option<u64> {
        let frame = self.first_free_from(min_addr.div_ceil(PAGE_SIZE))?;
        Some(self.take(frame, 1))
    }

    /// Physical address of `count` physically contiguous free frames, the
    /// first one aligned to `align_frames` frames (a power of two; 1 for no
    /// alignment), now allocated. First-fit from the bottom, since long runs
    /// are rare and mostly wanted early, before memory fragments.
    pub fn alloc_contiguous(&mut self, count: u64, align_frames: u64) -> Option<u64> {
        if count == 0 || count > self.free || !align_frames.is_power_of_two() {
            return None;
        }
        let mut candidate = align_up(self.first_free_from(0)?, align_frames)?;
        loop {
            let end = candidate.checked_add(count)?;
            if end > self.frame_count {
                return None;
            }
            match self.first_used_in(candidate, end) {
                None => return Some(self.take(candidate, count)),
                // Nothing starting at or below `used` can fit: jump to the
                // next free frame after it instead of stepping frame by frame
                // through a long allocated stretch.
                Some(used) => {
                    let next_free = self.first_free_from(used + 1)?;
                    candidate = align_up(next_free, align_frames)?;
                }
            }
        }
    }

    /// The frame number of `addr` if it is a frame of the pool that is not
    /// withheld: what `free` and `withhold` both require, named on error.
    fn pool_frame(&self, addr: u64) -> Result<u64, FrameError> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(FrameError::Unaligned(addr));
        }
        let frame = addr / PAGE_SIZE;
        if frame >= self.frame_count {
            return Err(FrameError::OutOfRange(addr));
        }
        if self.is_withheld(addr) {
            return Err(FrameError::Withheld(addr));
        }
        if !self.is_allocatable(frame) {
            return Err(FrameError::NotAllocatable(addr));
        }
        Ok(frame)
    }

    /// Returns the frame at `addr` to the pool. Refuses, naming `addr`,
    /// anything this allocator cannot have handed out, and frames that are
    /// already free; the bitmap is unchanged on error.
    pub fn free(&mut self, addr: u64) -> Result<(), FrameError> {
        let frame = self.pool_frame(addr)?;
        if self.bit(frame) {
            return Err(FrameError::DoubleFree(addr));
        }
        self.mark(frame, frame + 1, true);
        self.free += 1;
        Ok(())
    }

    /// Takes the free frame at `addr` out of the pool for good: it is
    /// never handed out and `free` refuses it, until [`Self::release`].
    /// For frames another domain writes, which must never become heap or
    /// page tables. Checking and taking happen in one call, so nothing can
    /// allocate the frame in between.
    pub fn withhold(&mut self, addr: u64) -> Result<(), FrameError> {
        let frame = self.pool_frame(addr)?;
        if !self.bit(frame) {
            return Err(FrameError::InUse(addr));
        }
        let slot = self
            .withheld
            .get_mut(self.withheld_len)
            .ok_or(FrameError::TooManyWithheld(addr))?;
        *slot = addr;
        self.withheld_len += 1;
        self.take(frame, 1);
        self.total -= 1;
        Ok(())
    }

    /// Puts a frame withheld by [`Self::withhold`] back in the pool, free.
    pub fn release(&mut self, addr: u64) -> Result<(), FrameError> {
        let i = self.withheld[..self.withheld_len]
            .iter()
            .position(|&a| a == addr)
            .ok_or(FrameError::NotWithheld(addr))?;
        self.withheld.copy_within(i + 1..self.withheld_len, i);
        self.withheld_len -= 1;
        let frame = addr / PAGE_SIZE;
        self.mark(frame, frame + 1, true);
        self.total += 1;
        self.free += 1;
        Ok(())
    }

    /// Whether `addr` is a withheld frame.
    pub fn is_withheld(&self, addr: u64) -> bool {
        self.withheld[..self.withheld_len].contains(&addr)
    }

    /// Frames currently free.
    pub fn free_frames(&self) -> u64 {
        self.free
    }

    /// Frames this allocator manages, free or not.
    pub fn total_frames(&self) -> u64 {
        self.total
    }

    /// Whether the frame containing `addr` is free.
    pub fn is_free(&self, addr: u64) -> bool {
        self.bit(addr / PAGE_SIZE)
    }

    /// Marks `count` free frames from `first` allocated and returns the
    /// address of the first.
    fn take(&mut self, first: u64, count: u64) -> u64 {
        self.mark(first, first + count, false);
        self.free -= count;
        first * PAGE_SIZE
    }

    fn is_allocatable(&self, frame: u64) -> bool {
        self.usable[..self.usable_len]
            .iter()
            .any(|&(first, end)| first <= frame && frame < end)
    }

    /// Whether `frame` is free; false for frames past the bitmap.
    fn bit(&self, frame: u64) -> bool {
        let Some(&bits) = self.bitmap.get(word_index(frame)) else {
            return false;
        };
        frame < self.frame_count && bits & (1 << (frame % FRAMES_PER_WORD)) != 0
    }

    /// Sets frames `first..end` free (`free`) or allocated (`!free`).
    fn mark(&mut self, first: u64, end: u64, free: bool) {
        for (w, mask) in word_masks(first, end) {
            if let Some(bits) = self.bitmap.get_mut(w) {
                if free {
                    *bits |= mask;
                } else {
                    *bits &= !mask;
                }
            }
        }
    }

    /// Lowest free frame at or above `first`.
    fn first_free_from(&self, first: u64) -> Option<u64> {
        if first >= self.frame_count {
            return None;
        }
        let start_word = word_index(first);
        let mut mask = u64::MAX << (first % FRAMES_PER_WORD);
        for (w, &bits) in self.bitmap.iter().enumerate().skip(start_word) {
            let hits = bits & mask;
            if hits != 0 {
                return Some(w as u64 * FRAMES_PER_WORD + u64::from(hits.trailing_zeros()));
            }
            mask = u64::MAX;
        }
        None
    }

    /// Lowest allocated frame in `first..end` (which must lie within the
    /// bitmap), or `None` if all are free.
    fn first_used_in(&self, first: u64, end: u64) -> Option<u64> {
        word_masks(first, end).find_map(|(w, mask)| {
            let used = !self.bitmap.get(w).copied().unwrap_or(0) & mask;
            (used != 0).then(|| w as u64 * FRAMES_PER_WORD + u64::from(used.trailing_zeros()))
        })
    }
}

/// Counts only: the bitmap itself is megabytes on a large machine.
impl fmt::Debug for BitmapFrameAllocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BitmapFrameAllocator")
            .field("frame_count", &self.frame_count)
            .field("total", &self.total)
            .field("free", &self.free)
            .finish_non_exhaustive()
    }
}

/// Bitmap word holding `frame`. Virtus is x86_64-only, where `usize` is 64
/// bits, so the cast cannot truncate.
fn word_index(frame: u64) -> usize {
    (frame / FRAMES_PER_WORD) as usize
}

/// Splits frames `first..end` into `(word index, bit mask)` pieces, one per
/// bitmap word touched, so ranges are handled a word at a time.
fn word_masks(first: u64, end: u64) -> impl Iterator<Item = (usize, u64)> {
    let mut frame = first;
    core::iter::from_fn(move || {
        if frame >= end {
            return None;
        }
        let bit = frame % FRAMES_PER_WORD;
        let span = (FRAMES_PER_WORD - bit).min(end - frame);
        let mask = (u64::MAX >> (FRAMES_PER_WORD - span)) << bit;
        let piece = (word_index(frame), mask);
        frame += span;
        Some(piece)
    })
}

/// `value` rounded up to a multiple of `align` (a power of two).
fn align_up(value: u64, align: u64) -> Option<u64> {
    Some(value.checked_add(align - 1)? & !(align - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: u32 = 1;
    const RESERVED: u32 = 2;
    const GIB: u64 = 1 << 30;

    fn map(entries: &[(u64, u64, u32)]) -> MemoryMap {
        MemoryMap::from_entries(entries.iter().copied()).expect("valid test map")
    }

    fn storage(words: usize) -> &'static mut [u64] {
        // Poisoned, to prove `new` does not trust the caller to zero it.
        Box::leak(vec![0xa5a5_a5a5_a5a5_a5a5; words].into_boxed_slice())
    }

    fn allocator(map: &MemoryMap) -> BitmapFrameAllocator {
        BitmapFrameAllocator::new(storage(BitmapFrameAllocator::storage_words(map)), map)
            .expect("storage sized by storage_words")
    }

    /// 1 MiB of RAM at 0, a reserved hole, then 1 MiB more.
    fn small() -> MemoryMap {
        map(&[
            (0, 0x100000, RAM),
            (0x100000, 0x10000, RESERVED),
            (0x110000, 0x100000, RAM),
        ])
    }

    #[test]
    fn storage_words_covers_every_frame_up_to_the_highest_usable_end() {
        assert_eq!(BitmapFrameAllocator::storage_words(&MemoryMap::new()), 0);
        assert_eq!(
            BitmapFrameAllocator::storage_words(&map(&[(0, 64 * 4096, RAM)])),
            1
        );
        assert_eq!(
            BitmapFrameAllocator::storage_words(&map(&[(0, 65 * 4096, RAM)])),
            2
        );
        // Reserved memory above the last usable page costs nothing.
        assert_eq!(
            BitmapFrameAllocator::storage_words(&map(&[(0, 4096, RAM), (GIB, GIB, RESERVED)])),
            1
        );
        assert_eq!(
            BitmapFrameAllocator::storage_words(&map(&[(4 * GIB, GIB, RAM)])),
            (5 * GIB / 4096 / 64) as usize
        );
    }

    #[test]
    fn too_small_storage_is_rejected() {
        let m = small();
        let needed = BitmapFrameAllocator::storage_words(&m);
        let err = BitmapFrameAllocator::new(storage(needed - 1), &m).unwrap_err();
        assert_eq!(
            err,
            FrameError::StorageTooSmall {
                needed,
                given: needed - 1
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "frame bitmap needs {needed} words of storage, only {} were given",
                needed - 1
            )
        );
        // Longer than needed is fine.
        assert!(BitmapFrameAllocator::new(storage(needed + 10), &m).is_ok());
    }

    #[test]
    fn counts_only_usable_frames_and_never_frame_zero() {
        let a = allocator(&small());
        assert_eq!(a.total_frames(), 0x100 - 1 + 0x100);
        assert_eq!(a.free_frames(), a.total_frames());
        assert!(!a.is_free(0));
        assert!(a.is_free(0x1000));
        assert!(!a.is_free(0x100000));
        assert!(a.is_free(0x110000));
        assert!(!a.is_free(0x210000));
        assert!(!a.is_free(u64::MAX));
    }

    #[test]
    fn empty_map_gives_an_empty_allocator() {
        let mut a = BitmapFrameAllocator::new(storage(0), &MemoryMap::new()).unwrap();
        assert_eq!((a.total_frames(), a.free_frames()), (0, 0));
        assert_eq!(a.alloc(), None);
        assert_eq!(a.alloc_contiguous(1, 1), None);
        assert_eq!(a.alloc_at_or_above(0), None);
        assert_eq!(a.free(0x1000), Err(FrameError::OutOfRange(0x1000)));
    }

    #[test]
    fn alloc_hands_out_distinct_aligned_usable_frames_in_order() {
        let mut a = allocator(&small());
        let first = a.alloc().unwrap();
        let second = a.alloc().unwrap();
        assert_eq!((first, second), (0x1000, 0x2000));
        assert!(!a.is_free(first));
        assert_eq!(a.free_frames(), a.total_frames() - 2);
        // Next-fit: once the search has moved past a bitmap word, a frame
        // freed in it is not reused until the search wraps around.
        let last = (3..=70).map(|_| a.alloc().unwrap()).last();
        assert_eq!(last, Some(70 * 0x1000));
        a.free(first).unwrap();
        assert_eq!(a.alloc(), Some(71 * 0x1000));
    }

    #[test]
    fn exhausting_and_freeing_everything_back() {
        let m = small();
        let mut a = allocator(&m);
        let mut frames = Vec::new();
        while let Some(frame) = a.alloc() {
            assert_eq!(frame % PAGE_SIZE, 0);
            assert!(
                !(0x100000..0x110000).contains(&frame),
                "handed out reserved {frame:#x}"
            );
            frames.push(frame);
        }
        assert_eq!(frames.len() as u64, a.total_frames());
        assert_eq!(a.free_frames(), 0);
        let mut sorted = frames.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), frames.len(), "a frame was handed out twice");
        assert_eq!(a.alloc_contiguous(1, 1), None);
        for &frame in frames.iter().rev() {
            a.free(frame).unwrap();
        }
        assert_eq!(a.free_frames(), a.total_frames());
        // After wrapping, everything is allocatable again.
        assert_eq!(
            std::iter::from_fn(|| a.alloc()).count() as u64,
            a.total_frames()
        );
    }

    #[test]
    fn double_free_is_refused_and_named() {
        let mut a = allocator(&small());
        let frame = a.alloc().unwrap();
        a.free(frame).unwrap();
        let free_before = a.free_frames();
        assert_eq!(a.free(frame), Err(FrameError::DoubleFree(frame)));
        assert_eq!(a.free_frames(), free_before);
        assert_eq!(
            FrameError::DoubleFree(0x5000).to_string(),
            "cannot free 0x5000: frame is already free (double free)"
        );
        // Never-allocated usable frames are free already too.
        assert_eq!(a.free(0x80000), Err(FrameError::DoubleFree(0x80000)));
    }

    #[test]
    fn bad_addresses_are_refused_and_named() {
        let mut a = allocator(&small());
        let free_before = a.free_frames();
        assert_eq!(a.free(0x1234), Err(FrameError::Unaligned(0x1234)));
        assert_eq!(a.free(0x210000), Err(FrameError::OutOfRange(0x210000)));
        let top_frame = u64::MAX - 0xfff;
        assert_eq!(a.free(top_frame), Err(FrameError::OutOfRange(top_frame)));
        assert_eq!(a.free(0x104000), Err(FrameError::NotAllocatable(0x104000)));
        assert_eq!(a.free(0), Err(FrameError::NotAllocatable(0)));
        assert_eq!(a.free_frames(), free_before);
        assert!(!a.is_free(0x104000));
        for (err, addr) in [
            (FrameError::Unaligned(0x1234), "0x1234"),
            (FrameError::OutOfRange(0x210000), "0x210000"),
            (FrameError::NotAllocatable(0x104000), "0x104000"),
        ] {
            assert!(err.to_string().contains(addr), "{err}");
        }
    }

    #[test]
    fn reserved_parts_of_usable_memory_are_never_handed_out() {
        let mut m = map(&[(0, 0x40000, RAM)]);
        m.reserve(0x10000, 0x20800).unwrap();
        let mut a = allocator(&m);
        // 0x1000..0x10000 and 0x21000..0x40000.
        assert_eq!(a.total_frames(), 15 + 31);
        while let Some(frame) = a.alloc() {
            assert!(
                !(0x10000..0x21000).contains(&frame),
                "handed out reserved {frame:#x}"
            );
        }
        assert_eq!(a.free(0x20000), Err(FrameError::NotAllocatable(0x20000)));
    }

    #[test]
    fn contiguous_allocation_is_aligned_and_free() {
        let mut a = allocator(&map(&[(0, 0x800000, RAM)]));
        // Frame 0 is withheld, so the first 512-frame (2 MiB) aligned run
        // starts at 2 MiB.
        assert_eq!(a.alloc_contiguous(512, 512), Some(0x200000));
        assert_eq!(a.alloc_contiguous(3, 1), Some(0x1000));
        assert_eq!(a.alloc_contiguous(2, 4), Some(0x4000));
        assert_eq!(a.alloc_contiguous(1, 1), Some(0x6000));
        assert_eq!(a.alloc_contiguous(16, 16), Some(0x10000));
        for frame in (0x200000..0x400000).step_by(4096) {
            assert!(!a.is_free(frame));
        }
        assert_eq!(a.free_frames(), a.total_frames() - 512 - 3 - 2 - 1 - 16);
    }

    #[test]
    fn contiguous_allocation_rejects_bad_requests() {
        let mut a = allocator(&small());
        let free_before = a.free_frames();
        assert_eq!(a.alloc_contiguous(0, 1), None);
        assert_eq!(a.alloc_contiguous(1, 0), None);
        assert_eq!(a.alloc_contiguous(1, 3), None);
        assert_eq!(a.alloc_contiguous(u64::MAX, 1), None);
        assert_eq!(a.alloc_contiguous(1, 1 << 63), None);
        // 256 frames exist after the hole, but not 256 contiguous before it
        // (frame 0 is withheld) and nothing spans the hole.
        assert_eq!(a.alloc_contiguous(0x101, 1), None);
        assert_eq!(a.alloc_contiguous(0x100, 1), Some(0x110000));
        assert_eq!(a.free_frames(), free_before - 0x100);
    }

    #[test]
    fn contiguous_allocation_skips_fragmented_memory() {
        let mut a = allocator(&map(&[(0, 0x100000, RAM)]));
        // Allocate everything, then free every other frame plus one run.
        let frames: Vec<u64> = std::iter::from_fn(|| a.alloc()).collect();
        for &f in frames.iter().step_by(2) {
            a.free(f).unwrap();
        }
        assert_eq!(a.alloc_contiguous(2, 1), None);
        for f in (0x80000..0x84000).step_by(4096) {
            let _ = a.free(f);
        }
        assert_eq!(a.alloc_contiguous(4, 4), Some(0x80000));
    }

    #[test]
    fn memory_above_4gib_is_allocatable() {
        let m = map(&[
            (0, 0x9fc00, RAM),
            (0x100000, 0xbff0_0000, RAM),
            (4 * GIB, 2 * GIB, RAM),
        ]);
        let mut a = allocator(&m);
        assert_eq!(
            a.total_frames(),
            (0x9f000 + 0xbff0_0000 + 2 * GIB) / PAGE_SIZE - 1
        );
        let high = a.alloc_at_or_above(4 * GIB).unwrap();
        assert_eq!(high, 4 * GIB);
        assert_eq!(a.alloc_at_or_above(4 * GIB), Some(4 * GIB + 0x1000));
        // Inside the PCI hole: the next usable frame is at 4 GiB.
        assert_eq!(a.alloc_at_or_above(3 * GIB + 1), Some(4 * GIB + 0x2000));
        assert_eq!(a.alloc_at_or_above(0x1001), Some(0x2000));
        assert_eq!(a.alloc_at_or_above(6 * GIB), None);
        assert_eq!(a.alloc_at_or_above(u64::MAX), None);
        assert_eq!(a.alloc_contiguous(512, 512), Some(0x200000));
        a.free(high).unwrap();
        assert!(a.is_free(high));
    }

    #[test]
    fn withheld_frames_are_never_handed_out_nor_taken_back() {
        let mut a = allocator(&small());
        let total = a.total_frames();
        a.withhold(0x3000).unwrap();
        assert_eq!((a.total_frames(), a.free_frames()), (total - 1, total - 1));
        assert!(a.is_withheld(0x3000) && !a.is_free(0x3000));
        assert_eq!(a.free(0x3000), Err(FrameError::Withheld(0x3000)));
        assert_eq!(a.withhold(0x3000), Err(FrameError::Withheld(0x3000)));
        let mut frames = Vec::new();
        while let Some(frame) = a.alloc() {
            assert_ne!(frame, 0x3000);
            frames.push(frame);
        }
        assert_eq!(frames.len() as u64, total - 1);
        for f in frames {
            a.free(f).unwrap();
        }
        a.release(0x3000).unwrap();
        assert_eq!(a.release(0x3000), Err(FrameError::NotWithheld(0x3000)));
        assert!(a.is_free(0x3000));
        assert_eq!((a.total_frames(), a.free_frames()), (total, total));
    }

    #[test]
    fn only_free_usable_frames_can_be_withheld() {
        let mut a = allocator(&small());
        let used = a.alloc().unwrap();
        let free_before = a.free_frames();
        assert_eq!(a.withhold(used), Err(FrameError::InUse(used)));
        assert_eq!(
            a.withhold(0x104000),
            Err(FrameError::NotAllocatable(0x104000))
        );
        assert_eq!(a.withhold(0), Err(FrameError::NotAllocatable(0)));
        assert_eq!(a.withhold(0x5001), Err(FrameError::Unaligned(0x5001)));
        assert_eq!(a.withhold(0x210000), Err(FrameError::OutOfRange(0x210000)));
        assert_eq!(a.free_frames(), free_before);
        for i in 0..WITHHELD_CAPACITY as u64 {
            a.withhold(0x10000 + i * 0x1000).unwrap();
        }
        assert_eq!(
            a.withhold(0x40000),
            Err(FrameError::TooManyWithheld(0x40000))
        );
        assert!(a.is_free(0x40000));
        assert!(FrameError::InUse(0x7000).to_string().contains("0x7000"));
    }

    #[test]
    fn alloc_keeping_leaves_the_floor_free() {
        let mut a = allocator(&small());
        let total = a.total_frames();
        let mut out = [0u64; 8];
        assert_eq!(a.alloc_keeping(&mut out, total - 3), 3);
        assert_eq!(a.free_frames(), total - 3);
        assert!(out[..3].iter().all(|&f| f != 0 && !a.is_free(f)));
        assert_eq!(a.alloc_keeping(&mut out, total - 3), 0, "at the floor");
        assert_eq!(a.alloc_keeping(&mut out, 0), 8, "at most out.len()");
    }

    #[test]
    fn debug_shows_counts_not_the_bitmap() {
        let a = allocator(&map(&[(0, 0x10000, RAM)]));
        assert_eq!(
            format!("{a:?}"),
            "BitmapFrameAllocator { frame_count: 16, total: 15, free: 15, .. }"
        );
    }
}
