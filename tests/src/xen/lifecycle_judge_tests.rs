use super::*;
use crate::xen::GuestSpec;
use crate::xen::lifecycle::{FILL_SEED, POWER_OFF, SHELL_READY, fill_line};
use crate::xen::report::{GuestEnd, XenReport};

/// dom0's step reports, as the console carries them (`@@dom0| ` stripped).
pub(crate) fn reports(lines: &str) -> Vec<StepReport> {
    let events: Vec<Stamped> = lines
        .lines()
        .map(|text| Stamped {
            at: Duration::ZERO,
            event: Event::Dom0Output {
                text: text.trim().to_string(),
            },
        })
        .collect();
    step_reports(&events)
}

/// The guest's report: its console and its end, judged as a spec would.
pub(crate) fn guest(name: &str, console: &[&str], end: ShutdownReason) -> GuestReport {
    let spec = GuestSpec::pvh(name, "/k").unwrap();
    let mut report = XenReport::setup_failed(&[spec], String::new())
        .guests
        .remove(0);
    report.problems.clear();
    report.console = console.iter().map(|l| l.to_string()).collect();
    report.end = GuestEnd::Shutdown(end);
    report
}

const SHUTDOWN_OK: &str = "\
    lifecycle lc-shutdown step=0 domid at=66.54 id=1
    lifecycle lc-shutdown step=1 saw at=67.85 n=1 -- Virtus shell. Type 'help'.
    lifecycle lc-shutdown step=2 run at=69.04 -- xl shutdown -w lc-shutdown
    lifecycle lc-shutdown step=3 saw at=69.50 n=1 -- power: the host asks to power off; stopping
    lifecycle lc-shutdown step=4 ended at=69.90 reason=poweroff code=0
    lifecycle lc-shutdown step=2 returned at=70.10 rc=0
    lifecycle lc-shutdown step=2 output -- Shutting down domain 1";

#[test]
fn a_step_report_is_parsed_with_its_fields_and_text() {
    let parsed = StepReport::parse(
        "lifecycle lc-a step=3 missed at=92.07 n=0 secs=15 -- power: the host asks -- to",
    )
    .unwrap();
    assert_eq!(parsed.guest, "lc-a");
    assert_eq!((parsed.step, parsed.verb.as_str()), (3, "missed"));
    assert_eq!(parsed.at, Some(92.07));
    assert_eq!(parsed.field("secs"), Some("15"));
    assert_eq!(parsed.text, "power: the host asks -- to");
    let output = StepReport::parse("lifecycle lc-a step=2 output -- Waiting").unwrap();
    assert_eq!((output.at, output.text.as_str()), (None, "Waiting"));
    for not_ours in ["xl list", "lifecycle lc-a two saw", "lifecycle lc-a step=1"] {
        assert_eq!(StepReport::parse(not_ours), None, "{not_ours}");
    }
}

#[test]
fn a_clean_shutdown_passes_with_the_time_from_the_command_to_the_end() {
    let console = [SHELL_READY, &format!("virtus> {POWER_OFF}")];
    let guest = guest("lc-shutdown", &console, ShutdownReason::Poweroff);
    let judged = judge(Scenario::Shutdown, &reports(SHUTDOWN_OK), &guest);
    assert!(judged.assessment.behaved(), "{:?}", judged.assessment);
    assert_eq!(judged.assessment.observed, "poweroff");
    assert_eq!(
        timing_lines(&judged),
        [
            format!("`xl shutdown -w lc-shutdown` -> `{POWER_OFF}`: 0.46s"),
            "`xl shutdown -w lc-shutdown` -> domain ended (poweroff): 0.86s".into(),
            "`xl shutdown -w lc-shutdown` returned: 1.06s".into(),
        ]
    );
}

#[test]
fn an_unanswered_request_names_the_line_it_waited_for() {
    let lines = "\
        lifecycle lc-shutdown step=0 domid at=66.54 id=1
        lifecycle lc-shutdown step=1 saw at=67.85 n=1 -- Virtus shell. Type 'help'.
        lifecycle lc-shutdown step=2 run at=69.04 -- xl shutdown -w lc-shutdown
        lifecycle lc-shutdown step=3 missed at=84.07 n=0 secs=15 -- power: the host asks to power off; stopping
        lifecycle lc-shutdown step=2 returned at=105.75 rc=0";
    let guest = guest("lc-shutdown", &[SHELL_READY], ShutdownReason::Unknown);
    let judged = judge(Scenario::Shutdown, &reports(lines), &guest);
    assert_eq!(
        judged.assessment.problems,
        [format!(
            "step 3: waited 15s for the line `{POWER_OFF}`; it never came (seen 0 times)"
        )]
    );
    assert_eq!(judged.assessment.observed, "unknown");
    // The command returned once the domain was destroyed: not its answer.
    assert!(timing_lines(&judged).is_empty());
}

#[test]
fn the_wrong_reason_or_a_run_that_stopped_early_fails() {
    let crashed = SHUTDOWN_OK.replace("reason=poweroff code=0", "reason=crash code=3");
    let guest_ = guest(
        "lc-shutdown",
        &[SHELL_READY, POWER_OFF],
        ShutdownReason::Crash,
    );
    let judged = judge(Scenario::Shutdown, &reports(&crashed), &guest_);
    assert_eq!(
        judged.assessment.problems,
        ["step 4: ended by crash, expected poweroff"]
    );
    assert_eq!(judged.assessment.observed, "crash");
    let cut: String = SHUTDOWN_OK.lines().take(3).collect::<Vec<_>>().join("\n");
    let judged = judge(Scenario::Shutdown, &reports(&cut), &guest_);
    assert_eq!(
        judged.assessment.problems,
        [format!(
            "step 3 (see `{POWER_OFF}`): dom0 never reported it (the run ended first?)"
        )]
    );
    // Reports of another guest count for nothing; a guest with none is
    // judged by how it failed.
    let other = SHUTDOWN_OK.replace("lc-shutdown step", "lc-reboot step");
    let mut never = guest("lc-shutdown", &[], ShutdownReason::Unknown);
    never.end = GuestEnd::Failed("xl create exited with 3".into());
    never.problems = vec!["could not start: xl create exited with 3".into()];
    let judged = judge(Scenario::Shutdown, &reports(&other), &never);
    assert_eq!(
        judged.assessment.problems,
        ["could not start: xl create exited with 3"]
    );
    assert_eq!(judged.assessment.observed, "failed");
}

#[test]
fn what_dom0_saw_must_also_be_on_the_relayed_console() {
    // dom0 greps xenconsoled's log; the runner's console is the relay's.
    let guest = guest("lc-shutdown", &[SHELL_READY], ShutdownReason::Poweroff);
    let judged = judge(Scenario::Shutdown, &reports(SHUTDOWN_OK), &guest);
    assert_eq!(
        judged.assessment.problems,
        [format!(
            "dom0 saw `{POWER_OFF}` 1 times, the relayed console only 0"
        )]
    );
}

#[test]
fn a_failed_command_fails_even_if_the_guest_answered() {
    let failed = SHUTDOWN_OK.replace("returned at=70.10 rc=0", "returned at=70.10 rc=1");
    let guest = guest(
        "lc-shutdown",
        &[SHELL_READY, POWER_OFF],
        ShutdownReason::Poweroff,
    );
    let judged = judge(Scenario::Shutdown, &reports(&failed), &guest);
    assert_eq!(
        judged.assessment.problems,
        ["`xl shutdown -w lc-shutdown` failed (status 1)"]
    );
}

#[test]
fn a_reboot_must_boot_again_and_the_watch_texts_carry_the_domain_id() {
    let lines = "\
        lifecycle lc-shell-reboot step=0 domid at=76.00 id=3
        lifecycle lc-shell-reboot step=1 saw at=78.90 n=1 -- x
        lifecycle lc-shell-reboot step=2 typed at=82.83 -- reboot
        lifecycle lc-shell-reboot step=3 ended at=84.49 reason=reboot code=1
        lifecycle lc-shell-reboot step=4 missed at=174.49 n=1 secs=90 -- x";
    let guest_ = guest("lc-shell-reboot", &[SHELL_READY], ShutdownReason::Unknown);
    let judged = judge(Scenario::ShellReboot, &reports(lines), &guest_);
    assert_eq!(judged.assessment.observed, "reboot");
    assert_eq!(
        judged.assessment.problems,
        ["step 4: waited 90s for the line `x` a 2nd time; it never came (seen 1 times)"]
    );
    assert_eq!(expected(Scenario::ShellReboot), "reboot, then poweroff");

    let path = "/local/domain/7/data/poke";
    let watch = [
        "lifecycle lc-xs-watch step=0 domid at=1 id=7".to_string(),
        "lifecycle lc-xs-watch step=1 saw at=2 n=1 -- x".into(),
        "lifecycle lc-xs-watch step=2 typed at=3 -- xs watch data/poke".into(),
        "lifecycle lc-xs-watch step=3 saw at=3.10 n=1 -- x".into(),
        "lifecycle lc-xs-watch step=4 saw at=3.2 n=1 -- x".into(),
        "lifecycle lc-xs-watch step=5 run at=4 -- xenstore-write".into(),
        "lifecycle lc-xs-watch step=5 returned at=4.1 rc=0".into(),
        "lifecycle lc-xs-watch step=6 saw at=4.3 n=2 -- x".into(),
        "lifecycle lc-xs-watch step=7 typed at=5 -- q".into(),
        "lifecycle lc-xs-watch step=8 saw at=5.1 n=1 -- x".into(),
        "lifecycle lc-xs-watch step=9 typed at=6 -- shutdown".into(),
        "lifecycle lc-xs-watch step=10 ended at=6.5 reason=poweroff code=0".into(),
    ];
    let watching = format!("xs: watching {path} (press any key to stop)");
    let fired = format!("xs: watch fired: {path}");
    let console = [
        SHELL_READY,
        &watching,
        &fired,
        &fired,
        "xs: stopped watching",
    ];
    let guest_ = guest("lc-xs-watch", &console, ShutdownReason::Poweroff);
    let judged = judge(Scenario::XsWatch, &reports(&watch.join("\n")), &guest_);
    assert!(judged.assessment.behaved(), "{:?}", judged.assessment);
    assert_eq!(
        timing_lines(&judged)[0],
        format!("typing `xs watch data/poke` -> `{watching}`: 0.10s")
    );
    // The same console with another domain's path does not pass.
    let other = console.map(|l| l.replace("/7/", "/8/"));
    let other: Vec<&str> = other.iter().map(String::as_str).collect();
    let guest_ = guest("lc-xs-watch", &other, ShutdownReason::Poweroff);
    let judged = judge(Scenario::XsWatch, &reports(&watch.join("\n")), &guest_);
    assert_eq!(judged.assessment.problems.len(), 3, "{judged:?}");
}

/// dom0's sha256 of `sectors` of an image holding the pattern of `seed`
/// there, as `lc_sums` prints it: built sector by sector from the runner's
/// pattern, as the image's bytes would be.
fn sum_line(step: usize, sectors: std::ops::Range<u64>, seed: u32) -> String {
    use crate::disk::{SECTOR, fill_sector, sha256_hex};
    let mut bytes = vec![0u8; (sectors.end - sectors.start) as usize * SECTOR];
    for (i, sector) in bytes.chunks_exact_mut(SECTOR).enumerate() {
        fill_sector(seed, sectors.start + i as u64, sector);
    }
    format!(
        "lifecycle lc-destroy-flush step={step} sum at=9.5 lba={} count={} -- {}",
        sectors.start,
        sectors.end - sectors.start,
        sha256_hex(&bytes)
    )
}

/// A destroy-after-flush run whose image holds the pattern of `seed` in the
/// chunk from `lost` on, and the fill's everywhere else.
fn destroy_flush_run(lost: Option<(u64, u32)>) -> String {
    let mut lines = vec![
        "lifecycle lc-destroy-flush step=0 domid at=1 id=4".to_string(),
        "lifecycle lc-destroy-flush step=1 saw at=2 n=1 -- x".into(),
        "lifecycle lc-destroy-flush step=2 typed at=3 -- disk fill xvda 20480 256 d357f1a5".into(),
        "lifecycle lc-destroy-flush step=3 saw at=3.25 n=1 -- x".into(),
        "lifecycle lc-destroy-flush step=4 run at=3.30 -- xl destroy lc-destroy-flush".into(),
        "lifecycle lc-destroy-flush step=4 returned at=4.00 rc=0".into(),
        "lifecycle lc-destroy-flush step=5 destroyed at=4.10".into(),
    ];
    for start in (20480..20736).step_by(32) {
        let seed = match lost {
            Some((at, seed)) if at == start => seed,
            _ => FILL_SEED,
        };
        lines.push(sum_line(6, start..start + 32, seed));
    }
    lines.push("lifecycle lc-destroy-flush step=6 checked at=9.6".into());
    lines.join("\n")
}

fn destroyed_guest() -> GuestReport {
    let fill = fill_line("xvda");
    let console = [SHELL_READY, &format!("virtus> {fill}")];
    guest("lc-destroy-flush", &console, ShutdownReason::Unknown)
}

const DESTROY_FLUSH: Scenario = Scenario::DestroyFlush(crate::xen::GuestKind::Pvh);

#[test]
fn data_flushed_before_a_destroy_found_on_the_image_passes() {
    let judged = judge(
        DESTROY_FLUSH,
        &reports(&destroy_flush_run(None)),
        &destroyed_guest(),
    );
    assert!(judged.assessment.behaved(), "{:?}", judged.assessment);
    assert_eq!(judged.assessment.observed, "destroyed");
    assert_eq!(
        timing_lines(&judged),
        [
            format!(
                "typing `disk fill xvda 20480 256 d357f1a5` -> `{}`: 0.25s",
                fill_line("xvda")
            ),
            "`xl destroy lc-destroy-flush` -> domain destroyed: 0.80s".into(),
        ]
    );
    assert_eq!(expected(DESTROY_FLUSH), "destroyed, then data on the image");
}

#[test]
fn a_lost_chunk_fails_naming_its_sectors() {
    // Sectors 20544..20576 still hold the image's own pattern: the write
    // never reached the backing file.
    let run = destroy_flush_run(Some((20544, 0x1234_5678)));
    let judged = judge(DESTROY_FLUSH, &reports(&run), &destroyed_guest());
    assert_eq!(
        judged.assessment.problems,
        [
            "step 6: sectors 20544..20576 of /virtus-run/disks/lc-destroy-flush.img lack what the \
          guest wrote and flushed (pattern of seed d357f1a5; sha256 differs)"
        ]
    );
    // A chunk dom0 never reported is not taken for a good one.
    let whole = destroy_flush_run(None);
    let cut: Vec<&str> = whole
        .lines()
        .filter(|l| !l.contains("lba=20704 "))
        .collect();
    let judged = judge(DESTROY_FLUSH, &reports(&cut.join("\n")), &destroyed_guest());
    assert_eq!(
        judged.assessment.problems,
        [
            "step 6: dom0 reported no sha256 of sectors 20704..20736 of \
          /virtus-run/disks/lc-destroy-flush.img"
        ]
    );
    // Nor is a run whose check never finished.
    let unchecked = destroy_flush_run(None).replace("step=6 checked", "step=6 later");
    let judged = judge(DESTROY_FLUSH, &reports(&unchecked), &destroyed_guest());
    assert_eq!(
        judged.assessment.problems,
        [
            "step 6 (sectors 20480..20736 of /virtus-run/disks/lc-destroy-flush.img): dom0 never reported it \
          (the run ended first?)"
        ]
    );
}

#[test]
fn a_guest_that_shut_down_or_a_destroy_that_failed_proves_nothing() {
    let run = destroy_flush_run(None);
    let head: Vec<&str> = run.lines().take(6).collect();
    let shut = format!(
        "{}\nlifecycle lc-destroy-flush step=5 missed at=4.1 -- the domain shut down (poweroff) \
         instead of being destroyed",
        head.join("\n")
    );
    let judged = judge(DESTROY_FLUSH, &reports(&shut), &destroyed_guest());
    assert_eq!(
        judged.assessment.problems,
        ["step 5: the domain shut down (poweroff) instead of being destroyed"]
    );
    let failed = run.replace(
        "step=4 returned at=4.00 rc=0",
        "step=4 returned at=4.00 rc=1",
    );
    let judged = judge(DESTROY_FLUSH, &reports(&failed), &destroyed_guest());
    assert_eq!(
        judged.assessment.problems,
        ["step 4: `xl destroy @NAME@` failed (status 1)"]
    );
    // The guest never said its data was flushed (no disk, say): the fill's
    // line is what was waited for, and no destroy followed.
    let missed = "\
        lifecycle lc-destroy-flush step=0 domid at=1 id=4
        lifecycle lc-destroy-flush step=1 saw at=2 n=1 -- x
        lifecycle lc-destroy-flush step=2 typed at=3 -- disk fill xvda 20480 256 d357f1a5
        lifecycle lc-destroy-flush step=3 missed at=18 n=0 secs=15 -- disk fill: wrote";
    let judged = judge(DESTROY_FLUSH, &reports(missed), &destroyed_guest());
    assert_eq!(
        judged.assessment.problems,
        ["step 3: waited 15s for the line `disk fill: wrote`; it never came (seen 0 times)"]
    );
}
