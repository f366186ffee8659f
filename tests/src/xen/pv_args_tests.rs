use super::*;
use crate::cli::{Command, mistakes, parse_args, words};

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

/// Each command's guest: `line => mode kind image memory: extra`, with $B
/// the build directory and $S the suite's command line. The options may
/// come before --hvm, and keep their values.
const GUESTS: &str = "\
xen-suite                                    => Suite Pvh $B/virtus-pv 32M: $S xen.memory_mb=32
xen-suite --image=/k --memory 64M --append x => Suite Pvh /k 64M: $S xen.memory_mb=64 x
xen-hvm-suite                                => HvmSuite Hvm $B/virtus-native.elf32 64M: $S
xen-hvm-suite --image=/n32 --memory=96 --append=x => HvmSuite Hvm /n32 96M: $S x
xen-run                                      => Run Pvh $B/virtus-pv 32M: loglevel=info xen.memory_mb=32
xen-run --memory 48                          => Run Pvh $B/virtus-pv 48M: loglevel=info xen.memory_mb=48
xen-run --hvm                                => Run Hvm $B/virtus-native.elf32 64M: loglevel=info
xen-run --image=/k32 --memory 80 --append=x --hvm => Run Hvm /k32 80M: loglevel=info x";

#[test]
fn each_command_boots_its_guest() {
    for row in GUESTS.lines() {
        let (line, expected) = row.split_once(" => ").unwrap();
        let expected = (expected.replace("$B/", &built("").display().to_string()))
            .replace("$S", "test=all loglevel=info");
        let r = parse_ok(line);
        let (image, extra) = (r.image.display(), r.extra());
        let got = format!(
            "{:?} {:?} {image} {}M: {extra}",
            r.mode, r.kind, r.memory_mb
        );
        assert_eq!(got, expected, "{line}");
        let guest = r.guest().unwrap();
        assert_eq!((guest.name.as_str(), guest.vcpus), ("virtus", 1), "{line}");
        let config = guest.xl_config().unwrap().unwrap();
        assert!(
            config.contains(&format!("extra = \"{extra}\"\n")),
            "{config}"
        );
        assert!(
            config.contains(&format!("memory = {}\n", r.memory_mb)),
            "{config}"
        );
        let hvm = config.contains("type = \"hvm\"\n") && config.contains("serial = \"pty\"\n");
        assert_eq!(hvm, r.kind == GuestKind::Hvm, "{config}");
    }
}

#[test]
fn the_suites_options() {
    let defaults = parse_ok("xen-suite");
    assert_eq!(
        (defaults.verbosity, defaults.red),
        (Verbosity::Normal, false)
    );
    assert_eq!(defaults.guest().unwrap().timeout, Duration::from_secs(240));
    assert_eq!((defaults.bed, defaults.ramdisk), (None, None));
    let request = parse_ok("xen-suite --timeout 90s --bed /bed --quiet --red --ramdisk=/rd");
    assert_eq!(request.timeout, Duration::from_secs(90));
    assert_eq!(
        (request.bed, request.ramdisk),
        (Some("/bed".into()), Some("/rd".into()))
    );
    assert_eq!((request.verbosity, request.red), (Verbosity::Quiet, true));
    let request = parse_ok("xen-hvm-suite --red --verbose");
    assert_eq!((request.verbosity, request.red), (Verbosity::Verbose, true));
    let request = parse_ok("xen-run --ramdisk /rd --bed /b");
    assert_eq!(
        (request.ramdisk, request.bed),
        (Some("/rd".into()), Some("/b".into()))
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
    mistakes(
        "\
xen-run --timeout 5     => UnknownArgument: '--timeout'
xen-run --quiet         => UnknownArgument: '--quiet'
both --image /k         => UnknownArgument: '--image'
xen-suite --hvm         => UnknownArgument: '--hvm'
legs --hvm-memory 2     => ValueValidation: '2' for '--hvm-memory <MB>': not MB from 4 to 4096
xen-suite --image       => InvalidValue: '--image <PATH>'
xen-suite --memory lots => ValueValidation: 'lots' for '--memory <MB>'
xen-suite --timeout 0   => ValueValidation: '0' for '--timeout <SECS>'",
    );
    // What xl could not read is refused before Xen boots.
    let refused = request(&["xen-suite", "--append", "say \"hi\""]).unwrap_err();
    assert!(refused.contains("extra must not"), "{refused}");
}
