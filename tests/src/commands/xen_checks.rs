//! `virtus-run xen-checks`: the Xen runner's negative checks, in one bed
//! boot, then a table of what each case expected and observed.

use std::fs;

use super::assessed::{Assessed, print_assessed, say_tally};
use super::xen::{guest_table, stage_table};
use crate::console::say;
use crate::xen::args::XenRequest;
use crate::xen::checks::{self, XenCase};
use crate::xen::mute;
use crate::xen::{XenOptions, run_guests};

/// Console lines shown under a case that misbehaved.
const CONSOLE_TAIL: usize = 10;

/// `Ok(true)` if every case was reported as it should be; `Err` if the
/// run could not happen (no bed, no QEMU).
pub fn run(request: &XenRequest) -> Result<bool, String> {
    let options = XenOptions {
        dom0: checks::dom0_commands(),
        sequential: true,
        ..XenOptions::new(request.bed.clone(), request.verbosity)
    };
    // The mute guest is written for the run, and removed after it.
    let mute = std::env::temp_dir().join(format!("virtus-xen-mute-{}.elf", std::process::id()));
    fs::write(&mute, mute::elf()).map_err(|e| format!("cannot write {}: {e}", mute.display()))?;
    let report = run_guests(&checks::specs(&mute), &options);
    let _ = fs::remove_file(&mute);
    if let Some(error) = report.setup_error {
        return Err(error);
    }
    say("");
    say(&guest_table(&report));
    say(&stage_table(&report));

    let cases: Vec<Assessed> = XenCase::ALL
        .into_iter()
        .map(|case| {
            let console = match report.guests.iter().find(|g| g.name == case.name()) {
                Some(guest) => &guest.console,
                // The run itself: what Xen and dom0 said last.
                None => &report.hidden_tail,
            };
            Assessed {
                name: case.name().to_string(),
                expected: case.expectation(),
                assessment: case.assess(&report),
                console_tail: console[console.len().saturating_sub(CONSOLE_TAIL)..].to_vec(),
            }
        })
        .collect();
    let behaved = print_assessed("case", &cases);
    Ok(say_tally("xen-checks", behaved, cases.len()))
}
