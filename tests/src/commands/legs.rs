//! `virtus-run legs` (alias `both`): the same suite three ways, one after
//! the other: natively on the reference machine, the same image as a Xen
//! HVM guest, and the PVH build as a Xen PVH guest; then whether the same
//! core tests ran in each.

use super::leg::{Leg, core_check, test_names};
use super::legs_table::{core_lines, legs_table, total_line};
use super::require;
use super::{boot_with_disk, print_indented, xen_suite};
use crate::console::say;
use crate::matrix::{self, SUITE_CMDLINE, SUITE_TIMEOUT};
use crate::qemu;
use crate::xen::Verbosity;
use crate::xen::pv_args::PvRequest;

pub fn run(request: &PvRequest) -> Result<bool, String> {
    let [hvm, pvh] = request.xen_legs();
    require(&request.native_image, "native", "--native-image")?;
    require(&hvm.image, "HVM", "--hvm-image")?;
    require(&pvh.image, "PVH", "--pv-image")?;
    qemu::check_available().map_err(|error| error.to_string())?;

    let mut legs = vec![native_leg(request)];
    for (leg, flag) in [(hvm, "--hvm-image"), (pvh, "--pv-image")] {
        say("");
        let name = xen_suite::leg_name(&leg);
        legs.push(xen_suite::run(&leg, flag).unwrap_or_else(|error| {
            say(&format!("{name}: FAIL: {error}"));
            Leg::failed(name, &error)
        }));
    }
    let core = core_check(&legs);
    say("");
    say(&legs_table(&legs));
    for line in core_lines(&core) {
        say(&line);
    }
    say(&total_line(&legs, core.matches()));
    Ok(legs.iter().all(|leg| leg.passed) && core.matches())
}

/// The native suite on the first machine of the matrix (q35/max/128M).
fn native_leg(request: &PvRequest) -> Leg {
    let quiet = request.verbosity == Verbosity::Quiet;
    let mut config = matrix::configurations(true)
        .swap_remove(0)
        .with_cpus(request.cpus);
    config.ramdisk = request.ramdisk.clone();
    let label = config.to_string();
    let name = format!("native {label}");
    let image = &request.native_image;
    say(&format!("virtus-run: native image {}", image.display()));
    let (boot, disk) = boot_with_disk(&label, &config, image, SUITE_CMDLINE, SUITE_TIMEOUT, quiet);
    match boot {
        Ok(boot) => {
            let verdict = boot.verdict();
            let headline = match &disk {
                Err(problem) if verdict.passed() => format!("FAIL: {problem}"),
                _ => verdict.headline(),
            };
            say(&format!("[{label}] {headline}"));
            print_indented(&verdict.details());
            Leg {
                name,
                counted: (!boot.transcript.reports.is_empty()).then_some(boot.transcript.counted()),
                passed: verdict.passed() && disk.is_ok(),
                headline,
                time_to_result: Some(boot.time_to_result()),
                tests: test_names(&boot.transcript),
            }
        }
        Err(error) => Leg::failed(name, &error.to_string()),
    }
}
