//! The shared_info page: the page Xen and the guest both write, holding
//! each vCPU's upcall flags and pvclock, the 2-level event channel
//! bitmaps and the wall clock.
//!
//! A PVH guest must place the page itself. Like Mini-OS, Virtus gives Xen a
//! page-aligned page of its own `.bss`: it exists before the kernel has a
//! frame allocator, the kernel image is linked at its physical address (so
//! the page's address is its guest frame number times 4 KiB), and it stays
//! mapped for as long as the kernel runs.
//!
//! It does not go through `mem::reserve_shared`, which refuses image
//! frames: being part of the image already gives it what that call
//! ensures for other shared frames. The image is reserved in the memory
//! map before the frame allocator is built, so the page can never become
//! heap or a page table, and it is mapped (writable, not executable) as
//! image data, before and after the kernel's page tables take over.
//!
//! Every field can change under our feet, so no Rust reference to the
//! page's contents is ever formed: fields Xen only writes and the guest
//! only reads (the time records, the wall clock) are read through
//! `volatile` pointers; the words both sides change (event bits, upcall
//! flag, selector) through atomics, whose read-modify-write Xen's
//! concurrent `set_bit` needs.

use crate::abi::{VcpuTimeInfo, XENMAPSPACE_SHARED_INFO, shared_info_off as off};
use crate::hypercall::XenError;
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering, fence};
use volatile::{VolatilePtr, map_field};

/// A view of a shared_info page.
pub struct SharedInfo {
    base: NonNull<u8>,
}

// SAFETY: the page is shared with Xen anyway; every access goes through
// volatile reads/writes or atomic operations on raw pointers, so sharing
// the view between CPUs adds no data race that Rust could assume away.
unsafe impl Sync for SharedInfo {}
// SAFETY: as above; the view is a plain address.
unsafe impl Send for SharedInfo {}

#[repr(C, align(4096))]
struct SharedInfoPage(UnsafeCell<[u8; 4096]>);
// SAFETY: the page's contents are only reached through `SharedInfo`'s
// volatile/atomic accessors.
unsafe impl Sync for SharedInfoPage {}

static PAGE: SharedInfoPage = SharedInfoPage(UnsafeCell::new([0; 4096]));
static MAPPED: spin::Once<SharedInfo> = spin::Once::new();

/// Ask Xen to put shared_info at our static page (idempotent) and return
/// the view of it. Needs `hypercall::detect` first.
pub fn map() -> Result<&'static SharedInfo, XenError> {
    MAPPED.try_call_once(|| {
        let addr = PAGE.0.get() as u64;
        crate::memory::add_to_physmap(XENMAPSPACE_SHARED_INFO, 0, addr >> 12)?;
        let base = NonNull::new(PAGE.0.get().cast::<u8>()).ok_or(XenError::Fault)?;
        // SAFETY: the static page is 4 KiB, page-aligned, lives forever and
        // now holds Xen's shared_info.
        Ok(unsafe { SharedInfo::from_ptr(base) })
    })
}

/// After a suspend: put Xen's shared_info at our page again. In a new
/// domain (restore, migration) the page holds a stale RAM copy of the old
/// domain's until this is done; in the same domain it is harmless (Linux
/// does it on every resume). Only after [`map`].
pub fn remap() -> Result<(), XenError> {
    if MAPPED.get().is_none() {
        return Err(XenError::NoEnt);
    }
    let addr = PAGE.0.get() as u64;
    crate::memory::add_to_physmap(XENMAPSPACE_SHARED_INFO, 0, addr >> 12)
}

/// The view, if [`map`] has succeeded.
pub fn get() -> Option<&'static SharedInfo> {
    MAPPED.get()
}

impl SharedInfo {
    /// A view of the shared_info page at `base`.
    ///
    /// # Safety
    /// `base` must point to 4 KiB of memory, 8-byte aligned, that stays
    /// valid for the life of the view and is only accessed volatilely or
    /// atomically by everyone else in this program.
    pub unsafe fn from_ptr(base: NonNull<u8>) -> SharedInfo {
        SharedInfo { base }
    }

    fn ptr(&self, offset: usize) -> *mut u8 {
        debug_assert!(offset < 4096);
        // SAFETY: all offsets used are constants or bounded indices inside
        // the 4 KiB page (see the callers).
        unsafe { self.base.as_ptr().add(offset) }
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: `offset` is 8-aligned inside the page (callers), the page
        // outlives `self` and is only accessed atomically or volatilely.
        unsafe { AtomicU64::from_ptr(self.ptr(offset).cast()) }
    }

    /// Volatile access to a `T` at `offset`.
    ///
    /// # Safety
    /// `offset` must be `T`-aligned with the whole `T` inside the page.
    unsafe fn field<T>(&self, offset: usize) -> VolatilePtr<'_, T> {
        let at = self.ptr(offset).cast::<T>();
        // SAFETY: inside the page (caller), which outlives `self` and is
        // accessed by everyone in this program volatilely or atomically;
        // `ptr` is never null (an offset from a `NonNull` base).
        unsafe { VolatilePtr::new(NonNull::new_unchecked(at)) }
    }

    fn read32(&self, offset: usize) -> u32 {
        // SAFETY: callers pass the 4-aligned offsets of u32 fields.
        unsafe { self.field::<u32>(offset) }.read()
    }

    /// A consistent snapshot of `vcpu`'s `vcpu_time_info` (vCPUs < 32).
    /// Xen makes `version` odd while it rewrites the record; retry until a
    /// read starts and ends on the same even version.
    pub fn vcpu_time(&self, vcpu: usize) -> VcpuTimeInfo {
        assert!(vcpu < off::LEGACY_MAX_VCPUS);
        // SAFETY: the 32-byte, 8-aligned record of a vCPU < 32, inside the
        // page.
        let at = unsafe { self.field::<VcpuTimeInfo>(off::VCPU_INFO + vcpu * 64 + off::VI_TIME) };
        loop {
            let v1 = map_field!(at.version).read();
            fence(Ordering::Acquire);
            let snapshot = at.read();
            fence(Ordering::Acquire);
            let v2 = map_field!(at.version).read();
            if v1 & 1 == 0 && v1 == v2 {
                return snapshot;
            }
            core::hint::spin_loop();
        }
    }

    /// vCPU 0's `vcpu_time_info` (see [`SharedInfo::vcpu_time`]).
    pub fn vcpu0_time(&self) -> VcpuTimeInfo {
        self.vcpu_time(0)
    }

    /// `vcpu`'s `evtchn_upcall_pending` (vCPUs < 32, the legacy slots).
    pub fn upcall_pending(&self, vcpu: usize) -> bool {
        self.upcall_byte(vcpu).load(Ordering::SeqCst) != 0
    }

    /// Clear `vcpu`'s `evtchn_upcall_pending`; done before each scan so an
    /// event arriving during the scan sets it again.
    pub fn clear_upcall_pending(&self, vcpu: usize) {
        self.upcall_byte(vcpu).store(0, Ordering::SeqCst);
    }

    fn upcall_byte(&self, vcpu: usize) -> &AtomicU8 {
        assert!(vcpu < off::LEGACY_MAX_VCPUS);
        // SAFETY: the byte at offset 0 of vcpu_info[vcpu] (< 32), inside
        // the page.
        unsafe { AtomicU8::from_ptr(self.ptr(off::VCPU_INFO + vcpu * 64 + off::VI_UPCALL_PENDING)) }
    }

    /// Take `vcpu`'s `evtchn_pending_sel`, leaving 0 (atomic exchange: Xen
    /// sets bits concurrently). Xen sets the selector of the vCPU a port
    /// is bound to, so each vCPU learns here of its own ports' words only.
    pub fn pending_sel_take(&self, vcpu: usize) -> u64 {
        assert!(vcpu < off::LEGACY_MAX_VCPUS);
        self.word(off::VCPU_INFO + vcpu * 64 + off::VI_PENDING_SEL)
            .swap(0, Ordering::SeqCst)
    }

    /// `evtchn_pending[i]` (i < 64).
    pub fn pending_word(&self, i: usize) -> u64 {
        assert!(i < 64);
        self.word(off::EVTCHN_PENDING + i * 8)
            .load(Ordering::SeqCst)
    }

    /// `evtchn_mask[i]` (i < 64).
    pub fn mask_word(&self, i: usize) -> u64 {
        assert!(i < 64);
        self.word(off::EVTCHN_MASK + i * 8).load(Ordering::SeqCst)
    }

    fn bit(port: u32) -> (usize, u64) {
        let port = port as usize % 4096;
        (port / 64 * 8, 1 << (port % 64))
    }

    /// Atomically clear `port`'s pending bit; true if it was set. Ports are
    /// taken modulo 4096 (the 2-level ABI's size).
    pub fn test_and_clear_pending(&self, port: u32) -> bool {
        let (at, bit) = Self::bit(port);
        self.word(off::EVTCHN_PENDING + at)
            .fetch_and(!bit, Ordering::SeqCst)
            & bit
            != 0
    }

    /// Whether `port` is pending.
    pub fn is_pending(&self, port: u32) -> bool {
        let (at, bit) = Self::bit(port);
        self.word(off::EVTCHN_PENDING + at).load(Ordering::SeqCst) & bit != 0
    }

    /// Mask `port`: Xen still sets its pending bit but raises no upcall.
    pub fn set_mask(&self, port: u32) {
        let (at, bit) = Self::bit(port);
        self.word(off::EVTCHN_MASK + at)
            .fetch_or(bit, Ordering::SeqCst);
    }

    /// Clear `port`'s mask bit locally. An event that arrived while it was
    /// masked is not re-delivered; `evtchn::unmask` asks Xen to do that.
    pub fn clear_mask(&self, port: u32) {
        let (at, bit) = Self::bit(port);
        self.word(off::EVTCHN_MASK + at)
            .fetch_and(!bit, Ordering::SeqCst);
    }

    /// Whether `port` is masked.
    /// Mask every port of the 2-level ABI (a new domain's page has none
    /// masked; ports are unmasked one by one as they are bound).
    pub fn mask_all(&self) {
        for w in 0..64 {
            self.word(off::EVTCHN_MASK + w * 8)
                .store(u64::MAX, Ordering::SeqCst);
        }
    }

    pub fn is_masked(&self, port: u32) -> bool {
        let (at, bit) = Self::bit(port);
        self.word(off::EVTCHN_MASK + at).load(Ordering::SeqCst) & bit != 0
    }

    /// Wall-clock time of Xen system time 0, as (seconds, nanoseconds)
    /// since the Unix epoch, read under the `wc_version` seqlock.
    pub fn wallclock(&self) -> (u64, u32) {
        loop {
            let v1 = self.read32(off::WC_VERSION);
            fence(Ordering::Acquire);
            let sec =
                u64::from(self.read32(off::WC_SEC_HI)) << 32 | u64::from(self.read32(off::WC_SEC));
            let nsec = self.read32(off::WC_NSEC);
            fence(Ordering::Acquire);
            if v1 & 1 == 0 && v1 == self.read32(off::WC_VERSION) {
                return (sec, nsec);
            }
            core::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::boxed::Box;

    #[repr(C, align(4096))]
    struct Page([u8; 4096]);

    /// A zeroed page (leaked: tests are short-lived) and a view of it. The
    /// test plays Xen by writing through the raw pointer.
    fn fake() -> (*mut u8, SharedInfo) {
        let base = Box::into_raw(Box::new(Page([0; 4096]))).cast::<u8>();
        // SAFETY: the leaked page lives forever and is only reached through
        // raw pointers.
        (base, unsafe {
            SharedInfo::from_ptr(NonNull::new(base).unwrap())
        })
    }

    fn poke(base: *mut u8, offset: usize, value: u8) {
        // SAFETY: `offset` is inside the test page.
        unsafe { base.add(offset).write_volatile(value) };
    }

    #[test]
    fn port_bits_land_in_the_right_words() {
        let (base, si) = fake();
        si.set_mask(65);
        assert!(si.is_masked(65));
        assert_eq!(si.mask_word(1), 2);
        // SAFETY: reading inside the test page.
        assert_eq!(unsafe { base.add(0xA08).read_volatile() }, 2);
        si.clear_mask(65);
        assert_eq!(si.mask_word(1), 0);
        // Xen sets port 130 pending.
        poke(base, 0x800 + 16, 4);
        assert!(si.is_pending(130));
        assert!(si.test_and_clear_pending(130));
        assert!(!si.test_and_clear_pending(130));
        assert_eq!(si.pending_word(2), 0);
    }

    #[test]
    fn snapshots_time_and_takes_the_selector() {
        let (base, si) = fake();
        let t = VcpuTimeInfo {
            version: 2,
            tsc_timestamp: 1000,
            system_time: 5_000_000,
            tsc_to_system_mul: 0x8000_0000,
            tsc_shift: -1,
            ..Default::default()
        };
        // SAFETY: writing a plain-old-data record into the test page.
        unsafe { base.add(32).cast::<VcpuTimeInfo>().write(t) };
        poke(base, 8, 0b101);
        poke(base, 0, 1);
        assert_eq!(si.vcpu0_time(), t);
        assert!(si.upcall_pending(0));
        si.clear_upcall_pending(0);
        assert!(!si.upcall_pending(0));
        assert_eq!(si.pending_sel_take(0), 0b101);
        assert_eq!(si.pending_sel_take(0), 0);
        // vCPU 3's slot is 64 bytes per vCPU further on.
        poke(base, 3 * 64 + 8, 0b10);
        poke(base, 3 * 64, 1);
        assert!(si.upcall_pending(3));
        assert!(!si.upcall_pending(0));
        assert_eq!(si.pending_sel_take(3), 0b10);
        assert_eq!(si.pending_sel_take(0), 0);
        poke(base, 0xC04, 7);
        poke(base, 0xC0C, 1);
        poke(base, 0xC08, 9);
        assert_eq!(si.wallclock(), ((1 << 32) | 7, 9));
    }
}
