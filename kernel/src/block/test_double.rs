//! An in-memory block device for the host tests, which completes requests
//! only when a test says so, in the order it says. It lives under
//! `#[cfg(test)]`: the kernel ships no RAM disk.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::Cell;

use super::{BlockDevice, Completion, DeviceInfo, Disk, Operation, Request, RequestId, Waiter};

/// What the double holds: the disk's bytes and the requests it was given.
pub(super) struct State {
    pub(super) data: Vec<u8>,
    pub(super) pending: Vec<Request>,
    pub(super) finished: Vec<Completion>,
}

pub(super) struct Double {
    pub(super) info: DeviceInfo,
    pub(super) state: spin::Mutex<State>,
}

impl Double {
    pub(super) fn new(
        sectors: u64,
        sector_size: u32,
        queue_depth: u16,
        max_sectors: u32,
    ) -> Arc<Self> {
        // Each sector holds its own number in every byte pair, so data read
        // back names where it came from.
        let mut data = Vec::new();
        for s in 0..sectors {
            for _ in 0..sector_size / 2 {
                data.extend_from_slice(&(s as u16).to_le_bytes());
            }
        }
        let info = DeviceInfo {
            capacity_sectors: sectors,
            sector_size,
            read_only: false,
            queue_depth,
            max_sectors,
            driver: "double",
        };
        Arc::new(Self {
            info,
            state: spin::Mutex::new(State {
                data,
                pending: Vec::new(),
                finished: Vec::new(),
            }),
        })
    }

    /// The same double, described differently (read-only, odd sizes).
    pub(super) fn with_info(self: Arc<Self>, change: impl FnOnce(&mut DeviceInfo)) -> Arc<Self> {
        let mut info = self.info;
        change(&mut info);
        let data = core::mem::take(&mut self.state.lock().data);
        let state = State {
            data,
            pending: Vec::new(),
            finished: Vec::new(),
        };
        Arc::new(Self {
            info,
            state: spin::Mutex::new(state),
        })
    }

    pub(super) fn pending_ids(&self) -> Vec<RequestId> {
        self.state.lock().pending.iter().map(|r| r.id).collect()
    }

    /// Carry out request `id` the way a disk would and queue its completion.
    pub(super) fn finish(&self, id: RequestId) {
        let mut state = self.state.lock();
        let at = state
            .pending
            .iter()
            .position(|r| r.id == id)
            .expect("pending");
        let mut request = state.pending.remove(at);
        let start = request.lba as usize * self.info.sector_size as usize;
        let len = request.buffer.len();
        match request.op {
            Operation::Read => {
                let bytes = state.data[start..start + len].to_vec();
                request.buffer.write_at(0, &bytes);
            }
            Operation::Write => request
                .buffer
                .read_at(0, &mut state.data[start..start + len]),
            Operation::Flush => {}
        }
        state.finished.push(Completion {
            id,
            status: Ok(()),
            buffer: request.buffer,
        });
    }

    /// Finish everything pending, last submitted first.
    pub(super) fn finish_all_reversed(&self) {
        for id in self.pending_ids().into_iter().rev() {
            self.finish(id);
        }
    }

    /// Report a completion of the double's own making.
    pub(super) fn inject(&self, completion: Completion) {
        self.state.lock().finished.push(completion);
    }
}

pub(super) struct Handle(pub(super) Arc<Double>);

impl BlockDevice for Handle {
    fn info(&self) -> DeviceInfo {
        self.0.info
    }
    fn submit(&self, request: Request) -> Result<(), Request> {
        self.0.state.lock().pending.push(request);
        Ok(())
    }
    fn poll(&self) -> Option<Completion> {
        let mut state = self.0.state.lock();
        (!state.finished.is_empty()).then(|| state.finished.remove(0))
    }
}

pub(super) fn disk(double: &Arc<Double>) -> Disk {
    Disk::new("test0".into(), Box::new(Handle(double.clone()))).expect("a usable double")
}

/// Time that advances only when the layer waits; each wait is an
/// "interrupt" in which the double finishes what it holds, newest first.
pub(super) struct Interrupts<'a> {
    pub(super) double: Option<&'a Double>,
    pub(super) now: Cell<u64>,
}

impl Waiter for Interrupts<'_> {
    fn now_ns(&self) -> u64 {
        self.now.get()
    }
    fn wait_unless(&self, _deadline_ns: u64, ready: &mut dyn FnMut() -> bool) {
        if !ready() {
            self.now.set(self.now.get() + 1_000_000);
            if let Some(double) = self.double {
                double.finish_all_reversed();
            }
        }
    }
}

pub(super) const SECOND: u64 = 1_000_000_000;
