use super::*;

#[test]
fn names() {
    for good in ["a", "virtus-pvh", "t0", &"x".repeat(32)] {
        assert_eq!(validate_name(good), Ok(()), "{good}");
    }
    for bad in ["", "A", "a_b", "a b", "a.b", "a/b", &"x".repeat(33)] {
        assert!(validate_name(bad).is_err(), "{bad}");
    }
    assert!(GuestSpec::pvh("Virtus", "/k").is_err());
}

#[test]
fn xl_config_of_a_pvh_guest() {
    let mut spec = GuestSpec::pvh("virtus", "/host/target/virtus-pvh").unwrap();
    spec.extra = "test=all loglevel=info".into();
    spec.memory_mb = 32;
    spec.vcpus = 2;
    spec.image = GuestImage::File {
        kernel: "/host/k".into(),
        ramdisk: Some("/host/initrd".into()),
    };
    assert_eq!(
        spec.xl_config().unwrap().unwrap(),
        "name = \"virtus\"\n\
         type = \"pvh\"\n\
         kernel = \"/virtus-run/guests/virtus.elf\"\n\
         ramdisk = \"/virtus-run/guests/virtus.ramdisk\"\n\
         extra = \"test=all loglevel=info xen.expect_name=virtus smp.cpus=2\"\n\
         on_poweroff = \"destroy\"\n\
         on_reboot = \"destroy\"\n\
         on_crash = \"destroy\"\n\
         tsc_mode = \"native\"\n\
         memory = 32\n\
         vcpus = 2\n"
    );
}

#[test]
fn xl_config_of_an_hvm_guest() {
    let mut spec = GuestSpec::hvm("native", "/host/virtus-native.elf32").unwrap();
    spec.extra = "test=all".into();
    spec.disks = vec!["format=raw,vdev=hda,access=rw,backendtype=qdisk,target=/d.img".into()];
    assert_eq!(spec.kind.xl_type(), "hvm");
    assert_eq!(
        spec.xl_config().unwrap().unwrap(),
        "name = \"native\"\n\
         type = \"hvm\"\n\
         kernel = \"/virtus-run/guests/native.elf\"\n\
         extra = \"test=all smp.cpus=1\"\n\
         device_model_version = \"qemu-xen\"\n\
         hap = 1\n\
         serial = \"pty\"\n\
         vga = \"none\"\n\
         nographic = 1\n\
         vnc = 0\n\
         sdl = 0\n\
         xen_platform_pci = 0\n\
         hdtype = \"ahci\"\n\
         on_poweroff = \"preserve\"\n\
         on_reboot = \"preserve\"\n\
         on_crash = \"preserve\"\n\
         tsc_mode = \"native\"\n\
         disk = [ \"format=raw,vdev=hda,access=rw,backendtype=qdisk,target=/d.img\" ]\n\
         memory = 64\n\
         vcpus = 1\n"
    );
    assert_eq!(GuestKind::parse("hvm"), Some(GuestKind::Hvm));
    assert_eq!(GuestKind::parse("pv"), None);
}

#[test]
fn minimal_config_has_no_ramdisk_and_only_the_name_as_extra() {
    let config = GuestSpec::pvh("a", "/k")
        .unwrap()
        .xl_config()
        .unwrap()
        .unwrap();
    assert!(!config.contains("ramdisk"));
    assert!(config.contains("extra = \"xen.expect_name=a smp.cpus=1\"\n"));
    assert!(config.contains("memory = 64\n"));
    assert!(config.contains("vcpus = 1\n"));
}

#[test]
fn values_xl_could_misread_are_refused() {
    for extra in ["say \"hi\"", "it's", "a\\b", "two\nlines", "tab\there"] {
        let mut spec = GuestSpec::pvh("a", "/k").unwrap();
        spec.extra = extra.into();
        let error = spec.xl_config().unwrap_err();
        assert!(error.starts_with("extra must not contain"), "{error}");
    }
    let mut spec = GuestSpec::pvh("a", "/k").unwrap();
    spec.memory_mb = 0;
    assert!(spec.xl_config().is_err());
}

#[test]
fn the_bed_guest_brings_its_own_config() {
    let proof = GuestSpec::linux_proof();
    assert_eq!(proof.xl_config(), Ok(None));
    assert_eq!(proof.expect_lines, [LINUX_PROOF_LINE]);
}

#[test]
fn the_bed_linux_with_arguments() {
    let crasher = GuestSpec::bed_linux("crasher", "rdinit=/none panic=-1").unwrap();
    assert_eq!(crasher.image, GuestImage::BedLinuxArgs);
    assert_eq!(crasher.extra, "rdinit=/none panic=-1");
    assert_eq!(crasher.memory_mb, BED_LINUX_MEMORY_MB);
    assert!(crasher.expect_lines.is_empty());
    assert_eq!(crasher.xl_config(), Ok(None));
    let quoted = GuestSpec::bed_linux("a", "say \"hi\"").unwrap();
    assert!(
        quoted
            .xl_config()
            .unwrap_err()
            .starts_with("extra must not")
    );
    assert!(GuestSpec::bed_linux("A", "").is_err());
}

#[test]
fn expectations() {
    use ShutdownReason::*;
    assert!(Expectation::Poweroff.accepts(Poweroff));
    assert!(!Expectation::Poweroff.accepts(Crash));
    assert!(Expectation::Crash.accepts(Crash));
    assert!(!Expectation::Crash.accepts(Reboot));
    assert!(Expectation::Any.accepts(Reboot));
    assert_eq!(Expectation::parse("crash"), Some(Expectation::Crash));
    assert_eq!(Expectation::parse("halt"), None);
}
