use super::*;

fn lines(text: &str) -> Vec<SoakLine> {
    text.lines()
        .map(|l| SoakLine::parse(TAG, l.trim()).expect(l))
        .collect()
}

fn cycle(n: u32, domid: u32, free: u32) -> String {
    format!(
        "soak-lc cycle n={n} domid={domid} boot_ms=2000 shutdown_ms={} settle_ms=100 total_ms=3000 free_mb={free}\n",
        500 + n * 10
    )
}

#[test]
fn clean_cycles_pass_with_their_figures() {
    let text = format!(
        "soak-lc baseline free_mb=180 paths=40\n{}soak-lc containers n=1 -- /libxl /vm\n{}{}soak-lc done cycles=3\n",
        cycle(1, 1, 180),
        cycle(2, 2, 181),
        cycle(3, 3, 180)
    );
    let judged = judge(&lines(&text), 3);
    assert_eq!(judged.problems, Vec::<String>::new());
    assert_eq!((judged.clean, judged.leaks), (3, 0));
    assert!(
        judged.figures[1].contains("median 0.52 s (range 0.51..0.53, n=3)"),
        "{:?}",
        judged.figures
    );
    assert!(judged.figures[4].contains("free_memory 180..181 MB (baseline 180 MB)"));
    assert!(judged.figures[5].ends_with(": /libxl /vm"));
}

#[test]
fn a_leak_fails_naming_the_path() {
    let text = format!(
        "soak-lc baseline free_mb=180 paths=40\n{}\
         soak-lc leak n=2 kind=xenstore -- /libxl/2\n\
         soak-lc failed n=2 what=leak added=1 -- still there 20 s after the domain was gone\n",
        cycle(1, 1, 180)
    );
    let judged = judge(&lines(&text), 5);
    assert_eq!((judged.clean, judged.leaks), (1, 1));
    assert!(
        judged
            .problems
            .iter()
            .any(|p| p == "cycle 2: leak (xenstore): /libxl/2")
    );
    assert!(judged.problems.iter().any(|p| p.contains("1 of 5 cycles")));
}

#[test]
fn reused_ids_low_memory_and_missing_lines_fail() {
    let text = format!(
        "soak-lc baseline free_mb=180 paths=40\n{}{}soak-lc done cycles=2\n",
        cycle(1, 4, 180),
        cycle(2, 4, 170)
    );
    let problems = judge(&lines(&text), 2).problems;
    assert!(problems.iter().any(|p| p.contains("domain id 4 again")));
    assert!(problems.iter().any(|p| p.contains("below the baseline")));
    assert!(!judge(&[], 2).problems.is_empty());
    let skipped = format!("soak-lc baseline free_mb=1 paths=1\n{}", cycle(2, 2, 1));
    assert!(judge(&lines(&skipped), 2).problems[0].contains("reported as 2"));
}

#[test]
fn the_plan_loops_in_dom0() {
    let (spec, plan) = plan(std::path::Path::new("/k"), 7).unwrap();
    assert_eq!(spec.timeout, CYCLE_BUDGET * 7);
    let text = plan.script.unwrap().text;
    assert!(text.contains(". /virtus-run/soak-lifecycle.sh\nsoak_lc soak-lc 7 'Virtus shell."));
    assert!(spec.extra.contains("init=none"));
    assert_eq!(plan.files[0].0, LIBRARY_PATH);
}

#[test]
fn the_options_default_to_the_full_forms() {
    use crate::cli::{Command, parse_args, words};
    let Ok(Command::SoakLifecycle(args)) = parse_args(&words("soak-lifecycle")) else {
        panic!()
    };
    assert_eq!(args.cycles, FULL_CYCLES);
    let Ok(Command::SoakDisk(args)) = parse_args(&words("soak-disk --seconds 20 --quiet")) else {
        panic!()
    };
    assert_eq!(args.seconds, 20);
    assert!(parse_args(&words("soak-lifecycle --cycles 0")).is_err());
    assert!(parse_args(&words("soak-disk --seconds 0")).is_err());
}
