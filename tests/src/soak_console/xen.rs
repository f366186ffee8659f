//! The console soak's Xen columns: dom0 is the other end. The run's script
//! sources `dom0.sh` (shipped in the run's initramfs, not the bed, so the
//! bed is not rebuilt for it) and calls `soak_console`, which holds the
//! guest's console pty itself, raw, instead of `xl console` and the line
//! relay: the burst is counted and checksummed in dom0 and never crosses
//! dom0's own console (the outer QEMU's 115200-baud serial port), and the
//! stream to the guest is the runner's, shipped as a file. dom0's figures
//! come back as the output of `dom0_run soak_console_figures`.

use std::time::Duration;

use super::judge::{self, GuestReport, OtherEnd};
use super::stream;
use crate::xen::script::Script;
use crate::xen::{GuestKind, GuestSpec, RunPlan, TimedRun, Verbosity, XenOptions, run_planned};

/// The function library's path in dom0.
const LIBRARY: &str = "/virtus-run/soak-console.sh";

/// The guest's domain name.
pub const GUEST: &str = "soak-console";

/// What a Xen soak produced.
pub struct XenRun {
    pub run: TimedRun,
    pub guest: GuestReport,
    pub other: OtherEnd,
}

/// The guest of a column: `image` with `soak.console=BYTES,SEED`, dom0
/// waiting at most `timeout` for all of it.
pub fn guest(
    kind: GuestKind,
    image: &std::path::Path,
    (bytes, seed): (u64, u64),
    timeout: Duration,
) -> Result<GuestSpec, String> {
    let mut spec = match kind {
        GuestKind::Pvh => GuestSpec::pvh(GUEST, image)?,
        GuestKind::Hvm => GuestSpec::hvm(GUEST, image)?,
    };
    spec.extra = format!("loglevel=info soak.console={bytes},{seed}");
    spec.timeout = timeout;
    Ok(spec)
}

/// dom0's script: the library, the soak, then dom0's figures.
pub fn script(bytes: u64, timeout: Duration) -> Script {
    let figures = format!("soak_console_figures {GUEST}");
    Script {
        text: format!(
            "# Written by virtus-run (soak-console); sourced by dom0's init.\n\
             . {LIBRARY}\n\
             soak_console {GUEST} {bytes} {}\n\
             dom0_run {figures}\n",
            timeout.as_secs().max(1)
        ),
        dom0_order: vec![figures],
    }
}

/// Boot the bed of `spec`'s kind and soak its console.
pub fn run(
    spec: &GuestSpec,
    bytes: u64,
    seed: u64,
    bed: Option<std::path::PathBuf>,
    verbosity: Verbosity,
) -> XenRun {
    let plan = RunPlan {
        script: Some(script(bytes, spec.timeout)),
        files: vec![
            (LIBRARY.to_string(), include_bytes!("dom0.sh").to_vec()),
            (
                format!("/virtus-run/soak/{GUEST}.to-guest"),
                stream::to_guest(seed, bytes),
            ),
        ],
    };
    let options = XenOptions::new(bed, verbosity);
    let run = run_planned(std::slice::from_ref(spec), &plan, &options);
    let guest = judge::guest_report(&run.console(GUEST));
    let figures = run
        .report
        .dom0
        .first()
        .map(|d| d.lines.clone())
        .unwrap_or_default();
    let other = judge::dom0_report(&figures);
    XenRun { run, guest, other }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_sources_the_library_soaks_and_reports() {
        let script = script(65536, Duration::from_secs(300));
        assert_eq!(
            script.text.lines().skip(1).collect::<Vec<_>>(),
            [
                ". /virtus-run/soak-console.sh",
                "soak_console soak-console 65536 300",
                "dom0_run soak_console_figures soak-console"
            ]
        );
        assert_eq!(script.dom0_order, ["soak_console_figures soak-console"]);
    }
}
