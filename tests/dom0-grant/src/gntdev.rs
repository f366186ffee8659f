//! Linux's grant device, `/dev/xen/gntdev` (include/uapi/xen/gntdev.h):
//! one grant of another domain mapped into this process, read-only.

use std::ffi::c_void;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

pub const PAGE_SIZE: usize = 4096;

/// `struct ioctl_gntdev_grant_ref`.
#[repr(C)]
struct GrantRef {
    domid: u32,
    gref: u32,
}

/// `struct ioctl_gntdev_map_grant_ref` with one ref.
#[repr(C)]
struct MapGrantRef {
    count: u32,
    pad: u32,
    /// OUT: the offset to `mmap`.
    index: u64,
    refs: [GrantRef; 1],
}
const _: () = assert!(size_of::<MapGrantRef>() == 24);

/// `struct ioctl_gntdev_unmap_grant_ref`.
#[repr(C)]
struct UnmapGrantRef {
    index: u64,
    count: u32,
    pad: u32,
}
const _: () = assert!(size_of::<UnmapGrantRef>() == 16);

/// `_IOC(_IOC_NONE, 'G', nr, size)`: direction 0 in bits 30-31, the size in
/// bits 16-29, the type in bits 8-15, the number in bits 0-7.
const fn ioc_none(nr: u64, size: usize) -> u64 {
    ((size as u64) << 16) | ((b'G' as u64) << 8) | nr
}
const IOCTL_GNTDEV_MAP_GRANT_REF: u64 = ioc_none(0, size_of::<MapGrantRef>());
const IOCTL_GNTDEV_UNMAP_GRANT_REF: u64 = ioc_none(1, size_of::<UnmapGrantRef>());

const PROT_READ: i32 = 1;
const MAP_SHARED: i32 = 1;

unsafe extern "C" {
    fn ioctl(fd: i32, request: u64, ...) -> i32;
    fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, off: i64)
    -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> i32;
}

fn os_error(what: &str) -> String {
    format!("{what}: {}", std::io::Error::last_os_error())
}

/// One grant mapped read-only; unmapped (and its reservation released)
/// when dropped.
pub struct Mapping {
    device: File,
    index: u64,
    page: NonNull<u8>,
}

impl Mapping {
    /// Map grant `gref` of domain `domid`.
    pub fn new(domid: u32, gref: u32) -> Result<Self, String> {
        let device = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/xen/gntdev")
            .map_err(|e| format!("open /dev/xen/gntdev: {e}"))?;
        let fd = device.as_raw_fd();
        let mut map = MapGrantRef {
            count: 1,
            pad: 0,
            index: 0,
            refs: [GrantRef { domid, gref }],
        };
        // SAFETY: the map ioctl reads and writes one `ioctl_gntdev_map_grant_ref`
        // with `count` = 1 refs, which `map` is, on this frame.
        if unsafe { ioctl(fd, IOCTL_GNTDEV_MAP_GRANT_REF, &raw mut map) } != 0 {
            return Err(os_error(&format!(
                "IOCTL_GNTDEV_MAP_GRANT_REF domain {domid} ref {gref}"
            )));
        }
        let offset = i64::try_from(map.index).map_err(|_| "gntdev index out of range")?;
        // SAFETY: a new read-only shared mapping of one page of the device at
        // the offset it handed out; nothing in this process aliases it.
        let addr = unsafe {
            mmap(
                std::ptr::null_mut(),
                PAGE_SIZE,
                PROT_READ,
                MAP_SHARED,
                fd,
                offset,
            )
        };
        let Some(page) = NonNull::new(addr.cast::<u8>()).filter(|_| addr as isize != -1) else {
            let error = os_error(&format!("mmap of domain {domid}'s grant {gref}"));
            release(fd, map.index);
            return Err(error);
        };
        Ok(Self {
            device,
            index: map.index,
            page,
        })
    }

    /// The first `len` bytes of the page (at most a page).
    pub fn bytes(&self, len: usize) -> Vec<u8> {
        (0..len.min(PAGE_SIZE))
            // SAFETY: inside the mapped page; the other domain may write it,
            // so every byte is read volatilely.
            .map(|i| unsafe { self.page.as_ptr().add(i).read_volatile() })
            .collect()
    }
}

/// Give back the reservation at `index`.
fn release(fd: i32, index: u64) {
    let mut unmap = UnmapGrantRef {
        index,
        count: 1,
        pad: 0,
    };
    // SAFETY: the unmap ioctl reads one `ioctl_gntdev_unmap_grant_ref`.
    unsafe { ioctl(fd, IOCTL_GNTDEV_UNMAP_GRANT_REF, &raw mut unmap) };
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the page this mapping made; no reference to it outlives
        // `self` (`bytes` copies).
        unsafe { munmap(self.page.as_ptr().cast(), PAGE_SIZE) };
        release(self.device.as_raw_fd(), self.index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers Linux's header computes with its `_IOC` macro.
    #[test]
    fn ioctl_numbers() {
        assert_eq!(IOCTL_GNTDEV_MAP_GRANT_REF, 0x0018_4700);
        assert_eq!(IOCTL_GNTDEV_UNMAP_GRANT_REF, 0x0010_4701);
    }
}
