//! `memory_op`: placing Xen-owned frames (shared_info, grant table) into
//! the guest physical address space, and Xen's view of the memory map.

pub use crate::abi::E820Entry;
use crate::abi::{self, DOMID_SELF, XenAddToPhysmap, XenMemoryMap};
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
