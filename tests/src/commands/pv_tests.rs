use super::*;
use crate::xen::report::GuestTimes;
use std::time::Duration;

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
    }
}

#[test]
fn both_legs_side_by_side_and_summed() {
    let legs = [
        leg("native q35/max/128M", Some((40, 0, 2)), "PASS"),
        leg(
            "xen-pvh",
            Some((38, 1, 3)),
            "FAIL: test xen_memory failed: expected 32 MiB",
        ),
    ];
    assert_eq!(
        both_table(&legs),
        "leg                  passed  failed  skipped  verdict\n\
         -------------------  ------  ------  -------  ---------------------------------------------\n\
         native q35/max/128M      40       0        2  PASS\n\
         xen-pvh                  38       1        3  FAIL: test xen_memory failed: expected 32 MiB\n"
    );
    assert_eq!(total_line(&legs), "78 passed, 1 failed");
}

#[test]
fn a_leg_that_died_without_a_failed_test_counts_once() {
    let legs = [
        leg("native q35/max/128M", Some((40, 0, 2)), "PASS"),
        leg(
            "xen-pvh",
            None,
            "FAIL: guest crashed before the suite started",
        ),
    ];
    assert!(both_table(&legs).contains("xen-pvh                   -       -        -  FAIL"));
    assert_eq!(total_line(&legs), "40 passed, 1 failed");
}

#[test]
fn timings_count_from_xl_create() {
    let mut guest = crate::xen::report::XenReport::setup_failed(
        &[crate::xen::GuestSpec::pvh("virtus", "/k").unwrap()],
        String::new(),
    )
    .guests
    .remove(0);
    assert_eq!(
        timings(XEN_LEG, &guest),
        "xen-pvh times: the guest was never created"
    );
    let s = Duration::from_millis;
    guest.times = GuestTimes {
        created: Some(s(12_300)),
        first_line: Some(s(12_700)),
        result_line: Some(s(40_300)),
        ended: None,
    };
    assert_eq!(
        timings(XEN_LEG, &guest),
        "xen-pvh times from `xl create` (12.3s after QEMU started): first console line +0.4s, \
         result line +28.0s, end -"
    );
}

#[test]
fn a_clean_suite_in_a_broken_run_fails_by_the_run() {
    let clean = Verdict::default();
    assert_eq!(
        headline(&clean, &["dom0's watchdog fired".into()]),
        "FAIL: run: dom0's watchdog fired"
    );
    assert_eq!(headline(&clean, &[]), "PASS");
}
