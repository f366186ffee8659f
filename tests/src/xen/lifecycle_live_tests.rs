//! The live operations' scenarios, step by step, and their judgement
//! against dom0's reports from a real run on the bed (lc3, 2026-11-30).

use std::ops::RangeInclusive;

use super::super::{POWER_OFF, SHELL_READY, Scenario};
use super::*;
use crate::xen::lifecycle_judge::tests::{guest, reports};
use crate::xen::lifecycle_judge::{Judged, judge, timing_lines};
use crate::xen::protocol::ShutdownReason;

const CHECKPOINT: &str = "\
    lifecycle lc-checkpoint step=0 domid at=47.95 id=3
    lifecycle lc-checkpoint step=1 saw at=48.07 n=1 -- Virtus shell. Type 'help'.
    lifecycle lc-checkpoint step=2 typed at=48.21 -- ticker 20
    lifecycle lc-checkpoint step=3 saw at=51.28 n=1 -- ticker: tick 3
    lifecycle lc-checkpoint step=4 run at=51.34 -- xl save -c lc-checkpoint /tmp/lc-checkpoint.save
    lifecycle lc-checkpoint step=5 saw at=52.04 n=1 -- power: the host asks to suspend; suspending
    lifecycle lc-checkpoint step=4 returned at=55.84 rc=0
    lifecycle lc-checkpoint step=6 back at=55.96 rc=0
    lifecycle lc-checkpoint step=7 saw at=56.09 n=1 -- power: suspend cancelled; resumed in the same domain
    lifecycle lc-checkpoint step=8 domid at=56.27 id=3
    lifecycle lc-checkpoint step=9 saw at=72.09 n=1 -- ticker: done:
    lifecycle lc-checkpoint step=10 absent at=72.27 -- ticker: FAILED
    lifecycle lc-checkpoint step=11 typed at=72.50 -- info
    lifecycle lc-checkpoint step=12 saw at=72.78 n=1 -- KiB used of
    lifecycle lc-checkpoint step=13 run at=72.87 -- xl shutdown -w lc-checkpoint
    lifecycle lc-checkpoint step=13 watching at=73.51
    lifecycle lc-checkpoint step=13 returned at=73.55 rc=0
    lifecycle lc-checkpoint step=14 saw at=73.92 n=1 -- power: the host asks to power off; stopping
    lifecycle lc-checkpoint step=15 ended at=74.01 reason=poweroff code=0
    lifecycle lc-checkpoint step=16 run at=74.07 -- ! xl domid lc-checkpoint >/dev/null 2>&1 || xl destroy lc-checkpoint
    lifecycle lc-checkpoint step=16 returned at=74.45 rc=0
    lifecycle lc-checkpoint step=17 unlisted at=74.90";

const SAVE_RESTORE: &str = "\
    lifecycle lc-save-restore step=0 domid at=11.35 id=1
    lifecycle lc-save-restore step=1 saw at=11.68 n=1 -- Virtus shell. Type 'help'.
    lifecycle lc-save-restore step=2 typed at=11.91 -- ticker 20 xvda
    lifecycle lc-save-restore step=3 saw at=15.03 n=1 -- ticker: tick 3
    lifecycle lc-save-restore step=4 run at=15.10 -- xl save lc-save-restore /tmp/lc-save-restore.save
    lifecycle lc-save-restore step=5 saw at=15.93 n=1 -- power: the host asks to suspend; suspending
    lifecycle lc-save-restore step=4 returned at=23.31 rc=0
    lifecycle lc-save-restore step=6 back at=23.33 rc=0
    lifecycle lc-save-restore step=7 run at=23.59 -- exec xl restore -F /tmp/lc-save-restore.save
    lifecycle lc-save-restore step=7 watching at=27.07
    lifecycle lc-save-restore step=8 domid at=27.30 id=2
    lifecycle lc-save-restore step=9 saw at=27.49 n=1 -- power: resumed in a new domain
    lifecycle lc-save-restore step=10 saw at=43.33 n=1 -- ticker: done:
    lifecycle lc-save-restore step=11 absent at=43.43 -- ticker: FAILED
    lifecycle lc-save-restore step=12 typed at=43.58 -- info
    lifecycle lc-save-restore step=13 saw at=43.72 n=1 -- KiB used of
    lifecycle lc-save-restore step=14 run at=43.81 -- xl shutdown -w lc-save-restore
    lifecycle lc-save-restore step=15 saw at=44.36 n=1 -- power: the host asks to power off; stopping
    lifecycle lc-save-restore step=14 returned at=44.40 rc=0
    lifecycle lc-save-restore step=16 ended at=44.63 reason=poweroff code=0
    lifecycle lc-save-restore step=7 returned at=45.12 rc=0
    lifecycle lc-save-restore step=17 unlisted at=45.16";

/// The console of a checkpointed guest: every line dom0 waited for.
fn checkpoint_console() -> Vec<String> {
    [
        SHELL_READY,
        "virtus> ticker 20",
        "ticker: tick 3 at 3000 ms (late 0 ms)",
        SUSPENDING,
        &format!("{CANCELLED} (away 4984 ms by the host's wall clock)"),
        "ticker: done: 20 ticks ok",
        "virtus> info",
        "4096 KiB used of 30720",
        &format!("virtus> {POWER_OFF}"),
    ]
    .map(String::from)
    .to_vec()
}

fn judged(scenario: Scenario, lines: &str, console: &[String]) -> Judged {
    let console: Vec<&str> = console.iter().map(String::as_str).collect();
    let guest = guest(scenario.name(), &console, ShutdownReason::Poweroff);
    judge(scenario, &reports(lines), &guest)
}

#[test]
fn the_live_scenarios_are_in_the_pvh_column_with_a_disk_only_for_save_restore() {
    for scenario in [
        Scenario::SaveRestore(GuestKind::Pvh),
        Scenario::Checkpoint,
        Scenario::Migrate,
        Scenario::MemSet,
    ] {
        assert!(Scenario::PVH.contains(&scenario), "{scenario:?}");
        assert!(!Scenario::HVM.contains(&scenario), "{scenario:?}");
    }
    assert!(Scenario::SaveRestore(GuestKind::Pvh).needs_disk());
    assert!(!Scenario::Checkpoint.needs_disk() && !Scenario::Migrate.needs_disk());
}

#[test]
fn save_restore_saves_in_the_background_then_restore_watches_the_new_domain() {
    let steps = Scenario::SaveRestore(GuestKind::Pvh).steps();
    assert_eq!(steps[2], Step::typed("ticker 20 xvda", true));
    assert_eq!(
        steps[4],
        Step::run("xl save @NAME@ /tmp/@NAME@.save", false)
    );
    assert_eq!(steps[5], Step::see(SUSPENDING, 1, 60));
    assert_eq!(steps[6], Step::Returned { step: 4, secs: 60 });
    assert_eq!(
        steps[7],
        Step::Watch {
            command: "exec xl restore -F /tmp/@NAME@.save".into(),
            secs: 60
        }
    );
    assert_eq!(steps[8], Step::DomidAgain { new: true });
    assert_eq!(steps[9], Step::see(RESUMED_NEW, 1, 15));
    assert!(steps.contains(&Step::Absent {
        text: TICKER_FAILED.into()
    }));
    assert_eq!(steps.last(), Some(&Step::Unlisted { secs: 15 }));
    // The library calls, with the name filled in where dom0 cannot know it.
    assert_eq!(
        steps[7].call(7, "lc-x").unwrap(),
        "lc_watch 7 lc-x 60 'exec xl restore -F /tmp/lc-x.save'"
    );
    assert_eq!(steps[6].call(6, "lc-x").unwrap(), "lc_returned 6 lc-x 4 60");
    assert_eq!(steps[8].call(8, "lc-x").unwrap(), "lc_domid 8 lc-x");
    assert_eq!(
        Step::Absent { text: "a b".into() }.call(3, "lc-x").unwrap(),
        "lc_absent 3 lc-x 'a b'"
    );
}

#[test]
fn migration_runs_the_receiver_here_and_ends_like_a_checkpoint() {
    let steps = Scenario::Migrate.steps();
    assert_eq!(
        steps[4].call(4, "lc-m").unwrap(),
        r#"lc_run 4 lc-m 0 'xl migrate -s "" lc-m "xl migrate-receive -e"'"#
    );
    let tail = |s: &[Step]| s[s.len() - 5..].to_vec();
    assert_eq!(tail(&steps), tail(&Scenario::Checkpoint.steps()));
}

#[test]
fn mem_set_goes_down_and_back_with_xl_list_following() {
    let steps = Scenario::MemSet.steps();
    let sizes: Vec<&RangeInclusive<u32>> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Memory { mb } => Some(mb),
            _ => None,
        })
        .collect();
    let (full, low) = (BALLOON_FULL_MB, BALLOON_LOW_MB);
    assert_eq!(
        sizes,
        [
            &(full - 1..=full + 1),
            &(low - 1..=low + 1),
            &(full - 1..=full + 1)
        ]
    );
    assert!(steps.contains(&Step::see("balloon: target 24576 KiB; released", 1, 15)));
    assert!(steps.contains(&Step::see("balloon: target 32768 KiB; reclaimed", 1, 15)));
}

#[test]
fn a_checkpoint_in_the_same_domain_passes_with_its_figures() {
    let judged = judged(Scenario::Checkpoint, CHECKPOINT, &checkpoint_console());
    assert!(judged.assessment.behaved(), "{:?}", judged.assessment);
    let lines = timing_lines(&judged);
    let save = "`xl save -c lc-checkpoint /tmp/lc-checkpoint.save`";
    assert!(
        lines.contains(&format!("{save} returned: 4.62s")),
        "{lines:#?}"
    );
    assert!(lines.contains(&format!("{save} -> `{CANCELLED}`: 4.75s")));
}

#[test]
fn a_checkpoint_that_came_back_in_another_domain_fails() {
    let moved = CHECKPOINT.replace("step=8 domid at=56.27 id=3", "step=8 domid at=56.27 id=4");
    let judged = judged(Scenario::Checkpoint, &moved, &checkpoint_console());
    assert_eq!(
        judged.assessment.problems,
        ["step 8: domain 3 then 4, expected the same domain"]
    );
}

#[test]
fn a_restore_in_the_same_domain_or_a_failed_ticker_or_save_fails() {
    let console: Vec<String> = [
        SHELL_READY,
        "ticker: tick 3 at 3001 ms (late 1 ms)",
        SUSPENDING,
        RESUMED_NEW,
        "ticker: done: 20 ticks ok",
        "KiB used of",
        POWER_OFF,
    ]
    .map(String::from)
    .to_vec();
    let passed = judged(
        Scenario::SaveRestore(GuestKind::Pvh),
        SAVE_RESTORE,
        &console,
    );
    assert!(passed.assessment.behaved(), "{:?}", passed.assessment);
    let same = SAVE_RESTORE.replace("step=8 domid at=27.30 id=2", "step=8 domid at=27.30 id=1");
    let judged_same = judged(Scenario::SaveRestore(GuestKind::Pvh), &same, &console);
    assert_eq!(
        judged_same.assessment.problems,
        ["step 8: domain 1 then 1, expected a new domain"]
    );
    // dom0 looked before the ticker failed; the runner's console has it.
    let mut failed = console.clone();
    failed.push("ticker: FAILED: block 7 read back wrong".into());
    let judged_failed = judged(Scenario::SaveRestore(GuestKind::Pvh), SAVE_RESTORE, &failed);
    assert_eq!(
        judged_failed.assessment.problems,
        ["step 11: the console says `ticker: FAILED`"]
    );
    let save_failed =
        SAVE_RESTORE.replace("step=6 back at=23.33 rc=0", "step=6 back at=23.33 rc=1");
    let judged_save = judged(
        Scenario::SaveRestore(GuestKind::Pvh),
        &save_failed,
        &console,
    );
    assert!(
        judged_save.assessment.problems[0].starts_with("step 6: the command of step 4 failed"),
        "{:?}",
        judged_save.assessment
    );
}

#[test]
fn xl_list_outside_the_range_fails_naming_both_sizes() {
    let lines = "\
        lifecycle lc-mem-set step=0 domid at=104.63 id=6
        lifecycle lc-mem-set step=1 saw at=104.76 n=1 -- Virtus shell. Type 'help'.
        lifecycle lc-mem-set step=2 mem at=104.98 mb=28";
    let judged = judged(Scenario::MemSet, lines, &[SHELL_READY.to_string()]);
    assert_eq!(
        judged.assessment.problems,
        ["step 2: xl list shows 28 MiB, expected 31..=33 MiB"]
    );
}
