use std::time::Duration;

use super::*;
use crate::commands::leg::{core_check, is_core};
use crate::ktap::Summary;

fn leg(name: &str, counted: Option<(usize, usize, usize)>, headline: &str) -> Leg {
    Leg {
        name: name.into(),
        counted: counted.map(|(passed, failed, skipped)| Summary {
            passed,
            failed,
            skipped,
        }),
        passed: headline == "PASS",
        headline: headline.into(),
        time_to_result: counted.map(|_| Duration::from_millis(12_340)),
        tests: Vec::new(),
    }
}

/// A leg that reported `tests` (space-separated): all the core check reads.
fn ran(name: &str, tests: &str) -> Leg {
    let tests = tests.split_whitespace().map(String::from).collect();
    Leg {
        name: name.into(),
        tests,
        ..Leg::default()
    }
}

#[test]
fn three_legs_side_by_side_and_summed() {
    let legs = [
        leg("native q35/max/128M", Some((40, 0, 2)), "PASS"),
        leg("xen-hvm 64M", Some((41, 0, 1)), "PASS"),
        leg(
            "xen-pvh 32M",
            Some((38, 1, 3)),
            "FAIL: test xen_memory failed: expected 32 MiB",
        ),
    ];
    assert_eq!(
        legs_table(&legs),
        "leg                  passed  failed  skipped  time to result  verdict\n\
         -------------------  ------  ------  -------  --------------  ---------------------------------------------\n\
         native q35/max/128M      40       0        2           12.3s  PASS\n\
         xen-hvm 64M              41       0        1           12.3s  PASS\n\
         xen-pvh 32M              38       1        3           12.3s  FAIL: test xen_memory failed: expected 32 MiB\n"
    );
    assert_eq!(total_line(&legs, true), "119 passed, 1 failed");
}

#[test]
fn a_leg_that_died_without_a_failed_test_counts_once() {
    let legs = [
        leg("native q35/max/128M", Some((40, 0, 2)), "PASS"),
        leg(
            "xen-pvh 32M",
            None,
            "FAIL: guest crashed before the suite started",
        ),
    ];
    assert!(
        legs_table(&legs)
            .contains("xen-pvh 32M               -       -        -               -  FAIL")
    );
    assert_eq!(total_line(&legs, true), "40 passed, 1 failed");
    // A failed leg's own failures are not counted twice by the mismatch.
    assert_eq!(total_line(&legs, false), "40 passed, 1 failed");
}

#[test]
fn a_core_mismatch_in_green_legs_still_counts_as_a_failure() {
    let legs = [
        leg("native q35/max/128M", Some((40, 0, 2)), "PASS"),
        leg("xen-pvh 32M", Some((39, 0, 3)), "PASS"),
    ];
    assert_eq!(total_line(&legs, false), "79 passed, 1 failed");
}

#[test]
fn core_tests_are_neither_native_nor_pv_ones() {
    assert!(is_core("heap_vec"));
    assert!(is_core("xen_memory_dummy"));
    assert!(is_core("nativeish"));
    assert!(!is_core("native_acpi_tables"));
    assert!(!is_core("pv_grant_table"));
}

#[test]
fn the_same_core_tests_in_every_leg_match() {
    let legs = [
        ran(
            "native q35/max/128M",
            "heap_vec time_clock native_acpi_tables",
        ),
        // Order, outcome and build-specific tests do not matter.
        ran("xen-hvm 64M", "time_clock native_acpi_tables heap_vec"),
        Leg {
            headline: "FAIL: test x".into(),
            ..ran("xen-pvh 32M", "heap_vec pv_grant_table time_clock")
        },
    ];
    let check = core_check(&legs);
    assert!(check.matches(), "{check:?}");
    assert_eq!(check.common, 2);
    assert_eq!(
        core_lines(&check),
        [format!(
            "core tests: the same 2 in all 3 legs (native_* and pv_* are not compared; \
             {} of them re-run host parser tests on fake input)",
            crate::expect::reruns().len()
        )]
    );
}

#[test]
fn a_core_test_missing_from_a_leg_is_named() {
    let legs = [
        ran("native q35/max/128M", "heap_vec time_clock event_self"),
        ran("xen-hvm 64M", "heap_vec time_clock"),
        ran("xen-pvh 32M", "heap_vec time_clock event_self xen_only"),
    ];
    let check = core_check(&legs);
    assert!(!check.matches());
    assert_eq!(check.common, 2);
    assert_eq!(
        core_lines(&check),
        [
            "core tests: FAIL: 2 common to all 3 legs, but the sets differ:",
            "    missing from native q35/max/128M: xen_only",
            "    missing from xen-hvm 64M: event_self, xen_only",
        ]
    );
}

#[test]
fn a_leg_without_results_misses_every_core_test() {
    let legs = [
        ran("native q35/max/128M", "heap_vec time_clock"),
        ran("xen-hvm 64M", ""),
    ];
    let check = core_check(&legs);
    assert!(!check.matches());
    assert_eq!(check.common, 0);
    assert_eq!(
        core_lines(&check)[1],
        "    xen-hvm 64M: reported no core test (2 missing)"
    );
    let none = core_check(&[leg("a", None, "FAIL: x"), leg("b", None, "FAIL: y")]);
    assert!(!none.matches());
    assert_eq!(
        core_lines(&none),
        ["core tests: FAIL: no leg reported a core test"]
    );
}
