//! The readers of values the toolstack and the backend write into
//! xenstore, run as the kernel runs them: over a real connection (the
//! kernel's `Conn`) to the simulated xenstored of the pv-backend's tests
//! (`virtus_pv::xenstore::fake`), whose nodes hold the input's values.
//! XenBus: the device's `backend-id` and `backend` (`probe`), the
//! backend's `state`; blkfront's handshake: `max-ring-page-order`,
//! `feature-max-indirect-segments`, `feature-persistent` (`offer`), then
//! `sectors`, `sector-size`, `info`, `feature-flush-cache`,
//! `feature-barrier` (`read_disk`); `control/shutdown` and `control/sysrq`
//! (read and acknowledged in a transaction); `cpu/N/availability` and a
//! hotplug watch event's path; `memory/target`.
//!
//! Each result is checked against a plain reading of the value (decimal
//! digits within u64, an optional trailing NUL, 0/1 flags, state 0-8...):
//! an accepted value is exactly the number or word written, a refused one
//! is an error that names the node's path, a command is acknowledged by
//! clearing its node and nothing else is.

use virtus_kernel::platform::HostRequest;
use virtus_pv::balloon::{self, BadValue, TargetValue};
use virtus_pv::blkfront::handshake::{self, FlushKind, MAX_RING_ORDER};
use virtus_pv::control::{self, ShutdownValue};
use virtus_pv::hotplug;
use virtus_pv::xenbus::{self, Device, XenbusError, XenbusState};
use virtus_pv::xenstore::fake::{self, HOME, Shared, abs};

use super::{Outcome, Target};
use crate::mutate::Hints;

pub struct XenstoreValuesTarget;

/// Each value in a slot: a length byte (0xff: the node is absent), then
/// up to `SLOT - 1` bytes.
const SLOT: usize = 48;
const ABSENT: u8 = 0xff;
const DEV: u32 = 51712;
const BACKEND: &str = "/local/domain/0/backend/vbd/5/51712";

/// The slots, in input order: (node, relative to the backend directory?).
const KEYS: [&str; 18] = [
    "backend-id",
    "backend",
    "state",
    "sectors",
    "sector-size",
    "info",
    "feature-flush-cache",
    "feature-barrier",
    "feature-persistent",
    "max-ring-page-order",
    "feature-max-indirect-segments",
    "control/shutdown",
    "control/sysrq",
    "cpu/1/availability",
    // Not a node: the path of a hotplug watch event.
    "event-path",
    "memory/target",
    "memory/static-max",
    // Not a node: names under device/vbd (comma-separated), after a byte
    // that adds that many more (numbered), for the listing's bound.
    "device-names",
];

fn slot(key: &str) -> usize {
    KEYS.iter().position(|k| *k == key).expect("a key")
}

const FIELDS: [(usize, usize); 36] = {
    let mut out = [(0, 0); 36];
    let mut i = 0;
    while i < 18 {
        out[2 * i] = (SLOT * i, 1);
        out[2 * i + 1] = (SLOT * i + 1, 8);
        i += 1;
    }
    out
};

/// ASCII words, little-endian, as they sit in a value's first bytes.
const fn word(s: &[u8]) -> u64 {
    let mut v = 0u64;
    let mut i = 0;
    while i < s.len() && i < 8 {
        v |= (s[i] as u64) << (8 * i);
        i += 1;
    }
    v
}

const VALUES: [u64; 16] = [
    word(b"512"),
    word(b"0"),
    word(b"1"),
    word(b"2"),
    word(b"5"),
    word(b"4\0"),
    word(b"online"),
    word(b"offline\0"),
    word(b"poweroff"),
    word(b"reboot"),
    word(b"suspend"),
    word(b"99999999"),
    word(b"cpu/"),
    word(b"-1"),
    ABSENT as u64,
    0,
];

/// The value of `key`, or None for an absent node.
fn value<'a>(input: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let at = SLOT * slot(key);
    let len = *input.get(at)?;
    if len == ABSENT {
        return None;
    }
    let start = (at + 1).min(input.len());
    let end = (at + 1 + usize::from(len).min(SLOT - 1)).min(input.len());
    Some(&input[start..end])
}

fn strip(v: &[u8]) -> &[u8] {
    v.strip_suffix(&[0]).unwrap_or(v)
}

/// A decimal value as the readers must take it: digits only, within u64.
fn decimal(v: &[u8]) -> Option<u64> {
    let v = strip(v);
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn seed(values: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut out = vec![0u8; SLOT * KEYS.len()];
    for (i, _) in KEYS.iter().enumerate() {
        out[SLOT * i] = ABSENT;
    }
    for (key, v) in values {
        let at = SLOT * slot(key);
        match v {
            None => out[at] = ABSENT,
            Some(v) => {
                out[at] = v.len() as u8;
                out[at + 1..at + 1 + v.len()].copy_from_slice(v);
            }
        }
    }
    out
}

fn good_disk() -> Vec<(&'static str, Option<&'static [u8]>)> {
    vec![
        ("backend-id", Some(b"0")),
        ("backend", Some(BACKEND.as_bytes())),
        ("state", Some(b"2")),
        ("sectors", Some(b"2097152")),
        ("sector-size", Some(b"512")),
        ("info", Some(b"0")),
        ("feature-flush-cache", Some(b"1")),
        ("feature-persistent", Some(b"1")),
        ("max-ring-page-order", Some(b"4")),
        ("feature-max-indirect-segments", Some(b"256")),
        ("control/shutdown", Some(b"poweroff")),
        ("control/sysrq", Some(b"s")),
        ("cpu/1/availability", Some(b"online")),
        ("event-path", Some(b"cpu/1/availability")),
        ("memory/target", Some(b"262144")),
        ("memory/static-max", Some(b"524288")),
        ("device-names", Some(b"\x00768,51728")),
    ]
}

impl Target for XenstoreValuesTarget {
    fn name(&self) -> &'static str {
        "xenstore-values"
    }

    fn seeds(&self) -> Vec<Vec<u8>> {
        let mut other = good_disk();
        other.extend([
            ("state", Some(&b"4\0"[..])),
            ("info", Some(b"5")),
            ("feature-flush-cache", None),
            ("feature-barrier", Some(b"1")),
            ("max-ring-page-order", None),
            ("control/shutdown", Some(b"")),
            ("control/sysrq", None),
            ("cpu/1/availability", Some(b"offline\0")),
            ("event-path", Some(b"/local/domain/5/cpu")),
            ("memory/target", None),
        ]);
        let mut odd = good_disk();
        odd.extend([
            ("state", Some(&b"6"[..])),
            ("feature-persistent", Some(b"0")),
            ("control/shutdown", Some(b"suspend\0")),
            ("cpu/1/availability", Some(b"maybe")),
            ("event-path", Some(b"cpu/12")),
            ("memory/target", Some(b"18446744073709551615")),
        ]);
        vec![seed(&good_disk()), seed(&other), seed(&odd)]
    }

    fn hints(&self) -> Hints<'static> {
        Hints {
            fields: &FIELDS,
            values: &VALUES,
            hex: false,
        }
    }

    fn run(&self, input: &[u8]) -> Result<Outcome, String> {
        let (mut conn, server) = fake::connect(0);
        let frontend = format!("{HOME}/device/vbd/{DEV}");
        {
            let mut s = server.0.borrow_mut();
            // Whole messages per turn: the ring's streaming is the
            // xenstore target's subject, the values are this one's.
            s.chunk = 8192;
            for key in KEYS {
                let Some(v) = value(input, key) else { continue };
                let path = match key {
                    "backend-id" | "backend" => format!("{frontend}/{key}"),
                    "event-path" => continue,
                    "device-names" => {
                        for name in device_names(v) {
                            let path = format!("{HOME}/device/vbd/{name}");
                            insert(&mut s.nodes, path, Vec::new());
                        }
                        continue;
                    }
                    k if k.contains('/') => abs(k),
                    k => format!("{BACKEND}/{k}"),
                };
                insert(&mut s.nodes, path, v.to_vec());
            }
        }
        let mut refusals = Vec::new();
        check_listing(&server, &mut conn, &mut refusals)?;
        let dev = check_probe(input, &mut conn, &frontend, &mut refusals)?;
        check_state(input, &server, &dev, &mut conn, &mut refusals)?;
        check_disk(&server, &dev, &mut conn, &mut refusals)?;
        check_control(input, &server, &mut conn)?;
        check_hotplug(input, &mut refusals)?;
        check_balloon(input, &mut conn, &mut refusals)?;
        Ok(match refusals.first() {
            None => Outcome::ACCEPTED,
            Some(kind) => Outcome {
                accepted: true,
                refusal: Some(kind.clone()),
            },
        })
    }
}

type Conn = virtus_pv::xenstore::conn::Conn<Shared, Shared>;

/// A refused value's error must name its node.
fn names(e: &XenbusError, path: &str, refusals: &mut Vec<String>) -> Result<(), String> {
    let _ = e.to_string();
    let (named, kind) = match e {
        XenbusError::Missing { path: p } => (p == path, "Missing"),
        XenbusError::Malformed { path: p, .. } => (p == path, "Malformed"),
        XenbusError::BackendClosed { .. } => (true, "BackendClosed"),
        XenbusError::Timeout { .. } => (true, "Timeout"),
        XenbusError::Store { .. } => (false, "Store"),
    };
    if !named {
        return Err(format!("{e} does not name {path}"));
    }
    refusals.push(kind.into());
    Ok(())
}

/// Sets a node and creates its missing parents, empty, as xenstored does.
fn insert(nodes: &mut std::collections::BTreeMap<String, Vec<u8>>, path: String, value: Vec<u8>) {
    for (i, _) in path.match_indices('/').skip(1) {
        nodes.entry(path[..i].to_string()).or_default();
    }
    nodes.insert(path, value);
}

/// The device names a `device-names` value puts under `device/vbd`.
fn device_names(v: &[u8]) -> Vec<String> {
    let extra = v.first().map_or(0, |n| usize::from(*n) % 80);
    let text = String::from_utf8_lossy(v.get(1..).unwrap_or(&[]));
    let mut names: Vec<String> = text
        .split([',', '/', '\0'])
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect();
    names.extend((0..extra).map(|i| format!("{}", 1000 + i)));
    names
}

/// `device_ids`: every child of `device/vbd` a decimal u32, at most 64,
/// returned sorted; else an error naming the first bad child or the
/// directory.
fn check_listing(
    server: &Shared,
    conn: &mut Conn,
    refusals: &mut Vec<String>,
) -> Result<(), String> {
    let dir = format!("{HOME}/device/vbd/");
    let children: Vec<String> = server
        .0
        .borrow()
        .nodes
        .keys()
        .filter_map(|k| k.strip_prefix(&dir))
        .filter(|k| !k.contains('/'))
        .map(String::from)
        .collect();
    let id = |n: &str| decimal(n.as_bytes()).and_then(|d| u32::try_from(d).ok());
    let got = xenbus::device_ids(conn, "vbd");
    if children.is_empty() {
        // No device/vbd node at all: no devices.
        return match got {
            Ok(ids)
                if ids.is_empty()
                    || server
                        .0
                        .borrow()
                        .nodes
                        .contains_key(dir.trim_end_matches('/')) =>
            {
                Ok(())
            }
            other => Err(format!("device_ids with no devices: {other:?}")),
        };
    }
    match got {
        Ok(ids) => {
            let mut want: Vec<u32> = children.iter().filter_map(|n| id(n)).collect();
            want.sort_unstable();
            if children.len() > 64 || want.len() != children.len() || ids != want {
                return Err(format!("device_ids of {children:?}: {ids:?}"));
            }
            Ok(())
        }
        Err(e) => {
            let path = if children.len() > 64 {
                "device/vbd".to_string()
            } else {
                match children.iter().find(|n| id(n).is_none()) {
                    Some(bad) => format!("device/vbd/{bad}"),
                    None => return Err(format!("device_ids of {children:?}: {e}")),
                }
            };
            names(&e, &path, refusals)
        }
    }
}

fn check_probe(
    input: &[u8],
    conn: &mut Conn,
    frontend: &str,
    refusals: &mut Vec<String>,
) -> Result<Device, String> {
    let fixed = Device {
        kind: "vbd".into(),
        id: DEV,
        frontend: frontend.into(),
        backend: BACKEND.into(),
        backend_id: 0,
    };
    let id_path = format!("{frontend}/backend-id");
    let be_path = format!("{frontend}/backend");
    let id = value(input, "backend-id").map(|v| {
        decimal(v)
            .and_then(|d| u16::try_from(d).ok())
            .filter(|d| *d < 0x7ff0)
    });
    let backend = value(input, "backend").map(|v| std::str::from_utf8(strip(v)).ok());
    match xenbus::probe(conn, "vbd", DEV) {
        Ok(dev) => {
            let (Some(Some(id)), Some(Some(backend))) = (id, backend) else {
                return Err(format!("probe accepted {dev:?} from missing or bad values"));
            };
            if dev.backend_id != id
                || dev.backend != backend
                || !backend.starts_with(&format!("/local/domain/{id}/backend/"))
                || xenbus::frontend::check_backend_path(backend, id).is_err()
            {
                return Err(format!("probe: {dev:?} from id {id}, backend {backend:?}"));
            }
            Ok(dev)
        }
        Err(e) => {
            // The first bad key is the one named.
            let path = match id {
                Some(Some(_)) => &be_path,
                _ => &id_path,
            };
            names(&e, path, refusals)?;
            Ok(fixed)
        }
    }
}

/// `state` as Linux's `xenbus_read_driver_state` reads it.
fn state_of(v: Option<&[u8]>) -> Option<XenbusState> {
    let Some(v) = v else {
        return Some(XenbusState::Unknown);
    };
    let v = strip(v);
    if v.is_empty() || v.len() > 3 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = decimal(v)?;
    XenbusState::from_text(format!("{n}").as_bytes()).ok()
}

fn node(server: &Shared, path: &str) -> Option<Vec<u8>> {
    server.0.borrow().nodes.get(path).cloned()
}

fn check_state(
    input: &[u8],
    server: &Shared,
    dev: &Device,
    conn: &mut Conn,
    refusals: &mut Vec<String>,
) -> Result<(), String> {
    let path = dev.backend_key("state");
    let raw = node(server, &path);
    let want = state_of(raw.as_deref());
    if let Some(v) = value(input, "state") {
        let direct = XenbusState::from_text(v).ok();
        if direct != state_of(Some(v)) {
            return Err(format!("state {v:?} read as {direct:?}"));
        }
    }
    match (dev.backend_state(conn), want) {
        (Ok(s), Some(w))
            if s == w
                && (raw.is_none()
                    || s as u8 as u64 == decimal(raw.as_deref().unwrap_or(b"")).unwrap_or(99)) => {}
        (Err(e), None) => names(&e, &path, refusals)?,
        (got, want) => return Err(format!("state {raw:?}: {got:?}, expected {want:?}")),
    }
    // blkfront's first step waits for InitWait, then reads the offer.
    let offered = handshake::offer(conn, dev, 50_000_000);
    let order = dev.backend_key("max-ring-page-order");
    let segs = dev.backend_key("feature-max-indirect-segments");
    let persistent = dev.backend_key("feature-persistent");
    let expect = match want {
        None => Err(path.clone()),
        Some(XenbusState::InitWait) => offer_of(server, &order, &segs, &persistent),
        Some(_) => Err(path.clone()),
    };
    match (offered, expect) {
        (Ok(o), Ok(w)) if o == w => Ok(()),
        (Err(e), Err(p)) => names(&e, &p, refusals),
        (got, want) => Err(format!("offer: {got:?}, expected {want:?}")),
    }
}

fn offer_of(
    server: &Shared,
    order: &str,
    segs: &str,
    persistent: &str,
) -> Result<handshake::Offer, String> {
    let opt = |path: &str| -> Result<Option<u64>, String> {
        match node(server, path) {
            None => Ok(None),
            Some(v) => decimal(&v).map(Some).ok_or_else(|| path.to_string()),
        }
    };
    let o = opt(order)?.unwrap_or(0);
    if o > MAX_RING_ORDER {
        return Err(order.into());
    }
    let s = u32::try_from(opt(segs)?.unwrap_or(0)).map_err(|_| segs.to_string())?;
    Ok(handshake::Offer {
        max_ring_page_order: o as u32,
        max_indirect_segments: s,
        persistent: flag(server, persistent)?,
    })
}

/// A `feature-*` flag: absent or 0 is false, 1 true, anything else the
/// node's path (the error).
fn flag(server: &Shared, path: &str) -> Result<bool, String> {
    match node(server, path).map(|v| decimal(&v)) {
        None | Some(Some(0)) => Ok(false),
        Some(Some(1)) => Ok(true),
        Some(_) => Err(path.into()),
    }
}

fn check_disk(
    server: &Shared,
    dev: &Device,
    conn: &mut Conn,
    refusals: &mut Vec<String>,
) -> Result<(), String> {
    let key = |k: &str| dev.backend_key(k);
    let required = |k: &str| -> Result<u64, String> {
        node(server, &key(k))
            .and_then(|v| decimal(&v))
            .ok_or_else(|| key(k))
    };
    let expect = (|| {
        let sectors = required("sectors")?;
        if required("sector-size")? != 512 {
            return Err(key("sector-size"));
        }
        if sectors > u64::MAX / 512 {
            return Err(key("sectors"));
        }
        let info = required("info")?;
        let flush = if flag(server, &key("feature-flush-cache"))? {
            FlushKind::FlushCache
        } else if flag(server, &key("feature-barrier"))? {
            FlushKind::Barrier
        } else {
            FlushKind::None
        };
        Ok(handshake::DiskParams {
            sectors,
            sector_size: 512,
            info,
            flush,
            persistent: flag(server, &key("feature-persistent"))?,
        })
    })();
    match (handshake::read_disk(conn, dev), expect) {
        (Ok(p), Ok(w)) if p == w => Ok(()),
        (Err(e), Err(path)) => names(&e, &path, refusals),
        (got, want) => Err(format!("read_disk: {got:?}, expected {want:?}")),
    }
}

fn check_control(input: &[u8], server: &Shared, conn: &mut Conn) -> Result<(), String> {
    let path = abs(control::SHUTDOWN);
    let before = node(server, &path);
    let (got, attempt) = control::take_shutdown(conn).map_err(|e| format!("take_shutdown: {e}"))?;
    let v = before.as_deref().map(strip);
    let want = match v {
        None | Some(b"") => ShutdownValue::Nothing,
        Some(b"poweroff") => ShutdownValue::Request(HostRequest::PowerOff),
        Some(b"reboot") => ShutdownValue::Request(HostRequest::Reboot),
        Some(b"halt") => ShutdownValue::Request(HostRequest::Halt),
        Some(b"suspend") => ShutdownValue::Request(HostRequest::Suspend),
        Some(other) => ShutdownValue::Unsupported(String::from_utf8_lossy(other).into()),
    };
    if got != want || attempt != 1 {
        return Err(format!(
            "control/shutdown {before:?}: {got:?} (attempt {attempt})"
        ));
    }
    let after = node(server, &path);
    let acked = matches!(got, ShutdownValue::Request(_));
    if (acked && after.as_deref() != Some(b"")) || (!acked && after != before) {
        return Err(format!("control/shutdown {before:?} left as {after:?}"));
    }
    let sysrq = abs(control::SYSRQ);
    let before = node(server, &sysrq);
    let key = control::take_sysrq(conn).map_err(|e| format!("take_sysrq: {e}"))?;
    let want = value(input, "control/sysrq")
        .and_then(|v| v.first().copied())
        .filter(|k| *k != 0);
    let after = node(server, &sysrq);
    if key != want
        || (key.is_some() && after.as_deref() != Some(b""))
        || (key.is_none() && after != before)
    {
        return Err(format!(
            "control/sysrq {before:?}: {key:?}, left as {after:?}"
        ));
    }
    Ok(())
}

fn check_hotplug(input: &[u8], refusals: &mut Vec<String>) -> Result<(), String> {
    if let Some(v) = value(input, "cpu/1/availability") {
        let want = match strip(v) {
            b"online" => Some(true),
            b"offline" => Some(false),
            _ => None,
        };
        match (hotplug::availability(v), want) {
            (Ok(a), Some(w)) if a == w => {}
            (Err(e), None) => {
                let _ = e.to_string();
                refusals.push("Availability".into());
            }
            (got, want) => return Err(format!("availability {v:?}: {got:?}, expected {want:?}")),
        }
    }
    let Some(Ok(path)) = value(input, "event-path").map(std::str::from_utf8) else {
        return Ok(());
    };
    let relative = path
        .strip_prefix(HOME)
        .and_then(|p| p.strip_prefix('/'))
        .unwrap_or(path);
    let want = match relative.strip_prefix("cpu") {
        Some("" | "/") => Some(None),
        Some(rest) => rest.strip_prefix('/').and_then(|r| {
            let n = r.split('/').next().unwrap_or("");
            (!n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse::<usize>().ok().map(Some))
                .flatten()
        }),
        None => None,
    };
    match (hotplug::event_cpu(path, HOME), want) {
        (Ok(c), Some(w)) if c == w => Ok(()),
        (Err(e), None) => {
            let _ = e.to_string();
            refusals.push("EventPath".into());
            Ok(())
        }
        (got, want) => Err(format!("event_cpu({path:?}): {got:?}, expected {want:?}")),
    }
}

fn check_balloon(input: &[u8], conn: &mut Conn, refusals: &mut Vec<String>) -> Result<(), String> {
    for key in [balloon::TARGET, balloon::STATIC_MAX] {
        let v = value(input, key);
        let got = balloon::read_kib(conn, key).map_err(|e| format!("read_kib: {e}"))?;
        let ok = match (&got, v.map(strip)) {
            (TargetValue::Missing, None) => true,
            (TargetValue::Kib(n), Some(v)) => decimal(v) == Some(*n),
            (TargetValue::Bad(BadValue::Empty), Some(v)) => v.is_empty(),
            (TargetValue::Bad(BadValue::NotDecimal(_)), Some(v)) => {
                !v.is_empty() && !v.iter().all(u8::is_ascii_digit)
            }
            (TargetValue::Bad(BadValue::TooLarge), Some(v)) => {
                v.iter().all(u8::is_ascii_digit) && decimal(v).is_none()
            }
            _ => false,
        };
        if !ok {
            return Err(format!("{key} {v:?} read as {got:?}"));
        }
        if let TargetValue::Bad(e) = got {
            let _ = e.to_string();
            refusals.push("BadValue".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_is_accepted() {
        let seeds = XenstoreValuesTarget.seeds();
        assert_eq!(XenstoreValuesTarget.run(&seeds[0]), Ok(Outcome::ACCEPTED));
        for (i, seed) in seeds.iter().enumerate() {
            let out = XenstoreValuesTarget.run(seed);
            assert!(
                matches!(out, Ok(Outcome { accepted: true, .. })),
                "seed {i}: {out:?}"
            );
        }
    }
}
