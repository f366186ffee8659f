//! The disk every column's guest gets: an image the runner fills with a
//! known pattern, the kernel command line that tells the core's block
//! tests what to expect, and the check of the image after the guest ended.
//!
//! The pattern is a function of a per-run seed and the sector number, so
//! stale data from an earlier run, a sector read from the wrong place and a
//! write that never reached the image all show. The kernel computes the
//! same function on its side (kernel/src/tests/block.rs): the image the
//! runner wrote is the independent reference for what the guest reads, and
//! the image the runner reads back is the reference for what it wrote.
//!
//! Layout (sectors of 512 bytes): the first half holds the pattern and is
//! only ever read; the guest's write tests use the second half, and the
//! durability test writes the last [`DURABLE_SECTORS`] with the pattern of
//! the inverted seed, then flushes.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub const SECTOR: usize = 512;

/// The size of every test disk: 16 MiB, room for the benchmarks' 1 MiB
/// transfers and small enough to ship inside dom0's initramfs.
pub const TEST_SECTORS: u64 = 32768;

/// How many sectors at the end the durability test writes and flushes.
pub const DURABLE_SECTORS: u64 = 256;

/// The kernel test whose pass obliges the image to hold its data.
pub const DURABLE_TEST: &str = "block_flushed_writes_reach_the_image";

/// What the guest's disk holds and what the kernel is told about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskPlan {
    /// The kernel's name for it (`sda`, `xvda`), or `None` on a machine
    /// whose driver cannot see it (QEMU's `pc`: IDE, no AHCI).
    pub name: Option<&'static str>,
    pub sectors: u64,
    pub seed: u32,
}

impl DiskPlan {
    /// A test disk for the kernel's `name`, with a seed of this run.
    pub fn new(name: Option<&'static str>) -> Self {
        Self {
            name,
            sectors: TEST_SECTORS,
            seed: fresh_seed(),
        }
    }

    /// `block.disk=.. block.sectors=.. block.seed=..`.
    pub fn kernel_args(&self) -> String {
        format!(
            "block.disk={} block.sectors={} block.seed={:08x}",
            self.name.unwrap_or("none"),
            self.sectors,
            self.seed
        )
    }

    /// The image as the runner writes it.
    pub fn image(&self) -> Vec<u8> {
        let mut image = vec![0; self.sectors as usize * SECTOR];
        for (lba, sector) in image.chunks_exact_mut(SECTOR).enumerate() {
            fill_sector(self.seed, lba as u64, sector);
        }
        image
    }

    /// The sectors only ever read.
    pub fn read_only(&self) -> Range<u64> {
        0..self.sectors / 2
    }

    /// The sectors the durability test writes.
    pub fn durable(&self) -> Range<u64> {
        self.sectors - DURABLE_SECTORS..self.sectors
    }

    /// What the durability test writes there.
    pub fn durable_bytes(&self) -> Vec<u8> {
        let range = self.durable();
        let mut bytes = vec![0; (range.end - range.start) as usize * SECTOR];
        for (i, sector) in bytes.chunks_exact_mut(SECTOR).enumerate() {
            fill_sector(!self.seed, range.start + i as u64, sector);
        }
        bytes
    }

    /// Judge the image after the guest ended. `durable_passed`: the
    /// guest's durability test passed, so its data must be there.
    pub fn check(&self, image: &[u8], durable_passed: bool) -> Result<(), String> {
        if image.len() != self.sectors as usize * SECTOR {
            return Err(format!(
                "the image is {} bytes, not the {} it was made with",
                image.len(),
                self.sectors as usize * SECTOR
            ));
        }
        let original = self.image();
        let ro = bytes_of(self.read_only());
        if let Some(lba) = first_difference(&image[ro.clone()], &original[ro]) {
            return Err(format!(
                "sector {lba} of the read-only half changed: the guest wrote where no test writes"
            ));
        }
        if durable_passed {
            let range = bytes_of(self.durable());
            let start = self.durable().start;
            if let Some(i) = first_difference(&image[range], &self.durable_bytes()) {
                return Err(format!(
                    "sector {} lacks what the guest wrote and flushed ({DURABLE_TEST} passed)",
                    start + i
                ));
            }
        }
        Ok(())
    }

    /// Judge sha256 sums of the two regions, computed where the image is
    /// (dom0): `read_only` and `durable` are the hex digests.
    pub fn check_sums(
        &self,
        read_only: &str,
        durable: &str,
        durable_passed: bool,
    ) -> Result<(), String> {
        let original = self.image();
        if read_only != sha256_hex(&original[bytes_of(self.read_only())]) {
            return Err(
                "the read-only half of the image changed (sha256 differs): the guest wrote \
                 where no test writes"
                    .into(),
            );
        }
        if durable_passed && durable != sha256_hex(&self.durable_bytes()) {
            return Err(format!(
                "the last {DURABLE_SECTORS} sectors lack what the guest wrote and flushed \
                 ({DURABLE_TEST} passed; sha256 differs)"
            ));
        }
        Ok(())
    }
}

/// Sector `lba` of the pattern of `seed`: 64 little-endian words, word `i`
/// = splitmix64(seed << 40 ^ lba << 6 ^ i).
pub fn fill_sector(seed: u32, lba: u64, sector: &mut [u8]) {
    for (i, word) in sector.chunks_exact_mut(8).enumerate() {
        let x = (u64::from(seed) << 40) ^ (lba << 6) ^ i as u64;
        word.copy_from_slice(&splitmix64(x).to_le_bytes());
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn bytes_of(sectors: Range<u64>) -> Range<usize> {
    sectors.start as usize * SECTOR..sectors.end as usize * SECTOR
}

/// The first sector (counted from the slices' start) where they differ.
fn first_difference(a: &[u8], b: &[u8]) -> Option<u64> {
    a.chunks(SECTOR)
        .zip(b.chunks(SECTOR))
        .position(|(x, y)| x != y)
        .map(|i| i as u64)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A seed that differs between runs (and between runs at once).
fn fresh_seed() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    splitmix64(nanos ^ u64::from(std::process::id()) << 32 ^ n) as u32
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A plan's image as a host file, removed when dropped.
pub struct ImageFile {
    pub plan: DiskPlan,
    pub path: PathBuf,
}

impl ImageFile {
    pub fn create(plan: DiskPlan) -> io::Result<Self> {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("virtus-disk-{}-{n}.img", std::process::id()));
        fs::write(&path, plan.image())?;
        Ok(Self { plan, path })
    }

    /// Judge the file (see [`DiskPlan::check`]).
    pub fn check(&self, durable_passed: bool) -> Result<(), String> {
        let image = fs::read(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        self.plan.check(&image, durable_passed)
    }
}

impl Drop for ImageFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// QEMU's arguments for the disk: on q35 a drive on the ICH9 AHCI
/// controller's first port; on `pc`, whose PIIX has IDE and no AHCI, an IDE
/// drive, which an AHCI driver must not mistake for one of its own.
/// `cache=writeback` with flushes honoured: a guest's FLUSH CACHE becomes
/// an fdatasync of the file, as on a real disk with a volatile cache.
pub fn qemu_drive_args(machine: &str, path: &Path) -> Vec<OsString> {
    let mut file = OsString::from("file=");
    file.push(path);
    file.push(",format=raw,if=none,id=disk0,cache=writeback");
    let device = if machine == "q35" {
        "ide-hd,drive=disk0,bus=ide.0"
    } else {
        "ide-hd,drive=disk0,bus=ide.0,unit=0"
    };
    ["-drive".into(), file, "-device".into(), device.into()].into()
}

/// The kernel's name for the disk on a QEMU machine (see [`qemu_drive_args`]).
pub fn native_name(machine: &str) -> Option<&'static str> {
    (machine == "q35").then_some("sda")
}

#[cfg(test)]
#[path = "disk_tests.rs"]
mod tests;
