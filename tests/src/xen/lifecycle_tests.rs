use super::*;

fn base() -> GuestSpec {
    let mut spec = GuestSpec::pvh("virtus", "/k").unwrap();
    spec.extra = "loglevel=info xen.memory_mb=32".into();
    spec
}

#[test]
fn each_step_is_one_call_of_the_library_with_the_name_filled_in() {
    let call = |step: Step| step.call(4, "lc-a").unwrap();
    assert_eq!(call(Step::Domid), "lc_domid 4 lc-a");
    assert_eq!(
        call(Step::see(SHELL_READY, 2, 90)),
        "lc_see 4 lc-a 2 90 'Virtus shell. Type '\\''help'\\''.'"
    );
    assert_eq!(
        call(Step::run("xl shutdown -w @NAME@", false)),
        "lc_run 4 lc-a 0 'xl shutdown -w lc-a'"
    );
    assert_eq!(
        call(Step::run("xl sysrq @NAME@ m", true)),
        "lc_run 4 lc-a 20 'xl sysrq lc-a m'"
    );
    // @DOMID@ is dom0's to fill in: only it knows the id at that moment.
    assert_eq!(
        call(Step::typed("xs watch /local/domain/@DOMID@/x", true)),
        "lc_type 4 lc-a 1 'xs watch /local/domain/@DOMID@/x'"
    );
    assert_eq!(call(Step::typed("q", false)), "lc_type 4 lc-a 0 'q'");
    assert_eq!(
        call(Step::gone(2, ShutdownReason::Poweroff)),
        "lc_gone 4 lc-a 2 15"
    );
    assert!(Step::typed("a\nb", true).call(0, "x").is_err());
}

#[test]
fn every_scenario_starts_at_the_shell_and_ends_with_its_reason() {
    for scenario in Scenario::PVH.iter().chain(&Scenario::HVM) {
        let steps = scenario.steps();
        assert_eq!(steps[0], Step::Domid, "{scenario:?}");
        assert_eq!(
            steps[1],
            Step::see(SHELL_READY, 1, BOOT_SECS),
            "{scenario:?}"
        );
        let Some(Step::Gone { reason, .. }) = steps.last() else {
            panic!("{scenario:?} does not end by waiting for the domain's end");
        };
        assert_eq!(*reason, scenario.final_reason(), "{scenario:?}");
    }
}

#[test]
fn a_reboot_boots_a_second_time_under_a_new_domain_id() {
    let steps = Scenario::Reboot.steps();
    let at = |wanted: &Step| steps.iter().position(|s| s == wanted).unwrap();
    let rebooted = at(&Step::gone(1, ShutdownReason::Reboot));
    let again = at(&Step::see(SHELL_READY, 2, BOOT_SECS));
    assert!(rebooted < again);
    assert_eq!(steps[again + 1], Step::Domid);
    assert_eq!(steps.last(), Some(&Step::gone(2, ShutdownReason::Poweroff)));
    assert!(Scenario::Reboot.restarts() && Scenario::ShellReboot.restarts());
    assert!(!Scenario::Shutdown.restarts());
}

#[test]
fn the_plan_runs_the_chains_in_turn_and_ships_the_library() {
    let plan = plan(&[Scenario::Shutdown, Scenario::ShellReboot]).unwrap();
    let script = plan.script.unwrap();
    let text = script.text;
    assert!(text.starts_with("# Written by virtus-run lifecycle.\n. /virtus-run/lifecycle.sh\n"));
    assert!(text.contains(
        "guest_start lc-shutdown &&\n  lc_domid 0 lc-shutdown &&\n  lc_see 1 lc-shutdown 1 90 "
    ));
    assert!(text.contains("  lc_gone 4 lc-shutdown 1 15\nlc_end lc-shutdown $? 30\nsed -i"));
    // Only the restarting guest's config is changed, before it starts.
    let sed = "sed -i 's/^on_reboot = .*/on_reboot = \"restart\"/' \
               /virtus-run/guests/lc-shell-reboot.cfg\nguest_start lc-shell-reboot";
    assert!(text.contains(sed), "{text}");
    assert_eq!(text.matches("sed -i").count(), 1);
    assert!(text.ends_with("lc_end lc-shell-reboot $? 30\n"));
    assert!(script.dom0_order.is_empty());
    assert_eq!(plan.files.len(), 1);
    assert_eq!(plan.files[0].0, "/virtus-run/lifecycle.sh");
    let library = String::from_utf8(plan.files[0].1.clone()).unwrap();
    for function in [
        "lc_domid", "lc_see", "lc_run", "lc_type", "lc_gone", "lc_end",
    ] {
        assert!(
            library.contains(&format!("\n{function}() {{")),
            "{function}"
        );
    }
}

#[test]
fn a_scenario_guest_is_the_base_under_its_name_with_room_for_every_step() {
    let spec = guest(Scenario::Sysrq, &base()).unwrap();
    assert_eq!(spec.name, "lc-sysrq");
    assert_eq!(spec.expect, crate::xen::Expectation::Crash);
    assert_eq!(spec.extra, "loglevel=info xen.memory_mb=32");
    let shutdown = guest(Scenario::Shutdown, &base()).unwrap();
    assert_eq!(shutdown.expect, crate::xen::Expectation::Poweroff);
    // Start 70, then domid 1 + boot 90 + command 20 + answer 15 + end 15,
    // then 30 for the end.
    assert_eq!(shutdown.timeout, Duration::from_secs(241));
    let config = guest(Scenario::Reboot, &base())
        .unwrap()
        .xl_config()
        .unwrap();
    // The xl config says destroy; the script turns it to restart in dom0.
    assert!(config.unwrap().contains("on_reboot = \"destroy\""));
}
