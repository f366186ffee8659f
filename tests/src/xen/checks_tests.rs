use super::*;
use crate::xen::recorder::tests::run;

/// A run that went as `xen-checks` wants: each misbehaving guest reported
/// for what it did, the proof guest passing, dom0 done, QEMU gone.
const AS_EXPECTED: &str = "\
0 (XEN) Xen version 4.17
7 @@virtus dom0-start uptime=6.0
8 @@virtus dom0-ready uptime=7.0
10 @@virtus guest crasher created domid=1 uptime=9.0
12 @@virtus guest hanger created domid=2 uptime=11.0
14 @@virtus guest mute created domid=3 uptime=13.0
16 @@virtus guest linux-proof created domid=4 uptime=15.0
20 @@guest hanger| /bin/sh: can't access tty; job control turned off
24 @@guest crasher| [ 12.3] Kernel panic - not syncing: VFS: Unable to mount root fs
30 @@guest linux-proof| VIRTUS-LINUX-GUEST-OK
31 @@virtus guest linux-proof ended reason=poweroff code=0 uptime=30.0
31 @@virtus guest crasher ended reason=crash code=3 uptime=30.1
46 @@virtus guest hanger timeout uptime=45.0
47 @@virtus guest mute ended reason=poweroff code=0 uptime=46.0
47 @@dom0| Name      ID   Mem VCPUs	State	Time(s)
47 @@dom0| Domain-0   0   256     1     r-----      40.0
47 @@virtus dom0-cmd rc=0
48 @@virtus done uptime=47.0
";

fn report(script: &str, end: Termination) -> XenReport {
    let dom0: Vec<String> = dom0_commands().into_iter().map(|c| c.command).collect();
    let dom0: Vec<&str> = dom0.iter().map(String::as_str).collect();
    run(&specs(Path::new("/mute.elf")), &dom0, script, end)
}

/// [`AS_EXPECTED`] with the lines holding `needle` replaced (their time
/// kept) or dropped.
fn edited(needle: &str, replacement: Option<&str>) -> String {
    let edit = |entry: &str| {
        let (at, line) = entry.split_once(' ').unwrap();
        match line.contains(needle) {
            false => Some(format!("{entry}\n")),
            true => replacement.map(|new| format!("{at} {new}\n")),
        }
    };
    AS_EXPECTED.lines().filter_map(edit).collect()
}

fn problems(case: XenCase, script: &str) -> Vec<String> {
    case.assess(&report(script, Termination::Exited(0)))
        .problems
}

#[test]
fn the_runs_guests_are_the_cases() {
    let specs = specs(Path::new("/mute.elf"));
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["linux-proof", "crasher", "hanger", "mute"]);
    assert!(
        specs
            .iter()
            .all(|s| s.expect == crate::xen::Expectation::Poweroff)
    );
    assert_eq!(
        XenCase::Hang.spec(Path::new("/m")).unwrap().timeout,
        HANG_TIMEOUT
    );
    assert!(
        XenCase::Crash
            .spec(Path::new("/m"))
            .unwrap()
            .extra
            .contains("panic=-1")
    );
    assert_eq!(XenCase::Run.spec(Path::new("/m")), None);
    let mute = XenCase::Mute.spec(Path::new("/m")).unwrap();
    assert_eq!(
        mute.image,
        crate::xen::GuestImage::File {
            kernel: "/m".into(),
            ramdisk: None
        }
    );
}

#[test]
fn a_run_as_expected_has_every_case_behave() {
    let report = report(AS_EXPECTED, Termination::Exited(0));
    assert!(!report.passed());
    for case in XenCase::ALL {
        let assessment = case.assess(&report);
        assert!(assessment.behaved(), "{case:?}: {assessment:?}");
    }
    assert_eq!(
        XenCase::Crash.assess(&report).observed,
        "crash (code 3), 1 lines, FAIL: ended by crash, expected poweroff"
    );
    assert_eq!(
        XenCase::Mute.assess(&report).observed,
        "poweroff (code 0), 0 lines, FAIL: printed nothing on its console"
    );
    assert_eq!(
        XenCase::Run.assess(&report).observed,
        "done at 48.0s, QEMU exit 0 at 49.0s, 1 of 4 guests passed: FAIL"
    );
}

#[test]
fn a_crash_reported_otherwise_is_caught() {
    let powered_off = "@@virtus guest crasher ended reason=poweroff code=0 uptime=30.1";
    let lines = edited("crasher ended", Some(powered_off));
    assert_eq!(
        problems(XenCase::Crash, &lines),
        [
            "the guest's verdict is PASS",
            "ended by poweroff, expected crash",
            "code 0, expected 3"
        ]
    );
    let no_panic = edited("Kernel panic", None);
    assert_eq!(
        problems(XenCase::Crash, &no_panic),
        ["no console line mentions \"Kernel panic\""]
    );
}

#[test]
fn a_hang_must_be_a_timeout_after_its_budget_and_gone() {
    let ended = "@@virtus guest hanger ended reason=poweroff code=0 uptime=45.0";
    assert_eq!(
        problems(XenCase::Hang, &edited("hanger timeout", Some(ended))),
        [
            "the guest's verdict is PASS",
            "ended by poweroff, expected timeout"
        ]
    );
    let early = AS_EXPECTED.replace(
        "46 @@virtus guest hanger timeout uptime=45.0",
        "20 @@virtus guest hanger timeout",
    );
    assert_eq!(
        problems(XenCase::Hang, &early),
        ["timed out 8.0s after it started, before its 15s"]
    );
    let lingering = edited("Domain-0", Some("@@dom0| hanger  2  96  1  r-----  9.0"));
    assert_eq!(
        problems(XenCase::Hang, &lingering),
        ["hanger still exists after the run (`xl list`)"]
    );
    let unfinished = edited("dom0-cmd", None);
    assert_eq!(problems(XenCase::Hang, &unfinished), ["`xl list` failed"]);
}

#[test]
fn a_mute_guest_that_speaks_or_crashes_is_caught() {
    let spoke = edited("mute created", Some("@@guest mute| hello"));
    // The guest's console line replaced its `created`: it still ended.
    assert_eq!(
        problems(XenCase::Mute, &spoke),
        [
            "the guest's verdict is PASS",
            "printed 1 lines, the first: `hello`"
        ]
    );
    let crashed = "@@virtus guest mute ended reason=crash code=3 uptime=46.0";
    assert_eq!(
        problems(XenCase::Mute, &edited("mute ended", Some(crashed))),
        [
            "the verdict does not say \"printed nothing\": ended by crash, expected poweroff",
            "ended by crash, expected poweroff"
        ]
    );
}

#[test]
fn the_proof_guest_must_pass() {
    let lines = edited(
        "VIRTUS-LINUX-GUEST-OK",
        Some("@@guest linux-proof| sh: not found"),
    );
    assert_eq!(
        problems(XenCase::Proof, &lines),
        ["FAIL: never printed `VIRTUS-LINUX-GUEST-OK`"]
    );
}

#[test]
fn a_run_that_hangs_or_passes_is_caught() {
    let hung = report(
        &edited("done", None),
        Termination::TimedOut(Duration::from_secs(255)),
    );
    assert_eq!(
        XenCase::Run.assess(&hung).problems,
        [
            "QEMU killed after 255s: the run hung",
            "dom0 never reported `done`",
            "QEMU timeout after 255s, expected it to exit by itself"
        ]
    );
    let mut passing = report(AS_EXPECTED, Termination::Exited(0));
    passing.guests.iter_mut().for_each(|g| g.problems.clear());
    assert_eq!(
        XenCase::Run.assess(&passing).problems,
        ["the run's verdict is PASS: `xen` would exit 0"]
    );
    let missing = XenReport::setup_failed(&[], "no bed".into());
    assert_eq!(
        XenCase::Crash.assess(&missing).problems,
        ["no report for guest crasher"]
    );
}
