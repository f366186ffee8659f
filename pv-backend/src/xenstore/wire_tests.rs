//! The wire format against the layouts of xs_wire.h, and replies that
//! break the rules.

use super::*;

#[test]
fn a_request_is_header_then_nul_terminated_parts() {
    let msg = request(MsgType::Write, 7, 0, &["device/vbd"], b"4").unwrap();
    // type 11, req_id 7, tx_id 0, len 12 ("device/vbd\0" + "4").
    assert_eq!(&msg[..4], &11u32.to_le_bytes());
    assert_eq!(&msg[4..8], &7u32.to_le_bytes());
    assert_eq!(&msg[8..12], &0u32.to_le_bytes());
    assert_eq!(&msg[12..16], &12u32.to_le_bytes());
    assert_eq!(&msg[16..], b"device/vbd\x004");
    let watch = request(MsgType::Watch, 1, 0, &["control/shutdown", "tok"], b"").unwrap();
    assert_eq!(&watch[16..], b"control/shutdown\0tok\0");
}

#[test]
fn a_request_over_the_payload_limit_is_refused_unbuilt() {
    let value = alloc::vec![b'x'; PAYLOAD_MAX];
    assert_eq!(
        request(MsgType::Write, 1, 0, &["a"], &value),
        Err(WireError::PayloadTooLong(PAYLOAD_MAX + 2))
    );
}

#[test]
fn headers_round_trip_and_overlong_lengths_are_refused() {
    let h = Header {
        kind: 2,
        req_id: 0xdead,
        tx_id: 3,
        len: 4096,
    };
    assert_eq!(Header::from_bytes(&h.to_bytes()), Ok(h));
    let long = Header { len: 4097, ..h };
    assert_eq!(
        Header::from_bytes(&long.to_bytes()),
        Err(WireError::PayloadTooLong(4097))
    );
    assert_eq!(MsgType::from_wire(15), Some(MsgType::WatchEvent));
    assert_eq!(MsgType::from_wire(8), None, "XS_INTRODUCE is dom0's");
}

#[test]
fn paths_are_checked_as_xenstored_does() {
    assert_eq!(check_path("/local/domain/3/name"), Ok(()));
    assert_eq!(check_path("control/shutdown"), Ok(()));
    assert_eq!(check_path("/"), Ok(()));
    for bad in ["", "a//b", "a/", "a b", "ü", "a\0b"] {
        assert!(
            matches!(check_path(bad), Err(WireError::BadPath(_))),
            "{bad:?}"
        );
    }
    let long_rel = "a".repeat(REL_PATH_MAX + 1);
    assert!(check_path(&long_rel).is_err());
    let long_abs = alloc::format!("/{}", "a".repeat(ABS_PATH_MAX));
    assert!(check_path(&long_abs).is_err());
    assert_eq!(check_path(&long_rel[1..]), Ok(()));
}

#[test]
fn errors_map_by_name_and_unknown_names_are_einval() {
    assert_eq!(XsErrno::from_payload(b"ENOENT\0"), XsErrno::Enoent);
    assert_eq!(XsErrno::from_payload(b"EAGAIN\0"), XsErrno::Eagain);
    assert_eq!(XsErrno::from_payload(b"E2BIG"), XsErrno::E2big);
    assert_eq!(XsErrno::from_payload(b"EWHATEVER\0"), XsErrno::Einval);
    assert_eq!(XsErrno::Eacces.name(), "EACCES");
}

#[test]
fn reply_strings_need_their_nuls() {
    assert_eq!(strings(b"vbd\0vif\0").unwrap(), ["vbd", "vif"]);
    assert_eq!(strings(b"").unwrap(), Vec::<String>::new());
    assert!(strings(b"vbd\0vif").is_err());
    assert!(strings(b"\xff\0").is_err());
    assert_eq!(
        watch_event(b"control/shutdown\0tok\0").unwrap(),
        ("control/shutdown".into(), "tok".into())
    );
    assert!(watch_event(b"only-path\0").is_err());
    assert!(watch_event(b"a\0b\0c\0").is_err());
}

#[test]
fn transaction_ids_are_non_zero_numbers() {
    assert_eq!(transaction_id(b"17\0"), Ok(17));
    assert!(transaction_id(b"0\0").is_err());
    assert!(transaction_id(b"x\0").is_err());
    assert!(transaction_id(b"99999999999\0").is_err());
}
