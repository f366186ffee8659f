use super::*;

fn bed() -> Bed {
    Bed {
        dir: PathBuf::from("/cache/xen-bed"),
        flavour: crate::xen::hvm::Flavour::Pvh,
    }
}

#[test]
fn qemu_boots_xen_with_dom0_as_modules() {
    let args = qemu_arguments(
        &bed(),
        Path::new("/tmp/x.initramfs"),
        512,
        Duration::from_secs(150),
    )
    .unwrap();
    let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
    let pair = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
    assert_eq!(pair("-cpu"), "EPYC,+svm,+npt,-monitor");
    assert_eq!(pair("-kernel"), "/cache/xen-bed/xen");
    assert_eq!(pair("-m"), "512");
    assert!(pair("-append").contains("dom0_mem=256M,max:256M"));
    assert_eq!(
        pair("-initrd"),
        "/cache/xen-bed/vmlinux console=hvc0 earlyprintk=xen quiet \
         virtus.watchdog=150,/tmp/x.initramfs"
    );
    assert!(args.contains(&"-no-reboot"));
}

#[test]
fn the_machine_has_room_for_every_guest_at_once() {
    let linux = |name: &str| GuestSpec::bed_linux(name, "").unwrap();
    assert_eq!(machine_memory_mb(&[]), 512);
    assert_eq!(machine_memory_mb(&[GuestSpec::linux_proof()]), 512);
    let two = [linux("a"), linux("b")];
    assert_eq!(machine_memory_mb(&two), 512);
    let four = [linux("a"), linux("b"), linux("c"), GuestSpec::linux_proof()];
    assert_eq!(machine_memory_mb(&four), 768);
    let mut big = GuestSpec::pvh("big", "/k").unwrap();
    big.memory_mb = 1000;
    assert_eq!(machine_memory_mb(&[big]), 1408);
}

#[test]
fn commas_in_module_strings_are_doubled() {
    let odd = Bed {
        dir: PathBuf::from("/a,b"),
        flavour: crate::xen::hvm::Flavour::Pvh,
    };
    let args = qemu_arguments(&odd, Path::new("/t,mp/x"), 512, Duration::from_secs(9)).unwrap();
    let initrd = args.last().unwrap().to_str().unwrap();
    assert!(initrd.starts_with("/a,,b/vmlinux "), "{initrd}");
    assert!(initrd.ends_with("watchdog=9,/t,,mp/x"), "{initrd}");
    assert!(qemu_arguments(&bed(), Path::new("/tmp/a b"), 512, Duration::ZERO).is_err());
}

#[test]
fn the_initramfs_is_the_bed_archive_then_ours() {
    let dir = std::env::temp_dir().join(format!("virtus-xen-test-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("dom0.cpio.gz"), b"BASE").unwrap();
    fs::write(dir.join("k.elf"), b"\x7fELF-kernel").unwrap();
    let bed = Bed {
        dir: dir.clone(),
        flavour: crate::xen::hvm::Flavour::Pvh,
    };
    let spec = GuestSpec::pvh("a", dir.join("k.elf")).unwrap();
    let out = dir.join("initramfs");
    write_initramfs(
        &bed,
        &[spec, GuestSpec::linux_proof()],
        "guest_start a\n",
        &out,
    )
    .unwrap();
    let bytes = fs::read(&out).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    assert!(bytes.starts_with(b"BASE070701"));
    let text = String::from_utf8_lossy(&bytes);
    for name in [
        "virtus-run\0",
        "virtus-run/script.sh\0",
        "virtus-run/guests\0",
        "virtus-run/guests/a.cfg\0",
        "virtus-run/guests/a.elf\0",
        "\x7fELF-kernel",
        "TRAILER!!!\0",
    ] {
        assert!(text.contains(name), "{name:?}");
    }
    // The bed's guest brings its own files.
    assert!(!text.contains("linux-proof"));
}

#[test]
fn bad_specs_fail_before_anything_runs() {
    let options = XenOptions {
        workspace: PathBuf::from("/nonexistent"),
        bed: None,
        dom0: Vec::new(),
        verbosity: Verbosity::Quiet,
        sequential: false,
    };
    let missing = GuestSpec::pvh("a", "/nonexistent/kernel").unwrap();
    let report = run_guests(&[missing], &options);
    assert_eq!(
        report.setup_error.as_deref(),
        Some("guest a: /nonexistent/kernel not found")
    );
    let twice = run_guests(
        &[GuestSpec::linux_proof(), GuestSpec::linux_proof()],
        &options,
    );
    assert_eq!(
        twice.setup_error.as_deref(),
        Some("two guests named `linux-proof`")
    );
}
