//! A process's address space: its own PML4, whose user slots map the
//! program and its stack (USER pages), and whose kernel half is the
//! kernel's (supervisor-only, copied in by the scheduler at each switch).

use crate::mem::layout::{USER_BASE, USER_END, USER_SLOTS};
use crate::mem::paging::{Flags, MapError, PageSize, PageTables, nx_enabled};
use crate::mem::{PAGE_SIZE, alloc_frame, free_frame};

/// Page permissions of a user mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// The process may write it.
    pub write: bool,
    /// The process may run code from it.
    pub execute: bool,
}

/// A process's page tables and the frames they map.
pub struct AddressSpace {
    tables: PageTables,
    /// Frames mapped for the process (page tables not counted).
    pages: u64,
}

impl AddressSpace {
    /// An empty user half.
    pub fn new() -> Result<Self, MapError> {
        // SAFETY: `alloc_frame` hands out zeroed, identity-mapped frames
        // that nothing else owns.
        let tables = unsafe { PageTables::new(&mut alloc_frame, nx_enabled())? };
        Ok(Self { tables, pages: 0 })
    }

    /// The value for CR3.
    pub fn root(&self) -> u64 {
        self.tables.root()
    }

    /// Frames mapped for the process.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Map a fresh zeroed frame at user page `virt`; returns the frame
    /// (identity-mapped, so the kernel fills it through its own address).
    pub fn map_new(&mut self, virt: u64, access: Access) -> Result<u64, MapError> {
        if !(USER_BASE..USER_END).contains(&virt) {
            return Err(MapError::NonCanonical(virt));
        }
        let frame = alloc_frame().ok_or(MapError::OutOfFrames)?;
        let mut flags = Flags::USER;
        if access.write {
            flags |= Flags::WRITABLE;
        }
        if !access.execute {
            flags |= Flags::NO_EXECUTE;
        }
        match self
            .tables
            .map(virt, frame, PageSize::Small, flags, &mut alloc_frame)
        {
            Ok(()) => {
                self.pages += 1;
                Ok(frame)
            }
            Err(e) => {
                let _ = free_frame(frame);
                Err(e)
            }
        }
    }

    /// The frame and permissions behind user address `virt`, if the
    /// process may touch it at all.
    pub fn lookup(&self, virt: u64) -> Option<(u64, Access)> {
        if !(USER_BASE..USER_END).contains(&virt) {
            return None;
        }
        let (phys, flags) = self.tables.translate(virt)?;
        flags.contains(Flags::USER).then_some((
            phys,
            Access {
                write: flags.contains(Flags::WRITABLE),
                execute: !flags.contains(Flags::NO_EXECUTE),
            },
        ))
    }

    /// Write `bytes` at user address `virt` through the kernel's identity
    /// map of the frames (for building a process before it runs; never
    /// through the user mapping, so SMAP stays closed).
    pub fn fill(&self, mut virt: u64, mut bytes: &[u8]) -> Result<(), MapError> {
        while !bytes.is_empty() {
            let (phys, _) = self.lookup(virt).ok_or(MapError::NotMapped(virt))?;
            let room = (PAGE_SIZE - virt % PAGE_SIZE) as usize;
            let n = room.min(bytes.len());
            // SAFETY: `phys` is a frame this space owns (mapped by
            // `map_new`), identity-mapped writable for the kernel, and the
            // `n` bytes stay inside it.
            unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), phys as *mut u8, n) };
            bytes = &bytes[n..];
            virt += n as u64;
        }
        Ok(())
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        // Never the loaded space: the owner's thread has ended and the
        // scheduler switched away from it before anyone drops this.
        self.tables.clear_slots(USER_SLOTS, &mut |frame| {
            let _ = free_frame(frame);
        });
        let _ = free_frame(self.tables.root());
    }
}
