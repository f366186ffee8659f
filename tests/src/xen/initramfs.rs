//! dom0's initramfs: the bed's archive, then one of ours with the script,
//! the guests and any other files a run hands to dom0 (the kernel unpacks
//! concatenated archives in order, so ours lands on top).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::bed::Bed;
use super::cpio::Archive;
use super::guest::{GuestImage, GuestSpec};

/// Where dom0's init finds the script it sources.
const SCRIPT: &str = "/virtus-run/script.sh";

/// Writes dom0's initramfs to a new temporary file: `script`, each guest's
/// xl config, kernel and ramdisk, and `files` (path in dom0, contents).
/// Guests that boot the same kernel share one copy of it, through
/// symbolic links: dom0's root is a tmpfs that already holds most of the
/// bed, and 32 copies of a kernel do not fit.
pub fn write(
    bed: &Bed,
    specs: &[GuestSpec],
    script: &str,
    files: &[(String, Vec<u8>)],
) -> io::Result<TempFile> {
    let file = TempFile::new()?;
    let mut out = BufWriter::new(File::create(&file.0)?);
    io::copy(&mut File::open(bed.dom0_initramfs())?, &mut out)?;
    let mut archive = Archive::new(out);
    archive.file(SCRIPT, 0o755, script.as_bytes())?;
    for (path, contents) in files {
        archive.file(path, 0o644, contents)?;
    }
    // Each kernel's first copy in dom0 (a file name in the guests'
    // directory), by the kernel's path on the host.
    let mut kernels: BTreeMap<&Path, String> = BTreeMap::new();
    for spec in specs {
        let (GuestImage::File { kernel, ramdisk }, Ok(Some(config))) =
            (&spec.image, spec.xl_config())
        else {
            continue;
        };
        archive.file(&spec.dom0_config(), 0o644, config.as_bytes())?;
        match kernels.get(kernel.as_path()) {
            Some(first) => archive.symlink(&spec.dom0_kernel(), first)?,
            None => {
                let stripped = stripped(kernel)?;
                let path = stripped.as_ref().map_or(kernel.as_path(), |s| &s.0);
                let own = spec.dom0_kernel();
                copy(&mut archive, &own, path)?;
                let name = own.rsplit('/').next().unwrap_or(&own);
                kernels.insert(kernel, name.to_string());
            }
        }
        if let Some(ramdisk) = ramdisk {
            copy(&mut archive, &spec.dom0_ramdisk(), ramdisk)?;
        }
    }
    archive.finish()?;
    Ok(file)
}

/// The host file `from`, streamed into the archive at `path`.
fn copy<W: io::Write>(archive: &mut Archive<W>, path: &str, from: &Path) -> io::Result<()> {
    let file = File::open(from)?;
    let len = file.metadata()?.len();
    archive.file_from(path, 0o644, len, file)
}

/// The guest kernel without its debug sections, when `objcopy` can strip
/// them: dom0's root file system is a tmpfs that holds the whole bed, so a
/// few megabytes of DWARF per guest decide whether several guests fit; xl
/// needs only the loadable segments and the notes. `None`: use it as it is.
pub fn stripped(kernel: &Path) -> io::Result<Option<TempFile>> {
    let stripped = TempFile::new()?;
    let status = Command::new("objcopy")
        .arg("--strip-debug")
        .arg(kernel)
        .arg(&stripped.0)
        .stderr(Stdio::null())
        .status();
    Ok(status.is_ok_and(|s| s.success()).then_some(stripped))
}

/// A file in the temporary directory, removed when dropped.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new() -> io::Result<Self> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let (pid, n) = (std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
        let name = format!("virtus-xen-{pid}-{n}.tmp");
        let path = std::env::temp_dir().join(name);
        File::create(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xen::bed::pvh_bed;

    #[test]
    fn the_bed_archive_then_ours_with_one_copy_of_each_kernel() {
        let dir = std::env::temp_dir().join(format!("virtus-initramfs-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("dom0.cpio.gz"), b"BASE").unwrap();
        // Not an ELF: objcopy refuses it, and it goes in as it is.
        fs::write(dir.join("k.elf"), b"KERNEL-BYTES-ONCE").unwrap();
        fs::write(dir.join("r.img"), b"RAMDISK").unwrap();
        let bed = pvh_bed(dir.clone());
        let mut a = GuestSpec::pvh("a", dir.join("k.elf")).unwrap();
        if let GuestImage::File { ramdisk, .. } = &mut a.image {
            *ramdisk = Some(dir.join("r.img"));
        }
        let b = GuestSpec::pvh("b", dir.join("k.elf")).unwrap();
        let specs = [a, b, GuestSpec::linux_proof()];
        let files = [("/virtus-run/guests/b.input".to_string(), b"x".to_vec())];
        let file = write(&bed, &specs, "guest_start a\n", &files).unwrap();
        let bytes = fs::read(&file.0).unwrap();
        fs::remove_dir_all(&dir).unwrap();

        let ours = bytes
            .strip_prefix(b"BASE")
            .expect("the bed's archive first");
        let unpacked = crate::xen::cpio::tests::Unpacked::new(ours);
        let at = |path: &str| unpacked.0.join("virtus-run").join(path);
        assert_eq!(fs::read(at("script.sh")).unwrap(), b"guest_start a\n");
        assert_eq!(fs::read(at("guests/b.input")).unwrap(), b"x");
        assert_eq!(fs::read(at("guests/a.elf")).unwrap(), b"KERNEL-BYTES-ONCE");
        assert_eq!(fs::read(at("guests/a.ramdisk")).unwrap(), b"RAMDISK");
        assert_eq!(
            fs::read_link(at("guests/b.elf")).unwrap(),
            Path::new("a.elf")
        );
        assert_eq!(fs::read(at("guests/b.elf")).unwrap(), b"KERNEL-BYTES-ONCE");
        // Each config names the guest's own path; b's is the link.
        let b_config = fs::read_to_string(at("guests/b.cfg")).unwrap();
        assert!(b_config.contains("kernel = \"/virtus-run/guests/b.elf\""));
        assert_eq!(
            String::from_utf8_lossy(ours)
                .matches("KERNEL-BYTES-ONCE")
                .count(),
            1
        );
        // The bed's guest brings its own files.
        assert!(!at("guests/linux-proof.cfg").exists());
    }
}
