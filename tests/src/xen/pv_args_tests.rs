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

/// Each command's guests: `line => mode kind image memory: extra`, with
/// $B the build directory and $S the suite's command line; `legs` has two,
/// HVM | PVH. The options may come before --hvm, and keep their values.
const GUESTS: &str = "\
xen-suite                                    => Suite Pvh $B/virtus-pv 32M: $S xen.memory_mb=32
xen-suite --image=/k --memory 64M --append x => Suite Pvh /k 64M: $S xen.memory_mb=64 x
xen-hvm-suite                                => HvmSuite Hvm $B/virtus-native.elf32 64M: $S
xen-hvm-suite --image=/n32 --memory=96 --append=x => HvmSuite Hvm /n32 96M: $S x
xen-run                                      => Run Pvh $B/virtus-pv 32M: loglevel=info xen.memory_mb=32
xen-run --memory 48                          => Run Pvh $B/virtus-pv 48M: loglevel=info xen.memory_mb=48
xen-run --hvm                                => Run Hvm $B/virtus-native.elf32 64M: loglevel=info
xen-run --image=/k32 --memory 80 --append=x --hvm => Run Hvm /k32 80M: loglevel=info x
legs => HvmSuite Hvm $B/virtus-native.elf32 64M: $S | Suite Pvh $B/virtus-pv 32M: $S xen.memory_mb=32
both => HvmSuite Hvm $B/virtus-native.elf32 64M: $S | Suite Pvh $B/virtus-pv 32M: $S xen.memory_mb=32
legs --hvm-image=/n32 --pv-image=/p --memory=48 --hvm-memory 96M => HvmSuite Hvm /n32 96M: $S | Suite Pvh /p 48M: $S xen.memory_mb=48";

#[test]
fn each_command_boots_its_guests() {
    for row in GUESTS.lines() {
        let (line, expected) = row.split_once(" => ").unwrap();
        let expected = (expected.replace("$B/", &built("").display().to_string()))
            .replace("$S", "test=all loglevel=info");
        let request = parse_ok(line);
        let runs = match request.mode {
            PvMode::Legs => request.xen_legs().to_vec(),
            _ => vec![request],
        };
        let got: Vec<String> = runs.iter().map(guest_summary).collect();
        assert_eq!(got.join(" | "), expected, "{line}");
    }
}

/// `mode kind image memory: extra`, once checked that the guest's xl
/// config carries them.
fn guest_summary(r: &PvRequest) -> String {
    let (image, extra) = (r.image.display(), r.extra());
    let guest = r.guest().unwrap();
    assert_eq!((guest.name.as_str(), guest.vcpus), ("virtus", 1));
    let config = guest.xl_config().unwrap().unwrap();
    assert!(
        // (a PVH config adds xen.expect_name=, see guest.rs)
        config.contains(&format!("extra = \"{extra}")),
        "{config}"
    );
    assert!(
        config.contains(&format!("memory = {}\n", r.memory_mb)),
        "{config}"
    );
    let hvm = config.contains("type = \"hvm\"\n") && config.contains("serial = \"pty\"\n");
    assert_eq!(hvm, r.kind == GuestKind::Hvm, "{config}");
    format!(
        "{:?} {:?} {image} {}M: {extra}",
        r.mode, r.kind, r.memory_mb
    )
}

#[test]
fn the_suites_options() {
    let defaults = parse_ok("xen-suite");
    assert_eq!(
        (defaults.verbosity, defaults.red),
        (Verbosity::Normal, false)
    );
    assert_eq!(defaults.guest().unwrap().timeout, Duration::from_secs(240));
    assert_eq!(
        (defaults.bed, defaults.ramdisk),
        (None, Some(built("virtus-ramdisk.cpio")))
    );
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
fn legs_options_and_defaults() {
    let request =
        parse_ok("legs --native-image /n --timeout=300 --bed /bed --hvm-bed=/hbed --quiet");
    assert_eq!(
        (request.mode, request.verbosity),
        (PvMode::Legs, Verbosity::Quiet)
    );
    assert_eq!(request.native_image, PathBuf::from("/n"));
    let [hvm, pvh] = request.xen_legs();
    let timeout = Duration::from_secs(300);
    assert_eq!((hvm.timeout, pvh.timeout), (timeout, timeout));
    assert_eq!(
        (hvm.bed, pvh.bed),
        (Some("/hbed".into()), Some("/bed".into()))
    );
    let request = parse_ok("legs");
    assert_eq!(request.native_image, built("virtus-native"));
    assert_eq!(request.ramdisk, Some(built("virtus-ramdisk.cpio")));
    let request = parse_ok("legs --ramdisk /rd");
    assert_eq!(request.ramdisk, Some("/rd".into()));
    assert_eq!(request.verbosity, Verbosity::Normal);
    let [hvm, pvh] = request.xen_legs();
    let timeout = Duration::from_secs(240);
    assert_eq!(
        (hvm.timeout, pvh.timeout, hvm.bed, pvh.bed),
        (timeout, timeout, None, None)
    );
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
