//! The handshake against the simulated xenstored, whose scripted rules
//! play blkback in dom0.

use super::*;
use crate::xenbus::probe;
use crate::xenstore::fake::{Rule, Shared, connect as xs_connect, node, put};
use alloc::vec;

const FRONT: &str = "/local/domain/5/device/vbd/51712";
const BACK: &str = "/local/domain/0/backend/vbd/5/51712";

/// blkback as the bed's dom0 runs it: InitWait with its offer; Connected
/// (with the disk's keys already there) once the frontend says Initialised.
fn blkback(server: &Shared) {
    put(server, &format!("{FRONT}/backend"), BACK);
    put(server, &format!("{FRONT}/backend-id"), "0");
    put(server, &format!("{FRONT}/state"), "1");
    for (k, v) in [
        ("state", "2"),
        ("max-ring-page-order", "4"),
        ("feature-max-indirect-segments", "256"),
        ("feature-persistent", "1"),
        ("sectors", "16384"),
        ("sector-size", "512"),
        ("info", "0"),
        ("feature-flush-cache", "1"),
        ("feature-barrier", "1"),
    ] {
        put(server, &format!("{BACK}/{k}"), v);
    }
    server.0.borrow_mut().rules.push(Rule {
        when: (format!("{FRONT}/state"), b"3".to_vec()),
        then: (format!("{BACK}/state"), b"4".to_vec()),
        done: false,
    });
}

const SECOND: u64 = 1_000_000_000;

fn ring() -> RingSetup {
    RingSetup {
        refs: vec![8],
        port: 11,
        persistent: false,
    }
}

#[test]
fn the_handshake_reaches_connected_with_the_offer_and_the_disk() {
    let (mut c, server) = xs_connect(0);
    blkback(&server);
    let dev = probe(&mut c, "vbd", 51712).unwrap();
    let offer = offer(&mut c, &dev, SECOND).unwrap();
    assert_eq!(
        offer,
        Offer {
            max_ring_page_order: 4,
            max_indirect_segments: 256,
            persistent: true
        }
    );
    let disk = connect(&mut c, &dev, &ring(), SECOND).unwrap();
    assert_eq!(disk.sectors, 16384);
    assert_eq!(disk.flush, FlushKind::FlushCache);
    assert!(disk.persistent);
    assert!(!disk.read_only());
    assert_eq!(
        node(&server, &format!("{FRONT}/ring-ref")).as_deref(),
        Some("8")
    );
    assert_eq!(
        node(&server, &format!("{FRONT}/event-channel")).as_deref(),
        Some("11")
    );
    assert_eq!(
        node(&server, &format!("{FRONT}/protocol")).as_deref(),
        Some("x86_64-abi")
    );
    assert_eq!(
        node(&server, &format!("{FRONT}/state")).as_deref(),
        Some("4")
    );
}

#[test]
fn several_ring_pages_are_published_by_order() {
    let keys = ring_keys(&RingSetup {
        refs: vec![8, 9, 10, 11],
        port: 3,
        persistent: true,
    });
    let keys: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        keys,
        [
            ("ring-page-order", "2"),
            ("ring-ref0", "8"),
            ("ring-ref1", "9"),
            ("ring-ref2", "10"),
            ("ring-ref3", "11"),
            ("event-channel", "3"),
            ("protocol", "x86_64-abi"),
            ("feature-persistent", "1"),
        ]
    );
}

#[test]
fn absent_features_are_not_offered_and_flush_falls_back_to_barrier() {
    let (mut c, server) = xs_connect(0);
    blkback(&server);
    for k in [
        "max-ring-page-order",
        "feature-max-indirect-segments",
        "feature-persistent",
    ] {
        server.0.borrow_mut().nodes.remove(&format!("{BACK}/{k}"));
    }
    put(&server, &format!("{BACK}/feature-flush-cache"), "0");
    put(&server, &format!("{BACK}/info"), "4");
    let dev = probe(&mut c, "vbd", 51712).unwrap();
    assert_eq!(offer(&mut c, &dev, SECOND).unwrap(), Offer::default());
    let disk = connect(&mut c, &dev, &ring(), SECOND).unwrap();
    assert_eq!(disk.flush, FlushKind::Barrier);
    assert!(disk.read_only());
}

/// Runs the whole handshake with `key` of the backend set to `value`
/// (removed if None) and returns the error's text.
fn failure(key: &str, value: Option<&str>) -> String {
    let (mut c, server) = xs_connect(0);
    blkback(&server);
    let path = format!("{BACK}/{key}");
    match value {
        Some(v) => put(&server, &path, v),
        None => {
            server.0.borrow_mut().nodes.remove(&path);
        }
    }
    let dev = probe(&mut c, "vbd", 51712).unwrap();
    let result = offer(&mut c, &dev, SECOND).and_then(|_| connect(&mut c, &dev, &ring(), SECOND));
    let e = result.expect_err("the handshake must fail");
    let text = format!("{e}");
    assert!(text.contains(&path), "{text} names {path}");
    text
}

#[test]
fn a_missing_or_malformed_key_fails_naming_it() {
    assert!(failure("sectors", None).contains("missing"));
    assert!(failure("sector-size", None).contains("missing"));
    assert!(failure("info", None).contains("missing"));
    assert!(failure("sectors", Some("12ab")).contains("not a decimal"));
    assert!(failure("sectors", Some("-1")).contains("not a decimal"));
    assert!(failure("sector-size", Some("4096")).contains("not 512"));
    assert!(failure("feature-flush-cache", Some("2")).contains("0 or 1"));
    assert!(failure("max-ring-page-order", Some("9")).contains("above 4"));
    assert!(failure("feature-max-indirect-segments", Some("99999999999")).contains("above u32"));
}

#[test]
fn a_backend_that_closes_ends_the_handshake() {
    let (mut c, server) = xs_connect(0);
    blkback(&server);
    put(&server, &format!("{BACK}/state"), "5");
    let dev = probe(&mut c, "vbd", 51712).unwrap();
    let e = offer(&mut c, &dev, SECOND).unwrap_err();
    assert!(
        matches!(
            e,
            XenbusError::BackendClosed {
                state: XenbusState::Closing,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_backend_that_never_connects_times_out() {
    let (mut c, server) = xs_connect(0);
    blkback(&server);
    server.0.borrow_mut().rules.clear();
    let dev = probe(&mut c, "vbd", 51712).unwrap();
    offer(&mut c, &dev, SECOND).unwrap();
    let e = connect(&mut c, &dev, &ring(), SECOND).unwrap_err();
    assert!(matches!(e, XenbusError::Timeout { .. }), "{e}");
}
