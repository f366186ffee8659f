use clap::error::ErrorKind;

use super::*;
use crate::cli::{Command, mistake, parse_args, words};

/// The run the command asks for, or why it is refused.
fn request(args: &[&str]) -> Result<PvRequest, String> {
    match parse_args(args) {
        Ok(Command::XenSuite(args)) => args.request(GuestKind::Pvh),
        Ok(Command::XenHvmSuite(args)) => args.request(GuestKind::Hvm),
        Ok(Command::XenRun(args)) => args.request(),
        Ok(Command::Legs(args)) => Ok(args.request()),
        other => panic!("{args:?} parsed as {other:?}"),
    }
}

fn parse_ok(line: &str) -> PvRequest {
    request(&words(line)).unwrap()
}

#[test]
fn xen_suite_defaults() {
    let request = parse_ok("xen-suite");
    assert_eq!((request.mode, request.red), (PvMode::Suite, false));
    assert_eq!(request.image, built("virtus-pv"));
    assert!(
        request
            .image
            .ends_with("target/x86_64-unknown-none/release/virtus-pv")
    );
    assert_eq!(request.extra(), "test=all loglevel=info xen.memory_mb=32");
    let guest = request.guest().unwrap();
    assert_eq!(
        (guest.name.as_str(), guest.memory_mb, guest.vcpus),
        ("virtus", 32, 1)
    );
    assert_eq!(guest.timeout, Duration::from_secs(240));
    let config = guest.xl_config().unwrap().unwrap();
    assert!(config.contains("extra = \"test=all loglevel=info xen.memory_mb=32\"\n"));
    assert!(config.contains("memory = 32\n"));
}

#[test]
fn xen_suite_options() {
    let request = parse_ok(
        "xen-suite --image=/k --memory 64M --append log=xen --timeout 90s --bed /bed --quiet \
         --red --ramdisk=/rd",
    );
    assert_eq!((&request.image, request.memory_mb), (&"/k".into(), 64));
    assert_eq!(
        request.extra(),
        "test=all loglevel=info xen.memory_mb=64 log=xen"
    );
    assert_eq!(request.timeout, Duration::from_secs(90));
    assert_eq!(
        (request.bed, request.ramdisk),
        (Some("/bed".into()), Some("/rd".into()))
    );
    assert_eq!((request.verbosity, request.red), (Verbosity::Quiet, true));
}

#[test]
fn xen_hvm_suite_runs_the_native_elf32() {
    let request = parse_ok("xen-hvm-suite");
    assert_eq!(request.mode, PvMode::HvmSuite);
    assert_eq!(request.image, built("virtus-native.elf32"));
    assert_eq!(request.extra(), "test=all loglevel=info");
    let guest = request.guest().unwrap();
    assert_eq!((guest.kind, guest.memory_mb), (GuestKind::Hvm, 64));
    let config = guest.xl_config().unwrap().unwrap();
    assert!(config.contains("type = \"hvm\"\n"), "{config}");
    assert!(config.contains("extra = \"test=all loglevel=info\"\n"));
    let request = parse_ok("xen-hvm-suite --image=/n32 --memory=96 --append=x --red --verbose");
    assert_eq!((&request.image, request.memory_mb), (&"/n32".into(), 96));
    assert_eq!(request.extra(), "test=all loglevel=info x");
    assert_eq!((request.verbosity, request.red), (Verbosity::Verbose, true));
}

#[test]
fn xen_run_boots_to_the_shell() {
    let request = parse_ok("xen-run --memory 48 --ramdisk /rd --bed /b");
    assert_eq!(request.extra(), "loglevel=info xen.memory_mb=48");
    assert_eq!(
        (request.ramdisk, request.bed),
        (Some("/rd".into()), Some("/b".into()))
    );
    // Without --hvm it is the PVH build.
    let pvh = parse_ok("xen-run");
    assert_eq!((pvh.kind, pvh.memory_mb), (GuestKind::Pvh, 32));
    assert_eq!(pvh.image, built("virtus-pv"));
}

#[test]
fn xen_run_hvm_boots_the_native_elf32_to_the_shell() {
    let request = parse_ok("xen-run --hvm");
    assert_eq!((request.mode, request.kind), (PvMode::Run, GuestKind::Hvm));
    assert_eq!(request.image, built("virtus-native.elf32"));
    assert_eq!(request.memory_mb, 64);
    assert_eq!(request.extra(), "loglevel=info");
    let config = request.guest().unwrap().xl_config().unwrap().unwrap();
    assert!(config.contains("type = \"hvm\"\n"), "{config}");
    assert!(config.contains("serial = \"pty\"\n"), "{config}");
    // The options may come before --hvm, and keep their values.
    let request = parse_ok("xen-run --image=/k32 --memory 80 --append=x --hvm");
    assert_eq!(request.extra(), "loglevel=info x");
    assert_eq!(
        (request.kind, request.image, request.memory_mb),
        (GuestKind::Hvm, "/k32".into(), 80)
    );
}

#[test]
fn legs_takes_three_images() {
    let request = parse_ok(
        "legs --native-image /n --hvm-image=/n32 --pv-image=/p --memory=48 --hvm-memory 96M \
         --timeout=300 --bed /bed --hvm-bed=/hbed --quiet",
    );
    assert_eq!(
        (request.mode, request.verbosity),
        (PvMode::Legs, Verbosity::Quiet)
    );
    assert_eq!(request.native_image, PathBuf::from("/n"));
    let [hvm, pvh] = request.xen_legs();
    assert_eq!(hvm.extra(), "test=all loglevel=info");
    assert_eq!(pvh.extra(), "test=all loglevel=info xen.memory_mb=48");
    assert_eq!((hvm.mode, hvm.kind), (PvMode::HvmSuite, GuestKind::Hvm));
    assert_eq!((pvh.mode, pvh.kind), (PvMode::Suite, GuestKind::Pvh));
    assert_eq!(
        (hvm.timeout, pvh.timeout),
        (pvh.timeout, Duration::from_secs(300))
    );
    let hvm = (hvm.image, hvm.memory_mb, hvm.bed);
    assert_eq!(hvm, ("/n32".into(), 96, Some("/hbed".into())));
    let pvh = (pvh.image, pvh.memory_mb, pvh.bed);
    assert_eq!(pvh, ("/p".into(), 48, Some("/bed".into())));
}

#[test]
fn legs_defaults_and_its_alias_both() {
    for command in ["legs", "both"] {
        let request = parse_ok(command);
        assert_eq!(
            (request.mode, request.verbosity),
            (PvMode::Legs, Verbosity::Normal)
        );
        assert_eq!(request.native_image, built("virtus-native"));
        let [hvm, pvh] = request.xen_legs();
        assert_eq!(hvm.image, built("virtus-native.elf32"));
        assert_eq!(pvh.image, built("virtus-pv"));
        assert_eq!((hvm.memory_mb, pvh.memory_mb), (64, 32));
        assert_eq!(
            (hvm.bed, pvh.bed, pvh.timeout),
            (None, None, Duration::from_secs(240))
        );
    }
}

#[test]
fn mistakes_are_explained() {
    for line in [
        "xen-run --timeout 5",
        "xen-run --quiet",
        "both --image /k",
        "xen-suite --hvm",
    ] {
        let message = mistake(&words(line), ErrorKind::UnknownArgument);
        let option = line.split(' ').nth(1).unwrap();
        assert!(message.contains(&format!("'{option}'")), "{message}");
    }
    let message = mistake(&words("legs --hvm-memory 2"), ErrorKind::ValueValidation);
    assert!(message.contains("'2' for '--hvm-memory <MB>': not MB from 4 to 4096"));
    mistake(&words("xen-suite --image"), ErrorKind::InvalidValue);
    let message = mistake(
        &words("xen-suite --memory lots"),
        ErrorKind::ValueValidation,
    );
    assert!(message.contains("'lots' for '--memory <MB>'"), "{message}");
    let message = mistake(&words("xen-suite --timeout 0"), ErrorKind::ValueValidation);
    assert!(message.contains("'0' for '--timeout <SECS>'"), "{message}");
    // What xl could not read is refused before Xen boots.
    let refused = request(&["xen-suite", "--append", "say \"hi\""]).unwrap_err();
    assert!(refused.contains("extra must not"), "{refused}");
}
