//! The `virtus-run` commands. Each boots through [`crate::qemu`],
//! streams the console, and prints a verdict; the judging itself lives in
//! [`crate::verdict`], [`crate::checks`] and [`crate::xen`], where it is
//! unit-tested.

mod assessed;
mod bench;
mod boot;
mod checks;
mod leg;
mod legs;
mod legs_table;
mod lifecycle;
mod pv;
mod soak_console;
pub mod soak_disk;
mod soak_figures;
pub mod soak_lifecycle;
mod suite;
mod xen;
mod xen_checks;
mod xen_concurrency;
mod xen_red;
mod xen_run;
mod xen_suite;

use std::path::Path;
use std::time::Duration;

use crate::cli::Command;
use crate::cli::options::{Image, NATIVE_IMAGE, Quiet, Ramdisk, built};
use crate::console::{LiveConsole, say};
use crate::disk::{self, DiskPlan, ImageFile};
use crate::matrix::SUITE_TIMEOUT;
use crate::qemu::{self, Boot, LaunchError, MachineConfig};
use crate::symbols;
use crate::xen::GuestKind;
pub use xen_concurrency::ConcurrencyArgs;

/// Runs the command. `Ok(true)` if everything passed, `Ok(false)` if
/// something failed, `Err` if nothing could be run (options that do not go
/// together, no image, no QEMU).
pub fn execute(command: Command) -> Result<bool, String> {
    match command {
        Command::Suite(args) => native(&args.image, &args.ramdisk, &args.quiet, |boot, quiet| {
            let timeout = args.timeout.timeout.unwrap_or(SUITE_TIMEOUT);
            suite::run(boot, args.quick, timeout, args.jobs.jobs.into(), quiet)
        }),
        Command::Checks(args) => native(&args.image, &args.ramdisk, &args.quiet, |boot, quiet| {
            checks::run(boot, args.jobs.jobs.into(), quiet)
        }),
        Command::Boot(args) => native(&args.image, &args.ramdisk, &args.quiet, |boot, quiet| {
            let timeout = args.timeout.timeout.unwrap_or(SUITE_TIMEOUT);
            let config = args.config().with_ramdisk(&boot.ramdisk);
            boot::run(&boot.image, &config, &args.append, timeout, quiet)
        }),
        // Xen runs bring their own guest images, and QEMU is checked there.
        Command::Xen(request) => xen::run(&request.resolve(false)?),
        Command::XenProof(request) => xen::run(&request.resolve(true)?),
        Command::XenChecks(args) => xen_checks::run(&args.request()),
        Command::XenConcurrency(args) => xen_concurrency::run(&args),
        Command::XenSuite(args) => pv::run(&args.request(GuestKind::Pvh)?),
        Command::XenHvmSuite(args) => pv::run(&args.request(GuestKind::Hvm)?),
        Command::XenRun(args) => pv::run(&args.request()?),
        Command::Legs(args) => pv::run(&args.request()),
        Command::Bench(request) => bench::run(&request.in_order()),
        Command::Lifecycle(args) => lifecycle::run(&args),
        Command::SoakLifecycle(args) => soak_lifecycle::run(&args),
        Command::SoakDisk(args) => soak_disk::run(&args),
        Command::SoakConsole(args) => soak_console::run(&args),
        Command::Ramdisk(args) => crate::ramdisk::write(&args.out, &args.programs).map(|()| true),
    }
}

/// What a native boot loads: the kernel image, and the ramdisk of user
/// programs as its `-initrd`.
pub struct NativeFiles {
    pub image: std::path::PathBuf,
    pub ramdisk: std::path::PathBuf,
}

/// `run` on the native image, once it and the ramdisk are known to exist
/// and QEMU to run.
fn native(
    image: &Image,
    ramdisk: &Ramdisk,
    quiet: &Quiet,
    run: impl FnOnce(&NativeFiles, bool) -> bool,
) -> Result<bool, String> {
    let image = (image.image.clone()).unwrap_or_else(|| built(NATIVE_IMAGE));
    require(&image, "kernel", "--image")?;
    let ramdisk = ramdisk.resolve()?;
    qemu::check_available().map_err(|error| error.to_string())?;
    say(&format!(
        "virtus-run: image {}, ramdisk {}",
        image.display(),
        ramdisk.display()
    ));
    Ok(run(&NativeFiles { image, ramdisk }, quiet.quiet))
}

/// Fails, naming `flag`, unless the `what` image exists.
fn require(image: &Path, what: &str, flag: &str) -> Result<(), String> {
    if image.is_file() {
        Ok(())
    } else {
        Err(format!(
            "{what} image {} not found; build it first (`make`), or pass {flag}",
            image.display()
        ))
    }
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

/// A native boot with the test disk: a fresh pattern image attached to
/// the machine, the kernel told what to expect, and the image judged once
/// QEMU has exited (see [`crate::disk`]). The boot, and the disk's verdict.
fn boot_with_disk(
    label: &str,
    config: &MachineConfig,
    image: &Path,
    append: &str,
    timeout: Duration,
    quiet: bool,
) -> (Result<Boot, LaunchError>, Result<(), String>) {
    let plan = DiskPlan::new(disk::native_name(&config.machine));
    let file = match ImageFile::create(plan) {
        Ok(file) => file,
        Err(e) => {
            let error = format!("cannot write the test disk image: {e}");
            return (
                boot_streamed(label, config, image, append, timeout, quiet),
                Err(error),
            );
        }
    };
    let config = MachineConfig {
        disk: Some(file.path.clone()),
        ..config.clone()
    };
    let append = format!("{append} {}", file.plan.kernel_args());
    let boot = boot_streamed(label, &config, image, &append, timeout, quiet);
    let checked = match &boot {
        Ok(boot) => file.check(boot.transcript.passed(disk::DURABLE_TEST)),
        Err(_) => Ok(()),
    };
    (boot, checked.map_err(|e| format!("disk: {e}")))
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
