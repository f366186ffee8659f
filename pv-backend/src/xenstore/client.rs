//! The kernel's xenstore connection: the page from `HVM_PARAM_STORE_PFN`,
//! the port from `HVM_PARAM_STORE_EVTCHN` (xenstored bound it before the
//! domain was unpaused), and [`super::conn`] on top.
//!
//! The port has an upcall handler that only notes "the host may have
//! something" (`EventSource::HostRequest`): no xenstore I/O in interrupt
//! context. The main line then reads the ring ([`Conn::pump`]). A request
//! waits with interrupts off between arming the port (clearing its pending
//! bit) and `SCHEDOP_poll`, so a reply that lands in between cannot be
//! taken by the upcall and lost to the sleeper; Xen wakes a poller whatever
//! the interrupt flag and the mask.

use core::ptr::NonNull;

use super::conn::{Conn, Doorbell, XsError};
use super::page::StorePage;
use crate::evtchn::{self, Port};
use crate::hypercall::XenError;
use crate::{abi, hvm, sched, shared_info, time};

/// One sleep on the port lasts at most this long; the request's deadline
/// is checked between two.
const WAIT_SLICE_NS: u64 = 10_000_000;

/// The store page's frame, as connected: a restore must keep it.
static STORE_PFN: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The store's event channel.
pub struct StoreBell(Port);

impl Doorbell for StoreBell {
    fn notify(&mut self) {
        let _ = evtchn::send(self.0);
    }

    fn wait(&mut self, ready: &mut dyn FnMut() -> bool) {
        // Without shared_info there is neither a clock nor a pending bit:
        // yield and look again.
        let Some(si) = shared_info::get() else {
            return sched::yield_now();
        };
        x86_64::instructions::interrupts::without_interrupts(|| {
            si.test_and_clear_pending(self.0);
            if !ready() {
                let deadline = time::system_time_ns(si).saturating_add(WAIT_SLICE_NS);
                if sched::poll(self.0, deadline).is_err() {
                    sched::yield_now();
                }
            }
        });
    }

    fn now_ns(&mut self) -> Option<u64> {
        shared_info::get().map(time::system_time_ns)
    }

    fn event_queued(&mut self) {
        // The event's reader (`control`, the shell) runs on the main line
        // and learns of it as of an upcall.
        crate::platform::notify_host_request();
    }
}

/// The kernel's connection.
pub type Client = Conn<StorePage, StoreBell>;

fn setup(what: &str, e: XenError) -> XsError {
    XsError::Setup(alloc::format!("{what}: {e}"))
}

/// The store's port, as `HVM_PARAM_STORE_EVTCHN` names it now (at boot,
/// and again after a restore, which gives a new one).
fn store_port() -> Result<Port, XsError> {
    let port = hvm::get_param(abi::HVM_PARAM_STORE_EVTCHN)
        .map_err(|e| setup("HVM_PARAM_STORE_EVTCHN", e))?;
    Port::try_from(port).map_err(|_| XsError::Setup(alloc::format!("port {port}")))
}

/// Give the store's port its upcall handler and unmask it.
fn listen(port: Port) -> Result<(), XsError> {
    if !evtchn::set_handler(port, crate::platform::on_store_port) {
        return Err(XsError::Setup(alloc::format!(
            "port {port} is beyond the handler table"
        )));
    }
    evtchn::unmask(port).map_err(|e| setup("unmask the store port", e))
}

/// The store Xen set up for this domain: the page is registered with
/// `mem::reserve_shared` before it is touched, the port gets its handler
/// and is unmasked, and `XS_RESET_WATCHES` drops whatever watches and
/// transactions an earlier life of this domain left (a reboot keeps the
/// domain's connection in some toolstacks; a fresh one has none).
pub fn connect() -> Result<Client, XsError> {
    let pfn =
        hvm::get_param(abi::HVM_PARAM_STORE_PFN).map_err(|e| setup("HVM_PARAM_STORE_PFN", e))?;
    let port = store_port()?;
    if pfn == 0 || pfn == u64::MAX {
        return Err(XsError::Setup(alloc::format!(
            "HVM_PARAM_STORE_PFN is {pfn:#x}"
        )));
    }
    let addr = pfn
        .checked_mul(4096)
        .ok_or_else(|| XsError::Setup(alloc::format!("frame {pfn:#x}")))?;
    virtus_kernel::mem::reserve_shared(addr)
        .map_err(|e| XsError::Setup(alloc::format!("store page: {e}")))?;
    let page = NonNull::new(addr as *mut u8).ok_or_else(|| XsError::Setup("page 0".into()))?;
    // SAFETY: `reserve_shared` accepted the frame: mapped, not the image,
    // not allocatable; this connection is its only user.
    let page = unsafe { StorePage::new(page) };
    let mut client = Conn::new(page, StoreBell(port));
    listen(port)?;
    client.reset_watches()?;
    STORE_PFN.store(pfn, core::sync::atomic::Ordering::Relaxed);
    log::info!("xenstore: connected (frame {pfn:#x}, port {port}); watches reset");
    Ok(client)
}

enum State {
    NotTried,
    Up(alloc::boxed::Box<Client>),
    /// Connecting failed; said once, not retried on every call.
    Down(XsError),
}

static CLIENT: spin::Mutex<State> = spin::Mutex::new(State::NotTried);

/// Runs `f` on the connection, connecting first if need be. Main line
/// only (the lock is held across a round trip).
pub fn with_client<T>(f: impl FnOnce(&mut Client) -> Result<T, XsError>) -> Result<T, XsError> {
    let mut state = CLIENT.lock();
    if matches!(*state, State::NotTried) {
        *state = match connect() {
            Ok(client) => State::Up(alloc::boxed::Box::new(client)),
            Err(e) => {
                log::warn!("xenstore: {e}");
                State::Down(e)
            }
        };
    }
    match &mut *state {
        State::Up(client) => f(client),
        State::Down(e) => Err(e.clone()),
        State::NotTried => unreachable!("connected above"),
    }
}

/// After a restore into a new domain: the same page (zeroed by the
/// toolstack) on the port `HVM_PARAM_STORE_EVTCHN` names now. Nothing to
/// do if the kernel never connected. Returns how many watches were
/// registered again.
pub fn resume_in_new_domain() -> Result<usize, XsError> {
    let mut state = CLIENT.lock();
    let State::Up(client) = &mut *state else {
        return Ok(0);
    };
    let pfn =
        hvm::get_param(abi::HVM_PARAM_STORE_PFN).map_err(|e| setup("HVM_PARAM_STORE_PFN", e))?;
    let was = STORE_PFN.load(core::sync::atomic::Ordering::Relaxed);
    if pfn != was {
        return Err(XsError::Setup(alloc::format!(
            "the store page moved from frame {was:#x} to {pfn:#x}"
        )));
    }
    let port = store_port()?;
    listen(port)?;
    let watches = client.reconnect(StoreBell(port))?;
    log::info!("xenstore: reconnected on port {port}; {watches} watches registered again");
    Ok(watches)
}
