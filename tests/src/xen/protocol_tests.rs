use super::*;

/// The events of `transcript` fed in chunks of `size` characters.
fn events_in_chunks(transcript: &str, size: usize) -> Vec<Event> {
    let mut parser = ConsoleParser::new();
    let chars: Vec<char> = transcript.chars().collect();
    let mut stamped: Vec<Stamped> = chars
        .chunks(size)
        .flat_map(|chunk| parser.feed(&chunk.iter().collect::<String>(), Duration::ZERO))
        .collect();
    stamped.extend(parser.finish());
    stamped.into_iter().map(|s| s.event).collect()
}

fn events(transcript: &str) -> Vec<Event> {
    events_in_chunks(transcript, transcript.len().max(1))
}

fn guest_line(guest: &str, text: &str) -> Event {
    Event::GuestLine {
        guest: guest.into(),
        text: text.into(),
    }
}

fn other(text: &str) -> Event {
    Event::Other(text.to_string())
}

/// A real-shaped run: Xen's banner, dom0's kernel, the script, a guest.
const TRANSCRIPT: &str = "\
\x1b[2J(XEN) Xen version 4.17.5-pre (Debian 4.17.5+72-g01140da4e8-1)\r
(XEN) Command line: console=com1 com1=115200,8n1 loglvl=all\r
[    0.000000] Linux version 6.1.0-40-amd64\r
@@virtus dom0-start uptime=4.91\r
(XEN) d0v0: upcall vector f3\r
@@virtus dom0-ready uptime=6.02\r
@@virtus guest virtus-pvh created domid=1 uptime=6.80\r
(d1) debug port line\r
@@guest virtus-pvh| KTAP version 1\r
@@guest virtus-pvh| ok 1 heap_alloc # done |x|\r
@@guest virtus-pvh|\r
@@virtus guest virtus-pvh ended reason=poweroff code=0 uptime=8.11\r
@@dom0| Name   ID   Mem VCPUs\r
@@dom0| Domain-0  0  256  1\r
@@virtus dom0-cmd rc=0\r
@@virtus done uptime=8.50\r
";

#[test]
fn a_whole_run_reads_as_events() {
    assert_eq!(
        events(TRANSCRIPT),
        [
            Event::Xen("(XEN) Xen version 4.17.5-pre (Debian 4.17.5+72-g01140da4e8-1)".into()),
            Event::Xen("(XEN) Command line: console=com1 com1=115200,8n1 loglvl=all".into()),
            other("[    0.000000] Linux version 6.1.0-40-amd64"),
            Event::Dom0Start { uptime: Some(4.91) },
            Event::Xen("(XEN) d0v0: upcall vector f3".into()),
            Event::Dom0Ready { uptime: Some(6.02) },
            Event::GuestCreated {
                guest: "virtus-pvh".into(),
                domid: Some(1),
                uptime: Some(6.8)
            },
            Event::Xen("(d1) debug port line".into()),
            guest_line("virtus-pvh", "KTAP version 1"),
            guest_line("virtus-pvh", "ok 1 heap_alloc # done |x|"),
            guest_line("virtus-pvh", ""),
            Event::GuestEnded {
                guest: "virtus-pvh".into(),
                reason: ShutdownReason::Poweroff,
                code: Some(0),
                uptime: Some(8.11)
            },
            Event::Dom0Output {
                text: "Name   ID   Mem VCPUs".into()
            },
            Event::Dom0Output {
                text: "Domain-0  0  256  1".into()
            },
            Event::Dom0CommandDone { rc: Some(0) },
            Event::Done { uptime: Some(8.5) },
        ]
    );
}

#[test]
fn failures_timeouts_and_errors() {
    assert_eq!(
        events(
            "@@virtus guest bad failed xl create exited with 3\n\
             @@guest-xl bad| libxl: error: libxl_create.c:1234: cannot load kernel\n\
             @@virtus guest slow timeout uptime=70.2\n\
             @@virtus guest boom ended reason=crash code=3 uptime=9\n\
             @@virtus error xenstored did not start\n\
             @@virtus watchdog uptime=300.0\n"
        ),
        [
            Event::GuestFailed {
                guest: "bad".into(),
                reason: "xl create exited with 3".into()
            },
            Event::GuestXl {
                guest: "bad".into(),
                text: "libxl: error: libxl_create.c:1234: cannot load kernel".into()
            },
            Event::GuestTimeout {
                guest: "slow".into(),
                uptime: Some(70.2)
            },
            Event::GuestEnded {
                guest: "boom".into(),
                reason: ShutdownReason::Crash,
                code: Some(3),
                uptime: Some(9.0)
            },
            Event::Error {
                what: "xenstored did not start".into()
            },
            Event::Watchdog {
                uptime: Some(300.0)
            },
        ]
    );
}

#[test]
fn chunks_split_anywhere_give_the_same_events() {
    let whole = events(TRANSCRIPT);
    for size in [1, 2, 3, 7, 64] {
        assert_eq!(
            events_in_chunks(TRANSCRIPT, size),
            whole,
            "chunk size {size}"
        );
    }
}

#[test]
fn a_line_is_stamped_when_it_started_to_arrive() {
    let mut parser = ConsoleParser::new();
    let secs = Duration::from_secs;
    assert!(parser.feed("@@guest a| hel", secs(7)).is_empty());
    let first = parser.feed("lo\n@@virtus guest a ended", secs(9));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].at, secs(7));
    // Cut off by the end of the run: reported as garbled, not lost.
    let last = parser.finish();
    assert_eq!(
        last,
        [Stamped {
            at: secs(9),
            event: Event::Garbled("@@virtus guest a ended".into())
        }]
    );
    assert!(parser.finish().is_empty());
}

#[test]
fn a_marker_after_other_output_on_the_same_line_is_found() {
    assert_eq!(
        events("[   12.5] xen:balloon: Initialising@@virtus dom0-ready uptime=6\n"),
        [
            other("[   12.5] xen:balloon: Initialising"),
            Event::Dom0Ready { uptime: Some(6.0) },
        ]
    );
    // A guest printing protocol text cannot fake a marker: its line is
    // relayed with the prefix first.
    assert_eq!(
        events("@@guest a| @@virtus done uptime=1\n"),
        [guest_line("a", "@@virtus done uptime=1")]
    );
}

#[test]
fn garbage_and_truncation_never_panic() {
    let got = events(
        "\u{0}\u{7}\x1b[0m\n\
         @@virtus\n\
         @@virtus guest\n\
         @@virtus guest a ended reason=exploded code=0\n\
         @@virtus guest Bad_Name created domid=1\n\
         @@virtus guest a frobbed\n\
         @@guest nobar\n\
         @@guest-xl |\n\
         @@virtus bogus-marker\n\
         \u{fffd}\u{fffd}(XEN\n\
         @@virtus dom0-ready uptime=abc\n\
         @@virtus guest a created\n",
    );
    let garbled = got
        .iter()
        .filter(|e| matches!(e, Event::Garbled(_)))
        .count();
    assert_eq!(garbled, 7, "{got:#?}");
    // "@@virtus" without a space is not a marker at all.
    assert!(got.contains(&other("@@virtus")));
    assert!(got.contains(&other("\u{fffd}\u{fffd}(XEN")));
    // Readable markers with unreadable fields keep what they can.
    assert!(got.contains(&Event::Dom0Ready { uptime: None }));
    assert!(got.contains(&Event::GuestCreated {
        guest: "a".into(),
        domid: None,
        uptime: None
    }));
}

#[test]
fn xen_lines_are_told_from_dom0_lines() {
    assert_eq!(
        events("(XEN) ok\n(d12) hi\n(dx) no\n[ 1.0] (XEN) quoted\n"),
        [
            Event::Xen("(XEN) ok".into()),
            Event::Xen("(d12) hi".into()),
            other("(dx) no"),
            other("[ 1.0] (XEN) quoted"),
        ]
    );
}

#[test]
fn shutdown_reasons_round_trip() {
    for (reason, _) in ShutdownReason::NAMES {
        assert_eq!(ShutdownReason::from_name(reason.name()), Some(reason));
    }
    assert_eq!(ShutdownReason::from_name("halt"), None);
    assert_eq!(ShutdownReason::SoftReset.to_string(), "soft_reset");
}

#[test]
fn stamps_carry_dom0_times_by_name() {
    assert_eq!(
        events("@@virtus guest mute stamps xl_create=10.5 built=11.02 unpaused=11.3 gone=11.9\n"),
        [Event::GuestStamps {
            guest: "mute".into(),
            stamps: vec![
                ("xl_create".into(), 10.5),
                ("built".into(), 11.02),
                ("unpaused".into(), 11.3),
                ("gone".into(), 11.9),
            ]
        }]
    );
    // No stamps at all (a guest that failed before the first) is still news.
    assert_eq!(
        events("@@virtus guest g stamps\n"),
        [Event::GuestStamps {
            guest: "g".into(),
            stamps: vec![]
        }]
    );
    assert!(matches!(
        events("@@virtus guest g stamps built=soon\n").as_slice(),
        [Event::Garbled(_)]
    ));
}

#[test]
fn xen_log_begun_inside_a_guest_line_is_split_off() {
    assert_eq!(
        parse_line(
            "@@guest virtus| ok 92 pv_xenstore_transaction_conflict_retries(XEN) d1v0: upcall vector f3"
        ),
        [
            guest_line("virtus", "ok 92 pv_xenstore_transaction_conflict_retries"),
            Event::Xen("(XEN) d1v0: upcall vector f3".into()),
        ]
    );
    // A guest line that is Xen's words from its start is left alone.
    assert_eq!(
        parse_line("@@guest virtus| (XEN) x"),
        [guest_line("virtus", "(XEN) x")]
    );
}
