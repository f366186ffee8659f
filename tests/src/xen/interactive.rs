//! `virtus-run xen-run`: the bed booted with a guest's console on this
//! terminal.
//!
//! dom0's script runs the library's `guest_console`: `xl create -c` in the
//! foreground, on dom0's console, which is Xen's, which is QEMU's serial
//! port, which is this terminal. Nothing is captured or prefixed: QEMU
//! gets the real terminal (`-serial mon:stdio`), so keys reach the guest
//! and Ctrl-A X still quits QEMU. When the guest ends, dom0 finishes its
//! script and reboots, and QEMU exits.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

use super::bed::Bed;
use super::guest::{GuestImage, GuestKind, GuestSpec};
use super::initramfs;
use super::machine::{machine_memory_mb, qemu_arguments};
use crate::qemu;

/// Printed before QEMU takes the terminal.
pub fn banner(kind: GuestKind) -> String {
    let (boot, guest) = match kind {
        GuestKind::Pvh => ("~10 s", "Virtus PVH"),
        GuestKind::Hvm => ("~20 s", "Virtus HVM (hvmloader, SeaBIOS, then the kernel)"),
    };
    format!("booting Xen + dom0 ({boot}), then {guest}; Ctrl-A X quits QEMU")
}

/// A session lasts as long as the user likes; dom0's watchdog only ends
/// one left behind for a day.
const SESSION_WATCHDOG: Duration = Duration::from_secs(24 * 3600);

/// dom0's script: the guest in the foreground on dom0's console.
pub fn script(guest: &GuestSpec) -> String {
    format!(
        "# Written by virtus-run xen-run; sourced by dom0's init.\nguest_console {}\n",
        guest.name
    )
}

/// The bed's QEMU arguments, turned to a terminal session: the serial
/// port on stdio multiplexed with QEMU's monitor (so Ctrl-A X quits, and
/// Ctrl-A Ctrl-A sends a Ctrl-A, which Xen takes thrice to switch its
/// console input), and no separate monitor.
pub fn interactive_arguments(args: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-serial") => {
                args.next();
                out.extend(["-serial", "mon:stdio"].map(OsString::from));
            }
            Some("-monitor") => {
                args.next();
            }
            _ => out.push(arg.clone()),
        }
    }
    out
}

/// Boots the bed with `guest` on this terminal and returns QEMU's exit
/// status once the user (or the guest) ended the session. Fails if QEMU
/// could not be started.
pub fn run_interactive(guest: &GuestSpec, bed: &Bed) -> Result<ExitStatus, String> {
    if let GuestImage::File { kernel, ramdisk } = &guest.image {
        for file in std::iter::once(kernel).chain(ramdisk) {
            if !file.is_file() {
                return Err(format!(
                    "guest image {} not found; build it first, or pass --image",
                    file.display()
                ));
            }
        }
    }
    let guests = std::slice::from_ref(guest);
    let initramfs = initramfs::write(bed, guests, &script(guest), &[])
        .map_err(|error| format!("cannot write dom0's initramfs: {error}"))?;
    let args = qemu_arguments(
        bed,
        &initramfs.0,
        machine_memory_mb(guests),
        SESSION_WATCHDOG,
        None,
    )?;
    let args = interactive_arguments(&args);

    println!("{}", banner(guest.kind));
    let _ = std::io::stdout().flush();
    let mut child = Command::new(qemu::QEMU)
        .args(&args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| qemu::LaunchError::from(error).to_string())?;
    // QEMU's complaints pass through, except the CPUID bits TCG cannot
    // emulate, which are harmless and would clutter the session's start.
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !line.contains("TCG doesn't support requested feature") {
                    eprintln!("{line}\r");
                }
            }
        });
    }
    child
        .wait()
        .map_err(|error| format!("waiting for {}: {error}", qemu::QEMU))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::xen::bed::pvh_bed;

    #[test]
    fn the_terminal_gets_the_serial_port_and_the_monitor() {
        let bed = pvh_bed("/bed");
        let args = qemu_arguments(&bed, Path::new("/tmp/i"), 512, SESSION_WATCHDOG, None).unwrap();
        let args = interactive_arguments(&args);
        let args: Vec<_> = args.iter().map(|a| a.to_str().unwrap()).collect();
        let pair = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
        assert_eq!(pair("-serial"), "mon:stdio");
        assert!(!args.contains(&"-monitor"));
        assert_eq!(pair("-display"), "none");
        assert_eq!(pair("-kernel"), "/bed/xen");
        assert!(pair("-initrd").contains("virtus.stall=0 virtus.watchdog=86400,"));
        assert!(args.contains(&"-no-reboot"));
    }

    #[test]
    fn the_banner_names_the_guest_type() {
        assert!(banner(GuestKind::Pvh).contains("then Virtus PVH;"));
        assert!(banner(GuestKind::Hvm).contains("then Virtus HVM"));
        assert!(banner(GuestKind::Hvm).ends_with("Ctrl-A X quits QEMU"));
    }

    #[test]
    fn the_script_runs_the_guest_in_the_foreground() {
        let guest = GuestSpec::pvh("virtus", "/k").unwrap();
        assert!(script(&guest).ends_with("\nguest_console virtus\n"));
    }

    #[test]
    fn a_missing_image_is_refused_before_booting() {
        let guest = GuestSpec::pvh("virtus", "/nonexistent/virtus-pv").unwrap();
        let bed = pvh_bed("/nonexistent");
        let error = run_interactive(&guest, &bed).unwrap_err();
        assert!(
            error.contains("/nonexistent/virtus-pv not found"),
            "{error}"
        );
    }
}
