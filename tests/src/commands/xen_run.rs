//! `virtus-run xen-run`: the guest's console on this terminal, under Xen,
//! until it ends (see [`crate::xen::interactive`]).

use super::require;
use crate::console::say;
use crate::qemu;
use crate::xen::bed;
use crate::xen::guest::GuestKind;
use crate::xen::hvm::Flavour;
use crate::xen::interactive::run_interactive;
use crate::xen::pv_args::PvRequest;

pub fn run(request: &PvRequest) -> Result<bool, String> {
    let what = match request.kind {
        GuestKind::Hvm => "HVM",
        GuestKind::Pvh => "PVH",
    };
    require(&request.image, what, "--image")?;
    let spec = request.guest()?;
    qemu::check_available().map_err(|error| error.to_string())?;
    let bed = bed::open_or_prepare(
        request.bed.as_deref(),
        crate::workspace(),
        Flavour::of(std::slice::from_ref(&spec)),
        |line| say(&format!("[testbed] {line}")),
    )?;
    let status = run_interactive(&spec, &bed)?;
    say(&format!("\r\nvirtus-run: QEMU exited ({status})"));
    Ok(status.success())
}
