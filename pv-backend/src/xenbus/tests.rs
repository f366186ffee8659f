//! XenBus against the simulated xenstored of `xenstore/fake.rs`, whose
//! scripted rules play the backend in dom0.

use super::frontend::{BACKEND_PATH_MAX, check_backend_path};
use super::*;
use crate::xenstore::fake::{Rule, Shared, connect, node, put};

const FRONT: &str = "/local/domain/5/device/vbd/768";
const BACK: &str = "/local/domain/0/backend/vbd/5/768";

/// The backend answers `frontend <key> = <value>` with its `state` = `then`.
fn rule(server: &Shared, key: &str, value: &str, then: &str) {
    server.0.borrow_mut().rules.push(Rule {
        when: (format!("{FRONT}/{key}"), value.as_bytes().to_vec()),
        then: (format!("{BACK}/state"), then.as_bytes().to_vec()),
        done: false,
    });
}

/// The nodes libxl writes for vbd 768 of domain 5, served by domain 0.
fn vbd(server: &Shared, id: u32) {
    let front = format!("device/vbd/{id}");
    let back = format!("/local/domain/0/backend/vbd/5/{id}");
    put(server, &format!("{front}/backend"), &back);
    put(server, &format!("{front}/backend-id"), "0");
    put(server, &format!("{front}/state"), "1");
    put(server, &format!("{back}/state"), "1");
}

#[test]
fn states_are_the_numbers_of_the_header() {
    // xen/include/public/io/xenbus.h, enum xenbus_state.
    let header = [
        ("0", "Unknown"),
        ("1", "Initialising"),
        ("2", "InitWait"),
        ("3", "Initialised"),
        ("4", "Connected"),
        ("5", "Closing"),
        ("6", "Closed"),
        ("7", "Reconfiguring"),
        ("8", "Reconfigured"),
    ];
    for (text, name) in header {
        let state = XenbusState::from_text(text.as_bytes()).unwrap();
        assert_eq!((state.name(), state.text()), (name, text));
    }
    assert_eq!(
        XenbusState::from_text(b"4\0"),
        Ok(XenbusState::Connected),
        "a trailing NUL is tolerated"
    );
    for bad in [
        &b""[..],
        b"9",
        b"-1",
        b" 4",
        b"4 ",
        b"1000",
        b"abc",
        b"0x4",
        b"\0",
    ] {
        assert!(XenbusState::from_text(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn discovery_lists_none_one_and_two_devices_in_order() {
    let (mut c, server) = connect(0);
    assert_eq!(device_ids(&mut c, "vbd").unwrap(), []);
    vbd(&server, 51728);
    assert_eq!(device_ids(&mut c, "vbd").unwrap(), [51728]);
    vbd(&server, 768);
    assert_eq!(device_ids(&mut c, "vbd").unwrap(), [768, 51728]);
    assert_eq!(
        device_ids(&mut c, "vif").unwrap(),
        [],
        "other types stay apart"
    );
    let d = probe(&mut c, "vbd", 768).unwrap();
    assert_eq!(
        (d.frontend.as_str(), d.backend.as_str(), d.backend_id),
        (FRONT, BACK, 0)
    );
}

#[test]
fn a_device_name_that_is_no_id_is_an_error_naming_it() {
    let (mut c, server) = connect(0);
    vbd(&server, 768);
    put(&server, "device/vbd/xvda/backend", BACK);
    let e = device_ids(&mut c, "vbd").unwrap_err();
    assert!(matches!(&e, XenbusError::Malformed { path, .. } if path == "device/vbd/xvda"));
    assert!(format!("{e}").contains("device/vbd/xvda"), "{e}");
    assert!(device_ids(&mut c, "vbd/768").is_err());
}

#[test]
fn a_missing_backend_key_is_an_error_naming_its_path() {
    let (mut c, server) = connect(0);
    put(&server, "device/vbd/768/backend-id", "0");
    let e = probe(&mut c, "vbd", 768).unwrap_err();
    let path = format!("{FRONT}/backend");
    assert_eq!(e, XenbusError::Missing { path: path.clone() });
    assert_eq!(
        format!("{e}"),
        format!("xenbus: {path}: missing (required)")
    );

    let (mut c, server) = connect(0);
    put(&server, "device/vbd/768/backend", BACK);
    let e = probe(&mut c, "vbd", 768).unwrap_err();
    assert_eq!(
        e,
        XenbusError::Missing {
            path: format!("{FRONT}/backend-id")
        }
    );
}

#[test]
fn a_wrong_backend_path_or_id_is_refused() {
    let wrong = [
        ("0", "local/domain/0/backend/vbd/5/768"),
        ("0", "/local/domain/7/backend/vbd/5/768"),
        ("0", "/local/domain/0/device/vbd/5/768"),
        ("0", "/local/domain/0/backend"),
        ("0", "/local/domain/0/backend/"),
        ("0", "/local/domain/0/backend/vbd/../../1"),
        ("0", ""),
        ("abc", BACK),
        ("-1", BACK),
        ("65535", BACK),
        ("32752", "/local/domain/32752/backend/vbd/5/768"),
    ];
    for (id, backend) in wrong {
        let (mut c, server) = connect(0);
        put(&server, "device/vbd/768/backend-id", id);
        put(&server, "device/vbd/768/backend", backend);
        let e = probe(&mut c, "vbd", 768).unwrap_err();
        assert!(
            matches!(&e, XenbusError::Malformed { path, .. } if path.starts_with(FRONT)),
            "{id} {backend}: {e:?}"
        );
    }
    let long = format!("/local/domain/0/backend/{}", "a".repeat(BACKEND_PATH_MAX));
    assert!(check_backend_path(&long, 0).is_err());
    assert_eq!(
        check_backend_path("/local/domain/1/backend/qdisk/5/768", 1),
        Ok(())
    );
}

#[test]
fn the_handshake_reaches_connected_with_a_simulated_backend() {
    let (mut c, server) = connect(0);
    vbd(&server, 768);
    // The backend's hotplug work ends (InitWait); it connects once our
    // state says Initialised.
    server.0.borrow_mut().rules.push(Rule {
        when: (format!("{BACK}/state"), b"1".to_vec()),
        then: (format!("{BACK}/state"), b"2".to_vec()),
        done: false,
    });
    rule(&server, "state", "3", "4");
    let d = probe(&mut c, "vbd", 768).unwrap();
    let s = d.wait_backend(&mut c, &[XenbusState::InitWait], 1_000_000_000);
    assert_eq!(s, Ok(XenbusState::InitWait));
    assert_eq!(
        node(&server, &format!("{FRONT}/state")).as_deref(),
        Some("1")
    );
    let keys = [
        ("ring-ref", "8"),
        ("event-channel", "17"),
        ("protocol", "x86_64-abi"),
    ];
    assert_eq!(d.publish(&mut c, &keys, XenbusState::Initialised), Ok(1));
    let s = d.wait_backend(&mut c, &[XenbusState::Connected], 1_000_000_000);
    assert_eq!(s, Ok(XenbusState::Connected));
    for (key, value) in keys {
        assert_eq!(
            node(&server, &format!("{FRONT}/{key}")).as_deref(),
            Some(value)
        );
    }
    d.switch_state(&mut c, XenbusState::Connected).unwrap();
    assert_eq!(d.state(&mut c), Ok(XenbusState::Connected));
    assert_eq!(c.watch_count(), 0, "each wait removes its watch");
    assert!(server.0.borrow().watches.is_empty());
}

#[test]
fn a_publish_that_fails_writes_nothing_not_even_the_state() {
    let (mut c, server) = connect(0);
    vbd(&server, 768);
    let d = probe(&mut c, "vbd", 768).unwrap();
    let keys = [("ring-ref", "8"), ("bad key", "x")];
    assert!(d.publish(&mut c, &keys, XenbusState::Initialised).is_err());
    assert_eq!(node(&server, &format!("{FRONT}/ring-ref")), None);
    assert_eq!(d.state(&mut c), Ok(XenbusState::Initialising));
}

#[test]
fn a_backend_closing_mid_handshake_fails_the_wait_naming_the_device() {
    let (mut c, server) = connect(0);
    vbd(&server, 768);
    put(&server, &format!("{BACK}/state"), "2");
    rule(&server, "state", "3", "5");
    let d = probe(&mut c, "vbd", 768).unwrap();
    d.publish(&mut c, &[("ring-ref", "8")], XenbusState::Initialised)
        .unwrap();
    let e = d
        .wait_backend(&mut c, &[XenbusState::Connected], 5_000_000_000)
        .unwrap_err();
    assert_eq!(
        e,
        XenbusError::BackendClosed {
            device: FRONT.into(),
            state: XenbusState::Closing
        }
    );
    assert_eq!(
        format!("{e}"),
        format!("xenbus: {FRONT}: the backend is Closing (5)")
    );
    assert_eq!(c.watch_count(), 0);
}

#[test]
fn a_backend_that_never_answers_times_out_at_the_deadline() {
    let (mut c, server) = connect(0);
    vbd(&server, 768);
    put(&server, &format!("{BACK}/state"), "2");
    let d = probe(&mut c, "vbd", 768).unwrap();
    let waits = server.0.borrow().waits;
    let e = d
        .wait_backend(&mut c, &[XenbusState::Connected], 1_000_000_000)
        .unwrap_err();
    let XenbusError::Timeout {
        device,
        wanted,
        last,
        waited_ms,
    } = e.clone()
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        (device.as_str(), wanted, last),
        (FRONT, XenbusState::Connected, XenbusState::InitWait)
    );
    // The fake's clock moves 10 ms per sleep: 1 s is about 100 sleeps,
    // not a spin and not forever.
    assert!((1_000..=1_100).contains(&waited_ms), "{waited_ms} ms");
    let slept = server.0.borrow().waits - waits;
    assert!((95..=115).contains(&slept), "{slept} sleeps");
    assert_eq!(c.watch_count(), 0);
    assert!(format!("{e}").contains("stayed InitWait (2)"), "{e}");
}

#[test]
fn a_malformed_backend_state_is_an_error_naming_the_node() {
    let (mut c, server) = connect(0);
    vbd(&server, 768);
    put(&server, &format!("{BACK}/state"), "banana");
    let d = probe(&mut c, "vbd", 768).unwrap();
    let e = d
        .wait_backend(&mut c, &[XenbusState::Connected], 1_000_000_000)
        .unwrap_err();
    assert!(matches!(&e, XenbusError::Malformed { path, .. } if *path == format!("{BACK}/state")));
}

#[test]
fn optional_and_required_backend_keys() {
    let (mut c, server) = connect(0);
    vbd(&server, 768);
    put(&server, &format!("{BACK}/sectors"), "2048");
    put(&server, &format!("{BACK}/feature-flush-cache"), "1");
    put(&server, &format!("{BACK}/sector-size"), "512x");
    let d = probe(&mut c, "vbd", 768).unwrap();
    assert_eq!(d.read_backend_decimal(&mut c, "sectors"), Ok(2048));
    assert_eq!(
        d.read_backend_optional(&mut c, "feature-flush-cache"),
        Ok(Some(1))
    );
    assert_eq!(
        d.read_backend_optional(&mut c, "feature-persistent"),
        Ok(None)
    );
    let e = d.read_backend_decimal(&mut c, "sector-size").unwrap_err();
    assert_eq!(
        format!("{e}"),
        format!("xenbus: {BACK}/sector-size: not a decimal number")
    );
    let e = d.read_backend_decimal(&mut c, "info").unwrap_err();
    assert_eq!(
        e,
        XenbusError::Missing {
            path: format!("{BACK}/info")
        }
    );
}

#[test]
fn close_waits_for_the_backend_then_says_closed() {
    let (mut c, server) = connect(0);
    vbd(&server, 768);
    put(&server, &format!("{BACK}/state"), "4");
    rule(&server, "state", "5", "6");
    let d = probe(&mut c, "vbd", 768).unwrap();
    d.close(&mut c, 1_000_000_000).unwrap();
    assert_eq!(d.state(&mut c), Ok(XenbusState::Closed));
    assert_eq!(d.backend_state(&mut c), Ok(XenbusState::Closed));
}
