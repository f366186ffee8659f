//! `virtus-run xen-suite`, `xen-hvm-suite`, `legs` (alias `both`) and
//! `xen-run`, which share one request ([`PvRequest`]): Virtus as a domU of
//! the test bed, the PVH build (`virtus-pv`) or the unmodified native
//! image as an HVM guest. Each command has its own file: [`super::xen_suite`],
//! [`super::xen_red`] (`--red`), [`super::legs`], [`super::xen_run`].

use crate::xen::pv_args::{PvMode, PvRequest};

pub fn run(request: &PvRequest) -> Result<bool, String> {
    if let Some(ramdisk) = &request.ramdisk {
        crate::ramdisk::resolve(Some(ramdisk))?;
    }
    match request.mode {
        PvMode::Suite | PvMode::HvmSuite if request.red => super::xen_red::run(request),
        PvMode::Suite | PvMode::HvmSuite => Ok(super::xen_suite::run(request, "--image")?.passed),
        PvMode::Legs => super::legs::run(request),
        PvMode::Run => super::xen_run::run(request),
    }
}
