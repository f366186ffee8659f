//! `hvm_op`: HVM parameters (where the console and xenstore rings are, how
//! events are delivered) and the per-vCPU event upcall vector.

use crate::abi::{self, DOMID_SELF, XenHvmEvtchnUpcallVector, XenHvmParam};
use crate::hypercall::{XenError, hypercall2};

/// Read `HVM_PARAM_<index>` of this domain.
pub fn get_param(index: u32) -> Result<u64, XenError> {
    let mut arg = XenHvmParam {
        domid: DOMID_SELF,
        _pad: 0,
        index,
        value: 0,
    };
    // SAFETY: HVMOP_get_param reads and writes one `xen_hvm_param` on this
    // frame.
    let ret = unsafe {
        hypercall2(
            abi::HYPERVISOR_HVM_OP,
            abi::HVMOP_GET_PARAM,
            &raw mut arg as u64,
        )
    };
    XenError::from_ret(ret)?;
    Ok(arg.value)
}

/// Set `HVM_PARAM_<index>` of this domain.
pub fn set_param(index: u32, value: u64) -> Result<(), XenError> {
    let arg = XenHvmParam {
        domid: DOMID_SELF,
        _pad: 0,
        index,
        value,
    };
    // SAFETY: HVMOP_set_param reads one `xen_hvm_param` from this frame.
    let ret = unsafe {
        hypercall2(
            abi::HYPERVISOR_HVM_OP,
            abi::HVMOP_SET_PARAM,
            &raw const arg as u64,
        )
    };
    XenError::from_ret(ret).map(drop)
}

/// The `HVM_PARAM_CALLBACK_IRQ` value that delivers events as `vector` on
/// every vCPU, without a local APIC EOI.
pub fn callback_via_vector(vector: u8) -> u64 {
    (abi::HVM_PARAM_CALLBACK_TYPE_VECTOR << abi::HVM_PARAM_CALLBACK_TYPE_SHIFT) | u64::from(vector)
}

/// Deliver `vcpu`'s event upcall as local APIC interrupt `vector` (needs
/// an EOI). Xen refuses vectors below 0x10, and injects one upcall at once.
pub fn set_evtchn_upcall_vector(vcpu: u32, vector: u8) -> Result<(), XenError> {
    let arg = XenHvmEvtchnUpcallVector {
        vcpu,
        vector,
        _pad: [0; 3],
    };
    // SAFETY: the op reads one `xen_hvm_evtchn_upcall_vector` from this
    // frame.
    let ret = unsafe {
        hypercall2(
            abi::HYPERVISOR_HVM_OP,
            abi::HVMOP_SET_EVTCHN_UPCALL_VECTOR,
            &raw const arg as u64,
        )
    };
    XenError::from_ret(ret).map(drop)
}

/// `HVMOP_flush_tlbs`: every vCPU of this domain loses its TLB entries
/// before it next runs guest code. Xen 4.17 (HAP, `hap.c` `flush_tlb`)
/// gives each vCPU a new ASID/VPID and forces an exit on every physical
/// CPU that runs one, so no vCPU is interrupted inside the guest and none
/// runs a handler: the hypervisor's answer to an IPI shootdown. There is no
/// per-page form: the whole TLB goes.
pub fn flush_tlbs() -> Result<(), XenError> {
    // SAFETY: the op takes no argument (a NULL handle) and touches no guest
    // memory.
    let ret = unsafe { hypercall2(abi::HYPERVISOR_HVM_OP, abi::HVMOP_FLUSH_TLBS, 0) };
    XenError::from_ret(ret).map(drop)
}

#[cfg(test)]
mod tests {
    #[test]
    fn callback_vector_encoding() {
        assert_eq!(super::callback_via_vector(0xf3), 0x0200_0000_0000_00f3);
    }
}
