//! blkfront: the PV block frontend, the disk of a PVH domU.
//!
//! [`wire`] is blkif.h's format, [`ring`] the shared ring, [`handshake`]
//! the XenBus steps, [`device`] the driver behind the core's
//! `BlockDevice`; all pure and host-tested. `attach` (kernel only) puts
//! them together for each `device/vbd/*` during `start_devices`: the
//! ring's page comes from the frame allocator and is registered with
//! `mem::reserve_shared` before it is granted, the event channel is an
//! unbound port for the backend domain, and the disk is registered with
//! the core as `xvda`, `xvdb`... (from the vdev number).

pub mod device;
pub mod handshake;
pub mod pool;
pub mod ring;
pub mod wire;

#[cfg(target_os = "none")]
mod attach;
#[cfg(target_os = "none")]
pub mod kernel_tests;
#[cfg(target_os = "none")]
mod resume;

#[cfg(target_os = "none")]
pub use attach::{Attached, attached, describe, note_store_activity, start, states, watch_again};

use alloc::format;
use alloc::string::String;

/// The name of a vdev number (docs/man/xen-vbd-interface.7): `xvd` and
/// the disk's letter(s), then the partition if there is one. xvda = 51712
/// (202 << 8 | disk << 4 | partition) for disks below 16, and the
/// extended form 1 << 28 | disk << 8 | partition above. None for the
/// hd/sd numbers, which a PVH guest is not given.
pub fn vdev_name(vdev: u32) -> Option<String> {
    let (disk, part) = if vdev >> 8 == 202 {
        ((vdev >> 4) & 0xf, vdev & 0xf)
    } else if vdev >> 28 == 1 && vdev & 0x0fff_ffff < 1 << 20 {
        ((vdev >> 8) & 0xfffff, vdev & 0xff)
    } else {
        return None;
    };
    // Letters as Linux names them: a..z, then aa..zz (disk < 702).
    let letters = if disk < 26 {
        format!("{}", (b'a' + disk as u8) as char)
    } else if disk < 26 * 27 {
        let (hi, lo) = (disk / 26 - 1, disk % 26);
        format!("{}{}", (b'a' + hi as u8) as char, (b'a' + lo as u8) as char)
    } else {
        return None;
    };
    Some(match part {
        0 => format!("xvd{letters}"),
        p => format!("xvd{letters}{p}"),
    })
}

#[cfg(test)]
mod tests {
    use super::vdev_name;

    #[test]
    fn vdev_numbers_name_disks_as_the_vbd_interface_says() {
        assert_eq!(vdev_name(51712).as_deref(), Some("xvda"));
        assert_eq!(vdev_name(51728).as_deref(), Some("xvdb"));
        assert_eq!(vdev_name(51713).as_deref(), Some("xvda1"));
        assert_eq!(vdev_name((1 << 28) | (26 << 8)).as_deref(), Some("xvdaa"));
        assert_eq!(
            vdev_name((1 << 28) | (16 << 8) | 2).as_deref(),
            Some("xvdq2")
        );
        assert_eq!(vdev_name(768), None, "hda is not a PV disk name");
        assert_eq!(vdev_name(2048), None, "sda neither");
    }
}
