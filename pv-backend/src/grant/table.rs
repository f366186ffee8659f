//! The domain's grant table in the kernel: its frame placed in the guest's
//! physical memory, the entries over it and the free list, behind one lock.

use alloc::vec::Vec;
use core::ptr::NonNull;

use super::GrantError;
use super::entry::{ENTRIES_PER_FRAME, EntryTable, GrantEntryV1};
use super::refs::{FreeList, GrantRef};
use super::table_op::{self, TableSize};
use crate::abi::XENMAPSPACE_GRANT_TABLE;
use virtus_kernel::arch::irq::without_interrupts;
use virtus_kernel::mem;

/// Table frames mapped. One frame is 512 entries, 504 of them ours: more
/// than Virtus grants at once today. More frames would need contiguous
/// guest-virtual space for them (the allocator's frames are not
/// contiguous), so this stays one until a driver needs more.
const FRAMES_USED: u32 = 1;

struct GrantTable {
    entries: EntryTable,
    refs: FreeList,
    size: TableSize,
    /// Guest addresses of the mapped table frames, by index.
    frames: Vec<u64>,
}

static TABLE: spin::Mutex<Option<GrantTable>> = spin::Mutex::new(None);

/// What the table looks like, for tests and `info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableInfo {
    /// What `GNTTABOP_query_size` said at mapping time.
    pub size: TableSize,
    /// Guest addresses of the table frames this kernel mapped.
    pub frames: Vec<u64>,
    pub entries: u32,
    pub free: u32,
}

/// A frame for the table: taken from the allocator and registered as
/// shared in one step with interrupts off, so nothing can allocate it in
/// between.
fn take_frame() -> Result<u64, GrantError> {
    without_interrupts(|| {
        let frame = mem::alloc_frame().ok_or(GrantError::NoMemory)?;
        mem::free_frame(frame).map_err(|_| GrantError::NoMemory)?;
        mem::reserve_shared(frame).map_err(GrantError::Frame)?;
        Ok(frame)
    })
}

impl GrantTable {
    fn map() -> Result<Self, GrantError> {
        let size = table_op::query_size().map_err(GrantError::Query)?;
        let nr = FRAMES_USED.min(size.max_nr_frames);
        if nr == 0 {
            return Err(GrantError::NoFrames);
        }
        let mut frames = Vec::new();
        // Highest index first: a mapping beyond the current size grows
        // the table, once, to that size.
        for idx in (0..nr).rev() {
            let frame = take_frame()?;
            if let Err(error) =
                crate::memory::add_to_physmap(XENMAPSPACE_GRANT_TABLE, idx.into(), frame >> 12)
            {
                // Xen did not touch the frame: the RAM is still there.
                let _ = mem::release_shared(frame);
                return Err(GrantError::Physmap { idx, error });
            }
            frames.insert(0, frame);
        }
        let base = NonNull::new(frames[0] as *mut GrantEntryV1).ok_or(GrantError::NoMemory)?;
        let len = nr * ENTRIES_PER_FRAME;
        log::info!(
            "grant table: v1, {nr} of {} frames (now {}) at {:#x}, {len} entries",
            size.max_nr_frames,
            size.nr_frames,
            frames[0]
        );
        Ok(Self {
            // SAFETY: frame 0 of the table is mapped at `base` (an
            // identity-mapped, shared-registered frame that stays mapped for
            // good); with FRAMES_USED = 1 `len` entries are inside it, and
            // only this table reaches them.
            entries: unsafe { EntryTable::new(base, len) },
            refs: FreeList::new(len),
            size,
            frames,
        })
    }
}

/// Runs `f` on the table, mapping it on first use.
fn with_table<T>(
    f: impl FnOnce(&mut GrantTable) -> Result<T, GrantError>,
) -> Result<T, GrantError> {
    without_interrupts(|| {
        let mut table = TABLE.lock();
        if table.is_none() {
            *table = Some(GrantTable::map()?);
        }
        f(table.as_mut().expect("mapped above"))
    })
}

/// After a restore into a new domain: Xen built the domain a fresh table
/// (only the toolstack's entries 0 and 1 set), and our frames hold a stale
/// copy of the old one. Map the new table's frames where the old ones were.
/// Every grant made before is void: its owner (a frontend) grants again when
/// it reconnects, and ending an old reference finds an unused entry, which
/// succeeds. Nothing to do if the table was never mapped.
pub fn resume_in_new_domain() -> Result<(), GrantError> {
    without_interrupts(|| {
        let mut table = TABLE.lock();
        let Some(table) = table.as_mut() else {
            return Ok(());
        };
        for (idx, &frame) in table.frames.iter().enumerate().rev() {
            let idx = idx as u32;
            crate::memory::add_to_physmap(XENMAPSPACE_GRANT_TABLE, idx.into(), frame >> 12)
                .map_err(|error| GrantError::Physmap { idx, error })?;
        }
        Ok(())
    })
}

/// Let `domid` map the page at guest address `page` (read-only if
/// `readonly`); returns the reference to tell it.
pub fn grant_access(domid: u16, page: u64, readonly: bool) -> Result<GrantRef, GrantError> {
    let frame = u32::try_from(page >> 12).map_err(|_| GrantError::FrameTooHigh(page >> 12))?;
    with_table(|t| {
        let gref = t.refs.take()?;
        t.entries.permit(gref, domid, frame, readonly);
        Ok(gref)
    })
}

/// End the access granted through `gref` and free the reference. Refused
/// ([`GrantError::InUse`]) while the other end maps the page: the grant
/// then stands and the caller must not reuse the page.
pub fn end_access(gref: GrantRef) -> Result<(), GrantError> {
    with_table(|t| {
        t.refs.check_granted(gref)?;
        t.entries
            .revoke(gref)
            .map_err(|flags| GrantError::InUse { gref, flags })?;
        t.refs.give_back(gref)?;
        Ok(())
    })
}

/// A snapshot of entry `gref`, reserved ones included.
pub fn entry(gref: GrantRef) -> Result<GrantEntryV1, GrantError> {
    with_table(|t| {
        if gref >= t.entries.len() {
            return Err(super::RefError::OutOfRange {
                gref,
                entries: t.entries.len(),
            }
            .into());
        }
        Ok(t.entries.read(gref))
    })
}

/// The table's shape, mapping it if need be.
pub fn info() -> Result<TableInfo, GrantError> {
    with_table(|t| {
        Ok(TableInfo {
            size: t.size,
            frames: t.frames.clone(),
            entries: t.entries.len(),
            free: t.refs.free(),
        })
    })
}
