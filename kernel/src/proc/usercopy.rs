//! Copies between the kernel and the running process's memory: the only
//! code that opens SMAP. Every range is checked against the process's page
//! tables first (inside user space, no overflow, every page mapped for the
//! user, writable where the kernel writes), so the copy itself cannot
//! fault: the process runs on this CPU only, and nothing unmaps its pages
//! while the kernel works for it.

use super::space::AddressSpace;
use crate::mem::PAGE_SIZE;

/// A user range the process may not hand to the kernel (EFAULT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadAddress(pub u64);

/// Check that `[addr, addr + len)` is mapped for the process in `space`,
/// writable if `write`.
pub fn check(space: &AddressSpace, addr: u64, len: usize, write: bool) -> Result<(), BadAddress> {
    if len == 0 {
        return Ok(());
    }
    let end = addr.checked_add(len as u64).ok_or(BadAddress(addr))?;
    let mut page = addr & !(PAGE_SIZE - 1);
    while page < end {
        let at = page.max(addr);
        match space.lookup(page) {
            Some((_, access)) if access.write || !write => {}
            _ => return Err(BadAddress(at)),
        }
        page += PAGE_SIZE;
    }
    Ok(())
}

/// Copy `dst.len()` bytes from user address `src` of the loaded `space`.
pub fn copy_from_user(space: &AddressSpace, dst: &mut [u8], src: u64) -> Result<(), BadAddress> {
    check(space, src, dst.len(), false)?;
    crate::arch::user::with_user_access(|| {
        // SAFETY: the range is mapped for the process whose tables are
        // loaded (checked above) and does not overlap the kernel buffer
        // (user pages are never kernel heap or stack).
        unsafe { core::ptr::copy_nonoverlapping(src as *const u8, dst.as_mut_ptr(), dst.len()) }
    });
    Ok(())
}

/// Copy `src` to user address `dst` of the loaded `space`.
pub fn copy_to_user(space: &AddressSpace, dst: u64, src: &[u8]) -> Result<(), BadAddress> {
    check(space, dst, src.len(), true)?;
    crate::arch::user::with_user_access(|| {
        // SAFETY: as in `copy_from_user`, and the pages are writable.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) }
    });
    Ok(())
}
