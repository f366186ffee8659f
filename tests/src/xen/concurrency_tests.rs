use std::time::Duration;

use super::*;
use crate::xen::protocol::{Event, Stamped};
use crate::xen::report::GuestReport;

fn plan(linux: u32) -> Plan {
    Plan {
        linux,
        linux_memory_mb: 128,
        numbers: 1000,
        rounds: 2,
        timeout: Duration::from_secs(90),
        virtus: vec![GuestSpec::pvh("virtus-pvh", "/k").unwrap()],
    }
}

#[test]
fn virtus_guests_first_then_linux_each_with_its_own_seed() {
    let plan = plan(2);
    let specs = plan.specs().unwrap();
    let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["virtus-pvh", "mem1", "mem2"]);
    assert!(is_linux(&specs[2]) && !is_linux(&specs[0]));
    assert_eq!(specs[2].memory_mb, 128);
    assert_eq!(specs[2].expect_lines, [PASS_LINE]);
    let config = plan.linux_config("mem2", 2);
    assert!(config.contains("name = \"mem2\"\n"), "{config}");
    assert!(config.contains("memory = 128\n"), "{config}");
    assert!(config.contains("rdinit=/memcheck memcheck.seed=2 memcheck.numbers=1000"));
    assert!(config.contains("ramdisk = \"/virtus-run/memcheck-guest.cpio\""));
}

#[test]
fn the_script_builds_the_initramfs_then_starts_all_before_waiting() {
    let plan = plan(2);
    let specs = plan.specs().unwrap();
    let text = plan.script(&specs).text;
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle}: {text}"))
    };
    assert!(at("cat /virtus-run/memcheck.cpio") < at("guest_start mem1"));
    assert!(at("guest_start virtus-pvh") < at("guest_start mem1"));
    assert!(at("guest_start mem2") < at("guest_wait virtus-pvh 60"));
    let files = plan.files().unwrap();
    let paths: Vec<_> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/virtus-run/memcheck.cpio",
            "/virtus-run/guests/mem1.cfg",
            "/virtus-run/guests/mem2.cfg"
        ]
    );
    // An uncompressed newc archive whose one file is the workload.
    let archive = String::from_utf8_lossy(&files[0].1);
    assert!(archive.starts_with("070701"));
    assert!(archive.contains("memcheck\0") && archive.contains(MEMCHECK_INIT));
}

#[test]
fn evidence_and_time_come_from_the_workload_lines() {
    let mut guest = GuestReport::new("mem1");
    guest.console = [
        "MEMCHECK start seed=1",
        "MEMCHECK FAIL seed=1 round=1 /t/copy differs from the pattern",
        "MEMCHECK diff /t/copy: 5001  65 170",
        "some kernel line",
        "MEMCHECK-RESULT FAIL seed=1 rounds=2 numbers=9 failures=1 secs=12.5",
    ]
    .map(String::from)
    .to_vec();
    assert_eq!(evidence(&guest).len(), 3);
    assert_eq!(workload_secs(&guest), Some(12.5));
}

#[test]
fn dom0_processes_that_died_are_named() {
    let at = Duration::ZERO;
    let events = [
        Event::Other("Segmentation fault".into()),
        Event::Other("(nothing wrong)".into()),
        Event::GuestXl {
            guest: "mem3".into(),
            text: "xc: error: panic: xg_dom_core.c:374: xc_dom_do_gunzip: inflate failed".into(),
        },
        // A guest's own line is its own business, judged by its workload.
        Event::GuestLine {
            guest: "mem1".into(),
            text: "Segmentation fault".into(),
        },
    ]
    .map(|event| Stamped { at, event });
    let crashes = dom0_crashes(&events);
    assert_eq!(crashes.len(), 2, "{crashes:?}");
    assert_eq!(crashes[0], "dom0: Segmentation fault");
    assert!(crashes[1].starts_with("dom0 (xl for mem3): "));
}

#[test]
fn xen_must_say_eager_fpu_for_pv_and_hvm() {
    let line = |text: &str| Stamped {
        at: Duration::ZERO,
        event: Event::Xen(text.to_string()),
    };
    let events = [
        line("(XEN)   Support for HVM VMs: MSR_SPEC_CTRL RSB EAGER_FPU"),
        line("(XEN) Initializing Credit2 scheduler"),
        line("(XEN)   Support for PV VMs: MSR_SPEC_CTRL EAGER_FPU"),
    ];
    let lines = xen_support_lines(&events);
    assert_eq!(lines.len(), 2);
    assert_eq!(lazy_fpu_problem(&lines), None);
    let lazy = ["(XEN)   Support for HVM VMs: MSR_SPEC_CTRL RSB", lines[1]];
    assert!(lazy_fpu_problem(&lazy).unwrap().contains("EAGER_FPU"));
    assert!(lazy_fpu_problem(&[]).is_some());
}

#[test]
fn the_command_defaults_to_three_linux_guests_next_to_both_virtus_kinds() {
    let line = crate::cli::words("xen-concurrency --no-hvm --runs 2 --timeout 90s");
    let Ok(crate::cli::Command::XenConcurrency(args)) = crate::cli::parse_args(&line) else {
        panic!("xen-concurrency did not parse");
    };
    assert_eq!((args.linux, args.linux_memory, args.rounds), (3, 128, 2));
    assert_eq!((args.runs, args.timeout), (2, Duration::from_secs(90)));
    assert_eq!(args.virtus_tests, "mem_");
    assert!(args.no_hvm);
}
