//! `virtus-run soak-console`: the console burst both ways in each column
//! asked for, each judged on its own (the four sums against the host's own
//! regeneration of the streams, the guest's verdict and how it ended),
//! with the figures per direction, then the tally CI reads.

use super::print_indented;
use super::require;
use super::xen::print_hidden_tail;
use crate::cli::soak_console::SoakConsoleArgs;
use crate::console::{LiveConsole, say};
use crate::process::Stream;
use crate::qemu::{self, MachineConfig};
use crate::soak_console::judge::{self, Expected, GuestReport, OtherEnd};
use crate::soak_console::{budget, native, xen};
use crate::xen::{GuestKind, Verbosity};

/// `Ok(true)` if every column asked for passed; `Err` if one could not run
/// at all (no image, no QEMU).
pub fn run(args: &SoakConsoleArgs) -> Result<bool, String> {
    let (native, pvh, hvm) = args.columns();
    let images = &args.images;
    if native {
        require(&images.native_image, "kernel", "--native-image")?;
    }
    if pvh {
        require(&images.pv_image, "PVH", "--pv-image")?;
    }
    if hvm {
        require(&images.hvm_image, "HVM", "--hvm-image")?;
    }
    qemu::check_available().map_err(|error| error.to_string())?;
    let (bytes, seed) = (args.bytes, args.seed);
    let timeout = |hvm| args.timeout.unwrap_or_else(|| budget(hvm, bytes));
    say(&format!(
        "virtus-run: soak-console: {bytes} bytes each way ({}), seed {seed}",
        form(bytes),
    ));
    let expected = Expected::new(seed, bytes);
    let mut results = Vec::new();
    if native {
        results.push(native_column(args, &expected, timeout(false)));
    }
    for (asked, kind, column) in [(pvh, GuestKind::Pvh, "pvh"), (hvm, GuestKind::Hvm, "hvm")] {
        if asked {
            results.push(xen_column(
                args,
                kind,
                column,
                &expected,
                timeout(kind == GuestKind::Hvm),
            )?);
        }
    }
    say("");
    let passed = results.iter().filter(|ok| **ok).count();
    Ok(crate::commands::assessed::say_tally(
        &format!("soak-console ({})", form(bytes)),
        passed,
        results.len(),
    ))
}

/// The size's name in the output: the short form, the full form, or none.
fn form(bytes: u64) -> &'static str {
    match bytes {
        crate::soak_console::SHORT_BYTES => "the short form, 64 KiB",
        crate::soak_console::FULL_BYTES => "the full form, 10 MiB",
        crate::soak_console::HVM_SHORT_BYTES => "the HVM column's short form, 8 KiB",
        _ => "a size of its own",
    }
}

fn native_column(
    args: &SoakConsoleArgs,
    expected: &Expected,
    timeout: std::time::Duration,
) -> bool {
    let config = MachineConfig::new("q35", "max", "128M");
    let label = format!("native {config}");
    say(&format!(
        "virtus-run: soak-console native: {} on {config}, at most {} s",
        args.images.native_image.display(),
        timeout.as_secs()
    ));
    let console = LiveConsole::new(label.clone(), args.verbosity == Verbosity::Quiet);
    let image = &args.images.native_image;
    let run = native::run(&config, image, (args.bytes, args.seed), timeout, |line| {
        console.show(Stream::Stdout, line)
    });
    let (guest, other, mut problems, tail) = match run {
        Ok(run) => {
            let guest = judge::guest_report(&run.lines);
            let mut problems = Vec::new();
            if run.status != Some(33) {
                problems.push(format!(
                    "QEMU exited with {:?}, not 33 (the kernel's success)",
                    run.status
                ));
            }
            (guest, run.other, problems, tail(&run.lines))
        }
        Err(error) => (
            GuestReport::default(),
            OtherEnd::default(),
            vec![error],
            Vec::new(),
        ),
    };
    if problems.is_empty() || guest.ready {
        problems.splice(0..0, judge::problems(expected, &guest, &other));
    }
    verdict("native", &guest, &other, &problems, &tail)
}

fn xen_column(
    args: &SoakConsoleArgs,
    kind: GuestKind,
    column: &str,
    expected: &Expected,
    timeout: std::time::Duration,
) -> Result<bool, String> {
    let (image, bed) = match kind {
        GuestKind::Pvh => (&args.images.pv_image, &args.beds.bed),
        GuestKind::Hvm => (&args.images.hvm_image, &args.beds.hvm_bed),
    };
    let spec = xen::guest(kind, image, (args.bytes, args.seed), timeout)?;
    say(&format!(
        "virtus-run: soak-console {column}: {} as a Xen {column} domU, its console read in \
         dom0, at most {} s",
        image.display(),
        timeout.as_secs()
    ));
    let run = xen::run(&spec, args.bytes, args.seed, bed.clone(), args.verbosity);
    if let Some(error) = &run.run.report.setup_error {
        return Err(error.clone());
    }
    let mut problems = judge::problems(expected, &run.guest, &run.other);
    let report = &run.run.report;
    if let Some(guest) = report.guests.iter().find(|g| g.name == xen::GUEST) {
        problems.extend(guest.problems.iter().map(|p| format!("the guest: {p}")));
    }
    let run_problems = report.run_problems();
    problems.extend(run_problems.iter().cloned());
    let console: Vec<String> = run
        .run
        .console(xen::GUEST)
        .into_iter()
        .map(String::from)
        .collect();
    let ok = verdict(column, &run.guest, &run.other, &problems, &tail(&console));
    if !run_problems.is_empty() {
        print_hidden_tail(report);
    }
    Ok(ok)
}

/// Print a column's figures and verdict; whether it passed.
fn verdict(
    column: &str,
    guest: &GuestReport,
    other: &OtherEnd,
    problems: &[String],
    tail: &[String],
) -> bool {
    say("");
    judge::figures(column, guest, other)
        .iter()
        .for_each(|line| say(line));
    if problems.is_empty() {
        say(&format!(
            "soak-console {column}: PASS (the guest's, {}'s and the seed's sums agree both ways)",
            other.who
        ));
        return true;
    }
    say(&format!("soak-console {column}: FAIL"));
    print_indented(problems);
    let tail: Vec<String> = tail.iter().map(|line| format!("| {line}")).collect();
    print_indented(&tail);
    false
}

fn tail(lines: &[String]) -> Vec<String> {
    lines[lines.len().saturating_sub(12)..].to_vec()
}
