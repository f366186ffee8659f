//! The connection against the simulated xenstored of `fake.rs`.

use super::*;
use crate::xenstore::fake::{HOME, connect};
use crate::xenstore::wire::Header;

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
    // One notification for the request; none for waits that read nothing.
    assert_eq!(server.0.borrow().notifies, 1);
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

#[test]
fn a_malformed_watch_event_is_dropped_and_the_reply_still_arrives() {
    let (mut c, server) = connect(0);
    // An event with one string where two belong, ahead of the reply.
    let header = Header {
        kind: MsgType::WatchEvent as u32,
        req_id: 0,
        tx_id: 0,
        len: 4,
    };
    server
        .0
        .borrow_mut()
        .outbox
        .extend_from_slice(&header.to_bytes());
    server.0.borrow_mut().outbox.extend_from_slice(b"abc\0");
    assert_eq!(c.read("name").unwrap(), b"virtus");
    assert_eq!(c.event_counts().malformed, 1);
}

#[test]
fn reconnect_after_restore_registers_every_watch_again() {
    let (mut c, server) = connect(u32::MAX - 40);
    c.watch("control/shutdown", "ctl").unwrap();
    c.watch("data/w", "w").unwrap();
    assert_eq!(c.take_events("ctl").unwrap().len(), 1, "registration fire");
    // An event xenstored sent just before the save, never read: it died
    // with the old connection.
    server.0.borrow_mut().dom0_write("data/w", b"old");
    server.0.borrow_mut().serve();
    server.0.borrow_mut().restore();
    assert!(server.0.borrow().watches.is_empty());
    assert_eq!(c.reconnect(server.clone()).unwrap(), 2);
    let mut watched: Vec<String> = server
        .0
        .borrow()
        .watches
        .iter()
        .map(|w| w.1.clone())
        .collect();
    watched.sort();
    assert_eq!(watched, ["ctl", "w"]);
    // Each fires once on registration, nothing stale comes through, and
    // the connection works from index 0 on.
    assert_eq!(c.take_events("ctl").unwrap().len(), 1);
    assert_eq!(c.take_events("w").unwrap().len(), 1);
    assert_eq!(c.read("data/w").unwrap(), b"old");
    server.0.borrow_mut().dom0_write("data/w", b"new");
    assert_eq!(c.wait_events("w", 1_000_000_000).unwrap().len(), 1);
}

#[test]
fn reconnect_to_a_store_that_does_not_answer_fails_with_the_timeout() {
    let (mut c, server) = connect(0);
    c.watch("data/a", "a").unwrap();
    c.watch("data/b", "b").unwrap();
    server.0.borrow_mut().restore();
    server.0.borrow_mut().silent = true;
    assert!(matches!(c.reconnect(server.clone()), Err(XsError::Timeout)));
    server.0.borrow_mut().silent = false;
}
