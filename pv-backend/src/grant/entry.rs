//! Grant table v1 entries (`struct grant_entry_v1`, public/grant_table.h)
//! and the two transitions the granting guest makes on them.
//!
//! An entry is shared with Xen: the guest writes `domid`, `frame` and the
//! type bits of `flags`; Xen sets `GTF_reading`/`GTF_writing` in the same
//! 16-bit `flags` word while the grantee maps the page. So `domid` and
//! `frame` are written through `volatile` pointers, and `flags` is only
//! ever touched atomically: revoking must be one compare-and-exchange on
//! the flags Xen may be changing at that instant (the header's rule, and
//! the lesson of XSA-396: a read, a check and a separate clear let the
//! other end map the page in between).

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU16, Ordering, fence};
use volatile::{VolatilePtr, map_field};

/// `GTF_permit_access`: the grantee may map and access `frame`.
pub const GTF_PERMIT_ACCESS: u16 = 1;
/// `GTF_type_mask`: the entry's type (invalid, permit, transfer, transitive).
pub const GTF_TYPE_MASK: u16 = 3;
/// `GTF_readonly`: read-only mappings only. Written by the guest.
pub const GTF_READONLY: u16 = 1 << 2;
/// `GTF_reading`: mapped for reading by the grantee. Written by Xen.
pub const GTF_READING: u16 = 1 << 3;
/// `GTF_writing`: mapped for writing by the grantee. Written by Xen.
pub const GTF_WRITING: u16 = 1 << 4;

/// `struct grant_entry_v1`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GrantEntryV1 {
    pub flags: u16,
    /// The domain granted access.
    pub domid: u16,
    /// The granted page's guest frame number (a GFN on PVH).
    pub frame: u32,
}
const _: () = assert!(size_of::<GrantEntryV1>() == 8);
const _: () = assert!(core::mem::offset_of!(GrantEntryV1, domid) == 2);
const _: () = assert!(core::mem::offset_of!(GrantEntryV1, frame) == 4);

/// v1 entries in one 4 KiB table frame.
pub const ENTRIES_PER_FRAME: u32 = 4096 / size_of::<GrantEntryV1>() as u32;

/// A 16-bit flags word another party changes concurrently: the real
/// entry's `AtomicU16`, or a host test's stand-in that plays Xen.
pub trait FlagsWord {
    fn load(&self) -> u16;
    /// Replace `current` by `new` if the word still holds `current`;
    /// otherwise return what it holds.
    fn compare_exchange(&self, current: u16, new: u16) -> Result<u16, u16>;
}

impl FlagsWord for AtomicU16 {
    fn load(&self) -> u16 {
        AtomicU16::load(self, Ordering::Acquire)
    }
    fn compare_exchange(&self, current: u16, new: u16) -> Result<u16, u16> {
        AtomicU16::compare_exchange(self, current, new, Ordering::AcqRel, Ordering::Acquire)
    }
}

/// End access to an entry whose flags are `flags`, as the header says for
/// an unused `GTF_permit_access` entry: read the flags; if the grantee
/// still maps the page (`GTF_reading` or `GTF_writing`), refuse; else swap
/// the flags to 0 only if they are still what was read. A change in
/// between (Xen mapping it at that instant) fails the exchange and the
/// check runs again on the new value. `Err(flags)`: still mapped; the
/// entry is left as it was.
pub fn revoke(flags: &impl FlagsWord) -> Result<(), u16> {
    let mut seen = flags.load();
    loop {
        if seen & (GTF_READING | GTF_WRITING) != 0 {
            return Err(seen);
        }
        match flags.compare_exchange(seen, 0) {
            Ok(_) => return Ok(()),
            Err(now) => seen = now,
        }
    }
}

/// The flags a new grant gets.
pub fn permit_flags(readonly: bool) -> u16 {
    GTF_PERMIT_ACCESS | if readonly { GTF_READONLY } else { 0 }
}

/// The entries of a mapped grant table, reached only through volatile
/// pointers and atomics: Xen reads them and writes their flags.
pub struct EntryTable {
    base: NonNull<GrantEntryV1>,
    len: u32,
}

// SAFETY: the table is shared memory reached only through volatile and
// atomic accesses on raw pointers; the grant layer serializes the guest's
// own writers behind one lock.
unsafe impl Send for EntryTable {}

impl EntryTable {
    /// The `len` entries at `base`.
    ///
    /// # Safety
    /// `base` must point to `len` entries of mapped grant table (or of
    /// memory playing one), 8-byte aligned, valid for as long as the table
    /// lives and reached by this program only through it.
    pub unsafe fn new(base: NonNull<GrantEntryV1>, len: u32) -> Self {
        Self { base, len }
    }

    /// How many entries the table holds.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn entry(&self, gref: u32) -> VolatilePtr<'_, GrantEntryV1> {
        assert!(gref < self.len, "grant ref {gref} beyond the table");
        // SAFETY: `gref` < `len`: inside the table the constructor vouched
        // for; the pointer is accessed volatilely only.
        unsafe { VolatilePtr::new(self.base.add(gref as usize)) }
    }

    fn flags(&self, gref: u32) -> &AtomicU16 {
        let entry = self.entry(gref);
        let flags = map_field!(entry.flags).as_raw_ptr();
        // SAFETY: the 2-aligned flags word of an entry inside the table,
        // valid for `&self`'s life and accessed by everyone in this program
        // atomically (never volatilely).
        unsafe { AtomicU16::from_ptr(flags.as_ptr()) }
    }

    /// A snapshot of entry `gref` (flags read atomically).
    pub fn read(&self, gref: u32) -> GrantEntryV1 {
        let entry = self.entry(gref);
        GrantEntryV1 {
            flags: self.flags(gref).load(Ordering::Acquire),
            domid: map_field!(entry.domid).read(),
            frame: map_field!(entry.frame).read(),
        }
    }

    /// Grant `domid` access to `frame` through entry `gref`, which must be
    /// invalid (flags 0): domid and frame first, then a write barrier,
    /// then the flags in one 16-bit store, so that Xen never sees a valid
    /// entry with a stale frame.
    pub fn permit(&self, gref: u32, domid: u16, frame: u32, readonly: bool) {
        let entry = self.entry(gref);
        map_field!(entry.domid).write(domid);
        map_field!(entry.frame).write(frame);
        fence(Ordering::Release);
        self.flags(gref)
            .store(permit_flags(readonly), Ordering::Release);
    }

    /// End access through entry `gref` ([`revoke`]); `Err(flags)` while the
    /// grantee maps the page.
    pub fn revoke(&self, gref: u32) -> Result<(), u16> {
        revoke(self.flags(gref))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use core::cell::Cell;
    use std::boxed::Box;

    /// A leaked table of `n` zeroed entries; the test plays Xen through the
    /// raw pointer.
    fn fake(n: usize) -> (*mut GrantEntryV1, EntryTable) {
        let entries = std::vec![GrantEntryV1::default(); n].into_boxed_slice();
        let base = Box::into_raw(entries).cast::<GrantEntryV1>();
        // SAFETY: the leaked entries live forever.
        (base, unsafe {
            EntryTable::new(NonNull::new(base).unwrap(), n as u32)
        })
    }

    fn xen_sets(base: *mut GrantEntryV1, gref: usize, bits: u16) {
        // SAFETY: inside the test table; the flags word is accessed
        // atomically, as Xen does.
        let flags = unsafe { AtomicU16::from_ptr(&raw mut (*base.add(gref)).flags) };
        flags.fetch_or(bits, Ordering::SeqCst);
    }

    fn xen_clears(base: *mut GrantEntryV1, gref: usize, bits: u16) {
        // SAFETY: as in `xen_sets`.
        let flags = unsafe { AtomicU16::from_ptr(&raw mut (*base.add(gref)).flags) };
        flags.fetch_and(!bits, Ordering::SeqCst);
    }

    #[test]
    fn header_numbers() {
        assert_eq!(ENTRIES_PER_FRAME, 512);
        assert_eq!(
            (GTF_PERMIT_ACCESS, GTF_READONLY, GTF_READING, GTF_WRITING),
            (1, 4, 8, 16)
        );
    }

    #[test]
    fn permit_writes_the_entry_as_xen_reads_it() {
        let (base, table) = fake(16);
        table.permit(9, 0, 0x1234_5678, true);
        // SAFETY: reading the test table as Xen would.
        let raw = unsafe { base.add(9).read() };
        assert_eq!(
            raw,
            GrantEntryV1 {
                flags: GTF_PERMIT_ACCESS | GTF_READONLY,
                domid: 0,
                frame: 0x1234_5678
            }
        );
        table.permit(10, 3, 7, false);
        assert_eq!(table.read(10).flags, GTF_PERMIT_ACCESS);
        assert_eq!(table.read(10).domid, 3);
        // Its neighbours are untouched.
        assert_eq!(table.read(8), GrantEntryV1::default());
        assert_eq!(table.read(11), GrantEntryV1::default());
    }

    #[test]
    fn revoke_clears_an_unmapped_entry_and_refuses_a_mapped_one() {
        let (base, table) = fake(16);
        table.permit(8, 0, 42, true);
        xen_sets(base, 8, GTF_READING);
        let held = GTF_PERMIT_ACCESS | GTF_READONLY | GTF_READING;
        assert_eq!(table.revoke(8), Err(held));
        // Refused: the grant stands as it was.
        assert_eq!(table.read(8).flags, held);
        assert_eq!(table.read(8).frame, 42);
        xen_sets(base, 8, GTF_WRITING);
        assert!(table.revoke(8).is_err());
        xen_clears(base, 8, GTF_READING | GTF_WRITING);
        assert_eq!(table.revoke(8), Ok(()));
        assert_eq!(table.read(8).flags, 0);
    }

    /// A flags word whose first exchange loses a race: Xen maps the page
    /// between the guest's read and its compare-and-exchange.
    struct MappedInBetween {
        flags: Cell<u16>,
        raced: Cell<bool>,
    }

    impl FlagsWord for MappedInBetween {
        fn load(&self) -> u16 {
            self.flags.get()
        }
        fn compare_exchange(&self, current: u16, new: u16) -> Result<u16, u16> {
            if !self.raced.replace(true) {
                self.flags.set(self.flags.get() | GTF_READING);
            }
            if self.flags.get() == current {
                self.flags.set(new);
                Ok(current)
            } else {
                Err(self.flags.get())
            }
        }
    }

    #[test]
    fn a_mapping_that_lands_between_read_and_exchange_is_seen() {
        let word = MappedInBetween {
            flags: Cell::new(GTF_PERMIT_ACCESS),
            raced: Cell::new(false),
        };
        assert_eq!(revoke(&word), Err(GTF_PERMIT_ACCESS | GTF_READING));
        assert_eq!(word.flags.get(), GTF_PERMIT_ACCESS | GTF_READING);
    }

    #[test]
    #[should_panic(expected = "beyond the table")]
    fn refs_beyond_the_table_are_refused() {
        let (_, table) = fake(4);
        table.permit(4, 0, 1, true);
    }
}
