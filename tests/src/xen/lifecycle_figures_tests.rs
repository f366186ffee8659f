use super::*;
use crate::xen::lifecycle_judge::tests::reports;

#[test]
fn the_balloon_rate_is_the_guest_s_pages_over_its_microseconds() {
    let line =
        "balloon: target 24576 KiB; released 2048 pages in 20000 us; the domain now has 24576 KiB";
    // 2048 pages = 8 MiB in 20 ms = 400 MiB/s.
    assert_eq!(balloon_rate(line, "released"), Some(400.0));
    assert_eq!(balloon_rate(line, "reclaimed"), None);
    let nothing = "balloon: target 32768 KiB; nothing to do; the domain now has 32768 KiB";
    assert_eq!(balloon_rate(nothing, "released"), None);
    assert_eq!(
        balloon_rate(
            "balloon: target 1 KiB; released 3 pages in 0 us",
            "released"
        ),
        None
    );
    // As seen on the bed, after the prompt: 8 MiB in 87.741 ms.
    let prompt = "virtus> balloon: target 32768 KiB; reclaimed 2048 pages in 87741 us; \
                  the domain now has 32832 KiB";
    let rate = balloon_rate(prompt, "reclaimed").unwrap();
    assert!((rate - 91.18).abs() < 0.01, "{rate}");
}

#[test]
fn a_checkpoint_gives_its_save_the_downtime_and_the_guest_s_time_away() {
    let lines = "\
        lifecycle lc-checkpoint step=4 run at=51.34 -- xl save -c lc-checkpoint /tmp/lc-checkpoint.save
        lifecycle lc-checkpoint step=5 saw at=52.04 n=1 -- power: the host asks to suspend; suspending
        lifecycle lc-checkpoint step=6 back at=55.96 rc=0
        lifecycle lc-checkpoint step=7 saw at=56.09 n=1 -- power: suspend cancelled; resumed in the same domain";
    let console = [format!(
        "{CANCELLED} (away 4984 ms by the host's wall clock; kernel clock 4858 ms before)"
    )];
    let got = figures(Scenario::Checkpoint, &reports(lines), &console);
    let rounded: Vec<(String, String)> = got
        .iter()
        .map(|f| (f.what.clone(), format!("{:.2} {}", f.value, f.unit)))
        .collect();
    assert_eq!(
        rounded,
        [
            ("`xl save -c` returned".into(), "4.62 s".into()),
            ("downtime, dom0 (upper bound)".into(), "4.05 s".into()),
            ("time away, the guest's".into(), "4.98 s".into()),
        ]
    );
    let table = table(&[("lc-checkpoint", got)]);
    assert_eq!(
        table[2],
        "| `xl save -c` returned | lc-checkpoint | 1 | 4.62 s |"
    );
}
