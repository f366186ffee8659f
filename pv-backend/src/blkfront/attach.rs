//! blkfront in the kernel: each `device/vbd/*` found at start-up gets a
//! ring page, a grant, an event channel, the handshake, and a place in
//! the core's disk registry.
//!
//! xenstore is held only for the two handshake steps (each waits for the
//! backend, for at most `HANDSHAKE_NS`); granting and binding happen
//! between them. Afterwards a watch on the backend's `state` catches a
//! backend that goes `Closing`/`Closed`: the store's upcall only counts
//! (see [`note_store_activity`]), and the next `poll` looks at the watch.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use super::device::{self, Bell, Features, Front, Grants, Stats};
use super::handshake::{self, DiskParams, Offer, RingSetup};
use super::pool::SharedPage;
use super::ring::FrontRing;
use super::wire::MAX_SEGMENTS_PER_REQUEST;
use crate::evtchn::{self, Port};
use crate::grant::{self, GrantError};
use crate::xenbus::{self, Device, XenbusError, XenbusState};
use crate::xenstore::with_client;
use virtus_kernel::arch::irq::without_interrupts;
use virtus_kernel::block::{BlockDevice, BlockError, Completion, DISKS, DeviceInfo, Request};
use virtus_kernel::mem;

/// How long each handshake step waits for the backend. libxl gives the
/// backend 10 s to reach InitWait; blkback connects within milliseconds.
const HANDSHAKE_NS: u64 = 10_000_000_000;
/// Most segments of an indirect request used, whatever is offered (blkback
/// offers 256): 64 x 4 KiB = 256 KiB per request. The limit is memory, not
/// the protocol: a 32 MB guest has a heap of under 4 MiB, and callers hold
/// a few requests' worth of buffers at once (the core's many-request
/// transfer test failed to allocate at 1 MiB per request); and the grant
/// table's one frame (504 free refs) then holds seven such requests.
const INDIRECT_SEGMENTS_MAX: u32 = 64;

/// The most indirect segments used: `blkfront.indirect=N` on the command
/// line (0 or up to 11: direct requests only; at most 256, what blkback
/// offers), so a benchmark can measure what indirect requests buy; else
/// [`INDIRECT_SEGMENTS_MAX`].
fn indirect_limit() -> u32 {
    let cmdline = &virtus_kernel::platform().boot_info().cmdline;
    match cmdline.get("blkfront.indirect").map(str::parse::<u32>) {
        None => INDIRECT_SEGMENTS_MAX,
        Some(Ok(n)) => n.min(256),
        Some(Err(_)) => {
            log::warn!("blkfront.indirect: not a number; using {INDIRECT_SEGMENTS_MAX}");
            INDIRECT_SEGMENTS_MAX
        }
    }
}

/// Whether to offer persistent grants: yes unless `blkfront.persistent=0`
/// is on the command line (so that a benchmark can measure what they buy).
fn persistent_wanted() -> bool {
    let cmdline = &virtus_kernel::platform().boot_info().cmdline;
    match cmdline.get("blkfront.persistent") {
        None | Some("1") => true,
        Some("0") => false,
        Some(v) => {
            log::warn!("blkfront.persistent={v}: not 0 or 1; persistent grants stay on");
            true
        }
    }
}

/// Bumped by the xenstore upcall and by the client when it queues a watch
/// event: something may have arrived for a blkfront watch.
static STORE_ACTIVITY: AtomicU64 = AtomicU64::new(0);
/// Upcalls on blkfront ports (the core wakes on them and polls).
static UPCALLS: AtomicU64 = AtomicU64::new(0);

/// Called from the store port's upcall and the client's event note.
pub fn note_store_activity() {
    STORE_ACTIVITY.fetch_add(1, Ordering::Relaxed);
}

fn on_port(_: Port) {
    UPCALLS.fetch_add(1, Ordering::Relaxed);
}

/// Grants to the backend domain through the kernel's grant table.
pub(super) struct TableGrants(u16);

impl Grants for TableGrants {
    fn grant(&mut self, page: u64, readonly: bool) -> Option<u32> {
        // Buffers live in the kernel heap, which is mapped above the
        // identity map: the grant names the frame behind the address.
        let Some((frame, _)) = mem::translate(page) else {
            log::error!("blkfront: buffer page {page:#x} is not mapped");
            return None;
        };
        grant::grant_access(self.0, frame & !0xfff, readonly)
            .map_err(|e| log::warn!("blkfront: grant of page {page:#x}: {e}"))
            .ok()
    }
    fn shared_page(&mut self) -> Option<SharedPage> {
        // An allocated frame, kept for good: the allocator never hands it
        // out again. (Not registered with `mem::reserve_shared`: that
        // registry holds 16 frames, for rings and tables; a pool page is
        // plain identity-mapped RAM that stays allocated.)
        let Some(frame) = mem::alloc_frame() else {
            log::warn!("blkfront: persistent-grant pool: no free frame");
            return None;
        };
        // SAFETY: a frame the allocator just gave us: identity-mapped RAM,
        // 4 KiB, used by nothing else, and never freed (the pool keeps it).
        Some(unsafe { SharedPage::new(NonNull::new(frame as *mut u8)?) })
    }
    fn end(&mut self, gref: u32) -> bool {
        match grant::end_access(gref) {
            Ok(()) => true,
            Err(GrantError::InUse { .. }) => false,
            Err(e) => {
                log::error!("blkfront: end_access({gref}): {e}");
                false
            }
        }
    }
}

pub(super) struct PortBell(Port);

impl Bell for PortBell {
    fn notify(&mut self) {
        let _ = evtchn::send(self.0);
    }
}

/// One attached disk: what `info` shows and the tests check.
pub struct Attached {
    pub name: String,
    pub device: Device,
    pub offer: Offer,
    pub params: DiskParams,
    pub features: Features,
    pub ring_pages: u32,
    pub ring_entries: u32,
    pub port: Port,
    /// The ring's page and the grant of it.
    ring_frame: u64,
    ring_ref: u32,
    pub(super) front: spin::Mutex<Front<TableGrants, PortBell>>,
    token: String,
    seen_activity: AtomicU64,
}

impl Attached {
    pub(super) fn ring_frame(&self) -> u64 {
        self.ring_frame
    }

    pub(super) fn ring_ref(&self) -> u32 {
        self.ring_ref
    }

    /// What the core is told about the disk.
    pub fn info(&self) -> DeviceInfo {
        device::device_info(
            self.params.sectors,
            self.params.read_only(),
            self.ring_entries,
            &self.features,
        )
    }

    pub fn stats(&self) -> Stats {
        self.front.lock().stats
    }

    /// The persistent-grant pool: (pages granted, cap, the references).
    pub fn pool(&self) -> Option<(usize, usize, Vec<u32>)> {
        let front = self.front.lock();
        front
            .pool()
            .map(|p| (p.granted(), p.cap(), p.refs().to_vec()))
    }

    /// Why the disk stopped, if it did.
    pub fn dead(&self) -> Option<BlockError> {
        self.front.lock().dead()
    }

    /// A backend that closed fails what is outstanding: checked when the
    /// store saw activity since the last look.
    fn check_backend(&self) {
        let now = STORE_ACTIVITY.load(Ordering::Relaxed);
        if self.seen_activity.swap(now, Ordering::Relaxed) == now {
            return;
        }
        let state = with_client(|c| {
            if c.take_events(&self.token)?.is_empty() {
                return Ok(None);
            }
            Ok(Some(self.device.backend_state(c)))
        });
        if let Ok(Some(Ok(state))) = state
            && state.is_closing()
        {
            log::warn!(
                "blkfront: {}: backend is {state}; disk disconnected",
                self.name
            );
            self.front.lock().stop(BlockError::Disconnected);
        }
    }
}

pub(super) static ATTACHED: spin::Mutex<Vec<Arc<Attached>>> = spin::Mutex::new(Vec::new());

/// The disks attached so far.
pub fn attached() -> Vec<Arc<Attached>> {
    ATTACHED.lock().clone()
}

/// The disk the core sees: the connection of the moment (a restore
/// replaces it) under a name and a geometry that stay.
pub(super) struct BlkfrontDisk {
    pub(super) id: u32,
    pub(super) current: spin::Mutex<Arc<Attached>>,
    pub(super) info: DeviceInfo,
}

impl BlkfrontDisk {
    fn now(&self) -> Arc<Attached> {
        self.current.lock().clone()
    }
}

impl BlockDevice for BlkfrontDisk {
    fn info(&self) -> DeviceInfo {
        self.info
    }
    fn submit(&self, request: Request) -> Result<(), Request> {
        self.now().front.lock().submit(request)
    }
    fn poll(&self) -> Option<Completion> {
        let now = self.now();
        now.check_backend();
        now.front.lock().poll()
    }
    fn suspend(&self) -> Result<(), BlockError> {
        match self.now().front.lock().in_flight() {
            0 => Ok(()),
            _ => Err(BlockError::Io("blkfront: requests still on the ring")),
        }
    }
    fn resume(&self, new_domain: bool) -> Result<(), BlockError> {
        if new_domain {
            super::resume::reconnect(self)?;
        }
        Ok(())
    }
}

/// A ring frame from the allocator, withheld from it as shared memory in
/// the same step (interrupts off: nothing allocates it in between).
fn take_frame() -> Result<u64, String> {
    without_interrupts(|| {
        let frame = mem::alloc_frame().ok_or("no free frame")?;
        mem::free_frame(frame).map_err(|_| "cannot return the frame")?;
        mem::reserve_shared(frame).map_err(|e| format!("shared frame: {e}"))?;
        Ok(frame)
    })
}

pub(super) fn store<T>(
    step: impl FnOnce(&mut crate::xenstore::Client) -> Result<T, XenbusError>,
) -> Result<T, String> {
    match with_client(|c| Ok(step(c))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{e}")),
        Err(e) => Err(format!("xenstore: {e}")),
    }
}

/// Attaches vbd `id`: the whole handshake, then the core's registry; the
/// error says which step.
fn attach(id: u32) -> Result<Arc<Attached>, String> {
    let attached = Arc::new(connect(id, None)?);
    let info = attached.info();
    let name = attached.name.clone();
    DISKS
        .register(
            &name,
            Box::new(BlkfrontDisk {
                id,
                current: spin::Mutex::new(attached.clone()),
                info,
            }),
        )
        .map_err(|e| format!("register {name}: {e}"))?;
    Ok(attached)
}

/// The handshake for vbd `id` on the ring page `frame` (a new one at
/// start-up; after a restore, the old one again): probe, grant, bind,
/// connect, watch the backend's state.
pub(super) fn connect(id: u32, frame: Option<u64>) -> Result<Attached, String> {
    let name = super::vdev_name(id).ok_or_else(|| format!("vbd {id}: not an xvd number"))?;
    let (device, offer) = store(|c| {
        let device = xenbus::probe(c, "vbd", id)?;
        let offer = handshake::offer(c, &device, HANDSHAKE_NS)?;
        Ok((device, offer))
    })?;
    let backend = device.backend_id;
    // One ring page: 32 slots, the depth the benchmark's queue asks for.
    // More pages would need frames contiguous in the identity map.
    let frame = match frame {
        Some(frame) => frame,
        None => take_frame()?,
    };
    // SAFETY: the frame is reserved as shared (just now, or at start-up
    // for the ring it was before a restore, whose view is no longer
    // used): mapped, 4 KiB, used by nothing else; the ring is its only
    // user from here on.
    let ring = unsafe { FrontRing::init(NonNull::new(frame as *mut u8).ok_or("frame 0")?, 4096) };
    let gref =
        grant::grant_access(backend, frame, false).map_err(|e| format!("grant the ring: {e}"))?;
    let port = evtchn::alloc_unbound(backend).map_err(|e| format!("alloc_unbound: {e}"))?;
    if !evtchn::set_handler(port, on_port) {
        return Err(format!("port {port} beyond the handler table"));
    }
    evtchn::unmask(port).map_err(|e| format!("unmask port {port}: {e}"))?;
    let setup = RingSetup {
        refs: alloc::vec![gref],
        port,
        persistent: persistent_wanted(),
    };
    let token = format!("blkfront:{id}");
    let params = store(|c| {
        let params = handshake::connect(c, &device, &setup, HANDSHAKE_NS)?;
        let path = device.backend_key("state");
        c.watch(&path, &token)
            .map_err(|error| XenbusError::Store { path, error })?;
        Ok(params)
    })?;
    let segs = offer.max_indirect_segments.min(indirect_limit());
    let features = Features {
        indirect_segments: if segs as usize > MAX_SEGMENTS_PER_REQUEST {
            segs
        } else {
            0
        },
        flush: params.flush,
        persistent: setup.persistent && params.persistent,
    };
    let entries = ring.size();
    let front = Front::new(
        ring,
        TableGrants(backend),
        PortBell(port),
        id as u16,
        features,
    );
    Ok(Attached {
        name,
        device,
        offer,
        params,
        features,
        ring_pages: 1,
        ring_entries: entries,
        port,
        ring_frame: frame,
        ring_ref: gref,
        front: spin::Mutex::new(front),
        token,
        seen_activity: AtomicU64::new(STORE_ACTIVITY.load(Ordering::Relaxed)),
    })
}

/// Attaches every `device/vbd/*`; a disk that fails is logged (with the
/// step and the key) and left out, the others still come up.
pub fn start() {
    let ids = match store(|c| xenbus::device_ids(c, "vbd")) {
        Ok(ids) => ids,
        Err(e) => return log::error!("blkfront: {e}"),
    };
    for id in ids {
        match attach(id) {
            Ok(a) => {
                log::info!(
                    "blkfront: {} ({}): {} sectors, ring {} page(s), port {}, indirect {} segs, \
                     persistent grants {}, flush {:?}{}",
                    a.name,
                    a.device.backend,
                    a.params.sectors,
                    a.ring_pages,
                    a.port,
                    a.features.indirect_segments,
                    a.features.persistent,
                    a.params.flush,
                    if a.params.read_only() {
                        ", read-only"
                    } else {
                        ""
                    }
                );
                ATTACHED.lock().push(a);
            }
            Err(e) => log::error!("blkfront: vbd {id}: {e}"),
        }
    }
}

/// Registers each disk's backend-state watch again, as after
/// `XS_RESET_WATCHES` (which drops them: the xenstore suite's reset test
/// does that, and restores only control's watches). Unwatched first, since
/// a second registration of the same watch is EEXIST.
pub fn watch_again(c: &mut crate::xenstore::Client) -> Result<(), crate::xenstore::XsError> {
    for a in attached() {
        let path = a.device.backend_key("state");
        let _ = c.unwatch(&path, &a.token);
        c.watch(&path, &a.token)?;
    }
    Ok(())
}

/// `info` lines, one per disk.
pub fn describe(out: &mut dyn core::fmt::Write) -> core::fmt::Result {
    for a in attached() {
        let s = a.stats();
        writeln!(
            out,
            "blkfront   {}: backend {} (dom {}), ring {} page(s) / {} slots, indirect {} segs \
             (offered {}), persistent grants {}, flush {:?}, max ring order {} (1 page used)",
            a.name,
            a.device.backend,
            a.device.backend_id,
            a.ring_pages,
            a.ring_entries,
            a.features.indirect_segments,
            a.offer.max_indirect_segments,
            persistent_text(&a),
            a.params.flush,
            a.offer.max_ring_page_order
        )?;
        writeln!(
            out,
            "blkfront   {}: {} requests, {} notifications, {} indirect, {} bad responses, \
             {} buffers withheld, {} upcalls; persistent: {} pooled requests, {} waits for \
             pool pages, {} fallbacks to per-request grants",
            a.name,
            s.requests,
            s.notifications,
            s.indirect,
            s.bad_responses,
            s.withheld,
            UPCALLS.load(Ordering::Relaxed),
            s.pooled,
            s.pool_waits,
            s.fallbacks
        )?;
    }
    Ok(())
}

fn persistent_text(a: &Attached) -> String {
    let backend = if a.params.persistent {
        "offered"
    } else {
        "not offered"
    };
    match a.pool() {
        Some((granted, cap, _)) => {
            format!(
                "in use ({backend}; pool {granted}/{cap} pages granted rw, 16 segs per request)"
            )
        }
        None if persistent_wanted() => format!("not in use ({backend} by the backend)"),
        None => format!("off (blkfront.persistent=0; {backend} by the backend)"),
    }
}

/// The frontend's and backend's states of `a`, as xenstore has them.
pub fn states(a: &Attached) -> Result<(XenbusState, XenbusState), String> {
    store(|c| Ok((a.device.state(c)?, a.device.backend_state(c)?)))
}

pub(super) fn store_step<T>(
    step: impl FnOnce(&mut crate::xenstore::Client) -> Result<T, XenbusError>,
) -> Result<T, String> {
    store(step)
}
