//! The fuzzing harnesses: one function per wire decoder, shared by the
//! cargo-fuzz targets (`fuzz_targets/*.rs`) and by the ordinary test suite
//! (`tests/fuzz_corpus.rs` includes this file and replays
//! `server/fuzz/seeds/<target>/` through the same functions on stable Rust).
//!
//! Each harness feeds arbitrary bytes to a decoder and checks that it
//! returns (never panics) and that whatever it accepts survives an encode /
//! decode round trip unchanged. Depends only on `locus` and `bytes`; touches
//! no I/O.

use bytes::Bytes;
use locus::game::binary::{BinarySnapshot, BinaryView};
use locus::protocol::{engineio, msgpack, socketio};

/// The body limit the harnesses decode under (the server's default).
pub const MAX_PAYLOAD: usize = 1_000_000;

/// Separates the messages of one `sio_packet` input (never valid UTF-8, so
/// it cannot occur inside a text message).
pub const MESSAGE_SEPARATOR: u8 = 0xff;

/// Marks a `sio_packet` message as binary (an attachment) when it is the
/// message's first byte; any other message is text (lossy UTF-8).
pub const BINARY_MARKER: u8 = 0x00;

/// One Engine.IO packet as a WebSocket text frame, or as a binary frame.
pub fn eio_packet(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(packet) = engineio::decode_text_packet(text) {
            // `close`, `upgrade` and `noop` ignore trailing data (as the
            // reference parser does), so compare decoded packets.
            let encoded =
                engineio::encode_text_packet(&packet).expect("text packets encode as text");
            assert_eq!(
                engineio::decode_text_packet(&encoded),
                Ok(packet),
                "text packet round trip of {text:?}"
            );
        }
    }
    let packet = engineio::decode_binary_frame(Bytes::copy_from_slice(data));
    assert_eq!(
        packet,
        engineio::Packet::Binary(Bytes::copy_from_slice(data))
    );
}

/// One long-polling POST body (`\x1e`-separated, `b` + base64 binaries).
pub fn eio_payload(data: &[u8]) {
    let Ok(packets) = engineio::decode_payload(data, MAX_PAYLOAD) else {
        return;
    };
    assert!(!packets.is_empty(), "an accepted payload holds a packet");
    let texts: Vec<Option<String>> = packets.iter().map(engineio::encode_text_packet).collect();
    let items = packets
        .iter()
        .zip(&texts)
        .map(|(packet, text)| match (packet, text) {
            (engineio::Packet::Binary(bytes), _) => engineio::PayloadItem::Binary(bytes),
            (_, Some(text)) => engineio::PayloadItem::Text(text),
            (_, None) => unreachable!("only binary packets lack a text form"),
        });
    let again = engineio::encode_payload(items);
    let decoded = engineio::decode_payload(again.as_bytes(), usize::MAX)
        .expect("a re-encoded payload decodes");
    assert_eq!(decoded, packets, "payload round trip");
}

/// A sequence of Socket.IO messages (text packets and binary attachments)
/// through one connection's [`socketio::Decoder`], the attachment
/// reassembly state machine included.
pub fn sio_packet(data: &[u8]) {
    let mut decoder = socketio::Decoder::new(socketio::DEFAULT_MAX_ATTACHMENTS);
    for message in data.split(|b| *b == MESSAGE_SEPARATOR) {
        let progress = match message.split_first() {
            Some((&BINARY_MARKER, rest)) => decoder.feed_binary(Bytes::copy_from_slice(rest)),
            _ => decoder.feed_text(&String::from_utf8_lossy(message)),
        };
        match progress {
            Ok(socketio::Progress::Packet(packet)) => {
                assert!(
                    !decoder.is_reassembling(),
                    "a whole packet leaves nothing pending"
                );
                sio_round_trip(&packet);
            }
            Ok(socketio::Progress::NeedAttachments(n)) => {
                assert!(
                    (1..=socketio::DEFAULT_MAX_ATTACHMENTS).contains(&n),
                    "pending count {n} within the cap"
                );
                assert!(decoder.is_reassembling());
            }
            // A protocol error: the server closes the connection, so a fresh
            // decoder stands for the next connection.
            Err(_) => decoder = socketio::Decoder::new(socketio::DEFAULT_MAX_ATTACHMENTS),
        }
    }
}

fn sio_round_trip(packet: &socketio::Packet) {
    let (text, attachments) = socketio::encode(packet);
    let mut decoder =
        socketio::Decoder::new(attachments.len().max(socketio::DEFAULT_MAX_ATTACHMENTS));
    let mut progress = decoder.feed_text(&text);
    for attachment in attachments.iter().cloned() {
        progress = decoder.feed_binary(attachment);
    }
    let again = match progress {
        Ok(socketio::Progress::Packet(again)) => again,
        other => panic!("re-encoded packet {text:?} does not decode: {other:?}"),
    };
    // serde_json's default float parser is not correctly rounded (its
    // `float_roundtrip` feature is off), so a relayed float may move by an
    // ulp: compare the JSON with that tolerance, everything else exactly.
    let (again_text, again_attachments) = socketio::encode(&again);
    assert_eq!(again_attachments, attachments, "attachments round trip");
    let split = |t: &str| {
        t.find(['[', '{', '"']).map_or((t.to_owned(), None), |i| {
            (t[..i].to_owned(), Some(t[i..].to_owned()))
        })
    };
    let (head, json) = split(&text);
    let (again_head, again_json) = split(&again_text);
    assert_eq!(head, again_head, "packet header round trip of {text:?}");
    let parse = |j: &Option<String>| {
        j.as_deref()
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
    };
    let same = match (parse(&json), parse(&again_json)) {
        (Some(a), Some(b)) => same_json(&a, &b),
        // Not split at the payload (e.g. a `[` inside a namespace): exact.
        _ => json == again_json,
    };
    assert!(same, "socket.io round trip of {text:?} gave {again_text:?}");
}

/// JSON equality, with floats equal within a few ulps.
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
                x == y || (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs())
            }
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((kx, vx), (ky, vy))| kx == ky && same_json(vx, vy))
        }
        _ => a == b,
    }
}

/// One binary message under the msgpack parser.
pub fn msgpack_packet(data: &[u8]) {
    let Ok(packet) = msgpack::decode(&Bytes::copy_from_slice(data)) else {
        return;
    };
    let encoded = msgpack::encode(&packet);
    match msgpack::decode(&Bytes::from(encoded)) {
        Ok(again) => assert_eq!(again, packet, "msgpack round trip"),
        Err(error) => panic!("re-encoded msgpack packet does not decode: {error}"),
    }
}

/// A stream of binary snapshots as one client receives them: each input is
/// a sequence of length-prefixed messages (one length byte, then that many
/// bytes; a short last message takes what is left), decoded into one reused
/// [`BinarySnapshot`] and applied to one [`BinaryView`]. No panic; whatever
/// decodes is the shortest encoding of itself (re-encodes to the same
/// bytes), the reused decode equals a fresh one, and a snapshot the view
/// refuses leaves the view unchanged.
pub fn binary_snapshot(data: &[u8]) {
    let mut reused = BinarySnapshot::default();
    let mut view = BinaryView::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let (message, next) = tail.split_at(usize::from(len).min(tail.len()));
        rest = next;
        let fresh = BinarySnapshot::decode(message);
        let again = reused.decode_into(message);
        assert_eq!(
            again.is_ok(),
            fresh.is_ok(),
            "reused and fresh decode agree"
        );
        let Ok(snapshot) = fresh else { continue };
        assert_eq!(reused, snapshot, "reused decode equals a fresh one");
        assert_eq!(
            snapshot.to_bytes(),
            message,
            "an accepted snapshot re-encodes to its bytes"
        );
        let before = view.clone();
        if view.apply(&snapshot).is_err() {
            assert_eq!(view, before, "a refused snapshot changes nothing");
        }
    }
}
