use super::judge::*;

fn expected() -> Expected {
    Expected::new(1, 65536)
}

fn guest_lines(sent: &str, received: &str, last: &str) -> Vec<String> {
    vec![
        "[    0.1] INFO  cpu: ...".to_string(),
        "soak-console: ready bytes=65536 seed=1".to_string(),
        format!("soak-console: sent bytes=65536 crc32={sent} seconds=0.162"),
        format!(
            "soak-console: received bytes=65536 crc32={received} seconds=0.451 first_mismatch=none"
        ),
        last.to_string(),
    ]
}

fn dom0_lines(from: &str, to: &str) -> Vec<String> {
    vec![
        "pty /dev/pts/3".to_string(),
        format!("from-guest bytes=65536 crc32={from} start=31.20 end=33.70"),
        format!("to-guest bytes=65536 crc32={to} start=33.70 end=34.00"),
    ]
}

#[test]
fn the_seeds_streams_have_the_sums_computed_outside_rust() {
    // Python: zlib.crc32 of the generator's 64 KiB for seed 1 and !1.
    let e = expected();
    assert_eq!((e.from_guest.bytes, e.from_guest.crc), (65536, 0x690b_a986));
    assert_eq!((e.to_guest.bytes, e.to_guest.crc), (65536, 0x8c9c_3e00));
}

#[test]
fn all_four_sums_agreeing_with_the_seed_pass() {
    let guest = guest_report(&guest_lines("690ba986", "8c9c3e00", "soak-console: ok"));
    let dom0 = dom0_report(&dom0_lines("690ba986", "8c9c3e00"));
    assert_eq!(problems(&expected(), &guest, &dom0), Vec::<String>::new());
    let from = dom0.from_guest.unwrap();
    assert!((from.seconds - 2.5).abs() < 1e-9);
    assert_eq!(
        figures("pvh", &guest, &dom0),
        [
            "soak-console pvh: from the guest 65536 bytes in 2.50 s (0.026 MB/s) \
             (timed by dom0, its reader; the guest's writes took 0.16 s)",
            "soak-console pvh: to the guest   65536 bytes in 0.45 s (0.145 MB/s) \
             (timed by the guest, its first byte to last; dom0's write took 0.30 s)"
        ]
    );
}

#[test]
fn a_sum_that_differs_anywhere_fails_and_says_which() {
    let guest = guest_report(&guest_lines("690ba986", "8c9c3e00", "soak-console: ok"));
    let dom0 = dom0_report(&dom0_lines("690ba987", "8c9c3e00"));
    let found = problems(&expected(), &guest, &dom0);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]
            .starts_with("dom0's sum of what it read from the guest: 65536 bytes, crc32 690ba987")
    );

    let guest = guest_report(&guest_lines("00000000", "8c9c3e00", "soak-console: ok"));
    let dom0 = dom0_report(&dom0_lines("690ba986", "8c9c3e00"));
    assert!(problems(&expected(), &guest, &dom0)[0].starts_with("the guest's sum of what it sent"));
}

#[test]
fn a_short_count_a_mismatch_and_a_missing_report_fail() {
    let mut lines = guest_lines(
        "690ba986",
        "8c9c3e00",
        "soak-console: FAILED received 1000 of 65536 bytes",
    );
    lines[3] =
        "soak-console: received bytes=1000 crc32=12345678 seconds=120.000 first_mismatch=999"
            .to_string();
    let guest = guest_report(&lines);
    assert_eq!(guest.first_mismatch, Some(999));
    let dom0 = dom0_report(&[
        "from-guest bytes=65536 crc32=690ba986 start=1 end=2",
        "failed to-guest: timed out",
    ]);
    let found = problems(&expected(), &guest, &dom0);
    assert_eq!(
        found,
        [
            "dom0: to-guest: timed out",
            "the guest: FAILED received 1000 of 65536 bytes",
            "dom0's sum of what it wrote to the guest: no report",
            "the guest's sum of what it received: short count: 1000 of 65536 bytes",
            "the guest: received byte 999 is not the stream's",
        ]
    );
}

#[test]
fn a_guest_that_never_got_ready_says_so() {
    let guest = guest_report(&["Virtus on xen-pvh"]);
    let found = problems(&expected(), &guest, &dom0_report(&["failed no ready line"]));
    assert!(found.contains(&"the guest never said `soak-console: ready`".to_string()));
    assert!(found.contains(&"dom0: no ready line".to_string()));
    // No complaint about the missing `ok` on top of a missing ready line.
    assert!(!found.iter().any(|p| p.contains("`soak-console: ok`")));
}

#[test]
fn the_longer_of_the_two_times_makes_the_rate() {
    let guest = guest_report(&[
        "soak-console: received bytes=4096 crc32=927a4cdd seconds=0.000 first_mismatch=none",
    ]);
    let dom0 = dom0_report(&["to-guest bytes=4096 crc32=927a4cdd start=65.32 end=66.04"]);
    assert_eq!(
        figures("hvm", &guest, &dom0),
        [
            "soak-console hvm: to the guest   4096 bytes in 0.72 s (0.005689 MB/s) (timed by dom0, \
          its writer; the guest's first byte to last took 0.00 s)"
        ]
    );
    assert_eq!(rate(10, 0.0), "10 bytes in 0.00 s (- MB/s)");
}
