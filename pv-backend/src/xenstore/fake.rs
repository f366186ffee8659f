//! A simulated xenstored for the host tests: a small store with watches
//! and transactions behind a real ring, fed a few bytes per signal (61:
//! headers split too), so messages cross the wrap point and arrive in
//! parts.
//!
//! Built for the crate's own tests and, with the `fake-xenstored`
//! feature, for the host fuzzer (virtus-fuzz), which stores hostile
//! values in it and runs the kernel's readers of them over a real
//! connection. Never in the kernel image.

use super::conn::{Conn, Doorbell};
use super::ring::{RING_SIZE, RingPage};
use super::wire::MsgType;
use crate::xenstore::wire::{HEADER_LEN, Header};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

pub const HOME: &str = "/local/domain/5";

#[derive(Default)]
pub struct Server {
    pub req: Vec<u8>,
    pub rsp: Vec<u8>,
    pub req_cons: u32,
    pub req_prod: u32,
    pub rsp_cons: u32,
    pub rsp_prod: u32,
    /// Bytes received but not yet a whole request.
    pub inbox: Vec<u8>,
    /// Bytes to send that did not fit the ring yet.
    pub outbox: Vec<u8>,
    pub nodes: BTreeMap<String, Vec<u8>>,
    pub generation: u64,
    /// Open transactions: id -> (generation at start, private copy).
    pub txs: BTreeMap<u32, (u64, BTreeMap<String, Vec<u8>>)>,
    pub next_tx: u32,
    pub watches: Vec<(String, String)>,
    /// Bytes moved per signal, each way.
    pub chunk: usize,
    pub silent: bool,
    pub now: u64,
    pub waits: u64,
    /// `Doorbell::notify` calls.
    pub notifies: u64,
    /// `Doorbell::event_queued` calls.
    pub queued_signals: u64,
    /// A scripted peer (a XenBus backend): each turn, the first rule whose
    /// node holds its value writes its own node as dom0 would, once.
    pub rules: Vec<Rule>,
}

/// When `when.0` holds `when.1`, dom0 writes `then.1` into `then.0`.
pub struct Rule {
    pub when: (String, Vec<u8>),
    pub then: (String, Vec<u8>),
    pub done: bool,
}

pub fn abs(path: &str) -> String {
    if path.starts_with('/') {
        path.into()
    } else {
        format!("{HOME}/{path}")
    }
}

impl Server {
    fn new(start: u32) -> Self {
        let mut s = Server {
            req: vec![0xaa; RING_SIZE as usize],
            rsp: vec![0xbb; RING_SIZE as usize],
            req_cons: start,
            req_prod: start,
            rsp_cons: start,
            rsp_prod: start,
            chunk: 61,
            next_tx: 1,
            ..Server::default()
        };
        s.nodes.insert(abs("domid"), b"5".to_vec());
        s.nodes.insert(abs("name"), b"virtus".to_vec());
        s
    }

    /// One turn: take request bytes, answer whole requests, send replies.
    pub fn serve(&mut self) {
        self.waits += 1;
        self.now += 10_000_000;
        if self.silent {
            return;
        }
        let n = (self.req_prod.wrapping_sub(self.req_cons) as usize).min(self.chunk);
        for _ in 0..n {
            self.inbox
                .push(self.req[(self.req_cons % RING_SIZE) as usize]);
            self.req_cons = self.req_cons.wrapping_add(1);
        }
        while self.inbox.len() >= HEADER_LEN {
            let header = Header::from_bytes(self.inbox[..HEADER_LEN].try_into().unwrap()).unwrap();
            let end = HEADER_LEN + header.len as usize;
            if self.inbox.len() < end {
                break;
            }
            let payload: Vec<u8> = self.inbox[HEADER_LEN..end].to_vec();
            self.inbox.drain(..end);
            self.answer(header, &payload);
        }
        self.react();
        let room = RING_SIZE - self.rsp_prod.wrapping_sub(self.rsp_cons);
        let n = self.outbox.len().min(room as usize).min(self.chunk);
        for byte in self.outbox.drain(..n) {
            self.rsp[(self.rsp_prod % RING_SIZE) as usize] = byte;
            self.rsp_prod = self.rsp_prod.wrapping_add(1);
        }
    }

    fn send(&mut self, kind: MsgType, req_id: u32, tx_id: u32, payload: &[u8]) {
        let header = Header {
            kind: kind as u32,
            req_id,
            tx_id,
            len: payload.len() as u32,
        };
        self.outbox.extend_from_slice(&header.to_bytes());
        self.outbox.extend_from_slice(payload);
    }

    /// What a restore into a new domain leaves: the same store, a zeroed
    /// ring (indices at 0, nothing half sent either way), no watches and no
    /// transactions.
    pub fn restore(&mut self) {
        self.req.fill(0);
        self.rsp.fill(0);
        (self.req_cons, self.req_prod, self.rsp_cons, self.rsp_prod) = (0, 0, 0, 0);
        self.inbox.clear();
        self.outbox.clear();
        self.watches.clear();
        self.txs.clear();
    }

    /// What dom0's `xenstore-write` does: set a node (absolute, or under
    /// the guest's home) and fire the watches on it.
    pub fn dom0_write(&mut self, path: &str, value: &[u8]) {
        let path = abs(path);
        self.nodes.insert(path.clone(), value.to_vec());
        self.generation += 1;
        self.fire(&path);
    }

    /// The scripted peer takes its turn (see [`Server::rules`]).
    fn react(&mut self) {
        let ready = self
            .rules
            .iter()
            .position(|r| !r.done && self.nodes.get(&abs(&r.when.0)) == Some(&r.when.1));
        if let Some(i) = ready {
            self.rules[i].done = true;
            let (path, value) = self.rules[i].then.clone();
            self.dom0_write(&path, &value);
        }
    }

    fn fire(&mut self, node: &str) {
        for (path, token) in self.watches.clone() {
            if node.starts_with(&abs(&path)) {
                let shown = if path.starts_with('/') {
                    node.to_string()
                } else {
                    node[HOME.len() + 1..].to_string()
                };
                let payload = format!("{shown}\0{token}\0");
                self.send(MsgType::WatchEvent, 0, 0, payload.as_bytes());
            }
        }
    }

    fn answer(&mut self, h: Header, payload: &[u8]) {
        let strings: Vec<String> = payload
            .split(|b| *b == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        let path = abs(&strings[0]);
        let kind = MsgType::from_wire(h.kind).unwrap();
        let tx = h.tx_id;
        let result: Result<Vec<u8>, &str> = match kind {
            MsgType::Read => {
                let nodes = if tx == 0 {
                    &self.nodes
                } else {
                    &self.txs[&tx].1
                };
                nodes.get(&path).cloned().ok_or("ENOENT")
            }
            MsgType::Write | MsgType::Mkdir => {
                let value = if kind == MsgType::Write {
                    payload[strings[0].len() + 1..].to_vec()
                } else {
                    Vec::new()
                };
                let nodes = if tx == 0 {
                    &mut self.nodes
                } else {
                    &mut self.txs.get_mut(&tx).unwrap().1
                };
                // Missing parents are created, empty, as xenstored does.
                for (i, _) in path.match_indices('/').skip(1) {
                    nodes.entry(path[..i].to_string()).or_default();
                }
                nodes.insert(path.clone(), value);
                if tx == 0 {
                    self.generation += 1;
                    self.fire(&path);
                }
                Ok(b"OK\0".to_vec())
            }
            MsgType::Rm => {
                let gone: Vec<String> = (self.nodes.keys())
                    .filter(|k| **k == path || k.starts_with(&format!("{path}/")))
                    .cloned()
                    .collect();
                for k in &gone {
                    self.nodes.remove(k);
                }
                self.generation += 1;
                self.fire(&path);
                Ok(b"OK\0".to_vec())
            }
            MsgType::Directory => match self.nodes.contains_key(&path) {
                false => Err("ENOENT"),
                true => {
                    let prefix = format!("{path}/");
                    let mut out = Vec::new();
                    for k in self.nodes.keys().filter_map(|k| k.strip_prefix(&prefix)) {
                        if !k.contains('/') {
                            out.extend_from_slice(k.as_bytes());
                            out.push(0);
                        }
                    }
                    Ok(out)
                }
            },
            MsgType::GetPerms => Ok(b"n5\0".to_vec()),
            MsgType::Watch => {
                self.watches.push((strings[0].clone(), strings[1].clone()));
                self.send(MsgType::Watch, h.req_id, 0, b"OK\0");
                let event = format!("{}\0{}\0", strings[0], strings[1]);
                self.send(MsgType::WatchEvent, 0, 0, event.as_bytes());
                return;
            }
            MsgType::Unwatch => {
                let (p, t) = (strings[0].clone(), strings[1].clone());
                self.watches.retain(|w| *w != (p.clone(), t.clone()));
                Ok(b"OK\0".to_vec())
            }
            MsgType::ResetWatches => {
                self.watches.clear();
                self.txs.clear();
                Ok(b"OK\0".to_vec())
            }
            MsgType::TransactionStart => {
                let id = self.next_tx;
                self.next_tx += 1;
                self.txs.insert(id, (self.generation, self.nodes.clone()));
                Ok(format!("{id}\0").into_bytes())
            }
            MsgType::TransactionEnd => match self.txs.remove(&tx) {
                None => Err("ENOENT"),
                Some(_) if strings[0] == "F" => Ok(b"OK\0".to_vec()),
                Some((generation, _)) if generation != self.generation => Err("EAGAIN"),
                Some((_, nodes)) => {
                    self.nodes = nodes;
                    self.generation += 1;
                    Ok(b"OK\0".to_vec())
                }
            },
            _ => Err("ENOSYS"),
        };
        match result {
            Ok(reply) => self.send(kind, h.req_id, tx, &reply),
            Err(errno) => self.send(
                MsgType::Error,
                h.req_id,
                tx,
                format!("{errno}\0").as_bytes(),
            ),
        }
    }
}

#[derive(Clone)]
pub struct Shared(pub Rc<RefCell<Server>>);

impl RingPage for Shared {
    fn req_cons(&self) -> u32 {
        self.0.borrow().req_cons
    }
    fn req_prod(&self) -> u32 {
        self.0.borrow().req_prod
    }
    fn set_req_prod(&mut self, value: u32) {
        self.0.borrow_mut().req_prod = value;
    }
    fn rsp_cons(&self) -> u32 {
        self.0.borrow().rsp_cons
    }
    fn set_rsp_cons(&mut self, value: u32) {
        self.0.borrow_mut().rsp_cons = value;
    }
    fn rsp_prod(&self) -> u32 {
        self.0.borrow().rsp_prod
    }
    fn write_req(&mut self, at: usize, byte: u8) {
        self.0.borrow_mut().req[at] = byte;
    }
    fn read_rsp(&self, at: usize) -> u8 {
        self.0.borrow().rsp[at]
    }
}

impl Doorbell for Shared {
    fn notify(&mut self) {
        self.0.borrow_mut().notifies += 1;
    }
    fn wait(&mut self, _ready: &mut dyn FnMut() -> bool) {
        // The server takes its turn whether or not the ring is ready: it
        // works between our calls in the real world too.
        self.0.borrow_mut().serve();
    }
    fn now_ns(&mut self) -> Option<u64> {
        Some(self.0.borrow().now)
    }
    fn event_queued(&mut self) {
        self.0.borrow_mut().queued_signals += 1;
    }
}

/// Sets a node as the toolstack does, with its parents (so `directory`
/// finds it).
pub fn put(server: &Shared, path: &str, value: &str) {
    let path = abs(path);
    let mut s = server.0.borrow_mut();
    for (i, _) in path.match_indices('/').skip(1) {
        s.nodes.entry(path[..i].to_string()).or_default();
    }
    s.nodes.insert(path, value.as_bytes().to_vec());
}

/// A node's value as text, if it exists.
pub fn node(server: &Shared, path: &str) -> Option<String> {
    let s = server.0.borrow();
    s.nodes
        .get(path)
        .map(|v| String::from_utf8(v.clone()).unwrap())
}

/// A connection to a fresh simulated xenstored whose ring indices start
/// at `start`, and the server.
pub fn connect(start: u32) -> (Conn<Shared, Shared>, Shared) {
    let shared = Shared(Rc::new(RefCell::new(Server::new(start))));
    (Conn::new(shared.clone(), shared.clone()), shared)
}
