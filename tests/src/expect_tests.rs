use super::*;
use crate::sources::{Source, parse, rust_files};
use std::path::Path;

/// `Test { name: "..." ...` registrations in the `.rs` files under `dir`.
fn registered_in(dir: &Path) -> Vec<String> {
    let files: Vec<syn::File> = rust_files(dir).iter().map(|path| parse(path)).collect();
    let registrations = files.iter().flat_map(|f| Source::of(f).registrations);
    registrations.map(|r| r.name).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn listed(group: Group) -> Vec<String> {
    sorted(
        entries()
            .filter(|(g, _)| *g == group)
            .map(|(_, n)| n.to_string())
            .collect(),
    )
}

#[test]
fn the_list_matches_what_the_sources_register() {
    for (crate_dir, group) in [
        ("kernel/src", Group::Core),
        ("native-backend/src", Group::Native),
        ("pv-backend/src", Group::Pv),
    ] {
        let registered = sorted(registered_in(&crate::workspace().join(crate_dir)));
        assert!(
            !registered.is_empty(),
            "found no `Test {{ name: ... }}` in {crate_dir}: has the registration changed shape?"
        );
        let listed = listed(group);
        let unlisted: Vec<&String> = registered.iter().filter(|n| !listed.contains(n)).collect();
        let stale: Vec<&String> = listed.iter().filter(|n| !registered.contains(n)).collect();
        assert!(
            unlisted.is_empty() && stale.is_empty(),
            "tests/expected-tests.txt disagrees with the tests {crate_dir} registers \
             (edit the list in the same change that adds or removes a test):\n\
             registered but not listed: {unlisted:?}\nlisted but not registered: {stale:?}"
        );
    }
}

#[test]
fn names_are_unique() {
    let all: Vec<&str> = entries().map(|(_, n)| n).collect();
    let unique: BTreeSet<&str> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len());
}

#[test]
fn the_scanner_finds_registrations() {
    let src = "const T: &[Test] = &[\n    Test {\n        name: \"a_b\",\n        run: f,\n    },\n    Test { name: \"c\", run: g },\n];\nfn t() { Test { name, run } }\n// Test { name: \"in_a_comment\", run: h }";
    let file = syn::parse_file(src).unwrap();
    let found = Source::of(&file).registrations;
    let found: Vec<(&str, &str)> = found.iter().map(|r| (&*r.name, &*r.run)).collect();
    assert_eq!(found, [("a_b", "f"), ("c", "g")]);
}

#[test]
fn cmdline_selection() {
    assert_eq!(
        Expectation::from_cmdline("test=all loglevel=info", Leg::Native),
        Some(Expectation {
            leg: Leg::Native,
            selection: Selection::All
        })
    );
    assert_eq!(
        Expectation::from_cmdline("loglevel=info test=heap", Leg::Pv).map(|e| e.selection),
        Some(Selection::Filter("heap".into()))
    );
    assert_eq!(Expectation::from_cmdline("test=list", Leg::Pv), None);
    assert_eq!(Expectation::from_cmdline("bench=all", Leg::Pv), None);
}

fn full_native_run(skip: Option<&str>) -> Transcript {
    let names: Vec<&str> = expected_tests(Leg::Native)
        .into_iter()
        .filter(|n| Some(*n) != skip)
        .collect();
    let mut text = format!("KTAP version 1\n1..{}\n", names.len());
    for (i, name) in names.iter().enumerate() {
        text += &format!("ok {} {name}\n", i + 1);
    }
    text += &format!("{} passed, 0 failed\n# end of run\n", names.len());
    Transcript::from_console(&text)
}

#[test]
fn a_full_run_meets_the_expectation() {
    let e = Expectation::from_cmdline("test=all", Leg::Native).unwrap();
    assert_eq!(e.reasons(&full_native_run(None)), Vec::new());
}

#[test]
fn a_shrunken_suite_is_named() {
    let e = Expectation::from_cmdline("test=all", Leg::Native).unwrap();
    let gone = core_tests()[3];
    let reasons = e.reasons(&full_native_run(Some(gone)));
    assert_eq!(reasons.len(), 1);
    let expected = e.selected().len();
    assert_eq!(
        reasons[0].to_string(),
        format!(
            "the suite shrank: 1 of the {expected} expected tests did not report ({} results): {gone}",
            expected - 1
        )
    );
}

#[test]
fn a_filter_must_keep_what_it_selects() {
    let e = Expectation::from_cmdline("test=time_", Leg::Pv).unwrap();
    assert!(e.selected().len() > 3, "{:?}", e.selected());
    let t = Transcript::from_console(
        "KTAP version 1\n1..1\nok 1 time_clock_monotonic\n1 passed, 0 failed\n",
    );
    assert!(matches!(&e.reasons(&t)[..], [Reason::TestsMissing { .. }]));
}

#[test]
fn an_empty_report_is_not_a_pass() {
    let e = Expectation::from_cmdline("test=zzz", Leg::Native).unwrap();
    let t = Transcript::from_console("KTAP version 1\n1..0\n0 passed, 0 failed\n# end of run\n");
    assert_eq!(
        e.reasons(&t),
        vec![Reason::EmptySuite {
            selection: "test=zzz".into()
        }]
    );
}

#[test]
fn reruns_are_listed_core_tests() {
    let reruns = reruns();
    assert!(!reruns.is_empty());
    let core = core_tests();
    assert!(reruns.iter().all(|r| core.contains(r)), "{reruns:?}");
}
