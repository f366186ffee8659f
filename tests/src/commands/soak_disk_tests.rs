use super::*;

fn work() -> Workload {
    Workload {
        lba: 16384,
        sectors: 3000,
        seconds: 20,
        seed: 0x1234_5678,
    }
}

fn report(line: &str) -> StepReport {
    StepReport::parse(line).expect(line)
}

fn reports(w: &Workload) -> Vec<StepReport> {
    let mut all = vec![report(
        "lifecycle soak-disk step=5 ended at=9.0 reason=poweroff code=0",
    )];
    for (lba, count, sum) in w.expected_sums() {
        all.push(report(&format!(
            "lifecycle soak-disk step=6 sum at=9.1 lba={lba} count={count} -- {sum}"
        )));
    }
    all
}

fn end(w: &Workload, fnv: &str) -> String {
    let bytes = w.sectors * 512;
    format!(
        "disk soak: end status=ok disk=xvda lba={} sectors={} passes=3 written={} read={} \
         requests=99 errors=0 ms=20500 seed={:08x} fnv1a64={fnv}",
        w.lba,
        w.sectors,
        3 * bytes,
        3 * bytes,
        w.seed
    )
}

#[test]
fn the_three_ends_agree() {
    let w = work();
    assert_eq!(w.expected_sums().len(), 2);
    assert_eq!(w.expected_sums()[1].1, 3000 - 2048);
    let end = end(&w, &w.expected_fnv());
    let pass = "disk soak: pass 1 seed 12345679: wrote, flushed, read and verified 3000 sectors in 7000 ms";
    let mut problems = Vec::new();
    let figures = judge(&w, &[pass, &end], &reports(&w), &mut problems);
    assert_eq!(problems, Vec::<String>::new());
    assert!(figures[0].starts_with("3 passes in 20.5 s"), "{figures:?}");
    assert!(figures[2].contains("median 7.00 s"), "{figures:?}");
}

#[test]
fn a_wrong_sum_or_a_failed_workload_fails() {
    let w = work();
    let mut problems = Vec::new();
    judge(
        &w,
        &[&end(&w, "0000000000000000")],
        &reports(&w),
        &mut problems,
    );
    assert!(
        problems[0].contains("host's regeneration from the seed"),
        "{problems:?}"
    );
    let mut bad = reports(&w);
    bad[1].text = "00".into();
    let mut problems = Vec::new();
    judge(&w, &[&end(&w, &w.expected_fnv())], &bad, &mut problems);
    assert!(
        problems[0].contains("dom0's sha256 of sectors 16384..18432"),
        "{problems:?}"
    );
    let failed = "disk soak: end status=failed disk=xvda errors=1";
    let error = "disk soak: error: reading sectors 1..2: timeout";
    let mut problems = Vec::new();
    judge(&w, &[failed, error], &reports(&w), &mut problems);
    assert!(
        problems[0].contains("reading sectors 1..2: timeout"),
        "{problems:?}"
    );
    let mut problems = Vec::new();
    judge(&w, &[], &[], &mut problems);
    assert_eq!(problems.len(), 2);
}

#[test]
fn the_seed_differs_from_the_image() {
    let mut options = XenOptions::new(None, Verbosity::Quiet);
    let (spec, plan, disk, work) = plan(std::path::Path::new("/k"), 20, &mut options).unwrap();
    assert_ne!(work.seed, disk.plan.seed);
    assert_eq!((work.lba, work.sectors), (16384, 16384 - 256));
    let text = plan.script.unwrap().text;
    assert!(text.contains(&format!("lc_type 2 soak-disk 1 '{}'", work.command())));
    assert!(text.contains("dom0_run sh -c 'echo disk-sums soak-disk;"));
    assert!(spec.disks[0].contains("vdev=xvda"));
}
