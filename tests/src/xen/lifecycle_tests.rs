use std::ops::Range;

use super::*;
use crate::disk::{DiskPlan, SECTOR, fill_sector, sha256_hex};

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
        let shell = match scenario {
            Scenario::UserShell(_) => USER_SHELL_READY,
            _ => SHELL_READY,
        };
        assert_eq!(steps[1], Step::see(shell, 1, BOOT_SECS), "{scenario:?}");
        let end = steps.iter().rev().find_map(|step| match step {
            Step::Gone { reason, .. } => Some(Expectation::parse(reason.name()).unwrap()),
            Step::Destroyed { .. } => Some(Expectation::Any),
            _ => None,
        });
        assert_eq!(end, Some(scenario.expectation()), "{scenario:?}");
    }
}

#[test]
fn destroy_after_flush_types_the_fill_sees_it_then_destroys_and_checks_the_image() {
    for (kind, disk) in [(GuestKind::Pvh, "xvda"), (GuestKind::Hvm, "sda")] {
        let scenario = Scenario::DestroyFlush(kind);
        assert!(scenario.needs_disk() && !Scenario::Shutdown.needs_disk());
        let steps = scenario.steps();
        assert_eq!(
            steps[2..],
            [
                Step::typed(&format!("disk fill {disk} 20480 256 d357f1a5"), true),
                Step::see(
                    &format!("disk fill: wrote and flushed sectors 20480..20736 of {disk}"),
                    1,
                    ANSWER_SECS
                ),
                Step::run("xl destroy @NAME@", true),
                Step::Destroyed { secs: ANSWER_SECS },
                Step::Holds {
                    path: "/virtus-run/disks/@NAME@.img".into(),
                    sectors: 20480..20736,
                    seed: FILL_SEED,
                },
            ]
        );
        let calls: Vec<String> = steps
            .iter()
            .enumerate()
            .map(|(i, step)| step.call(i, "lc-d").unwrap())
            .collect();
        assert_eq!(calls[4], "lc_run 4 lc-d 20 'xl destroy lc-d'");
        assert_eq!(calls[5], "lc_destroyed 5 lc-d 15");
        assert_eq!(
            calls[6],
            "lc_sums 6 lc-d '/virtus-run/disks/lc-d.img' 20480 256 32"
        );
    }
    assert!(Scenario::PVH.contains(&Scenario::DestroyFlush(GuestKind::Pvh)));
    assert!(Scenario::HVM.contains(&Scenario::DestroyFlush(GuestKind::Hvm)));
}

#[test]
fn the_image_path_is_where_disk_serve_puts_it() {
    let spec = guest(Scenario::DestroyFlush(GuestKind::Pvh), &base()).unwrap();
    let mut spec_served = spec.clone();
    let mut options = crate::xen::XenOptions::new(None, crate::xen::Verbosity::Quiet);
    let mut plan = RunPlan::default();
    let served = disk_serve::serve(&mut spec_served, &mut options, &mut plan);
    assert_eq!(served.path, IMAGE.replace(NAME, &spec.name));
    assert_eq!(served.plan.name, Some("xvda"));
    assert_eq!(spec.expect, Expectation::Any);
    // What the guest is told about its disk does not run any test.
    assert!(!spec_served.extra.contains("test="));
    assert_eq!(fill_is_visible(&served.plan), Ok(()));
}

#[test]
fn the_expected_sums_are_the_pattern_of_the_seed_chunk_by_chunk() {
    let sums = expected_sums(&(100..170), 7);
    let ranges: Vec<Range<u64>> = sums.iter().map(|(r, _)| r.clone()).collect();
    assert_eq!(ranges, [100..132, 132..164, 164..170]);
    // The reference is built sector by sector here, independently of the
    // chunking: the last chunk is sectors 164..170 of seed 7.
    let mut bytes = vec![0u8; 6 * SECTOR];
    for (i, sector) in bytes.chunks_exact_mut(SECTOR).enumerate() {
        fill_sector(7, 164 + i as u64, sector);
    }
    assert_eq!(sums[2].1, sha256_hex(&bytes));
    assert_ne!(sums[0].1, expected_sums(&(100..132), 8)[0].1);
}

#[test]
fn a_fill_the_image_already_holds_or_outside_the_written_half_is_refused() {
    let mut plan = DiskPlan::new(Some("xvda"));
    plan.seed = FILL_SEED;
    assert!(
        fill_is_visible(&plan)
            .unwrap_err()
            .contains("already holds what the fill writes")
    );
    plan.seed = !FILL_SEED;
    assert_eq!(fill_is_visible(&plan), Ok(()));
    // A smaller image puts the region in the read-only half.
    plan.sectors = 8192;
    assert!(
        fill_is_visible(&plan)
            .unwrap_err()
            .contains("not in the image's writable sectors")
    );
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
    let end = Dom0Command {
        when: Dom0Point::End,
        command: "echo disk-sums lc-shell-reboot".into(),
    };
    let running = Dom0Command {
        when: Dom0Point::Running,
        command: "xl list".into(),
    };
    let plan = plan(
        &[Scenario::Shutdown, Scenario::ShellReboot],
        &[running, end],
    )
    .unwrap();
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
    // The end's dom0 commands (the disks' checks) once every chain is done;
    // only those.
    assert!(text.ends_with(
        "lc_end lc-shell-reboot $? 30\ndom0_run sh -c 'echo disk-sums lc-shell-reboot'\n"
    ));
    assert_eq!(script.dom0_order, ["echo disk-sums lc-shell-reboot"]);
    assert_eq!(plan.files.len(), 1);
    assert_eq!(plan.files[0].0, "/virtus-run/lifecycle.sh");
    let library = String::from_utf8(plan.files[0].1.clone()).unwrap();
    for function in [
        "lc_domid",
        "lc_see",
        "lc_run",
        "lc_type",
        "lc_gone",
        "lc_destroyed",
        "lc_sums",
        "lc_end",
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

/// `lc-vcpu-set`: a two-vCPU guest; dom0 takes vCPU 1 away and gives it
/// back (the second time past xl's overcommit check), and waits for xl's
/// own view of it each time.
#[test]
fn the_vcpu_scenario_has_two_vcpus_and_asks_xl_each_time() {
    let spec = guest(Scenario::VcpuSet, &base()).unwrap();
    assert_eq!(spec.vcpus, VCPU_SET_VCPUS);
    assert!(spec.xl_config().unwrap().unwrap().contains("vcpus = 2\n"));
    let steps = Scenario::VcpuSet.steps();
    let calls: Vec<String> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| s.call(i, "lc-v").unwrap())
        .collect();
    let at = |text: &str| calls.iter().position(|c| c.contains(text)).unwrap();
    assert!(at("'xl vcpu-set lc-v 1'") < at("lc_vcpu 6 lc-v 1 down 15"));
    assert!(at("lc_vcpu 6 lc-v 1 down") < at("'xl vcpu-set --ignore-host lc-v 2'"));
    assert!(at("--ignore-host") < calls.iter().rposition(|c| c.contains(" 1 up ")).unwrap());
    assert_eq!(
        crate::xen::lifecycle_judge::expected(Scenario::VcpuSet),
        "vCPU up, then vCPU down, then vCPU up, then poweroff"
    );
}
