//! Hand-built WebSocket frames against the full server (raw TCP after a
//! real upgrade): reserved bits, unmasked frames, reserved opcodes, bad
//! control frames, invalid UTF-8, a frame header declaring a terabyte, and
//! one message split into 100,000 fragments. Each closes only its own
//! connection; a bystander keeps playing.

mod support;

use support::bystander::*;
use support::raw::*;
use support::server::*;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn frame_violations_close_only_their_connection() {
    let server = LocusServer::start().await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    let long_ping = vec![b'p'; 126];
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("RSV1 set", ws_frame(0xC1, b"40", true), &[1002]),
        ("RSV2 set", ws_frame(0xA1, b"40", true), &[1002]),
        ("RSV3 set", ws_frame(0x91, b"40", true), &[1002]),
        (
            "unmasked client frame",
            ws_frame(0x81, b"40", false),
            &[1002],
        ),
        ("reserved data opcode", ws_frame(0x83, b"40", true), &[1002]),
        (
            "reserved control opcode",
            ws_frame(0x8B, b"", true),
            &[1002],
        ),
        (
            "control frame over 125 bytes",
            ws_frame(0x89, &long_ping, true),
            &[1002],
        ),
        (
            "fragmented control frame",
            ws_frame(0x09, b"x", true),
            &[1002],
        ),
        (
            "continuation without a start",
            ws_frame(0x80, b"40", true),
            &[1002],
        ),
        (
            "invalid UTF-8 text",
            ws_frame(0x81, b"4\xff\xfe", true),
            &[1007],
        ),
    ];
    for (name, frame, codes) in cases {
        let mut stream = raw_websocket(server.addr()).await;
        stream.write_all(&frame).await.unwrap();
        let code = ws_close_code(&mut stream).await;
        assert!(
            code.is_none_or(|c| codes.contains(&c)),
            "{name}: close code {code:?}"
        );
    }
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_frame_header_declaring_a_terabyte_is_refused_unread() {
    let server = LocusServer::start().await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    for first in [0x82u8, 0x81, 0x02] {
        let mut stream = raw_websocket(server.addr()).await;
        let mut header = vec![first, 0x80 | 127];
        header.extend_from_slice(&(1u64 << 40).to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        stream.write_all(&header).await.unwrap();
        let code = ws_close_code(&mut stream).await;
        assert!(
            code.is_none_or(|c| c == 1009 || c == 1002),
            "close code {code:?}"
        );
    }
    bystander.still_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_message_in_100k_fragments_stays_bounded() {
    let server = LocusServer::start_with(|c| c.max_payload = 50_000).await;
    let mut bystander = Bystander::join(&server, "bystander").await;
    let mut stream = raw_websocket(server.addr()).await;
    let mut frames = ws_frame(0x01, b"4", true);
    for _ in 0..99_998 {
        frames.extend(ws_frame(0x00, b"x", true));
    }
    frames.extend(ws_frame(0x80, b"x", true));
    // The server may close before reading it all: write errors are fine.
    let _ = stream.write_all(&frames).await;
    let code = ws_close_code(&mut stream).await;
    assert!(code.is_none_or(|c| c == 1009), "close code {code:?}");
    bystander.still_served(&server).await;
    server.stop().await;
}
