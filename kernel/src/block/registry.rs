//! Where backends put the disks they find during start-up, and where the
//! tests, the shell and the benchmarks find them.
//!
//! Bounded and append-only: a registered disk stays for the kernel's life,
//! so a `&Disk` handed out is never left dangling, and no lock is held
//! while a caller uses one.

use alloc::boxed::Box;
use alloc::string::String;

use super::device::BlockDevice;
use super::disk::Disk;
use super::error::BlockError;

/// Most disks the kernel keeps (Xen's vbd and an AHCI controller's ports
/// are far fewer in every configuration Virtus runs).
pub const MAX_DISKS: usize = 8;

/// Longest device name ("xvda", "sda", "xvdaa" all fit).
pub const MAX_NAME: usize = 15;

/// The kernel's disks ([`DISKS`]); tests make their own.
pub struct Registry {
    slots: [spin::Once<Disk>; MAX_DISKS],
    /// Serializes registrations, so two with one name cannot both win.
    adding: spin::Mutex<()>,
}

/// The disks the backend registered.
pub static DISKS: Registry = Registry::new();

impl Registry {
    /// No disks.
    pub const fn new() -> Self {
        Self {
            slots: [const { spin::Once::new() }; MAX_DISKS],
            adding: spin::Mutex::new(()),
        }
    }

    /// Add `device` under `name` (lowercase letters and digits). Refuses a
    /// bad or taken name, a device whose description is unusable, and a
    /// disk beyond [`MAX_DISKS`], each with its own error.
    pub fn register(&self, name: &str, device: Box<dyn BlockDevice>) -> Result<&Disk, BlockError> {
        let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        if name.is_empty() || name.len() > MAX_NAME || !name.chars().all(valid) {
            return Err(BlockError::BadName);
        }
        let _adding = self.adding.lock();
        if self.find(name).is_some() {
            return Err(BlockError::BadName);
        }
        let slot = self
            .slots
            .iter()
            .find(|s| !s.is_completed())
            .ok_or(BlockError::RegistryFull { max: MAX_DISKS })?;
        let disk = Disk::new(String::from(name), device)?;
        Ok(slot.call_once(|| disk))
    }

    /// The disk called `name`.
    pub fn find(&self, name: &str) -> Option<&Disk> {
        self.iter().find(|d| d.name() == name)
    }

    /// The disk called `name`, or [`BlockError::NoSuchDevice`].
    pub fn get(&self, name: &str) -> Result<&Disk, BlockError> {
        self.find(name).ok_or(BlockError::NoSuchDevice)
    }

    /// Every disk, in the order they were registered.
    pub fn iter(&self) -> impl Iterator<Item = &Disk> {
        self.slots.iter().map_while(|s| s.get())
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}
