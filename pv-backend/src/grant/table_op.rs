//! `grant_table_op` (hypercall 20): the one operation the granting side
//! needs, `GNTTABOP_query_size`. Layouts from public/grant_table.h.

use crate::hypercall::XenError;

/// `GNTTABOP_query_size`.
pub const GNTTABOP_QUERY_SIZE: u64 = 6;

/// `struct gnttab_query_size`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GnttabQuerySize {
    /// IN: `domid_t dom`.
    pub dom: u16,
    /// OUT: frames the table has now.
    pub nr_frames: u32,
    /// OUT: frames it may grow to.
    pub max_nr_frames: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
}
const _: () = assert!(size_of::<GnttabQuerySize>() == 16);
const _: () = assert!(core::mem::offset_of!(GnttabQuerySize, nr_frames) == 4);
const _: () = assert!(core::mem::offset_of!(GnttabQuerySize, status) == 12);

/// The table's size in frames: `(now, most)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableSize {
    pub nr_frames: u32,
    pub max_nr_frames: u32,
}

/// Why a grant-table operation failed: the hypercall itself, or the
/// operation's own `GNTST_*` status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpError {
    Xen(XenError),
    Status(i16),
}

impl core::fmt::Display for OpError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Xen(e) => write!(f, "grant_table_op: {e}"),
            Self::Status(s) => write!(f, "grant_table_op status GNTST {s}"),
        }
    }
}

/// Ask Xen how large this domain's grant table is and may become.
#[cfg(target_os = "none")]
pub fn query_size() -> Result<TableSize, OpError> {
    let mut arg = GnttabQuerySize {
        dom: crate::abi::DOMID_SELF,
        ..Default::default()
    };
    // SAFETY: GNTTABOP_query_size with count 1 reads and writes one
    // `gnttab_query_size` on this frame.
    let ret = unsafe {
        crate::hypercall::hypercall3(
            crate::abi::HYPERVISOR_GRANT_TABLE_OP,
            GNTTABOP_QUERY_SIZE,
            &raw mut arg as u64,
            1,
        )
    };
    XenError::from_ret(ret).map_err(OpError::Xen)?;
    if arg.status != 0 {
        return Err(OpError::Status(arg.status));
    }
    Ok(TableSize {
        nr_frames: arg.nr_frames,
        max_nr_frames: arg.max_nr_frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::DOMID_SELF;

    #[test]
    fn the_request_asks_about_ourselves() {
        let arg = GnttabQuerySize {
            dom: DOMID_SELF,
            ..Default::default()
        };
        assert_eq!(arg.dom, 0x7ff0);
        assert_eq!(
            OpError::Status(-3).to_string(),
            "grant_table_op status GNTST -3"
        );
    }
}
