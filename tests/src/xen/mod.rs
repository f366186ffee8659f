//! Running guests under real Xen, nested in QEMU.
//!
//! QEMU boots Xen, Xen boots a Linux dom0 with the `xl` toolstack, and
//! dom0's init runs a script the runner wrote: start the guests, relay
//! their consoles, report how each ended. Everything the runner learns
//! comes back on the serial console in a small line protocol
//! ([`protocol`]); the bed itself (Xen, dom0's kernel and initramfs) is
//! prepared by `tests/xen/testbed.py` ([`bed`]).
//!
//! The pure parts (the cpio archive, the protocol parser, xl configs and
//! scripts, folding events into a report) are unit-tested; [`run`], the
//! one boot loop every Xen command uses, is the thin layer that needs QEMU.

pub mod args;
pub mod bed;
pub mod checks;
pub mod concurrency;
pub mod cpio;
pub mod disk_serve;
pub mod grant_peek;
pub mod guest;
pub mod guest_ktap;
pub mod hvm;
pub mod initramfs;
pub mod interactive;
pub mod lifecycle;
pub mod lifecycle_figures;
pub mod lifecycle_judge;
pub mod live;
pub mod machine;
pub mod mute;
pub mod protocol;
pub mod pv_args;
pub mod recorder;
pub mod report;
pub mod run;
pub mod script;

pub use guest::{Expectation, GuestImage, GuestKind, GuestSpec};
pub use guest_ktap::judge_guest_ktap;
pub use live::Verbosity;
pub use report::{GuestEnd, GuestReport, XenReport};
pub use run::{RunPlan, TimedRun, XenOptions, run_guests, run_planned, run_timed};
pub use script::{Dom0Command, Dom0Point};
