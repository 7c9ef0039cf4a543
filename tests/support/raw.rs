//! Raw TCP for what HTTP and WebSocket clients are too polite to send:
//! requests as bytes, response heads read byte by byte, hand-built
//! WebSocket frames (masked or not, any opcode, any declared length), and
//! bounded reads until the server closes. Knows HTTP and RFC 6455 framing;
//! nothing of Engine.IO beyond the upgrade path `/socket.io/`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::PATIENCE;

/// Opens a TCP connection to `addr` from the loopback address `from`.
pub async fn connect_from(addr: SocketAddr, from: IpAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(addr).await
}

/// Reads until the peer closes, `limit` bytes arrive, or `PATIENCE` passes.
pub async fn read_until_closed(stream: &mut TcpStream, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while out.len() < limit {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// Everything the server sends until it closes (at most 1 MiB), as text.
pub async fn read_text_until_closed(stream: &mut TcpStream) -> String {
    String::from_utf8_lossy(&read_until_closed(stream, 1 << 20).await).into_owned()
}

/// Reads one HTTP response head (up to the blank line) and returns it.
pub async fn read_head(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !out.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, stream.read(&mut byte)).await {
            Ok(Ok(1)) => out.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends `request` as is on a fresh connection and returns everything the
/// server answers until it closes (requests should say `Connection: close`).
/// Write errors are ignored: the server may close before reading it all.
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("tcp connect");
    let _ = stream.write_all(request).await;
    read_text_until_closed(&mut stream).await
}

/// The status code of a raw HTTP response (0 when there is none).
pub fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A client-to-server WebSocket frame: `first` is FIN/RSV/opcode; masked
/// with a fixed key unless `masked` is false.
pub fn ws_frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x12, 0x34, 0x56, 0x78];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// A raw WebSocket session on the Engine.IO endpoint: handshake done, the
/// `open` packet read. Returns the stream for hand-built frames.
pub async fn raw_websocket(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("tcp connect");
    let request = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "upgrade answered: {head}");
    let (opcode, payload) = read_ws_frame(&mut stream).await.expect("open packet frame");
    assert_eq!(opcode, 1);
    assert!(payload.starts_with(b"0{"), "open packet");
    stream
}

/// Reads one server frame (servers never mask): (opcode, payload), or
/// `None` when the connection ends first.
pub async fn read_ws_frame(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let read = async {
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).await.ok()?;
        let len = match head[1] & 0x7f {
            126 => u64::from(stream.read_u16().await.ok()?),
            127 => stream.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let mut payload = vec![0u8; usize::try_from(len).ok()?.min(1 << 20)];
        stream.read_exact(&mut payload).await.ok()?;
        Some((head[0] & 0x0f, payload))
    };
    tokio::time::timeout(PATIENCE, read).await.ok().flatten()
}

/// Reads frames until the server sends a close frame (returns its status
/// code, if any) or the connection ends (`None`). Panics if the connection
/// stays open past `PATIENCE`.
pub async fn ws_close_code(stream: &mut TcpStream) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let frame = tokio::time::timeout_at(deadline, read_ws_frame(stream))
            .await
            .expect("server closes the connection");
        match frame {
            None => return None,
            Some((8, payload)) => {
                return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))
            }
            Some(_) => continue,
        }
    }
}

/// Waits (bounded) for the connection to end; true if it did.
pub async fn connection_ends(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// A short pause, for tests that must let time pass on a real clock.
pub async fn pause(duration: Duration) {
    tokio::time::sleep(duration).await;
}
