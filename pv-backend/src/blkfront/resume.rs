//! blkfront after a restore into a new domain: the backend that served
//! the disk belonged to the old domain (its path has the old domain id),
//! every grant and event channel is void, and the toolstack has set up the
//! vbd again for the new domain, the frontend at Initialising and a new
//! backend on its way to InitWait. The disk reconnects through the whole
//! handshake on the same ring page; the core's view of it (name,
//! geometry) must not change, and what was on the old ring was drained
//! before the suspend (`BlockDevice::suspend`), so nothing is re-issued.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use super::attach::{ATTACHED, BlkfrontDisk, connect, store};
use crate::grant;
use crate::xenbus::XenbusError;
use virtus_kernel::block::BlockError;

/// Connect `disk` again (see the module documentation).
pub(super) fn reconnect(disk: &BlkfrontDisk) -> Result<(), BlockError> {
    let old = disk.current.lock().clone();
    match connect_again(disk, &old) {
        Ok(new) => {
            log::info!(
                "blkfront: {}: reconnected to {} (dom {}), port {}",
                new.name,
                new.device.backend,
                new.device.backend_id,
                new.port
            );
            for a in ATTACHED.lock().iter_mut() {
                if Arc::ptr_eq(a, &old) {
                    *a = new.clone();
                }
            }
            *disk.current.lock() = new;
            Ok(())
        }
        Err(why) => {
            log::error!(
                "blkfront: {}: cannot reconnect after the restore: {why}",
                old.name
            );
            old.front.lock().stop(BlockError::Disconnected);
            Err(BlockError::Disconnected)
        }
    }
}

fn connect_again(
    disk: &BlkfrontDisk,
    old: &Arc<super::Attached>,
) -> Result<Arc<super::Attached>, String> {
    // The old backend-state watch was registered again by the xenstore
    // reconnection, on the old backend's path: drop it before the new one
    // takes the same token.
    let old_path = old.device.backend_key("state");
    let token = format!("blkfront:{}", disk.id);
    let _ = store(|c| {
        c.unwatch(&old_path, &token)
            .map_err(|error| XenbusError::Store {
                path: old_path.clone(),
                error,
            })
    });
    let _ = grant::end_access(old.ring_ref());
    let new = connect(disk.id, Some(old.ring_frame()))?;
    if new.info() != disk.info {
        return Err(format!(
            "the disk changed: {:?} before the suspend, {:?} now",
            disk.info,
            new.info()
        ));
    }
    new.front.lock().take_over(&mut old.front.lock());
    Ok(Arc::new(new))
}
