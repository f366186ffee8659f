//! Tests of the floor: probe names, the plan, judging probes, the bisection's rule.

use super::*;
use crate::expect::Leg;
use crate::xen::protocol::ConsoleParser;

fn events(transcript: &str) -> Vec<Stamped> {
    let mut parser = ConsoleParser::new();
    let mut out = parser.feed(transcript, Duration::ZERO);
    out.extend(parser.finish());
    out
}

/// A shell probe at `mb` that powered off at its prompt (`ok`) or crashed.
fn shell(mb: u32, attempt: u32, ok: bool) -> String {
    let name = format!("floor-shell-{mb}m-{attempt}");
    if ok {
        format!(
            "@@virtus guest {name} created domid=1 uptime=1.0\n\
             @@guest {name}| [    0.010000] INFO  shell ready\n\
             @@guest {name}| virtus> shutdown\n\
             @@virtus guest {name} ended reason=poweroff code=0 uptime=2.0\n"
        )
    } else {
        format!(
            "@@virtus guest {name} created domid=1 uptime=1.0\n\
             @@guest {name}| [    0.002250] INFO  Virtus on xen-pvh\n\
             @@guest {name}| !!! memory initialisation failed: out of frames\n\
             @@virtus guest {name} ended reason=crash code=3 uptime=2.0\n"
        )
    }
}

fn xl_failed(mb: u32) -> String {
    let name = format!("floor-shell-{mb}m-1");
    format!(
        "@@virtus guest {name} failed xl create exited with 3\n\
         @@guest-xl {name}| libxl: error: cannot allocate memory\n"
    )
}

fn shell_floor(transcript: &str) -> Floor {
    floors(
        &events(transcript),
        Some(Termination::Exited(0)),
        Duration::ZERO,
    )
    .remove(0)
}

#[test]
fn the_floor_is_the_least_size_that_passed_above_one_that_failed() {
    // 32 ok, 16 ok, 8 ok, 4 ok, 2 crash, 3 ok; then 3 and 2 twice more.
    let mut t: String = [
        (32, true),
        (16, true),
        (8, true),
        (4, true),
        (2, false),
        (3, true),
    ]
    .iter()
    .map(|&(mb, ok)| shell(mb, 1, ok))
    .collect();
    for attempt in 2..=3 {
        t += &shell(3, attempt, true);
        t += &shell(2, attempt, false);
    }
    let floor = shell_floor(&t);
    assert_eq!(floor.problems, Vec::<String>::new());
    assert_eq!(floor.floor(), Some(3));
    assert_eq!((floor.tries(3), floor.tries(2)), (3, 3));
    assert_eq!(
        floor.reason(),
        "at 2 MiB: crash: `!!! memory initialisation failed: out of frames`"
    );
}

#[test]
fn an_xl_failure_is_a_reason_too() {
    let t = shell(32, 1, true) + &shell(2, 1, true) + &xl_failed(1);
    let floor = shell_floor(&t);
    assert_eq!(floor.floor(), Some(2));
    assert_eq!(
        floor.reason(),
        "at 1 MiB: xl create exited with 3: xl said `libxl: error: cannot allocate memory`"
    );
}

#[test]
fn untrustworthy_bisections_are_named() {
    let flaky = shell(32, 1, true) + &shell(3, 1, true) + &shell(3, 2, false) + &shell(2, 1, false);
    let floor = shell_floor(&flaky);
    assert!(
        floor.problems.iter().any(|p| p.contains("disagree")),
        "{:?}",
        floor.problems
    );
    assert_eq!(floor.floor(), None);
    let reversed = shell(32, 1, false) + &shell(16, 1, true) + &shell(15, 1, false);
    let floor = shell_floor(&reversed);
    assert!(floor.problems.iter().any(|p| p.contains("even in 32 MiB")));
    assert!(floor.problems.iter().any(|p| p.contains("not monotonic")));
    // Passing without the prompt is not passing.
    let no_prompt = "@@virtus guest floor-shell-32m-1 created domid=1\n\
        @@guest floor-shell-32m-1| hello\n\
        @@virtus guest floor-shell-32m-1 ended reason=poweroff code=0\n";
    assert!(!shell_floor(no_prompt).probes[0].passed);
    let none = floors(&[], Some(Termination::Exited(0)), Duration::ZERO);
    assert!(none.iter().all(|f| f.problems[0].ends_with("no probe ran")));
}

#[test]
fn probe_names_and_the_plan() {
    assert_eq!(
        probe_name("floor-shell-12m-1"),
        Some((Workload::Shell, 12, 1))
    );
    assert_eq!(
        probe_name("floor-suite-3m-2"),
        Some((Workload::Suite, 3, 2))
    );
    assert_eq!(probe_name("floor-shell"), None);
    assert_eq!(probe_name("bench-pvh-1"), None);
    let (specs, plan) = plan(Path::new("/k"), Path::new("/r")).unwrap();
    let (files, script) = (plan.files, plan.script.unwrap());
    assert_eq!(specs.len(), 2);
    assert_eq!(specs[1].extra, "test=all loglevel=info xen.memory_mb=32");
    assert_eq!(specs[0].extra, "xen.memory_mb=32");
    // The suite's process tests need the user programs; the shell is the
    // kernel's own floor.
    let ramdisk_of = |spec: &GuestSpec| match &spec.image {
        crate::xen::GuestImage::File { ramdisk, .. } => ramdisk.clone(),
        _ => None,
    };
    assert_eq!(ramdisk_of(&specs[0]), None);
    assert_eq!(ramdisk_of(&specs[1]), Some(std::path::PathBuf::from("/r")));
    assert!(
        specs[0]
            .xl_config()
            .unwrap()
            .unwrap()
            .contains("memory = 32\n")
    );
    assert_eq!(files[0].0, "/virtus-run/guests/floor-shell.input");
    assert_eq!(
        script.text.lines().skip(1).collect::<Vec<_>>(),
        [
            "guest_floor floor-shell 1 32 30 2",
            "guest_floor floor-suite 1 32 120 2"
        ]
    );
    // 1 + 5 halvings + 4 confirmations.
    assert_eq!(max_probes(), 10);
}

/// A suite probe reporting every test the runner expects of virtus-pv; with
/// `ok` false the last one fails, with `missing` the last one is left out.
fn suite(mb: u32, attempt: u32, ok: bool, missing: bool) -> String {
    let name = format!("floor-suite-{mb}m-{attempt}");
    let mut tests = crate::expect::expected_tests(Leg::Pv);
    if missing {
        tests.pop();
    }
    let n = tests.len();
    let mut t = format!(
        "@@virtus guest {name} created domid=1\n\
         @@guest {name}| [    0.020000] INFO  memory: {} MiB usable, 1 MiB free, heap 1024 KiB\n\
         @@guest {name}| KTAP version 1\n\
         @@guest {name}| 1..{n}\n",
        mb - 2
    );
    for (i, test) in tests.iter().enumerate() {
        if i + 1 == n && !ok {
            t += &format!("@@guest {name}| # test did not finish within 5 s (watchdog)\n");
            t += &format!("@@guest {name}| not ok {} {test}\n", i + 1);
        } else {
            t += &format!("@@guest {name}| ok {} {test}\n", i + 1);
        }
    }
    let failed = usize::from(!ok);
    t += &format!(
        "@@guest {name}| {} passed, {failed} failed, 0 skipped\n",
        n - failed
    );
    t += &format!("@@guest {name}| {}\n", crate::ktap::END_OF_RUN);
    let end = if ok {
        "poweroff code=0"
    } else {
        "crash code=3"
    };
    t + &format!("@@virtus guest {name} ended reason={end}\n")
}

#[test]
fn a_suite_probe_names_its_failed_tests_and_the_kernel_its_memory() {
    let last = *crate::expect::expected_tests(Leg::Pv).last().unwrap();
    let t = suite(32, 1, true, false)
        + &suite(8, 1, false, false)
        + &suite(9, 1, true, false)
        + &suite(8, 2, true, false);
    let floor = floors(&events(&t), Some(Termination::Exited(0)), Duration::ZERO).remove(1);
    assert_eq!(floor.workload, Workload::Suite);
    let failed = floor.probes.iter().find(|p| !p.passed).unwrap();
    assert_eq!(
        failed.why,
        format!("crash: `failed {last} (test did not finish within 5 s (watchdog))`")
    );
    // 8 MiB passed once and failed once: no floor is claimed, and why.
    assert_eq!(floor.floor(), None);
    assert!(
        floor.problems[0].contains("8 MiB disagree, so no floor is claimed (try 1: crash"),
        "{:?}",
        floor.problems
    );
    let clean = suite(32, 1, true, false) + &suite(8, 1, false, false) + &suite(9, 1, true, false);
    let floor = floors(
        &events(&clean),
        Some(Termination::Exited(0)),
        Duration::ZERO,
    )
    .remove(1);
    assert_eq!(floor.floor(), Some(9));
    assert_eq!(
        floor.memory_at_floor(),
        Some("memory: 7 MiB usable, 1 MiB free, heap 1024 KiB")
    );
}

#[test]
fn a_suite_that_powers_off_short_of_a_test_fails() {
    let t = suite(32, 1, true, true);
    let floor = floors(&events(&t), Some(Termination::Exited(0)), Duration::ZERO).remove(1);
    assert!(!floor.probes[0].passed);
    assert!(
        floor.probes[0].why.starts_with("poweroff: `"),
        "{}",
        floor.probes[0].why
    );
}
