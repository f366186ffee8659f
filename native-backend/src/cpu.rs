//! CPUID and MSRs: what the processor offers, and the model-specific
//! registers the local APIC and the TSC-deadline timer live in.

use core::arch::x86_64::{__cpuid, __cpuid_count, CpuidResult};

/// Execute CPUID.
pub fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    let _ = __cpuid;
    __cpuid_count(leaf, subleaf)
}

/// Features the native backend cares about.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    /// CPUID.1:ECX[21].
    pub x2apic: bool,
    /// CPUID.1:ECX[24].
    pub tsc_deadline: bool,
    /// CPUID.80000007:EDX[8].
    pub invariant_tsc: bool,
}

/// Read the feature bits.
pub fn features() -> Features {
    let l1 = cpuid(1, 0);
    let max_ext = cpuid(0x8000_0000, 0).eax;
    let invariant_tsc = max_ext >= 0x8000_0007 && cpuid(0x8000_0007, 0).edx & (1 << 8) != 0;
    Features {
        x2apic: l1.ecx & (1 << 21) != 0,
        tsc_deadline: l1.ecx & (1 << 24) != 0,
        invariant_tsc,
    }
}

/// Vendor string from leaf 0.
pub fn vendor() -> [u8; 12] {
    let r = cpuid(0, 0);
    let mut v = [0u8; 12];
    v[0..4].copy_from_slice(&r.ebx.to_le_bytes());
    v[4..8].copy_from_slice(&r.edx.to_le_bytes());
    v[8..12].copy_from_slice(&r.ecx.to_le_bytes());
    v
}

/// Brand string from leaves 0x80000002..4.
pub fn brand() -> [u8; 48] {
    let mut b = [0u8; 48];
    if cpuid(0x8000_0000, 0).eax < 0x8000_0004 {
        return b;
    }
    for (i, leaf) in (0x8000_0002u32..=0x8000_0004).enumerate() {
        let r = cpuid(leaf, 0);
        for (j, reg) in [r.eax, r.ebx, r.ecx, r.edx].into_iter().enumerate() {
            let o = i * 16 + j * 4;
            b[o..o + 4].copy_from_slice(&reg.to_le_bytes());
        }
    }
    b
}

/// Hypervisor signature (leaf 0x40000000) if CPUID.1:ECX[31] says one is
/// present. Informational only: the native backend never changes what it
/// does because of it.
pub fn hypervisor() -> Option<[u8; 12]> {
    if cpuid(1, 0).ecx & (1 << 31) == 0 {
        return None;
    }
    let r = cpuid(0x4000_0000, 0);
    let mut s = [0u8; 12];
    s[0..4].copy_from_slice(&r.ebx.to_le_bytes());
    s[4..8].copy_from_slice(&r.ecx.to_le_bytes());
    s[8..12].copy_from_slice(&r.edx.to_le_bytes());
    Some(s)
}

/// Read the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no memory effects; the boot CPU allows it in ring 0.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// IA32_APIC_BASE.
pub const MSR_APIC_BASE: u32 = 0x1b;
/// IA32_APIC_BASE bit 11: the local APIC is globally enabled.
pub const APIC_BASE_ENABLE: u64 = 1 << 11;
/// IA32_APIC_BASE bit 10 (EXTD): x2APIC mode.
pub const APIC_BASE_X2APIC: u64 = 1 << 10;

/// IA32_APIC_BASE as the processor holds it now.
pub fn apic_base() -> u64 {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU (all have a local
    // APIC); reading it has no side effect.
    unsafe { rdmsr(MSR_APIC_BASE) }
}

/// This CPU's initial APIC ID as CPUID reports it: the full 32-bit x2APIC
/// ID (leaf 0xB) for x2APIC mode, else the 8-bit one of leaf 1.
pub fn initial_apic_id(x2apic: bool) -> u32 {
    if x2apic && cpuid(0, 0).eax >= 0xb {
        cpuid(0xb, 0).edx
    } else {
        cpuid(1, 0).ebx >> 24
    }
}
/// IA32_TSC_DEADLINE.
pub const MSR_TSC_DEADLINE: u32 = 0x6e0;
/// First x2APIC register MSR (register offset / 16 is added).
pub const MSR_X2APIC_BASE: u32 = 0x800;

/// Read an MSR.
///
/// # Safety
/// The MSR must exist on this CPU (reading a missing one raises #GP) and
/// reading it must have no side effect the caller did not intend.
pub unsafe fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the caller guarantees the MSR exists and may be read.
    unsafe {
        core::arch::asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Write an MSR.
///
/// # Safety
/// The MSR must exist and `value` must be valid for it; the write's effect
/// on the machine is the caller's responsibility.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the caller guarantees the MSR and value are valid.
    unsafe {
        core::arch::asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags));
    }
}
