//! The `virtus-run` commands. Each boots through [`crate::qemu`],
//! streams the console, and prints a verdict; the judging itself lives in
//! [`crate::verdict`], [`crate::checks`] and [`crate::xen`], where it is
//! unit-tested.

mod assessed;
mod bench;
mod bench_guests;
mod bench_machine;
mod boot;
mod checks;
mod leg;
mod legs;
mod legs_table;
mod pv;
mod suite;
mod xen;
mod xen_checks;
mod xen_red;
mod xen_run;
mod xen_suite;

use std::path::Path;
use std::time::Duration;

use crate::cli::{Command, Invocation};
use crate::console::{LiveConsole, say};
use crate::qemu::{self, Boot, LaunchError, MachineConfig};
use crate::symbols;

/// Runs the invocation. `Ok(true)` if everything passed, `Ok(false)` if
/// something failed, `Err` if nothing could be run (no image, no QEMU).
pub fn execute(invocation: &Invocation) -> Result<bool, String> {
    // Xen runs bring their own guest images, and QEMU is checked there.
    match &invocation.command {
        Command::Xen(request) => return xen::run(request),
        Command::XenChecks(request) => return xen_checks::run(request),
        Command::Pv(request) => return pv::run(request),
        Command::Bench(request) => return bench::run(request),
        _ => {}
    }
    if !invocation.image.is_file() {
        return Err(format!(
            "kernel image {} not found; build it first (`make`), or pass --image",
            invocation.image.display()
        ));
    }
    qemu::check_available().map_err(|error| error.to_string())?;
    say(&format!("virtus-run: image {}", invocation.image.display()));
    let Invocation {
        image, quiet, jobs, ..
    } = invocation;
    Ok(match &invocation.command {
        Command::Suite { quick, timeout } => suite::run(image, *quick, *timeout, *jobs, *quiet),
        Command::Checks => checks::run(image, *jobs, *quiet),
        Command::Boot {
            config,
            append,
            timeout,
        } => boot::run(image, config, append, *timeout, *quiet),
        Command::Xen(_) | Command::XenChecks(_) | Command::Pv(_) | Command::Bench(_) => {
            unreachable!("handled above")
        }
    })
}

/// One boot, announced and streamed under `label`.
fn boot_streamed(
    label: &str,
    config: &MachineConfig,
    image: &Path,
    append: &str,
    timeout: Duration,
    quiet: bool,
) -> Result<Boot, LaunchError> {
    if !quiet {
        // Printed so that any run can be reproduced by hand.
        let args = qemu::arguments(config, image, append);
        say(&format!("[{label}] $ {}", qemu::shell_command(&args)));
    }
    let console = LiveConsole::new(label, quiet).with_symbols(symbols::for_image(image));
    qemu::boot(config, image, append, timeout, |stream, line| {
        console.show(stream, line)
    })
}

/// Where the boot's first CPU exception struck, named from the image's
/// symbols (a crash report is printed last: the tail holds it).
fn fault_site(image: &Path, boot: &Boot) -> Option<Vec<symbols::Frame>> {
    symbols::for_image(image)?.fault_site(&boot.transcript.tail(200))
}

/// Prints detail lines indented under the line they explain.
fn print_indented(lines: &[String]) {
    for line in lines {
        say(&format!("    {line}"));
    }
}
