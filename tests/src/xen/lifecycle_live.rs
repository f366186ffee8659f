//! The live operations' scenarios: `xl save` and `xl restore`, `xl save
//! -c` (a checkpoint), `xl migrate` to this host, and `xl mem-set` down and
//! up. The guest runs `ticker` on its disk meanwhile (a clock that ticks
//! and block I/O that must carry on), and its shell must answer afterwards.
//!
//! `xl create -F`, which started the guest and reports its shutdowns,
//! stops watching when the domain suspends for good ("Domain has
//! suspended.", or "has been destroyed" when `xl save` destroyed it before
//! xl looked), and may stop on a checkpoint's suspend too. From then on
//! what watches the domain ([`Step::Watch`]) is `xl restore -F`, which
//! brought it back; after a checkpoint or a migration (the receiver's own
//! `-F` would watch before it asks the sender for permission to start the
//! domain, and the two would wait for each other), `xl shutdown -w`.

use super::{ANSWER_SECS, COMMAND_SECS, INFO_LINE, POWER_OFF, Step};
use crate::xen::disk_serve;
use crate::xen::guest::GuestKind;
use crate::xen::protocol::ShutdownReason::Poweroff;

pub const SUSPENDING: &str = "power: the host asks to suspend; suspending";
pub const RESUMED_NEW: &str = "power: resumed in a new domain";
pub const CANCELLED: &str = "power: suspend cancelled; resumed in the same domain";
pub const TICKER_DONE: &str = "ticker: done:";
pub const TICKER_FAILED: &str = "ticker: FAILED";
/// How long `ticker` runs: long enough that the save (seconds for the
/// 32 MB guest under TCG) and the restore fall inside it, short enough
/// to keep `make test` small.
pub const TICKER_SECS: u32 = 20;
/// The tick after which dom0 saves: the ticker is well under way.
const TICK_BEFORE_SAVE: u32 = 3;
/// `xl save`/`xl restore`/`xl migrate` of a 32 MB guest: seconds idle;
/// the Linux proof guest (96 MB) took 4-18 s on a loaded host.
const SAVE_SECS: u32 = 60;
/// Where dom0 saves the guest (its /tmp is a tmpfs: the file costs dom0
/// the guest's memory until `lc_end` removes it).
const SAVE_FILE: &str = "/tmp/@NAME@.save";
/// `xl mem-set`: the guest's memory (`PvRequest::DEFAULT_MEMORY_MB`, which
/// `lifecycle::guest` checks) and the lower size it is set to.
pub const BALLOON_FULL_MB: u32 = 32;
pub const BALLOON_LOW_MB: u32 = 24;

fn see(text: &str, secs: u32) -> Step {
    Step::see(text, 1, secs)
}

/// Boot to the shell (done by the caller), start the ticker (on the disk
/// of a `kind` guest if there is one), and wait until it ticked a few times.
fn ticking(kind: Option<GuestKind>) -> Vec<Step> {
    let command = match kind {
        Some(kind) => format!("ticker {TICKER_SECS} {}", disk_serve::kernel_name(kind)),
        None => format!("ticker {TICKER_SECS}"),
    };
    vec![
        Step::typed(&command, true),
        // The trailing space: not `tick 30`.
        see(&format!("ticker: tick {TICK_BEFORE_SAVE} "), ANSWER_SECS),
    ]
}

/// After the operation: the ticker ended ok, the shell answers typing.
fn carried_on() -> Vec<Step> {
    vec![
        see(TICKER_DONE, TICKER_SECS + ANSWER_SECS),
        Step::Absent {
            text: TICKER_FAILED.into(),
        },
        Step::typed("info", true),
        see(INFO_LINE, ANSWER_SECS),
    ]
}

/// The end of a domain watched by what restored it: `xl shutdown -w`, the
/// guest's own words, the shutdown its watcher reports, nothing left listed.
fn shut_down() -> Vec<Step> {
    vec![
        Step::run("xl shutdown -w @NAME@", false),
        see(POWER_OFF, ANSWER_SECS),
        Step::gone(1, Poweroff),
        Step::Unlisted { secs: ANSWER_SECS },
    ]
}

/// The end of a domain nothing watches: `xl shutdown -w` asks and watches,
/// the guest's words, the shutdown it reports; nothing acts on the
/// poweroff (unless the first `xl create -F` still watches), so dom0
/// destroys what is left; nothing left listed.
fn shut_down_unwatched() -> Vec<Step> {
    vec![
        Step::Watch {
            command: "xl shutdown -w @NAME@".into(),
            secs: COMMAND_SECS,
        },
        see(POWER_OFF, ANSWER_SECS),
        Step::gone(1, Poweroff),
        Step::run(
            "! xl domid @NAME@ >/dev/null 2>&1 || xl destroy @NAME@",
            true,
        ),
        Step::Unlisted { secs: ANSWER_SECS },
    ]
}

/// `xl save` (or `xl migrate`) in the background (step `at`), so that dom0
/// sees the guest's suspend line as it comes (the downtime starts there),
/// then its return.
fn save(at: usize, command: &str) -> Vec<Step> {
    vec![
        Step::run(command, false),
        // From the command's start: a migration first copies the guest's
        // memory while it runs (7.9-12.8 s before the suspend on the bed,
        // and more than 15 s once under load).
        see(SUSPENDING, SAVE_SECS),
        Step::Returned {
            step: at,
            secs: SAVE_SECS,
        },
    ]
}

/// Steps 0 and 1 (domid, shell) are the caller's; these start at 2.
/// PVH: the guest answers the suspend request and says it resumed. HVM:
/// the unmodified native image knows nothing of it (Xen pauses and saves
/// it from outside, the device model's state with it) and must simply
/// carry on; it powers off through ACPI, and its domain, preserved for the
/// UART to drain, is destroyed by `guest_wait`.
pub fn save_restore(kind: GuestKind) -> Vec<Step> {
    let mut steps = ticking(Some(kind));
    let command = format!("xl save @NAME@ {SAVE_FILE}");
    let restore = Step::Watch {
        command: format!("exec xl restore -F {SAVE_FILE}"),
        secs: SAVE_SECS,
    };
    if kind == GuestKind::Hvm {
        let at = 2 + steps.len();
        steps.extend([
            Step::run(&command, false),
            Step::Returned {
                step: at,
                secs: SAVE_SECS,
            },
            restore,
            Step::DomidAgain { new: true },
        ]);
        steps.extend(carried_on());
        steps.extend([Step::typed("shutdown", true), Step::gone(1, Poweroff)]);
        return steps;
    }
    steps.extend(save(2 + steps.len(), &command));
    steps.extend([
        restore,
        Step::DomidAgain { new: true },
        see(RESUMED_NEW, ANSWER_SECS),
    ]);
    steps.extend(carried_on());
    steps.extend(shut_down());
    steps
}

/// `xl save -c` (no disk: see `Scenario::needs_disk`): the guest carries on in the same domain, which nothing
/// watches any more: `xl shutdown -w` watches its end, and since nothing
/// acts on its poweroff, dom0 destroys it.
pub fn checkpoint() -> Vec<Step> {
    let mut steps = ticking(None);
    steps.extend(save(
        2 + steps.len(),
        &format!("xl save -c @NAME@ {SAVE_FILE}"),
    ));
    steps.extend([see(CANCELLED, ANSWER_SECS), Step::DomidAgain { new: false }]);
    steps.extend(carried_on());
    steps.extend(shut_down_unwatched());
    steps
}

/// `xl migrate` to this host (no disk, as the checkpoint): `-s ""` makes
/// xl run the host argument as the transport instead of `ssh HOST xl
/// migrate-receive`; `-e`: the receiver neither daemonizes nor watches
/// the new domain (its `-F` would deadlock, see the top).
pub fn migrate() -> Vec<Step> {
    let mut steps = ticking(None);
    let command = "xl migrate -s \"\" @NAME@ \"xl migrate-receive -e\"";
    steps.extend(save(2 + steps.len(), command));
    steps.extend([
        Step::DomidAgain { new: true },
        see(RESUMED_NEW, ANSWER_SECS),
    ]);
    steps.extend(carried_on());
    steps.extend(shut_down_unwatched());
    steps
}

/// The balloon line for a target of `mb` MiB, up to the verb.
pub fn balloon_line(mb: u32, verb: &str) -> String {
    format!("balloon: target {} KiB; {verb}", mb * 1024)
}

/// `xl mem-set` down, the guest works at the lower size, then back up;
/// `xl list` (its Mem column, MiB) must follow each time.
pub fn mem_set() -> Vec<Step> {
    let around = |mb: u32| Step::Memory {
        mb: mb - 1..=mb + 1,
    };
    let set = |mb: u32| Step::run(&format!("xl mem-set @NAME@ {mb}"), true);
    vec![
        around(BALLOON_FULL_MB),
        set(BALLOON_LOW_MB),
        see(&balloon_line(BALLOON_LOW_MB, "released"), ANSWER_SECS),
        around(BALLOON_LOW_MB),
        Step::typed("info", true),
        see(INFO_LINE, ANSWER_SECS),
        set(BALLOON_FULL_MB),
        see(&balloon_line(BALLOON_FULL_MB, "reclaimed"), ANSWER_SECS),
        around(BALLOON_FULL_MB),
        Step::typed("shutdown", true),
        Step::gone(1, Poweroff),
    ]
}

#[cfg(test)]
#[path = "lifecycle_live_tests.rs"]
mod tests;
