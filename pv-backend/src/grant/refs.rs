//! Which grant references are free: a free list over the table's entries
//! that never hands out the ones the toolstack reserves.
//!
//! The first `GNTTAB_NR_RESERVED_ENTRIES` (8) refs belong to the toolstack:
//! it seeds ref 0 with the console ring and ref 1 with the xenstore ring
//! (xenstored maps the store through ref 1), and seeds them again on
//! restore. The guest must neither hand them out nor clear them.

use alloc::vec::Vec;
use core::fmt;

/// `GNTTAB_NR_RESERVED_ENTRIES`.
pub const NR_RESERVED_ENTRIES: u32 = 8;

/// A grant reference (`grant_ref_t`): an index into the grant table.
pub type GrantRef = u32;

/// Why a reference cannot be taken or given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefError {
    /// Every usable entry is granted (`usable` of them).
    Exhausted { usable: u32 },
    /// One of the toolstack's refs.
    Reserved(GrantRef),
    /// Not an entry of the table (of `entries`).
    OutOfRange { gref: GrantRef, entries: u32 },
    /// The ref is not granted.
    NotGranted(GrantRef),
}

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Exhausted { usable } => write!(
                f,
                "no free grant reference: all {usable} usable entries are granted"
            ),
            Self::Reserved(r) => write!(
                f,
                "grant ref {r} is reserved for the toolstack (refs 0-{})",
                NR_RESERVED_ENTRIES - 1
            ),
            Self::OutOfRange { gref, entries } => {
                write!(
                    f,
                    "grant ref {gref} is beyond the table's {entries} entries"
                )
            }
            Self::NotGranted(r) => write!(f, "grant ref {r} is not granted"),
        }
    }
}

/// The free references of a table of `entries` entries.
pub struct FreeList {
    /// Free refs, the next to hand out last: a ref given back is the first
    /// to be reused, which keeps the set of entries in use small.
    free: Vec<GrantRef>,
    granted: Vec<bool>,
}

impl FreeList {
    /// All refs from [`NR_RESERVED_ENTRIES`] to `entries` free.
    pub fn new(entries: u32) -> Self {
        Self {
            free: (NR_RESERVED_ENTRIES..entries).rev().collect(),
            granted: alloc::vec![false; entries as usize],
        }
    }

    /// Entries in the table, reserved ones included.
    pub fn entries(&self) -> u32 {
        self.granted.len() as u32
    }

    /// Refs that can be handed out in all.
    pub fn usable(&self) -> u32 {
        self.entries().saturating_sub(NR_RESERVED_ENTRIES)
    }

    /// Refs free now.
    pub fn free(&self) -> u32 {
        self.free.len() as u32
    }

    /// Take a free ref.
    pub fn take(&mut self) -> Result<GrantRef, RefError> {
        let gref = self.free.pop().ok_or(RefError::Exhausted {
            usable: self.usable(),
        })?;
        self.granted[gref as usize] = true;
        Ok(gref)
    }

    /// Whether `gref` may be given back: one of ours, and granted.
    pub fn check_granted(&self, gref: GrantRef) -> Result<(), RefError> {
        if gref >= self.entries() {
            return Err(RefError::OutOfRange {
                gref,
                entries: self.entries(),
            });
        }
        if gref < NR_RESERVED_ENTRIES {
            return Err(RefError::Reserved(gref));
        }
        if !self.granted[gref as usize] {
            return Err(RefError::NotGranted(gref));
        }
        Ok(())
    }

    /// Give `gref` back; its entry must already be invalid.
    pub fn give_back(&mut self, gref: GrantRef) -> Result<(), RefError> {
        self.check_granted(gref)?;
        self.granted[gref as usize] = false;
        self.free.push(gref);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_hands_out_the_reserved_refs_and_ends_with_an_error() {
        let mut list = FreeList::new(32);
        assert_eq!(list.usable(), 24);
        let mut taken = Vec::new();
        while let Ok(r) = list.take() {
            taken.push(r);
        }
        assert_eq!(taken, (8..32).collect::<Vec<_>>());
        assert_eq!(list.take(), Err(RefError::Exhausted { usable: 24 }));
        assert_eq!(
            RefError::Exhausted { usable: 24 }.to_string(),
            "no free grant reference: all 24 usable entries are granted"
        );
        list.give_back(17).unwrap();
        assert_eq!(list.take(), Ok(17));
    }

    #[test]
    fn a_ref_given_back_is_the_next_one_taken() {
        let mut list = FreeList::new(512);
        let a = list.take().unwrap();
        let b = list.take().unwrap();
        assert_eq!((a, b), (8, 9));
        list.give_back(a).unwrap();
        assert_eq!(list.take(), Ok(a));
        assert_eq!(list.free(), 512 - 8 - 2);
    }

    #[test]
    fn only_granted_refs_of_ours_can_be_given_back() {
        let mut list = FreeList::new(16);
        assert_eq!(list.give_back(1), Err(RefError::Reserved(1)));
        assert_eq!(
            list.give_back(16),
            Err(RefError::OutOfRange {
                gref: 16,
                entries: 16
            })
        );
        assert_eq!(list.give_back(9), Err(RefError::NotGranted(9)));
        let r = list.take().unwrap();
        list.give_back(r).unwrap();
        assert_eq!(list.give_back(r), Err(RefError::NotGranted(r)));
        assert_eq!(list.free(), 8);
    }

    #[test]
    fn a_table_no_larger_than_the_reserved_refs_has_none_to_give() {
        let mut list = FreeList::new(8);
        assert_eq!(list.take(), Err(RefError::Exhausted { usable: 0 }));
        let mut list = FreeList::new(0);
        assert_eq!(list.take(), Err(RefError::Exhausted { usable: 0 }));
    }
}
