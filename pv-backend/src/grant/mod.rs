//! Grant tables, version 1: how this domain lets another one (dom0's
//! backends) map one of its pages.
//!
//! [`entry`] is the entry layout and the two transitions on it (grant:
//! domid, frame, barrier, flags; end: one compare-and-exchange on the
//! flags, refused while the other end maps the page), [`refs`] the free
//! list of references; both are pure and tested on the host against a
//! fake table. `table` maps the table's frame into the guest and keeps the
//! one instance; `kernel_tests` proves it against dom0.
//!
//! Where the table's frame goes: a frame taken from the kernel's frame
//! allocator and registered with `mem::reserve_shared` (withheld from the
//! allocator for good), then handed to `XENMEM_add_to_physmap`
//! (`XENMAPSPACE_grant_table`). A PVH guest's memory map has no gap that
//! is known to be free (Xen's special pages and ACPI tables sit in the
//! reserved ranges, and what is not in the map may be anything), while a
//! frame the allocator gives up is known to be used by nothing else. The
//! price: Xen frees the RAM page that backed that frame, so the domain
//! runs with one page less. Linux avoids that with a ballooned-out frame;
//! Virtus has no balloon driver yet.

pub mod entry;
pub mod refs;
pub mod sha256;
pub mod table_op;

#[cfg(target_os = "none")]
pub mod kernel_tests;
#[cfg(target_os = "none")]
mod table;

use core::fmt;

pub use entry::GrantEntryV1;
pub use refs::{GrantRef, NR_RESERVED_ENTRIES, RefError};
#[cfg(target_os = "none")]
pub use table::{TableInfo, end_access, entry, grant_access, info, resume_in_new_domain};

/// Why a grant operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantError {
    /// `GNTTABOP_query_size` failed.
    Query(table_op::OpError),
    /// Xen says the table may have no frame at all.
    NoFrames,
    /// No frame could be taken from the allocator for the table.
    NoMemory,
    /// The frame chosen for the table cannot be shared.
    Frame(virtus_kernel::mem::SharedFrameError),
    /// `XENMEM_add_to_physmap` refused to place table frame `idx`.
    Physmap {
        idx: u32,
        error: crate::hypercall::XenError,
    },
    /// A v1 entry holds a 32-bit frame number; this page lies above.
    FrameTooHigh(u64),
    /// The reference cannot be taken or given back.
    Ref(RefError),
    /// The other end still maps the page (`GTF_reading`/`GTF_writing` in
    /// `flags`): access was not ended and the reference stays granted.
    InUse { gref: GrantRef, flags: u16 },
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Query(e) => write!(f, "GNTTABOP_query_size: {e}"),
            Self::NoFrames => f.write_str("Xen allows this domain no grant table frame"),
            Self::NoMemory => f.write_str("no free frame for the grant table"),
            Self::Frame(e) => write!(f, "grant table frame: {e}"),
            Self::Physmap { idx, error } => {
                write!(f, "XENMEM_add_to_physmap of grant frame {idx}: {error}")
            }
            Self::FrameTooHigh(gfn) => write!(
                f,
                "frame {gfn:#x} is above what a v1 grant entry can hold (32 bits)"
            ),
            Self::Ref(e) => e.fmt(f),
            Self::InUse { gref, flags } => write!(
                f,
                "grant ref {gref} is still mapped by the other end (flags {flags:#06x}); \
                 access not ended, the ref stays granted"
            ),
        }
    }
}

impl From<RefError> for GrantError {
    fn from(e: RefError) -> Self {
        Self::Ref(e)
    }
}
