//! The toolstack's requests through xenstore's `control/` directory
//! (docs/misc/xenstore-paths): `xl shutdown` writes "poweroff" to
//! `control/shutdown`, `xl reboot` "reboot", `xl sysrq <key>` one letter
//! to `control/sysrq`. This module only translates them into the core's
//! [`HostRequest`]; the core decides what they mean (`power.rs`).
//!
//! The protocol, as Linux's drivers/xen/manage.c runs it: advertise
//! `control/feature-*` = "1" for what we answer; watch both nodes; when a
//! watch fires, in a transaction read the node and, for a command we act
//! on, write "" back (the acknowledgement) and commit, running it again on
//! EAGAIN; act only after the commit. The watch fires on registration and
//! again on our own "" write: an empty value means "nothing to do". A
//! command we do not support is logged and left unacknowledged, as Linux
//! does for unknown commands; libxl then gives up on its own after its
//! timeout and clears the node itself.
//!
//! "suspend" (`xl save`, `xl migrate`, `xl save -c`) is acknowledged like
//! the others; libxl then waits up to 60 s for the domain to shut down
//! with reason suspend, which the core's `suspend` brings about.

use crate::xenstore::conn::{Conn, Doorbell, XsError};
use crate::xenstore::ring::RingPage;
use crate::xenstore::wire::XsErrno;
use virtus_kernel::platform::HostRequest;

pub const SHUTDOWN: &str = "control/shutdown";
pub const SYSRQ: &str = "control/sysrq";
pub const SHUTDOWN_TOKEN: &str = "virtus-control-shutdown";
pub const SYSRQ_TOKEN: &str = "virtus-control-sysrq";

/// The `control/feature-*` keys for what Virtus answers ("halt" and
/// `control/sysrq` are answered too, but have no key a guest can write:
/// libxl creates `feature-poweroff`, `-reboot`, `-suspend`, `-s3`, `-s4`
/// writable, and `control/` itself is read-only to the guest, so a
/// `feature-sysrq` write is EACCES on the test bed; `xl sysrq` reads no
/// feature key anyway).
pub const FEATURES: [&str; 3] = ["poweroff", "reboot", "suspend"];

/// What a `control/shutdown` value asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShutdownValue {
    /// "": no request (our own acknowledgement, or the registration fire).
    Nothing,
    /// A command we act on.
    Request(HostRequest),
    /// A command we do not support (the value, for the log).
    Unsupported(alloc::string::String),
}

/// Reads a `control/shutdown` value (toolstack-written: any bytes).
pub fn shutdown_value(value: &[u8]) -> ShutdownValue {
    // Some writers add a NUL; it is not part of the command.
    let value = value.strip_suffix(&[0]).unwrap_or(value);
    match value {
        b"" => ShutdownValue::Nothing,
        b"poweroff" => ShutdownValue::Request(HostRequest::PowerOff),
        b"reboot" => ShutdownValue::Request(HostRequest::Reboot),
        b"halt" => ShutdownValue::Request(HostRequest::Halt),
        b"suspend" => ShutdownValue::Request(HostRequest::Suspend),
        other => ShutdownValue::Unsupported(alloc::string::String::from_utf8_lossy(other).into()),
    }
}

/// The key in a `control/sysrq` value: its first byte, if any (Linux
/// reads it with "%c"); NUL is no key.
pub fn sysrq_key(value: &[u8]) -> Option<u8> {
    value.first().copied().filter(|k| *k != 0)
}

/// Register the two watches (again, after `XS_RESET_WATCHES`).
pub fn watch<P: RingPage, B: Doorbell>(c: &mut Conn<P, B>) -> Result<(), XsError> {
    c.watch(SHUTDOWN, SHUTDOWN_TOKEN)?;
    c.watch(SYSRQ, SYSRQ_TOKEN)
}

/// Read `control/shutdown` and acknowledge a command we act on (write
/// "") in the same transaction, run again on EAGAIN. A missing node is no
/// request. Returns what the node asked and the attempt that committed.
pub fn take_shutdown<P: RingPage, B: Doorbell>(
    c: &mut Conn<P, B>,
) -> Result<(ShutdownValue, u32), XsError> {
    c.transaction(|tx| {
        let value = match tx.read(SHUTDOWN) {
            Ok(bytes) => shutdown_value(&bytes),
            Err(e) if e.errno() == Some(XsErrno::Enoent) => ShutdownValue::Nothing,
            Err(e) => return Err(e),
        };
        if let ShutdownValue::Request(_) = value {
            tx.write(SHUTDOWN, b"")?;
        }
        Ok(value)
    })
}

/// Read and clear `control/sysrq` in one transaction.
pub fn take_sysrq<P: RingPage, B: Doorbell>(c: &mut Conn<P, B>) -> Result<Option<u8>, XsError> {
    let (key, _) = c.transaction(|tx| {
        let key = match tx.read(SYSRQ) {
            Ok(bytes) => sysrq_key(&bytes),
            Err(e) if e.errno() == Some(XsErrno::Enoent) => None,
            Err(e) => return Err(e),
        };
        if key.is_some() {
            tx.write(SYSRQ, b"")?;
        }
        Ok(key)
    })?;
    Ok(key)
}

#[cfg(target_os = "none")]
pub use kernel::*;

#[cfg(target_os = "none")]
mod kernel {
    use super::*;
    use crate::xenstore::with_client;
    use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

    /// Bit i set: `control/feature-FEATURES[i]` was written.
    static ADVERTISED: AtomicU8 = AtomicU8::new(0);
    /// A watch fired and the node is still to be read.
    static SHUTDOWN_FIRED: AtomicBool = AtomicBool::new(false);
    static SYSRQ_FIRED: AtomicBool = AtomicBool::new(false);
    /// The last unsupported value logged, so one request is one line.
    static UNSUPPORTED_LOGGED: spin::Mutex<Option<alloc::string::String>> = spin::Mutex::new(None);

    /// Advertise the features and watch the two nodes. The toolstack may
    /// not have created a `feature-*` node, and `control/` is read-only to
    /// the guest (xenstore-paths): a refused write is logged, and the
    /// command is still served.
    pub fn start() -> Result<(), XsError> {
        advertise()?;
        with_client(watch)?;
        match crate::suspend::offer_channel() {
            Ok(port) => log::info!("control: suspend event channel offered on port {port}"),
            Err(e) => log::info!(
                "control: no suspend event channel ({e}); suspend through control/shutdown"
            ),
        }
        Ok(())
    }

    /// Write the `feature-*` keys: at start, and again after a restore into
    /// a new domain (nodes the guest wrote do not travel with it; the
    /// watches are registered again by the connection itself).
    pub fn advertise() -> Result<(), XsError> {
        with_client(|c| {
            for (i, feature) in FEATURES.iter().enumerate() {
                let key = alloc::format!("control/feature-{feature}");
                match c.write(&key, b"1") {
                    Ok(()) => {
                        ADVERTISED.fetch_or(1 << i, Ordering::Relaxed);
                    }
                    Err(e) => log::warn!("control: cannot write {key}: {e}"),
                }
            }
            Ok(())
        })
    }

    /// What to do with a `control/shutdown` value once acknowledged.
    fn served((value, attempt): (ShutdownValue, u32)) -> Option<HostRequest> {
        match value {
            ShutdownValue::Nothing => None,
            ShutdownValue::Request(request) => {
                log::info!(
                    "control: {SHUTDOWN} asked {request:?}; acknowledged (attempt {attempt})"
                );
                Some(request)
            }
            ShutdownValue::Unsupported(what) => {
                let mut logged = UNSUPPORTED_LOGGED.lock();
                if logged.as_deref() != Some(what.as_str()) {
                    virtus_kernel::kprintln!(
                        "control: {SHUTDOWN} = {what:?} is not supported (Virtus advertises no feature-{what}); \
                         left unacknowledged: the toolstack gives up after its timeout (libxl: 60 s for suspend)"
                    );
                    *logged = Some(what);
                }
                None
            }
        }
    }

    /// The features actually written, for `info`.
    pub fn advertised() -> impl Iterator<Item = &'static str> {
        let bits = ADVERTISED.load(Ordering::Relaxed);
        FEATURES
            .iter()
            .enumerate()
            .filter(move |(i, _)| bits & (1 << i) != 0)
            .map(|(_, f)| *f)
    }

    /// The next request, if the watches have fired with one: the body of
    /// `Platform::host_request`. Main line only.
    pub fn next_request() -> Option<HostRequest> {
        if crate::suspend::channel_fired() {
            log::info!("control: the toolstack asked to suspend through the suspend event channel");
            return Some(HostRequest::Suspend);
        }
        let result = with_client(|c| {
            if !c.take_events(SHUTDOWN_TOKEN)?.is_empty() {
                SHUTDOWN_FIRED.store(true, Ordering::Relaxed);
            }
            if !c.take_events(SYSRQ_TOKEN)?.is_empty() {
                SYSRQ_FIRED.store(true, Ordering::Relaxed);
            }
            if SYSRQ_FIRED.swap(false, Ordering::Relaxed)
                && let Some(key) = take_sysrq(c)?
            {
                return Ok(Some(HostRequest::SysRq(key)));
            }
            if SHUTDOWN_FIRED.swap(false, Ordering::Relaxed) {
                return Ok(served(take_shutdown(c)?));
            }
            Ok(None)
        });
        result.unwrap_or_else(|e| {
            // Said once per kind of failure would be nicer; a dead store
            // stays dead (`with_client`), so this is rare past the first.
            log::warn!("control: cannot read the host's request: {e}");
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shutdown_values_map_to_requests() {
        assert_eq!(shutdown_value(b""), ShutdownValue::Nothing);
        assert_eq!(shutdown_value(b"\0"), ShutdownValue::Nothing);
        assert_eq!(
            shutdown_value(b"poweroff"),
            ShutdownValue::Request(HostRequest::PowerOff)
        );
        assert_eq!(
            shutdown_value(b"reboot"),
            ShutdownValue::Request(HostRequest::Reboot)
        );
        assert_eq!(
            shutdown_value(b"halt"),
            ShutdownValue::Request(HostRequest::Halt)
        );
        assert_eq!(
            shutdown_value(b"suspend"),
            ShutdownValue::Request(HostRequest::Suspend)
        );
        assert_eq!(
            shutdown_value(b"poweroff "),
            ShutdownValue::Unsupported("poweroff ".into())
        );
    }

    #[test]
    fn a_sysrq_value_is_its_first_byte() {
        assert_eq!(sysrq_key(b"m"), Some(b'm'));
        assert_eq!(sysrq_key(b""), None);
        assert_eq!(sysrq_key(b"\0"), None);
    }

    /// The toolstack's side against the simulated xenstored: the watch
    /// fires, the command is taken and the node cleared in the same
    /// transaction; what we do not support stays for the toolstack.
    #[test]
    fn a_written_command_is_taken_and_acknowledged() {
        use crate::xenstore::fake::connect;
        let (mut c, server) = connect(100);
        watch(&mut c).unwrap();
        let events = |c: &mut Conn<_, _>, token| {
            for _ in 0..50 {
                server.0.borrow_mut().serve();
            }
            c.take_events(token).unwrap().len()
        };
        assert_eq!(events(&mut c, SHUTDOWN_TOKEN), 1, "the registration fire");
        assert_eq!(take_shutdown(&mut c).unwrap(), (ShutdownValue::Nothing, 1));

        server.0.borrow_mut().dom0_write(SHUTDOWN, b"reboot");
        assert_eq!(events(&mut c, SHUTDOWN_TOKEN), 1);
        let (value, attempt) = take_shutdown(&mut c).unwrap();
        assert_eq!(value, ShutdownValue::Request(HostRequest::Reboot));
        assert_eq!(attempt, 1);
        assert_eq!(c.read(SHUTDOWN).unwrap(), b"", "acknowledged");

        server.0.borrow_mut().dom0_write(SHUTDOWN, b"suspend");
        let (value, _) = take_shutdown(&mut c).unwrap();
        assert_eq!(value, ShutdownValue::Request(HostRequest::Suspend));
        assert_eq!(c.read(SHUTDOWN).unwrap(), b"", "libxl waits for this ack");

        server.0.borrow_mut().dom0_write(SHUTDOWN, b"s3");
        let (value, _) = take_shutdown(&mut c).unwrap();
        assert_eq!(value, ShutdownValue::Unsupported("s3".into()));
        assert_eq!(c.read(SHUTDOWN).unwrap(), b"s3", "left for libxl");

        server.0.borrow_mut().dom0_write(SYSRQ, b"m");
        assert!(events(&mut c, SYSRQ_TOKEN) >= 1);
        assert_eq!(take_sysrq(&mut c).unwrap(), Some(b'm'));
        assert_eq!(c.read(SYSRQ).unwrap(), b"");
        assert_eq!(take_sysrq(&mut c).unwrap(), None, "taken once");
    }
}
