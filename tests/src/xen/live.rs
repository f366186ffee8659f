//! The live view of a Xen run: guest consoles and dom0's markers as they
//! arrive, each labelled with who spoke.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::guest::{GuestImage, GuestSpec};
use super::protocol::Event;
use crate::console::with_function;
use crate::ktap::{self, KtapLine};
use crate::symbols::{self, Symbols};
use crate::table;

/// The symbols of each guest booted from a kernel file of ours, by guest
/// name: its crash reports name functions, as the native column's do.
#[derive(Clone, Debug, Default)]
pub struct GuestSymbols(HashMap<String, Arc<Symbols>>);

impl GuestSymbols {
    pub fn of(specs: &[GuestSpec]) -> Self {
        let each = specs.iter().filter_map(|spec| match &spec.image {
            GuestImage::File { kernel, .. } => {
                Some((spec.name.clone(), symbols::for_image(kernel)?))
            }
            _ => None,
        });
        Self(each.collect())
    }

    /// The symbols of guest `name`'s image, if it has any.
    pub fn get(&self, name: &str) -> Option<&Symbols> {
        self.0.get(name).map(Arc::as_ref)
    }
}

/// How much of the console to stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// Nothing; only the summary at the end.
    Quiet,
    /// Guest consoles, markers, dom0 command output.
    Normal,
    /// Also Xen's log and dom0's kernel.
    Verbose,
}

/// The terminal line for one event, if it is shown. `at` is the host time
/// since QEMU's start, shown on the markers that make up the timeline.
/// Guest lines of a crash report get the function at their address.
pub fn render(
    event: &Event,
    at: Duration,
    verbosity: Verbosity,
    symbols: &GuestSymbols,
) -> Option<String> {
    if verbosity == Verbosity::Quiet || (!event.is_protocol() && verbosity == Verbosity::Normal) {
        return None;
    }
    let at = table::seconds(at);
    let uptime = |uptime: &Option<f64>| match uptime {
        Some(seconds) => format!(" (dom0 uptime {seconds:.1}s)"),
        None => String::new(),
    };
    Some(match event {
        // Bookkeeping of a KTAP guest, one per test: shown only when verbose,
        // as the native suite hides them.
        Event::GuestLine { text, .. }
            if verbosity == Verbosity::Normal
                && matches!(KtapLine::parse(&ktap::clean(text)), KtapLine::Running(_)) =>
        {
            return None;
        }
        Event::GuestLine { guest, text } => format!(
            "[xen:{guest}] {text}{}",
            with_function(symbols.get(guest), text)
        ),
        Event::GuestXl { guest, text } => format!("[xen:{guest}] xl: {text}"),
        Event::Dom0Output { text } => format!("[xen:dom0] {text}"),
        Event::Dom0CommandDone { rc } => match rc {
            Some(rc) => format!("[xen] dom0 command exited with {rc}"),
            None => "[xen] dom0 command ended".to_string(),
        },
        Event::Dom0Start { uptime: u } => format!("[xen] {at} dom0 init started{}", uptime(u)),
        Event::Dom0Ready { uptime: u } => format!("[xen] {at} dom0 toolstack ready{}", uptime(u)),
        Event::GuestCreated {
            guest,
            domid,
            uptime: u,
        } => {
            let domid = domid.map_or("?".to_string(), |id| id.to_string());
            format!(
                "[xen] {at} guest {guest} created, domid {domid}{}",
                uptime(u)
            )
        }
        Event::GuestEnded {
            guest,
            reason,
            code,
            uptime: u,
        } => {
            let code = code.map_or("?".to_string(), |c| c.to_string());
            format!(
                "[xen] {at} guest {guest} ended: {reason} (code {code}){}",
                uptime(u)
            )
        }
        Event::GuestStamps { guest, stamps } => {
            let steps: Vec<String> = stamps.iter().map(|(k, v)| format!("{k} {v:.2}s")).collect();
            format!(
                "[xen] {at} guest {guest}: dom0 uptime at {}",
                steps.join(", ")
            )
        }
        Event::GuestTimeout { guest, uptime: u } => format!(
            "[xen] {at} guest {guest} timed out, still running{}",
            uptime(u)
        ),
        Event::GuestFailed { guest, reason } => {
            format!("[xen] {at} guest {guest} failed to start: {reason}")
        }
        Event::Error { what } => format!("[xen] {at} dom0 error: {what}"),
        Event::Watchdog { uptime: u } => format!("[xen] {at} dom0 watchdog fired{}", uptime(u)),
        Event::Stalled { uptime: u, secs } => format!(
            "[xen] {at} dom0's script stalled: silent for {} s{}",
            secs.map_or("?".to_string(), |s| s.to_string()),
            uptime(u)
        ),
        Event::StallInfo { text } => format!("[xen:stall] {text}"),
        Event::Done { uptime: u } => format!("[xen] {at} dom0 done, rebooting{}", uptime(u)),
        Event::Garbled(line) => format!("[xen] unreadable marker: {line}"),
        Event::Xen(line) => format!("[xen] {line}"),
        Event::Other(line) => format!("[xen:dom0-kernel] {line}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: Duration = Duration::from_millis(7840);

    #[test]
    fn each_event_is_labelled_and_shown_at_its_verbosity() {
        use Verbosity::{Normal, Quiet, Verbose};
        let line = |text: &str| Event::GuestLine {
            guest: "virtus".into(),
            text: text.into(),
        };
        let created = Event::GuestCreated {
            guest: "virtus".into(),
            domid: Some(1),
            uptime: Some(6.83),
        };
        let ended = Event::GuestEnded {
            guest: "virtus".into(),
            reason: crate::xen::protocol::ShutdownReason::Crash,
            code: Some(3),
            uptime: None,
        };
        let xen = Event::Xen("(XEN) Xen version 4.17".into());
        let kernel = Event::Other("[    1.0] Linux version 6.1".into());
        let cases = [
            (line("ok 1 heap"), Normal, Some("[xen:virtus] ok 1 heap")),
            (
                created,
                Normal,
                Some("[xen] 7.8s guest virtus created, domid 1 (dom0 uptime 6.8s)"),
            ),
            (
                ended,
                Normal,
                Some("[xen] 7.8s guest virtus ended: crash (code 3)"),
            ),
            // Xen's and dom0's kernel lines only when verbose.
            (xen.clone(), Normal, None),
            (kernel.clone(), Normal, None),
            (xen, Verbose, Some("[xen] (XEN) Xen version 4.17")),
            (
                kernel,
                Verbose,
                Some("[xen:dom0-kernel] [    1.0] Linux version 6.1"),
            ),
            (line("# running: heap_vec"), Normal, None),
            (
                line("# running: heap_vec"),
                Verbose,
                Some("[xen:virtus] # running: heap_vec"),
            ),
            (Event::Done { uptime: None }, Quiet, None),
        ];
        for (event, verbosity, shown) in cases {
            let got = render(&event, AT, verbosity, &GuestSymbols::default());
            assert_eq!(got.as_deref(), shown, "{event:?} {verbosity:?}");
        }
    }
}
