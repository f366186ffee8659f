//! `memory_op`: placing Xen-owned frames (shared_info, grant table) into
//! the guest physical address space, Xen's view of the memory map, and
//! the domain's reservation (ballooning).

pub use crate::abi::E820Entry;
use crate::abi::{self, DOMID_SELF, XenAddToPhysmap, XenMemoryMap, XenMemoryReservation};
use crate::hypercall::{XenError, hypercall2};

/// Map frame `idx` of map space `space` (`XENMAPSPACE_*`) at guest frame
/// `gpfn`. Whatever backed `gpfn` before is released to Xen.
pub fn add_to_physmap(space: u32, idx: u64, gpfn: u64) -> Result<(), XenError> {
    let arg = XenAddToPhysmap {
        domid: DOMID_SELF,
        size: 0,
        space,
        idx,
        gpfn,
    };
    // SAFETY: XENMEM_add_to_physmap reads one `xen_add_to_physmap` from
    // this frame; the caller's choice of gpfn only affects its own memory,
    // which it owns.
    let ret = unsafe {
        hypercall2(
            abi::HYPERVISOR_MEMORY_OP,
            abi::XENMEM_ADD_TO_PHYSMAP,
            &raw const arg as u64,
        )
    };
    XenError::from_ret(ret).map(drop)
}

/// Fill `buf` with the domain's E820 map; returns the number of entries.
/// PVH guests normally use the map in `hvm_start_info`; this is the
/// fallback for a version 0 start info.
pub fn memory_map(buf: &mut [E820Entry]) -> Result<usize, XenError> {
    let mut arg = XenMemoryMap {
        nr_entries: u32::try_from(buf.len()).unwrap_or(u32::MAX),
        _pad: 0,
        buffer: buf.as_mut_ptr() as u64,
    };
    // SAFETY: Xen writes at most `nr_entries` packed 20-byte entries into
    // `buf`, which holds that many, and updates `arg` on this frame.
    let ret = unsafe {
        hypercall2(
            abi::HYPERVISOR_MEMORY_OP,
            abi::XENMEM_MEMORY_MAP,
            &raw mut arg as u64,
        )
    };
    XenError::from_ret(ret)?;
    // Never trust a count larger than the buffer we offered.
    Ok((arg.nr_entries as usize).min(buf.len()))
}

/// A reservation change on `gfns`, one page (order 0) each: `op` is
/// `XENMEM_decrease_reservation` or `XENMEM_populate_physmap`. Returns how
/// many Xen did, always the first ones.
fn reservation_op(op: u64, gfns: &mut [u64]) -> Result<usize, XenError> {
    let mut arg = XenMemoryReservation {
        extent_start: gfns.as_mut_ptr() as u64,
        nr_extents: gfns.len() as u64,
        extent_order: 0,
        mem_flags: 0,
        domid: DOMID_SELF,
    };
    // SAFETY: Xen reads `arg` and at most `nr_extents` GFNs from `gfns`
    // (for a translated guest populate_physmap writes nothing back, and
    // `gfns` is writable anyway). The GFNs only concern this domain's own
    // memory: the caller gives back frames nothing uses, or asks for
    // frames to be backed again; a wrong GFN harms only this domain.
    let ret = unsafe { hypercall2(abi::HYPERVISOR_MEMORY_OP, op, &raw mut arg as u64) };
    // Never more than was asked, whatever Xen says.
    XenError::from_ret(ret).map(|done| (done as usize).min(gfns.len()))
}

/// Give the pages at `gfns` back to Xen (`XENMEM_decrease_reservation`):
/// the domain's count drops by the number returned. The guest must not
/// touch them afterwards. `gfns` is a scratch copy (Xen may read it at
/// any point of the call).
pub fn decrease_reservation(gfns: &mut [u64]) -> Result<usize, XenError> {
    reservation_op(abi::XENMEM_DECREASE_RESERVATION, gfns)
}

/// Back the pages at `gfns` again with fresh memory
/// (`XENMEM_populate_physmap`), up to the domain's maximum.
pub fn populate_physmap(gfns: &mut [u64]) -> Result<usize, XenError> {
    reservation_op(abi::XENMEM_POPULATE_PHYSMAP, gfns)
}

/// The pages Xen counts this domain as holding
/// (`XENMEM_current_reservation`, what `xl list` shows).
pub fn current_reservation() -> Result<u64, XenError> {
    let domid = DOMID_SELF;
    // SAFETY: XENMEM_current_reservation reads one `domid_t` from this
    // frame and writes nothing.
    let ret = unsafe {
        hypercall2(
            abi::HYPERVISOR_MEMORY_OP,
            abi::XENMEM_CURRENT_RESERVATION,
            &raw const domid as u64,
        )
    };
    XenError::from_ret(ret)
}
