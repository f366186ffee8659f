//! The connection against a simulated xenstored: a small store with
//! watches and transactions behind a real ring, fed a few bytes per
//! signal (61: headers split too), so messages cross the wrap point and
//! arrive in parts.

use super::*;
use crate::xenstore::ring::RING_SIZE;
use crate::xenstore::wire::{HEADER_LEN, Header};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

const HOME: &str = "/local/domain/5";

#[derive(Default)]
struct Server {
    req: Vec<u8>,
    rsp: Vec<u8>,
    req_cons: u32,
    req_prod: u32,
    rsp_cons: u32,
    rsp_prod: u32,
    /// Bytes received but not yet a whole request.
    inbox: Vec<u8>,
    /// Bytes to send that did not fit the ring yet.
    outbox: Vec<u8>,
    nodes: BTreeMap<String, Vec<u8>>,
    generation: u64,
    /// Open transactions: id -> (generation at start, private copy).
    txs: BTreeMap<u32, (u64, BTreeMap<String, Vec<u8>>)>,
    next_tx: u32,
    watches: Vec<(String, String)>,
    /// Bytes moved per signal, each way.
    chunk: usize,
    silent: bool,
    now: u64,
    waits: u64,
    /// `Doorbell::event_queued` calls.
    queued_signals: u64,
}

fn abs(path: &str) -> String {
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
    fn serve(&mut self) {
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
struct Shared(Rc<RefCell<Server>>);

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
    fn notify(&mut self) {}
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

fn connect(start: u32) -> (Conn<Shared, Shared>, Shared) {
    let shared = Shared(Rc::new(RefCell::new(Server::new(start))));
    (Conn::new(shared.clone(), shared.clone()), shared)
}

#[test]
fn operations_round_trip_across_the_wrap_point() {
    let (mut c, _) = connect(u32::MAX - 100);
    assert_eq!(c.read("name").unwrap(), b"virtus");
    let big = vec![b'v'; 3000];
    c.write("data/big", &big).unwrap();
    assert_eq!(c.read("data/big").unwrap(), big);
    c.mkdir("data/dir/sub").unwrap();
    c.write("data/dir/leaf", b"1").unwrap();
    let mut names = c.directory("data/dir").unwrap();
    names.sort();
    assert_eq!(names, ["leaf", "sub"]);
    assert_eq!(c.get_perms("data/dir").unwrap(), ["n5"]);
    c.rm("data/dir").unwrap();
    assert_eq!(
        c.read("data/dir/leaf").unwrap_err().errno(),
        Some(XsErrno::Enoent)
    );
    assert_eq!(c.home().unwrap(), HOME);
    assert_eq!(c.absolute("data/x").unwrap(), "/local/domain/5/data/x");
}

#[test]
fn a_path_over_the_limit_is_refused_unsent() {
    let (mut c, server) = connect(0);
    let long = "a".repeat(wire::REL_PATH_MAX + 1);
    assert!(matches!(
        c.read(&long),
        Err(XsError::Wire(WireError::BadPath(_)))
    ));
    assert_eq!(server.0.borrow().req_prod, 0, "nothing was sent");
    assert_eq!(c.stats.requests, 0);
}

#[test]
fn watches_fire_with_the_path_and_unwatch_stops_them() {
    let (mut c, server) = connect(500);
    c.watch("data/w", "tok").unwrap();
    // The registration fires once, then each write under the path.
    c.write("data/w/a", b"1").unwrap();
    c.write("data/other", b"1").unwrap();
    let paths: Vec<String> = c
        .take_events("tok")
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(paths, ["data/w", "data/w/a"]);
    assert_eq!(
        server.0.borrow().queued_signals,
        2,
        "each new event is announced"
    );
    c.unwatch("data/w", "tok").unwrap();
    c.write("data/w/b", b"1").unwrap();
    assert_eq!(c.take_events("tok").unwrap(), []);
    assert_eq!(c.event_counts().stray, 0);
}

#[test]
fn reset_watches_drops_them_all() {
    let (mut c, server) = connect(0);
    c.watch("data/a", "a").unwrap();
    c.watch("/local/domain/5/data/b", "b").unwrap();
    c.reset_watches().unwrap();
    assert_eq!(c.watch_count(), 0);
    assert!(server.0.borrow().watches.is_empty());
    c.write("data/a", b"x").unwrap();
    assert_eq!(c.take_events("a").unwrap(), []);
}

#[test]
fn a_conflicting_transaction_is_retried_and_commits_once() {
    let (mut c, _) = connect(0);
    c.write("data/k", b"start").unwrap();
    let (seen, attempt) = c
        .transaction(|tx| {
            let seen = tx.read("data/k")?;
            if seen == b"start" {
                tx.outside().write("data/k", b"outside")?;
            }
            tx.write("data/k", b"tx")?;
            Ok(seen)
        })
        .unwrap();
    assert_eq!((seen.as_slice(), attempt), (&b"outside"[..], 2));
    assert_eq!(c.read("data/k").unwrap(), b"tx");
    assert_eq!(c.stats.tx_retries, 1);
}

#[test]
fn endless_conflicts_give_up_with_the_count() {
    let (mut c, _) = connect(0);
    let r = c.transaction(|tx| {
        tx.read("domid")?;
        tx.outside().write("data/noise", b"x")
    });
    assert_eq!(r, Err(XsError::Conflicts(TX_ATTEMPTS)));
}

#[test]
fn corrupt_indices_are_an_error_that_sticks_not_a_hang() {
    let (mut c, server) = connect(0);
    server.0.borrow_mut().rsp_prod = 5000; // more than a ring ahead of cons
    assert!(matches!(
        c.read("name"),
        Err(XsError::Ring(RingError::Corrupt { .. }))
    ));
    let waits = server.0.borrow().waits;
    assert!(waits < 3, "failed without waiting ({waits} waits)");
    // Dead for good: no request goes out on a ring we cannot trust.
    server.0.borrow_mut().rsp_prod = 0;
    let sent = server.0.borrow().req_prod;
    assert!(matches!(c.write("data/x", b"1"), Err(XsError::Ring(_))));
    assert!(matches!(c.take_events("t"), Err(XsError::Ring(_))));
    assert_eq!(server.0.borrow().req_prod, sent);

    let (mut c, server) = connect(0);
    server.0.borrow_mut().req_cons = 3000; // consumed what was never written
    assert!(matches!(
        c.read("name"),
        Err(XsError::Ring(RingError::Corrupt { .. }))
    ));
}

#[test]
fn a_silent_store_times_out() {
    let (mut c, server) = connect(0);
    server.0.borrow_mut().silent = true;
    assert_eq!(c.read("name"), Err(XsError::Timeout));
    // 10 ms per wait in the fake: 5 s worth, not forever.
    let waits = server.0.borrow().waits;
    assert!((495..=510).contains(&waits), "{waits} waits");
}

#[test]
fn a_late_reply_is_dropped_and_the_next_request_still_works() {
    let (mut c, server) = connect(0);
    server.0.borrow_mut().silent = true;
    assert_eq!(c.read("name"), Err(XsError::Timeout));
    server.0.borrow_mut().silent = false;
    assert_eq!(c.read("domid").unwrap(), b"5");
    assert_eq!(c.stats.late_replies, 1);
}
