//! Finding Xen and calling it: CPUID detection, the raw hypercall
//! primitives (one `asm!` site per arity) and Xen's error numbers.
//!
//! Hypercalls are issued with the `vmcall` (Intel) or `vmmcall` (AMD)
//! instruction directly instead of through the hypercall page. The page
//! would add a `call` between the caller's instructions and the trap, and a
//! caller that needs an instruction to be *immediately* followed by the
//! trap (`sti` then block, inside STI's one-instruction interrupt shadow)
//! cannot get that through a call. Direct instructions also need no
//! executable page written by Xen, and no MSR write before the first call.

use crate::abi;
use core::arch::asm;
use core::arch::x86_64::__cpuid;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

/// What CPUID and `xen_version` say about the hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenInfo {
    /// The CPUID leaf holding the "XenVMMXenVMM" signature.
    pub cpuid_base: u32,
    pub major: u16,
    pub minor: u16,
    /// AMD (or Hygon) CPU: hypercalls use `vmmcall`.
    pub amd: bool,
    /// `XENVER_get_features` submap 0 (`XENFEAT_*` bits).
    pub features: u32,
    /// CPUID base+4 EAX bit 6: `HVMOP_set_evtchn_upcall_vector` works.
    pub upcall_vector_supported: bool,
    /// This vCPU's Xen id (CPUID base+4 EBX when published, else 0).
    pub vcpu_id: u32,
}

impl XenInfo {
    /// Whether `XENFEAT_<bit>` is set in submap 0.
    pub fn has_feature(&self, bit: u32) -> bool {
        bit < 32 && self.features & (1 << bit) != 0
    }
}

static INFO: spin::Once<XenInfo> = spin::Once::new();
/// Selects `vmmcall` over `vmcall`; set by [`detect`] before any hypercall.
static USE_VMMCALL: AtomicBool = AtomicBool::new(false);

/// Whether hypercalls use `vmmcall` (AMD) rather than `vmcall` (Intel).
pub fn uses_vmmcall() -> bool {
    USE_VMMCALL.load(Ordering::Relaxed)
}

/// Look for Xen in the hypervisor CPUID range (a Viridian-enabled domain
/// moves Xen's leaves up by 0x100) and record what it offers. Returns
/// `None` on bare metal or under another hypervisor. Must run before any
/// other function of this crate issues a hypercall.
pub fn detect() -> Option<XenInfo> {
    if let Some(info) = INFO.get() {
        return Some(*info);
    }
    let base = (abi::XEN_CPUID_FIRST_BASE..abi::XEN_CPUID_LAST_BASE)
        .step_by(0x100)
        .find(|&leaf| {
            let r = __cpuid(leaf);
            [r.ebx, r.ecx, r.edx] == abi::XEN_CPUID_SIGNATURE && r.eax >= leaf + 2
        })?;
    let vendor = __cpuid(0);
    let vendor = [vendor.ebx, vendor.edx, vendor.ecx];
    // "AuthenticAMD" and "HygonGenuine" (an AMD derivative with SVM).
    let amd = vendor == [0x6874_7541, 0x6974_6e65, 0x444d_4163]
        || vendor == [0x6f67_7948, 0x6e65_476e, 0x656e_6975];
    USE_VMMCALL.store(amd, Ordering::Relaxed);

    let version = __cpuid(base + 1).eax;
    // Leaf base+4 (HVM features) exists on every Xen that runs PVH guests;
    // check anyway rather than read another leaf's registers.
    let (hvm_features, hvm_vcpu) = if __cpuid(base).eax >= base + 4 {
        let r = __cpuid(base + 4);
        (r.eax, r.ebx)
    } else {
        (0, 0)
    };
    let mut feature_info = abi::XenFeatureInfo {
        submap_idx: 0,
        submap: 0,
    };
    // SAFETY: XENVER_get_features writes one `xen_feature_info`, which
    // lives on this stack frame for the whole call.
    let ret = unsafe {
        hypercall2(
            abi::HYPERVISOR_XEN_VERSION,
            abi::XENVER_GET_FEATURES,
            &raw mut feature_info as u64,
        )
    };
    let features = if ret == 0 { feature_info.submap } else { 0 };
    let info = XenInfo {
        cpuid_base: base,
        major: (version >> 16) as u16,
        minor: version as u16,
        amd,
        features,
        upcall_vector_supported: hvm_features & abi::XEN_HVM_CPUID_UPCALL_VECTOR != 0,
        vcpu_id: if hvm_features & abi::XEN_HVM_CPUID_VCPU_ID_PRESENT != 0 {
            hvm_vcpu
        } else {
            0
        },
    };
    Some(*INFO.call_once(|| info))
}

/// What [`detect`] found.
///
/// # Panics
/// If [`detect`] has not found Xen (a bug in the boot sequence).
pub fn info() -> &'static XenInfo {
    INFO.get()
        .expect("hypercall::info() before a successful detect()")
}

/// What [`detect`] found, if it ran and found Xen.
pub fn try_info() -> Option<&'static XenInfo> {
    INFO.get()
}

// The primitives. Xen takes the number in RAX and arguments in RDI, RSI,
// RDX, R10, R8 and returns a `long` in RAX. Debug builds of Xen poison every
// argument register the hypercall does not use, so each primitive declares
// all of them (and R9, the sixth) clobbered whatever its own arity. The
// vendor branch sits in the asm so each arity has exactly one asm site.
//
// # Safety (all arities)
// The caller must pass a hypercall whose pointer arguments point to live,
// correctly laid-out memory that Xen may read or write as the operation
// defines, and must have run `detect` (on Intel, `vmmcall` is #UD and the
// reverse on AMD).

/// Hypercall without arguments.
///
/// # Safety
/// The contract above the primitives.
pub unsafe fn hypercall0(nr: u32) -> i64 {
    let ret: i64;
    // SAFETY: the caller upholds the contract above; the asm touches only
    // the declared registers.
    unsafe {
        asm!("test {amd:e}, {amd:e}", "jnz 2f", "vmcall", "jmp 3f", "2: vmmcall", "3:",
            amd = in(reg) u32::from(uses_vmmcall()),
            inout("rax") u64::from(nr) => ret,
            out("rdi") _, out("rsi") _, out("rdx") _, out("r10") _, out("r8") _, out("r9") _,
            options(nostack));
    }
    ret
}

/// Hypercall with one argument.
///
/// # Safety
/// The contract above the primitives.
pub unsafe fn hypercall1(nr: u32, a1: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in `hypercall0`.
    unsafe {
        asm!("test {amd:e}, {amd:e}", "jnz 2f", "vmcall", "jmp 3f", "2: vmmcall", "3:",
            amd = in(reg) u32::from(uses_vmmcall()),
            inout("rax") u64::from(nr) => ret,
            inout("rdi") a1 => _,
            out("rsi") _, out("rdx") _, out("r10") _, out("r8") _, out("r9") _,
            options(nostack));
    }
    ret
}

/// Hypercall with two arguments.
///
/// # Safety
/// The contract above the primitives.
pub unsafe fn hypercall2(nr: u32, a1: u64, a2: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in `hypercall0`.
    unsafe {
        asm!("test {amd:e}, {amd:e}", "jnz 2f", "vmcall", "jmp 3f", "2: vmmcall", "3:",
            amd = in(reg) u32::from(uses_vmmcall()),
            inout("rax") u64::from(nr) => ret,
            inout("rdi") a1 => _, inout("rsi") a2 => _,
            out("rdx") _, out("r10") _, out("r8") _, out("r9") _,
            options(nostack));
    }
    ret
}

/// Hypercall with three arguments.
///
/// # Safety
/// The contract above the primitives.
pub unsafe fn hypercall3(nr: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in `hypercall0`.
    unsafe {
        asm!("test {amd:e}, {amd:e}", "jnz 2f", "vmcall", "jmp 3f", "2: vmmcall", "3:",
            amd = in(reg) u32::from(uses_vmmcall()),
            inout("rax") u64::from(nr) => ret,
            inout("rdi") a1 => _, inout("rsi") a2 => _, inout("rdx") a3 => _,
            out("r10") _, out("r8") _, out("r9") _,
            options(nostack));
    }
    ret
}

/// Hypercall with four arguments.
///
/// # Safety
/// The contract above the primitives.
pub unsafe fn hypercall4(nr: u32, a1: u64, a2: u64, a3: u64, a4: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in `hypercall0`.
    unsafe {
        asm!("test {amd:e}, {amd:e}", "jnz 2f", "vmcall", "jmp 3f", "2: vmmcall", "3:",
            amd = in(reg) u32::from(uses_vmmcall()),
            inout("rax") u64::from(nr) => ret,
            inout("rdi") a1 => _, inout("rsi") a2 => _, inout("rdx") a3 => _,
            inout("r10") a4 => _,
            out("r8") _, out("r9") _,
            options(nostack));
    }
    ret
}

/// Hypercall with five arguments.
///
/// # Safety
/// The contract above the primitives.
pub unsafe fn hypercall5(nr: u32, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in `hypercall0`.
    unsafe {
        asm!("test {amd:e}, {amd:e}", "jnz 2f", "vmcall", "jmp 3f", "2: vmmcall", "3:",
            amd = in(reg) u32::from(uses_vmmcall()),
            inout("rax") u64::from(nr) => ret,
            inout("rdi") a1 => _, inout("rsi") a2 => _, inout("rdx") a3 => _,
            inout("r10") a4 => _, inout("r8") a5 => _,
            out("r9") _,
            options(nostack));
    }
    ret
}

/// A failed hypercall: Xen's errno (`public/errno.h`), the common ones by
/// name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XenError {
    Perm,
    NoEnt,
    Srch,
    Io,
    TooBig,
    Fault,
    Busy,
    Exist,
    Inval,
    NoSpace,
    NoSys,
    Time,
    Again,
    NoMem,
    Access,
    /// Any other errno (positive).
    Other(i64),
}

/// The named errors with their errno and symbol.
const ERRNOS: [(XenError, i64, &str); 15] = [
    (XenError::Perm, 1, "EPERM"),
    (XenError::NoEnt, 2, "ENOENT"),
    (XenError::Srch, 3, "ESRCH"),
    (XenError::Io, 5, "EIO"),
    (XenError::TooBig, 7, "E2BIG"),
    (XenError::Again, 11, "EAGAIN"),
    (XenError::NoMem, 12, "ENOMEM"),
    (XenError::Access, 13, "EACCES"),
    (XenError::Fault, 14, "EFAULT"),
    (XenError::Busy, 16, "EBUSY"),
    (XenError::Exist, 17, "EEXIST"),
    (XenError::Inval, 22, "EINVAL"),
    (XenError::NoSpace, 28, "ENOSPC"),
    (XenError::NoSys, 38, "ENOSYS"),
    (XenError::Time, 62, "ETIME"),
];

impl XenError {
    /// Map a hypercall's return value: non-negative is success, `-errno`
    /// is an error.
    pub fn from_ret(ret: i64) -> Result<u64, XenError> {
        if ret >= 0 {
            return Ok(ret as u64);
        }
        let errno = ret.wrapping_neg();
        Err(ERRNOS
            .iter()
            .find(|&&(_, n, _)| n == errno)
            .map_or(XenError::Other(errno), |&(e, _, _)| e))
    }

    /// The positive errno.
    pub fn errno(self) -> i64 {
        match self {
            XenError::Other(n) => n,
            named => ERRNOS
                .iter()
                .find(|&&(e, _, _)| e == named)
                .map_or(0, |&(_, n, _)| n),
        }
    }

    fn name(self) -> Option<&'static str> {
        ERRNOS
            .iter()
            .find(|&&(e, _, _)| e == self)
            .map(|&(_, _, s)| s)
    }
}

impl fmt::Display for XenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.errno()),
            None => write!(f, "errno {}", self.errno()),
        }
    }
}

/// Xen's version, `(major, minor)`, from `XENVER_version`.
pub fn xen_version() -> (u16, u16) {
    // SAFETY: XENVER_version takes no buffer.
    let ret = unsafe { hypercall2(abi::HYPERVISOR_XEN_VERSION, abi::XENVER_VERSION, 0) };
    let v = XenError::from_ret(ret).unwrap_or(0);
    ((v >> 16) as u16, v as u16)
}

/// Xen's extra version string (e.g. ".5" or "-rc"), NUL-padded.
pub fn extraversion() -> [u8; 16] {
    let mut buf = [0u8; 16];
    // SAFETY: XENVER_extraversion writes at most 16 bytes into `buf`.
    unsafe {
        hypercall2(
            abi::HYPERVISOR_XEN_VERSION,
            abi::XENVER_EXTRAVERSION,
            buf.as_mut_ptr() as u64,
        );
    }
    buf
}

/// Run several hypercalls in one trap; each entry's `result` is filled in.
///
/// # Safety
/// Every entry must be a valid hypercall under the contract of the
/// primitives above.
pub unsafe fn multicall(entries: &mut [abi::MulticallEntry]) -> Result<(), XenError> {
    // SAFETY: `entries` is a live array of `multicall_entry`; the caller
    // vouches for each entry.
    let ret = unsafe {
        hypercall2(
            abi::HYPERVISOR_MULTICALL,
            entries.as_mut_ptr() as u64,
            entries.len() as u64,
        )
    };
    XenError::from_ret(ret).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn maps_errnos() {
        assert_eq!(XenError::from_ret(0), Ok(0));
        assert_eq!(XenError::from_ret(0x4_0011), Ok(0x4_0011));
        assert_eq!(XenError::from_ret(-22), Err(XenError::Inval));
        assert_eq!(XenError::from_ret(-38), Err(XenError::NoSys));
        assert_eq!(XenError::from_ret(-62), Err(XenError::Time));
        assert_eq!(XenError::from_ret(-95), Err(XenError::Other(95)));
        for (e, n, _) in ERRNOS {
            assert_eq!(XenError::from_ret(-n), Err(e));
            assert_eq!(e.errno(), n);
        }
        assert_eq!(XenError::from_ret(i64::MIN), Err(XenError::Other(i64::MIN)));
    }

    #[test]
    fn displays_the_errno_name() {
        assert_eq!(XenError::Inval.to_string(), "EINVAL (22)");
        assert_eq!(XenError::Other(95).to_string(), "errno 95");
    }
}
