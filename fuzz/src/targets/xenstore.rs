//! The xenstore client (`virtus_pv::xenstore`: the kernel's `Conn` over the
//! kernel's `StorePage` accessor on a real page) against a fake xenstored
//! that answers with the input's bytes: a stream of replies and watch
//! events, fed a few bytes per event, plus at most one hostile write of an
//! index (`rsp_prod`, `rsp_cons`, `req_cons`) once part of it is out.
//!
//! The guest makes one request of the kind the input names (read,
//! directory, transaction start, get-perms, watch, home, write), reads
//! watch events, then makes a second request (a read). While the indices
//! stay honest the outcome of each request is predicted from the stream by
//! a model of the protocol (the first message with our `req_id` that is
//! not an event answers it; an `XS_ERROR` is its errno; another type is a
//! bad reply; a header over `XENSTORE_PAYLOAD_MAX` kills the connection;
//! no answer is a timeout) and must match, and the reply's parse must
//! round-trip (directory strings joined back with their NULs are the
//! payload, a transaction id is the number written...). Late replies are
//! counted exactly, malformed events too, events handed out carry our
//! token and were sent, and every request the fake receives is well-formed
//! with the next `req_id`. With a hostile index, the error must be the
//! ring's with indices really more than a ring apart, and it must stick.

use virtus_pv::xenstore::XsError;
use virtus_pv::xenstore::conn::{Conn, Doorbell};
use virtus_pv::xenstore::page::StorePage;
use virtus_pv::xenstore::ring::RingError;
use virtus_pv::xenstore::wire::{self, MsgType, PAYLOAD_MAX, WireError, XsErrno};

use super::shared_page::{Fields, SharedPage};
use super::{Outcome, Target};
use crate::mutate::Hints;

pub struct XenstoreTarget;

/// `struct xenstore_domain_interface` (page.rs asserts these).
const RING: u32 = 1024;
const REQ: usize = 0;
const RSP: usize = 1024;
const REQ_CONS: usize = 2048;
const REQ_PROD: usize = 2052;
const RSP_CONS: usize = 2056;
const RSP_PROD: usize = 2060;

/// Input: start index u32, request kind u8, bytes per event u8, hostile
/// mode u8, pad, trigger u32 (stream bytes out before it), value u32;
/// then the stream.
const HEADER: usize = 16;
const TOKEN: &str = "tok";
const WATCH_EVENT: u32 = MsgType::WatchEvent as u32;

const FIELDS: [(usize, usize); 22] = {
    let mut out = [(0, 0); 22];
    let head = [(0, 4), (4, 1), (5, 1), (6, 1), (8, 4), (12, 4)];
    let mut i = 0;
    while i < head.len() {
        out[i] = head[i];
        i += 1;
    }
    // The first four messages' headers, if their payloads are short.
    let mut m = 0;
    while m < 4 {
        let at = HEADER + 24 * m;
        out[i] = (at, 4);
        out[i + 1] = (at + 4, 4);
        out[i + 2] = (at + 8, 4);
        out[i + 3] = (at + 12, 4);
        i += 4;
        m += 1;
    }
    out
};

const VALUES: [u64; 12] = [
    1,
    2,
    WATCH_EVENT as u64,
    MsgType::Error as u64,
    PAYLOAD_MAX as u64,
    PAYLOAD_MAX as u64 + 1,
    RING as u64,
    RING as u64 + 1,
    u32::MAX as u64 - 7,
    0x8000_0000,
    3,
    6,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Read,
    Directory,
    TxStart,
    GetPerms,
    Watch,
    Home,
    Write,
}

impl Op {
    fn from(byte: u8) -> Self {
        [
            Op::Read,
            Op::Directory,
            Op::TxStart,
            Op::GetPerms,
            Op::Watch,
            Op::Home,
            Op::Write,
        ][usize::from(byte) % 7]
    }

    /// The message type sent (`home` reads `domid`).
    fn kind(self) -> MsgType {
        match self {
            Op::Read | Op::Home => MsgType::Read,
            Op::Directory => MsgType::Directory,
            Op::TxStart => MsgType::TransactionStart,
            Op::GetPerms => MsgType::GetPerms,
            Op::Watch => MsgType::Watch,
            Op::Write => MsgType::Write,
        }
    }
}

/// One message of the stream as the model reads it.
#[derive(Clone, Debug)]
struct Msg {
    kind: u32,
    req_id: u32,
    payload: Vec<u8>,
    /// Stream offset just past it.
    end: usize,
}

/// The stream cut into messages; `oversize` is a header whose length is
/// over the limit (where the client must stop), at the offset its header
/// ends.
fn messages(stream: &[u8]) -> (Vec<Msg>, Option<(u32, usize)>) {
    let f = Fields(stream);
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= stream.len() {
        let len = f.u32(at + 12);
        if len as usize > PAYLOAD_MAX {
            return (out, Some((len, at + 16)));
        }
        let end = at + 16 + len as usize;
        if end > stream.len() {
            break;
        }
        out.push(Msg {
            kind: f.u32(at),
            req_id: f.u32(at + 4),
            payload: stream[at + 16..end].to_vec(),
            end,
        });
        at = end;
    }
    (out, None)
}

/// The fake xenstored: takes requests, sends the stream.
struct Fake<'a> {
    page: &'a SharedPage,
    stream: &'a [u8],
    sent: usize,
    chunk: usize,
    mode: u8,
    trigger: usize,
    value: u32,
    fired: bool,
    requests: Vec<u8>,
    now: u64,
}

impl Fake<'_> {
    fn serve(&mut self) {
        let p = self.page;
        let (cons, prod) = (p.read_u32(REQ_CONS), p.read_u32(REQ_PROD));
        if prod.wrapping_sub(cons) <= RING {
            let mut c = cons;
            while c != prod {
                self.requests.push(p.read_u8(REQ + (c % RING) as usize));
                c = c.wrapping_add(1);
            }
            p.write_u32(REQ_CONS, c);
        }
        if !self.fired && self.mode != 0 && self.sent >= self.trigger {
            self.fired = true;
            let v = self.value;
            match self.mode {
                1 => p.write_u32(RSP_PROD, v),
                2 => p.write_u32(RSP_PROD, p.read_u32(RSP_PROD).wrapping_add(v)),
                3 => p.write_u32(RSP_CONS, v),
                _ => p.write_u32(REQ_CONS, v),
            }
        }
        let (cons, prod) = (p.read_u32(RSP_CONS), p.read_u32(RSP_PROD));
        let room = RING.saturating_sub(prod.wrapping_sub(cons)) as usize;
        let n = (self.stream.len() - self.sent).min(room).min(self.chunk);
        for i in 0..n {
            let at = RSP + (prod.wrapping_add(i as u32) % RING) as usize;
            p.write_u8(at, self.stream[self.sent + i]);
        }
        self.sent += n;
        p.write_u32(RSP_PROD, prod.wrapping_add(n as u32));
        // Only a wait that brings nothing moves the clock: a slow stream
        // is not a silent store.
        if n == 0 {
            self.now += 1_000_000_000;
        }
    }
}

struct Bell<'a, 'b>(&'b std::cell::RefCell<Fake<'a>>);

impl Doorbell for Bell<'_, '_> {
    fn notify(&mut self) {}
    fn wait(&mut self, _ready: &mut dyn FnMut() -> bool) {
        self.0.borrow_mut().serve();
    }
    fn now_ns(&mut self) -> Option<u64> {
        Some(self.0.borrow().now)
    }
    fn event_queued(&mut self) {}
}

/// What the model expects a request to end in.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Reply(u32, Vec<u8>),
    Errno(XsErrno),
    OtherType,
    TooLong(usize),
    Timeout,
}

/// The model: where the client is in the stream.
struct Model {
    msgs: Vec<Msg>,
    oversize: Option<(u32, usize)>,
    next: usize,
    late: u64,
    malformed: u64,
    events: Vec<Vec<u8>>,
    dead: bool,
}

impl Model {
    fn take_msg(&mut self, m: &Msg, req_id: Option<u32>) {
        if m.kind == WATCH_EVENT {
            match wire::watch_event(&m.payload) {
                Ok(_) => self.events.push(m.payload.clone()),
                Err(_) => self.malformed += 1,
            }
        } else if req_id != Some(m.req_id) {
            self.late += 1;
        }
    }

    fn request(&mut self, kind: MsgType, req_id: u32) -> Expect {
        while self.next < self.msgs.len() {
            let m = self.msgs[self.next].clone();
            self.next += 1;
            self.take_msg(&m, Some(req_id));
            if m.kind == WATCH_EVENT || m.req_id != req_id {
                continue;
            }
            return match MsgType::from_wire(m.kind) {
                Some(MsgType::Error) => Expect::Errno(XsErrno::from_payload(&m.payload)),
                Some(k) if k == kind => Expect::Reply(m.req_id, m.payload),
                _ => Expect::OtherType,
            };
        }
        if let Some((len, _)) = self.oversize {
            self.dead = true;
            return Expect::TooLong(len as usize);
        }
        Expect::Timeout
    }

    /// A pump with `sent` stream bytes out.
    fn pump(&mut self, sent: usize) -> Option<Expect> {
        while self.next < self.msgs.len() && self.msgs[self.next].end <= sent {
            let m = self.msgs[self.next].clone();
            self.next += 1;
            self.take_msg(&m, None);
        }
        match self.oversize {
            Some((len, at)) if self.next == self.msgs.len() && at <= sent => {
                self.dead = true;
                Some(Expect::TooLong(len as usize))
            }
            _ => None,
        }
    }
}

fn seed(start: u32, op: u8, chunk: u8, msgs: &[(u32, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&[op, chunk, 0, 0]);
    out.extend_from_slice(&[0; 8]);
    for (kind, req_id, payload) in msgs {
        for v in [*kind, *req_id, 0, payload.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(payload);
    }
    out
}

impl Target for XenstoreTarget {
    fn name(&self) -> &'static str {
        "xenstore"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let (read, dir, err, ev) = (2, 1, 16, WATCH_EVENT);
        let big = vec![b'z'; 3000];
        vec![
            seed(
                0,
                0,
                61,
                &[
                    (ev, 0, b"data/x\0tok\0"),
                    (read, 1, b"hello"),
                    (read, 2, b""),
                ],
            ),
            seed(
                u32::MAX - 20,
                1,
                7,
                &[
                    (read, 9, b"late"),
                    (dir, 1, b"a\0b\0c\0"),
                    (err, 2, b"ENOENT\0"),
                ],
            ),
            seed(1000, 2, 0, &[(6, 1, b"42\0"), (read, 2, b"v")]),
            seed(
                5,
                4,
                0,
                &[
                    (4, 1, b"OK\0"),
                    (ev, 0, b"data\0tok\0"),
                    (ev, 0, b"data/q\0tok\0"),
                    (read, 2, b"x"),
                ],
            ),
            seed(0, 5, 100, &[(read, 1, b"5"), (read, 2, &big)]),
            seed(3, 3, 16, &[(3, 1, b"n5\0r0\0"), (read, 2, b"")]),
            seed(77, 6, 33, &[(err, 1, b"EACCES\0"), (read, 2, b"1")]),
        ]
    }

    fn hints(&self) -> Hints<'static> {
        Hints {
            fields: &FIELDS,
            values: &VALUES,
            hex: false,
        }
    }

    fn run(&self, input: &[u8]) -> Result<Outcome, String> {
        let f = Fields(input);
        let stream = input.get(HEADER..).unwrap_or(&[]);
        for m in messages(stream).0 {
            check_wire(&m.payload)?;
        }
        let mode = f.u8(6);
        let page = SharedPage::new(4096);
        let start = f.u32(0);
        for at in [REQ_CONS, REQ_PROD, RSP_CONS, RSP_PROD] {
            page.write_u32(at, start);
        }
        let fake = std::cell::RefCell::new(Fake {
            page: &page,
            stream,
            sent: 0,
            chunk: match f.u8(5) {
                0 => usize::MAX,
                n => usize::from(n),
            },
            mode: if mode < 5 { mode } else { 0 },
            trigger: f.u32(8) as usize % 8192,
            value: f.u32(12),
            fired: false,
            requests: Vec::new(),
            now: 0,
        });
        // SAFETY: a page-aligned 4 KiB allocation that outlives `conn`
        // (declared after it), reached otherwise only by the fake, volatilely.
        let store = unsafe { StorePage::new(page.ptr()) };
        let mut conn = Conn::new(store, Bell(&fake));
        let (msgs, oversize) = messages(stream);
        let mut model = Model {
            msgs,
            oversize,
            next: 0,
            late: 0,
            malformed: 0,
            events: Vec::new(),
            dead: false,
        };
        let op = Op::from(f.u8(4));
        let mut refusal = None;
        let first = request(&mut conn, op);
        check(&fake, &mut model, op.kind(), 1, &first, &mut refusal)?;
        let ring_error = match &first {
            Err(XsError::Ring(e)) => Some(e.clone()),
            _ => None,
        };
        let pumped = conn.take_events(TOKEN);
        let sent = fake.borrow().sent;
        let honest = !fake.borrow().fired;
        match (&pumped, honest && !model.dead) {
            (Ok(events), true) => {
                if let Some(e) = model.pump(sent) {
                    return Err(format!("pump read past an oversized header: {e:?}"));
                }
                check_events(events, &model, op)?;
            }
            (Err(XsError::Ring(RingError::Wire(WireError::PayloadTooLong(n)))), true)
                if model.pump(sent) == Some(Expect::TooLong(*n)) => {}
            (Err(e), true) => return Err(format!("pump failed on an honest ring: {e}")),
            (Err(XsError::Ring(e)), false) => check_ring_error(e, ring_error.as_ref())?,
            (Err(e), false) => return Err(format!("pump failed with {e}")),
            (Ok(_), false) if ring_error.is_some() => {
                return Err("a dead connection pumped".into());
            }
            (Ok(_), false) => {}
        }
        let ring_error = ring_error.or(match &pumped {
            Err(XsError::Ring(e)) => Some(e.clone()),
            _ => None,
        });
        let second = conn.read("data/y");
        if let Some(e) = ring_error {
            if second != Err(XsError::Ring(e.clone())) {
                return Err(format!("the connection died of {e} but then: {second:?}"));
            }
        } else {
            check(&fake, &mut model, MsgType::Read, 2, &second, &mut refusal)?;
        }
        if !fake.borrow().fired && !model.dead {
            if conn.stats.late_replies != model.late {
                return Err(format!(
                    "{} late replies counted, {} sent",
                    conn.stats.late_replies, model.late
                ));
            }
            if conn.event_counts().malformed != model.malformed {
                return Err(format!(
                    "{} malformed events counted, {} sent",
                    conn.event_counts().malformed,
                    model.malformed
                ));
            }
        }
        if !fake.borrow().fired {
            check_requests(&fake.borrow().requests)?;
        }
        drop(conn);
        Ok(match refusal {
            None => Outcome::ACCEPTED,
            Some(kind) => Outcome {
                accepted: true,
                refusal: Some(kind),
            },
        })
    }
}

/// What a request of `op` returned: its payload, or its parse's error.
type Answer = Result<Vec<u8>, XsError>;

fn request<P, B>(conn: &mut Conn<P, B>, op: Op) -> Answer
where
    P: virtus_pv::xenstore::ring::RingPage,
    B: Doorbell,
{
    let joined = |v: Vec<String>| {
        v.iter()
            .flat_map(|s| s.bytes().chain([0]))
            .collect::<Vec<u8>>()
    };
    match op {
        Op::Read => conn.read("data/x"),
        Op::Directory => conn.directory("data").map(joined),
        Op::TxStart => conn
            .transaction_start()
            .map(|id| format!("{id}").into_bytes()),
        Op::GetPerms => conn.get_perms("data").map(joined),
        Op::Watch => conn.watch("data", TOKEN).map(|()| b"OK".to_vec()),
        Op::Home => conn.home().map(String::into_bytes),
        Op::Write => conn.write("data/x", b"v").map(|()| b"OK".to_vec()),
    }
}

/// `got` against the model's prediction for request `req_id`.
fn check(
    fake: &std::cell::RefCell<Fake<'_>>,
    model: &mut Model,
    kind: MsgType,
    req_id: u32,
    got: &Answer,
    refusal: &mut Option<String>,
) -> Result<(), String> {
    if let Err(e) = got {
        let _ = e.to_string();
        let kind = match e {
            XsError::Ring(RingError::Corrupt { .. }) => Some("Corrupt"),
            XsError::Ring(RingError::Wire(_)) => Some("PayloadTooLong"),
            XsError::Wire(WireError::BadReply(_)) => Some("BadReply"),
            _ => None,
        };
        if let Some(k) = kind {
            refusal.get_or_insert_with(|| k.to_string());
        }
    }
    if fake.borrow().fired {
        return match got {
            Err(XsError::Ring(e)) => check_ring_error(e, None),
            _ => Ok(()),
        };
    }
    let want = model.request(kind, req_id);
    match (want, got) {
        (Expect::Reply(_, payload), got) => check_reply(kind, &payload, got),
        (Expect::Errno(e), Err(XsError::Wire(WireError::Errno(g)))) if e == *g => Ok(()),
        (Expect::OtherType, Err(XsError::Wire(WireError::BadReply(_)))) => Ok(()),
        (Expect::TooLong(n), Err(XsError::Ring(RingError::Wire(WireError::PayloadTooLong(g)))))
            if n == *g =>
        {
            Ok(())
        }
        (Expect::Timeout, Err(XsError::Timeout)) => Ok(()),
        (want, got) => Err(format!("request {req_id}: expected {want:?}, got {got:?}")),
    }
}

/// A reply's payload against what the request made of it.
fn check_reply(kind: MsgType, payload: &[u8], got: &Answer) -> Result<(), String> {
    let strings_ok = payload.is_empty()
        || (payload.last() == Some(&0)
            && payload[..payload.len() - 1]
                .split(|b| *b == 0)
                .all(|s| std::str::from_utf8(s).is_ok()));
    let bad = || Err(format!("{kind:?} reply {payload:?}: {got:?}"));
    match kind {
        MsgType::Read => match got {
            // `home` reads domid: a u16 or a bad reply.
            Ok(v) if v == payload => Ok(()),
            Ok(v) => {
                let text = String::from_utf8_lossy(v);
                let domid = std::str::from_utf8(payload)
                    .ok()
                    .and_then(|d| d.parse::<u16>().ok());
                match domid {
                    Some(d) if text == format!("/local/domain/{d}") => Ok(()),
                    _ => bad(),
                }
            }
            Err(XsError::Wire(WireError::BadReply(_)))
                if std::str::from_utf8(payload)
                    .ok()
                    .and_then(|d| d.parse::<u16>().ok())
                    .is_none() =>
            {
                Ok(())
            }
            _ => bad(),
        },
        MsgType::Directory | MsgType::GetPerms => match got {
            Ok(joined) if strings_ok && joined == payload => Ok(()),
            Err(XsError::Wire(WireError::BadReply(_))) if !strings_ok => Ok(()),
            _ => bad(),
        },
        MsgType::TransactionStart => {
            let text = payload.strip_suffix(&[0]).unwrap_or(payload);
            let id = std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse::<u32>().ok());
            match (id, got) {
                (Some(id), Ok(v)) if id != 0 && *v == format!("{id}").into_bytes() => Ok(()),
                (Some(0) | None, Err(XsError::Wire(WireError::BadReply(_)))) => Ok(()),
                _ => bad(),
            }
        }
        _ => {
            let ok = payload == b"OK\0" || payload == b"OK";
            match got {
                Ok(_) if ok => Ok(()),
                Err(XsError::Wire(WireError::BadReply(_))) if !ok => Ok(()),
                _ => bad(),
            }
        }
    }
}

/// A ring error must be true of the indices it reports, and the same as
/// the one the connection died of.
fn check_ring_error(e: &RingError, before: Option<&RingError>) -> Result<(), String> {
    let _ = e.to_string();
    if let Some(b) = before
        && b != e
    {
        return Err(format!("died of {b}, then reported {e}"));
    }
    match e {
        RingError::Corrupt { prod, cons, .. } if prod.wrapping_sub(*cons) <= RING => {
            Err(format!("{e}: but the indices are within a ring"))
        }
        RingError::Wire(WireError::PayloadTooLong(n)) if *n <= PAYLOAD_MAX => {
            Err(format!("{e}: but that is within the limit"))
        }
        _ => Ok(()),
    }
}

/// Events handed out: ours, sent as such, not repeated, bounded.
fn check_events(
    events: &[virtus_pv::xenstore::events::WatchEvent],
    model: &Model,
    op: Op,
) -> Result<(), String> {
    if op != Op::Watch && !events.is_empty() {
        return Err("events for a watch never registered".into());
    }
    if events.len() > virtus_pv::xenstore::events::QUEUE_MAX {
        return Err(format!("{} events at once", events.len()));
    }
    for (i, e) in events.iter().enumerate() {
        let payload = format!("{}\0{}\0", e.path, e.token).into_bytes();
        if e.token != TOKEN || !model.events.contains(&payload) {
            return Err(format!("event {e:?} was not sent"));
        }
        if events[..i].contains(e) {
            return Err(format!("event {e:?} handed out twice"));
        }
    }
    Ok(())
}

/// The requests the fake received: well-formed, numbered 1, 2...
fn check_requests(bytes: &[u8]) -> Result<(), String> {
    let f = Fields(bytes);
    let (mut at, mut id) = (0, 1);
    while at + 16 <= bytes.len() {
        let len = f.u32(at + 12) as usize;
        if len > PAYLOAD_MAX || MsgType::from_wire(f.u32(at)).is_none() || f.u32(at + 4) != id {
            return Err(format!("request {id} is malformed: {:?}", &bytes[at..]));
        }
        at += 16 + len;
        id += 1;
    }
    Ok(())
}

/// The wire parsers on a payload: each result must round-trip.
fn check_wire(payload: &[u8]) -> Result<(), String> {
    match wire::strings(payload) {
        Ok(v) => {
            let joined: Vec<u8> = v.iter().flat_map(|s| s.bytes().chain([0])).collect();
            if joined != payload || v.iter().any(|s| s.contains('\0')) {
                return Err(format!("strings({payload:?}) = {v:?}"));
            }
        }
        Err(WireError::BadReply(_)) => {}
        Err(e) => return Err(format!("strings: {e}")),
    }
    if let Ok((path, token)) = wire::watch_event(payload)
        && format!("{path}\0{token}\0").as_bytes() != payload
    {
        return Err(format!("watch_event({payload:?}) = {path:?}, {token:?}"));
    }
    if let Ok(id) = wire::transaction_id(payload) {
        let text = payload.strip_suffix(&[0]).unwrap_or(payload);
        if id == 0 || std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()) != Some(id) {
            return Err(format!("transaction_id({payload:?}) = {id}"));
        }
    }
    let errno = XsErrno::from_payload(payload);
    let name = payload.strip_suffix(&[0]).unwrap_or(payload);
    if errno != XsErrno::Einval && errno.name().as_bytes() != name {
        return Err(format!("errno {payload:?} read as {}", errno.name()));
    }
    let mut header = [0u8; 16];
    let n = payload.len().min(16);
    header[..n].copy_from_slice(&payload[..n]);
    if let Ok(h) = wire::Header::from_bytes(&header)
        && (h.len as usize > PAYLOAD_MAX || h.to_bytes() != header)
    {
        return Err(format!("header {header:?} read as {h:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_accepted() {
        for (i, seed) in XenstoreTarget.seeds().iter().enumerate() {
            assert_eq!(XenstoreTarget.run(seed), Ok(Outcome::ACCEPTED), "seed {i}");
        }
    }

    #[test]
    fn hostile_indices_and_lengths_are_refused() {
        let mut corrupt = XenstoreTarget.seeds()[0].clone();
        corrupt[6] = 1; // rsp_prod = value, at once
        corrupt[12..16].copy_from_slice(&5000u32.to_le_bytes());
        let out = XenstoreTarget.run(&corrupt).unwrap();
        assert_eq!(out.refusal.as_deref(), Some("Corrupt"));
        let mut long = XenstoreTarget.seeds()[0].clone();
        long[HEADER + 12..HEADER + 16].copy_from_slice(&4097u32.to_le_bytes());
        let out = XenstoreTarget.run(&long).unwrap();
        assert_eq!(out.refusal.as_deref(), Some("PayloadTooLong"));
    }
}
