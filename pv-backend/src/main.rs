//! The `virtus-pv` image: a PVH domU. Xen's PVH entry lands here, in long
//! mode, through the same entry code as the native image.

#![no_std]
#![no_main]

/// Called by the kernel's PVH entry code with `hvm_start_info`'s address.
#[unsafe(no_mangle)]
extern "C" fn virtus_backend_entry(start_info_paddr: u64) -> ! {
    virtus_pv::boot(start_info_paddr)
}
