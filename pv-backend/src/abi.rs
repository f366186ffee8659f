//! Xen's public ABI as a 64-bit x86 PVH guest sees it: hypercall numbers,
//! sub-operations and the argument structures, laid out as in
//! `xen/include/public/` (Xen 4.17) and named after it so a reader can grep
//! both. Every structure has a compile-time size check against the header.
//!
//! On x86_64 `xen_ulong_t` and `xen_pfn_t` are 8 bytes and a guest handle is
//! one pointer, passed here as a `u64` guest physical (= virtual) address.

use core::mem::size_of;

/// Hypercall numbers (`__HYPERVISOR_*` in `xen.h`).
pub const HYPERVISOR_MEMORY_OP: u32 = 12;
pub const HYPERVISOR_MULTICALL: u32 = 13;
pub const HYPERVISOR_XEN_VERSION: u32 = 17;
pub const HYPERVISOR_CONSOLE_IO: u32 = 18;
pub const HYPERVISOR_GRANT_TABLE_OP: u32 = 20;
pub const HYPERVISOR_VCPU_OP: u32 = 24;
pub const HYPERVISOR_SCHED_OP: u32 = 29;
pub const HYPERVISOR_EVENT_CHANNEL_OP: u32 = 32;
pub const HYPERVISOR_PHYSDEV_OP: u32 = 33;
pub const HYPERVISOR_HVM_OP: u32 = 34;

/// `xen_version` sub-operations (`version.h`).
pub const XENVER_VERSION: u64 = 0;
pub const XENVER_EXTRAVERSION: u64 = 1;
pub const XENVER_GET_FEATURES: u64 = 6;

/// `XENVER_get_features` bits of submap 0 (`features.h`).
pub const XENFEAT_AUTO_TRANSLATED_PHYSMAP: u32 = 2;
pub const XENFEAT_HVM_CALLBACK_VECTOR: u32 = 8;
pub const XENFEAT_HVM_SAFE_PVCLOCK: u32 = 9;

/// `struct xen_feature_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct XenFeatureInfo {
    pub submap_idx: u32,
    pub submap: u32,
}
const _: () = assert!(size_of::<XenFeatureInfo>() == 8);

/// `sched_op` sub-operations (`sched.h`).
pub const SCHEDOP_YIELD: u64 = 0;
pub const SCHEDOP_BLOCK: u64 = 1;
pub const SCHEDOP_SHUTDOWN: u64 = 2;
pub const SCHEDOP_POLL: u64 = 3;

/// `sched_shutdown.reason` values.
pub const SHUTDOWN_POWEROFF: u32 = 0;
pub const SHUTDOWN_REBOOT: u32 = 1;
pub const SHUTDOWN_SUSPEND: u32 = 2;
pub const SHUTDOWN_CRASH: u32 = 3;
pub const SHUTDOWN_WATCHDOG: u32 = 4;
pub const SHUTDOWN_SOFT_RESET: u32 = 5;

/// `struct sched_shutdown`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SchedShutdown {
    pub reason: u32,
}
const _: () = assert!(size_of::<SchedShutdown>() == 4);

/// `struct sched_poll`: `ports` is a guest handle to an array of ports;
/// `timeout` is absolute Xen system time in ns (0: none).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SchedPoll {
    pub ports: u64,
    pub nr_ports: u32,
    pub _pad: u32,
    pub timeout: u64,
}
const _: () = assert!(size_of::<SchedPoll>() == 24);

/// `memory_op` sub-operations and map spaces (`memory.h`).
pub const XENMEM_DECREASE_RESERVATION: u64 = 1;
pub const XENMEM_CURRENT_RESERVATION: u64 = 3;
pub const XENMEM_POPULATE_PHYSMAP: u64 = 6;
pub const XENMEM_ADD_TO_PHYSMAP: u64 = 7;
pub const XENMEM_MEMORY_MAP: u64 = 9;
pub const XENMEM_REMOVE_FROM_PHYSMAP: u64 = 15;
pub const XENMAPSPACE_SHARED_INFO: u32 = 0;
pub const XENMAPSPACE_GRANT_TABLE: u32 = 1;
pub const XENMAPSPACE_GMFN: u32 = 2;
pub const XENMAPSPACE_GMFN_RANGE: u32 = 3;
/// OR-ed into `idx` to map a grant-table v2 status frame.
pub const XENMAPIDX_GRANT_TABLE_STATUS: u64 = 0x8000_0000;

/// `domid_t` values (`xen.h`).
pub const DOMID_SELF: u16 = 0x7FF0;
pub const DOMID_INVALID: u16 = 0x7FF4;

/// `struct xen_add_to_physmap`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct XenAddToPhysmap {
    pub domid: u16,
    /// Only for `XENMAPSPACE_gmfn_range`.
    pub size: u16,
    pub space: u32,
    pub idx: u64,
    pub gpfn: u64,
}
const _: () = assert!(size_of::<XenAddToPhysmap>() == 24);

/// `struct xen_memory_reservation`: `extent_start` is a guest handle to
/// an array of `xen_pfn_t` (GFNs for a translated guest), `mem_flags`
/// holds `XENMEMF_*` (0: any node, no address limit).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct XenMemoryReservation {
    pub extent_start: u64,
    pub nr_extents: u64,
    pub extent_order: u32,
    pub mem_flags: u32,
    pub domid: u16,
}
const _: () = assert!(size_of::<XenMemoryReservation>() == 32);
const _: () = assert!(core::mem::offset_of!(XenMemoryReservation, domid) == 24);

/// `struct xen_memory_map`: `nr_entries` is the capacity in, the count out.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct XenMemoryMap {
    pub nr_entries: u32,
    pub _pad: u32,
    pub buffer: u64,
}
const _: () = assert!(size_of::<XenMemoryMap>() == 16);

/// A BIOS E820 entry as `XENMEM_memory_map` writes it (`hvm/e820.h`):
/// packed to 20 bytes, unlike `hvm_memmap_table_entry`.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug, Default)]
pub struct E820Entry {
    pub addr: u64,
    pub size: u64,
    /// `type` in the header: 1 RAM, 2 reserved, 3 ACPI, 4 NVS.
    pub kind: u32,
}
const _: () = assert!(size_of::<E820Entry>() == 20);

impl E820Entry {
    /// Start address (copied out: fields of a packed struct cannot be
    /// borrowed).
    pub fn addr(&self) -> u64 {
        self.addr
    }
    /// Length in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// E820 type.
    pub fn kind(&self) -> u32 {
        self.kind
    }
}

/// `hvm_op` sub-operations (`hvm_op.h`).
pub const HVMOP_SET_PARAM: u64 = 0;
pub const HVMOP_GET_PARAM: u64 = 1;
/// `HVMOP_flush_tlbs` (hvm_op.h): flushes every vCPU's TLB; the argument
/// must be NULL.
pub const HVMOP_FLUSH_TLBS: u64 = 5;
pub const HVMOP_SET_EVTCHN_UPCALL_VECTOR: u64 = 23;

/// `HVM_PARAM_*` indices (`params.h`).
pub const HVM_PARAM_CALLBACK_IRQ: u32 = 0;
pub const HVM_PARAM_STORE_PFN: u32 = 1;
pub const HVM_PARAM_STORE_EVTCHN: u32 = 2;
pub const HVM_PARAM_CONSOLE_PFN: u32 = 17;
pub const HVM_PARAM_CONSOLE_EVTCHN: u32 = 18;
/// `HVM_PARAM_CALLBACK_IRQ` type field (`val[63:56]`): deliver as a vector.
pub const HVM_PARAM_CALLBACK_TYPE_VECTOR: u64 = 2;
pub const HVM_PARAM_CALLBACK_TYPE_SHIFT: u32 = 56;

/// `struct xen_hvm_param`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct XenHvmParam {
    pub domid: u16,
    pub _pad: u16,
    pub index: u32,
    pub value: u64,
}
const _: () = assert!(size_of::<XenHvmParam>() == 16);

/// `struct xen_hvm_evtchn_upcall_vector`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct XenHvmEvtchnUpcallVector {
    pub vcpu: u32,
    pub vector: u8,
    pub _pad: [u8; 3],
}
const _: () = assert!(size_of::<XenHvmEvtchnUpcallVector>() == 8);

/// `event_channel_op` sub-operations (`event_channel.h`).
pub const EVTCHNOP_BIND_INTERDOMAIN: u64 = 0;
pub const EVTCHNOP_BIND_VIRQ: u64 = 1;
pub const EVTCHNOP_CLOSE: u64 = 3;
pub const EVTCHNOP_SEND: u64 = 4;
pub const EVTCHNOP_STATUS: u64 = 5;
pub const EVTCHNOP_ALLOC_UNBOUND: u64 = 6;
pub const EVTCHNOP_BIND_IPI: u64 = 7;
pub const EVTCHNOP_BIND_VCPU: u64 = 8;
pub const EVTCHNOP_UNMASK: u64 = 9;
/// Ports of the 2-level ABI: 64 words of 64 bits.
pub const EVTCHN_2L_NR_CHANNELS: u32 = 4096;

/// `struct evtchn_alloc_unbound`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EvtchnAllocUnbound {
    pub dom: u16,
    pub remote_dom: u16,
    pub port: u32,
}
const _: () = assert!(size_of::<EvtchnAllocUnbound>() == 8);

/// `struct evtchn_bind_interdomain`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EvtchnBindInterdomain {
    pub remote_dom: u16,
    pub _pad: u16,
    pub remote_port: u32,
    pub local_port: u32,
}
const _: () = assert!(size_of::<EvtchnBindInterdomain>() == 12);

/// `struct evtchn_bind_virq`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EvtchnBindVirq {
    pub virq: u32,
    pub vcpu: u32,
    pub port: u32,
}
const _: () = assert!(size_of::<EvtchnBindVirq>() == 12);

/// `struct evtchn_bind_ipi`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EvtchnBindIpi {
    pub vcpu: u32,
    pub port: u32,
}
const _: () = assert!(size_of::<EvtchnBindIpi>() == 8);

/// `struct evtchn_close`, `evtchn_send` and `evtchn_unmask` (one port).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EvtchnPort {
    pub port: u32,
}
const _: () = assert!(size_of::<EvtchnPort>() == 4);

/// `VIRQ_*` (`xen.h`). TIMER, DEBUG, XENOPROF and XENPMU are per vCPU.
pub const VIRQ_TIMER: u32 = 0;
pub const VIRQ_DEBUG: u32 = 1;
pub const VIRQ_CONSOLE: u32 = 2;
pub const VIRQ_DOM_EXC: u32 = 3;

/// `vcpu_op` sub-operations (`vcpu.h`).
pub const VCPUOP_SET_PERIODIC_TIMER: u64 = 6;
pub const VCPUOP_STOP_PERIODIC_TIMER: u64 = 7;
pub const VCPUOP_SET_SINGLESHOT_TIMER: u64 = 8;
pub const VCPUOP_STOP_SINGLESHOT_TIMER: u64 = 9;
/// Fail with `-ETIME` instead of firing when the deadline has passed.
/// Deliberately unused: see `vcpu::set_singleshot_timer`.
pub const VCPU_SSHOTTMR_FUTURE: u32 = 1 << 0;

/// `struct vcpu_set_singleshot_timer`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct VcpuSetSingleshotTimer {
    pub timeout_abs_ns: u64,
    pub flags: u32,
    pub _pad: u32,
}
const _: () = assert!(size_of::<VcpuSetSingleshotTimer>() == 16);

/// `struct vcpu_time_info`: the pvclock parameters Xen publishes per vCPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VcpuTimeInfo {
    /// Odd while Xen updates the record (seqlock).
    pub version: u32,
    pub _pad0: u32,
    pub tsc_timestamp: u64,
    /// Xen system time (ns since boot) at `tsc_timestamp`.
    pub system_time: u64,
    pub tsc_to_system_mul: u32,
    pub tsc_shift: i8,
    pub flags: u8,
    pub _pad1: u16,
}
const _: () = assert!(size_of::<VcpuTimeInfo>() == 32);
pub const XEN_PVCLOCK_TSC_STABLE_BIT: u8 = 1 << 0;

/// `struct vcpu_info` (x86_64).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct VcpuInfo {
    pub evtchn_upcall_pending: u8,
    pub evtchn_upcall_mask: u8,
    pub _pad: [u8; 6],
    pub evtchn_pending_sel: u64,
    pub arch_cr2: u64,
    pub arch_pad: u64,
    pub time: VcpuTimeInfo,
}
const _: () = assert!(size_of::<VcpuInfo>() == 64);

/// Offsets into `struct shared_info` (x86_64). The header warns against
/// relying on its total size, so only offsets are given.
pub mod shared_info_off {
    /// `vcpu_info[XEN_LEGACY_MAX_VCPUS]`, 64 bytes each.
    pub const VCPU_INFO: usize = 0x000;
    pub const LEGACY_MAX_VCPUS: usize = 32;
    /// `evtchn_pending[64]` (u64 words).
    pub const EVTCHN_PENDING: usize = 0x800;
    /// `evtchn_mask[64]` (u64 words).
    pub const EVTCHN_MASK: usize = 0xA00;
    pub const WC_VERSION: usize = 0xC00;
    pub const WC_SEC: usize = 0xC04;
    pub const WC_NSEC: usize = 0xC08;
    pub const WC_SEC_HI: usize = 0xC0C;
    /// Offsets inside one `vcpu_info`.
    pub const VI_UPCALL_PENDING: usize = 0;
    pub const VI_PENDING_SEL: usize = 8;
    pub const VI_TIME: usize = 32;
}

/// `struct xencons_interface` (`io/console.h`). Indices are free-running;
/// `MASK_XENCONS_IDX` takes them modulo the ring size.
#[repr(C)]
pub struct XenconsInterface {
    pub input: [u8; XENCONS_IN_SIZE],
    pub output: [u8; XENCONS_OUT_SIZE],
    pub in_cons: u32,
    pub in_prod: u32,
    pub out_cons: u32,
    pub out_prod: u32,
}
const _: () = assert!(size_of::<XenconsInterface>() == 3088);
pub const XENCONS_IN_SIZE: usize = 1024;
pub const XENCONS_OUT_SIZE: usize = 2048;

/// `struct multicall_entry`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MulticallEntry {
    pub op: u64,
    pub result: u64,
    pub args: [u64; 6],
}
const _: () = assert!(size_of::<MulticallEntry>() == 64);

/// CPUID leaves (`arch-x86/cpuid.h`), relative to the base found by scanning.
pub const XEN_CPUID_SIGNATURE: [u32; 3] = [0x566e_6558, 0x6558_4d4d, 0x4d4d_566e];
pub const XEN_CPUID_FIRST_BASE: u32 = 0x4000_0000;
pub const XEN_CPUID_LAST_BASE: u32 = 0x4001_0000;
/// Leaf base+4 EAX: the vCPU id is in EBX.
pub const XEN_HVM_CPUID_VCPU_ID_PRESENT: u32 = 1 << 3;
/// Leaf base+4 EAX: `HVMOP_set_evtchn_upcall_vector` is available.
pub const XEN_HVM_CPUID_UPCALL_VECTOR: u32 = 1 << 6;

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::offset_of;

    #[test]
    fn offsets_match_the_headers() {
        assert_eq!(offset_of!(VcpuInfo, evtchn_pending_sel), 8);
        assert_eq!(offset_of!(VcpuInfo, time), shared_info_off::VI_TIME);
        assert_eq!(offset_of!(VcpuTimeInfo, tsc_to_system_mul), 24);
        assert_eq!(offset_of!(VcpuTimeInfo, tsc_shift), 28);
        assert_eq!(offset_of!(XenconsInterface, in_cons), 0xC00);
        assert_eq!(offset_of!(XenconsInterface, out_prod), 3084);
        assert_eq!(offset_of!(SchedPoll, timeout), 16);
        assert_eq!(offset_of!(XenAddToPhysmap, idx), 8);
        assert_eq!(offset_of!(EvtchnBindInterdomain, local_port), 8);
        assert_eq!(offset_of!(XenHvmParam, value), 8);
    }
}
