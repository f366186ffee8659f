//! The ring logic against a simulated xenstored: wrap-around, messages
//! that arrive in parts, and indices that cannot be right.

use super::*;
use crate::xenstore::wire::{MsgType, PAYLOAD_MAX, request};
use alloc::vec;

/// The page, as plain memory; the test plays xenstored on the other side.
struct Page {
    req: [u8; 1024],
    rsp: [u8; 1024],
    req_cons: u32,
    req_prod: u32,
    rsp_cons: u32,
    rsp_prod: u32,
}

impl Page {
    /// Both rings empty, with indices that start at `start` (they need not
    /// start at 0).
    fn at(start: u32) -> Self {
        Page {
            req: [0xaa; 1024],
            rsp: [0xaa; 1024],
            req_cons: start,
            req_prod: start,
            rsp_cons: start,
            rsp_prod: start,
        }
    }

    /// xenstored takes everything we produced.
    fn server_takes(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while self.req_cons != self.req_prod {
            out.push(self.req[(self.req_cons % 1024) as usize]);
            self.req_cons = self.req_cons.wrapping_add(1);
        }
        out
    }

    /// xenstored puts as much of `bytes` as fits; returns how much.
    fn server_puts(&mut self, bytes: &[u8]) -> usize {
        let free = 1024 - self.rsp_prod.wrapping_sub(self.rsp_cons) as usize;
        let n = bytes.len().min(free);
        for b in &bytes[..n] {
            self.rsp[(self.rsp_prod % 1024) as usize] = *b;
            self.rsp_prod = self.rsp_prod.wrapping_add(1);
        }
        n
    }
}

impl RingPage for Page {
    fn req_cons(&self) -> u32 {
        self.req_cons
    }
    fn req_prod(&self) -> u32 {
        self.req_prod
    }
    fn set_req_prod(&mut self, value: u32) {
        self.req_prod = value;
    }
    fn rsp_cons(&self) -> u32 {
        self.rsp_cons
    }
    fn set_rsp_cons(&mut self, value: u32) {
        self.rsp_cons = value;
    }
    fn rsp_prod(&self) -> u32 {
        self.rsp_prod
    }
    fn write_req(&mut self, at: usize, byte: u8) {
        self.req[at] = byte;
    }
    fn read_rsp(&self, at: usize) -> u8 {
        self.rsp[at]
    }
}

fn reply(kind: MsgType, req_id: u32, payload: &[u8]) -> Vec<u8> {
    request(kind, req_id, 0, &[], payload).unwrap()
}

#[test]
fn a_long_request_streams_through_a_wrapping_ring() {
    // Indices just below the u32 wrap and the ring's end: both wrap.
    let mut page = Page::at(u32::MAX - 5);
    let value = vec![b'v'; PAYLOAD_MAX - 4];
    let msg = request(MsgType::Write, 9, 0, &["key"], &value).unwrap();
    let (mut sent, mut seen) = (0, Vec::new());
    while sent < msg.len() {
        let n = send_some(&mut page, &msg[sent..]).unwrap();
        assert!(n <= 1024);
        sent += n;
        seen.extend(page.server_takes());
    }
    assert_eq!(seen, msg);
    // A full ring takes nothing until the server consumes.
    let mut full = Page::at(0);
    assert_eq!(send_some(&mut full, &[1; 2000]).unwrap(), 1024);
    assert_eq!(send_some(&mut full, &[1; 10]).unwrap(), 0);
}

#[test]
fn a_reply_is_assembled_from_parts_and_events_sit_between_replies() {
    let mut page = Page::at(1000);
    let mut incoming = Incoming::default();
    let event = reply(MsgType::WatchEvent, 0, b"control/shutdown\0tok\0");
    let long = reply(MsgType::Read, 4, &vec![b'x'; 3000]);
    let mut stream = event.clone();
    stream.extend_from_slice(&long);
    // The server delivers 7 bytes at a time: headers split, payloads too.
    let (mut offset, mut got) = (0, Vec::new());
    while got.len() < 2 {
        if let Some(message) = incoming.poll(&mut page).unwrap() {
            got.push(message);
            continue;
        }
        let end = (offset + 7).min(stream.len());
        offset += page.server_puts(&stream[offset..end]);
    }
    assert_eq!(got[0].0.kind, MsgType::WatchEvent as u32);
    assert_eq!(got[0].1, b"control/shutdown\0tok\0");
    assert_eq!((got[1].0.kind, got[1].0.req_id), (MsgType::Read as u32, 4));
    assert_eq!(got[1].1, vec![b'x'; 3000]);
    assert_eq!(incoming.poll(&mut page).unwrap(), None);
}

#[test]
fn an_empty_payload_is_a_whole_message() {
    let mut page = Page::at(0);
    page.server_puts(&reply(MsgType::Rm, 2, b""));
    let (header, payload) = Incoming::default().poll(&mut page).unwrap().unwrap();
    assert_eq!((header.req_id, payload.len()), (2, 0));
}

#[test]
fn indices_more_than_a_ring_apart_are_an_error_not_an_overrun() {
    let mut page = Page::at(0);
    page.rsp_prod = 5000;
    let mut buf = [0; 16];
    assert_eq!(
        receive_some(&mut page, &mut buf),
        Err(RingError::Corrupt {
            ring: Ring::Response,
            prod: 5000,
            cons: 0
        })
    );
    assert_eq!(page.rsp_cons, 0, "nothing consumed");
    let mut page = Page::at(0);
    page.req_cons = 2000; // the server claims to have read what we never wrote
    assert!(matches!(
        send_some(&mut page, b"abc"),
        Err(RingError::Corrupt {
            ring: Ring::Request,
            ..
        })
    ));
    assert_eq!(page.req_prod, 0, "nothing published");
}

#[test]
fn a_header_claiming_too_long_a_payload_is_refused() {
    let mut page = Page::at(0);
    let mut header = reply(MsgType::Read, 1, b"")[..16].to_vec();
    header[12..16].copy_from_slice(&(PAYLOAD_MAX as u32 + 1).to_le_bytes());
    page.server_puts(&header);
    assert_eq!(
        Incoming::default().poll(&mut page),
        Err(RingError::Wire(WireError::PayloadTooLong(PAYLOAD_MAX + 1)))
    );
}
