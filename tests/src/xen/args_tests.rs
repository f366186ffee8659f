use std::time::Duration;

use super::*;
use crate::cli::{Command, mistakes, parse_args, words};
use crate::xen::guest::LINUX_PROOF_LINE;

/// The run `xen`, `xen-proof` or `xen-checks` asks for, or why it is refused.
fn request(args: &[&str]) -> Result<XenRequest, String> {
    match parse_args(args) {
        Ok(Command::Xen(request)) => request.resolve(false),
        Ok(Command::XenProof(request)) => request.resolve(true),
        Ok(Command::XenChecks(args)) => Ok(args.request()),
        other => panic!("{args:?} parsed as {other:?}"),
    }
}

#[test]
fn a_guest_with_every_setting() {
    let spec = parse_guest(
        "virtus=target/virtus-pvh,memory=32,vcpus=2,cmdline=test=all,loglevel=info,\
         ramdisk=/tmp/rd,expect=crash,timeout=45s",
    )
    .unwrap();
    assert_eq!(spec.name, "virtus");
    let (kernel, ramdisk) = ("target/virtus-pvh".into(), Some("/tmp/rd".into()));
    assert_eq!(spec.image, GuestImage::File { kernel, ramdisk });
    assert_eq!((spec.memory_mb, spec.vcpus), (32, 2));
    // The comma inside the command line did not start a setting.
    assert_eq!(spec.extra, "test=all,loglevel=info");
    assert_eq!(spec.expect, Expectation::Crash);
    assert_eq!(spec.timeout, Duration::from_secs(45));
}

#[test]
fn short_guests_are_what_their_constructors_make() {
    let spec = parse_guest("n=/k.elf32,type=hvm,cmdline=test=all,memory=64").unwrap();
    let mut expected = GuestSpec::hvm("n", "/k.elf32").unwrap();
    expected.extra = "test=all".into();
    assert_eq!(spec, expected);
    assert_eq!(parse_guest("p=/k,type=pvh").unwrap().kind, GuestKind::Pvh);
    // A bare guest takes the defaults.
    let spec = parse_guest("a=/k,1").unwrap();
    assert_eq!(spec, GuestSpec::pvh("a", "/k,1").unwrap());
    // The bed's Linux, with a command line.
    let spec = parse_guest("crasher=@linux,cmdline=rdinit=/x panic=-1,timeout=30").unwrap();
    let mut expected = GuestSpec::bed_linux("crasher", "rdinit=/x panic=-1").unwrap();
    expected.timeout = Duration::from_secs(30);
    assert_eq!(spec, expected);
    let image = parse_guest("a=@linux").unwrap().image;
    assert_eq!(image, GuestImage::BedLinuxArgs);
}

#[test]
fn bad_guests_are_explained() {
    let table = "\
nopath => not NAME=PATH
a= => no image path
a=memory=3 => no image path
A=/k => bad guest name
a=/k,memory=0 => memory wants a number from 1 to 4096, not `0`
a=/k,expect=reboot => expect wants poweroff, crash or any, not `reboot`
a=/k,timeout=soon => timeout `soon`: not whole seconds
a=/k,cmdline=say \"hi\" => extra must not contain
n=/k,type=pv => type wants pvh or hvm, not `pv`
a=@linux,type=hvm => type is fixed for @linux
a=@linux,memory=64 => memory is fixed for @linux
a=@linux,cmdline=x\"y => extra must not contain
a=/k,ramdisk= => `ramdisk=` is not a guest setting";
    for row in table.lines() {
        let (text, why) = row.split_once(" => ").unwrap();
        let error = parse_guest(text).unwrap_err();
        assert!(error.contains(why), "{text}: {error}");
    }
}

#[test]
fn xen_options() {
    let mut args = words("xen --guest a=/k --guest=b=/k2,timeout=5 --linux-proof --bed /b");
    args.extend(["--dom0", "xl dmesg", "--dom0-running=xl list", "--verbose"]);
    args.extend(["--expect-line", "a=ok 1", "--expect-line=a=done"]);
    let request = request(&args).unwrap();
    let names: Vec<_> = request.guests.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "linux-proof"]);
    assert_eq!(request.guests[0].expect_lines, ["ok 1", "done"]);
    assert_eq!(request.guests[1].timeout, Duration::from_secs(5));
    assert_eq!(request.guests[2].expect_lines, [LINUX_PROOF_LINE]);
    let dom0: Vec<_> = (request.dom0.iter())
        .map(|c| (c.when, c.command.as_str()))
        .collect();
    assert_eq!(
        dom0,
        [
            (Dom0Point::End, "xl dmesg"),
            (Dom0Point::Running, "xl list")
        ]
    );
    assert_eq!(
        (request.bed, request.verbosity),
        (Some("/b".into()), Verbosity::Verbose)
    );
}

#[test]
fn xen_proof_and_xen_checks() {
    let proof = request(&["xen-proof"]).unwrap();
    assert_eq!(proof.guests, [GuestSpec::linux_proof()]);
    assert_eq!(proof.verbosity, Verbosity::Normal);
    let both = request(&words("xen-proof --linux-proof --quiet")).unwrap();
    assert_eq!((both.guests.len(), both.verbosity), (1, Verbosity::Quiet));
    let checks = request(&words("xen-checks --quiet --bed=/b")).unwrap();
    assert_eq!((checks.bed, checks.guests.len()), (Some("/b".into()), 0));
    assert_eq!(checks.verbosity, Verbosity::Quiet);
}

#[test]
fn mistakes_are_explained() {
    mistakes(
        "\
xen => MissingRequiredArgument: <--guest <NAME=PATH[,KEY=VALUE...]>|--linux-proof|--dom0 <CMD>|
xen --image x => UnknownArgument
xen --guest => InvalidValue
xen --linux-proof --quiet --verbose => ArgumentConflict
xen --linux-proof --expect-line linux-proof => ValueValidation: 'linux-proof' for '--expect-line <NAME=TEXT>': not NAME=TEXT
xen --guest a=/k,vcpus=99 => ValueValidation: 'a=/k,vcpus=99'
xen --guest a=/k,vcpus=99 => ValueValidation: vcpus wants a number from 1 to 64, not `99`",
    );
    let refused = request(&words("xen --guest a=/k --expect-line b=x")).unwrap_err();
    assert_eq!(refused, "--expect-line names `b`, which is not a guest");
    let refused = request(&words("xen-proof --guest linux-proof=/k")).unwrap_err();
    assert!(refused.contains("bed's own"), "{refused}");
}
