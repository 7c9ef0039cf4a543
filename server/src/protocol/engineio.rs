//! Engine.IO v4 packets and their wire codecs: one packet as a WebSocket
//! frame, and the HTTP long-polling payload (packets joined by `\x1e`,
//! binary packets as `b` + base64).
//!
//! Pure functions over bytes: no I/O, no timers, nothing from the rest of the
//! crate. The server in `crate::engineio` decides what a packet means; this
//! module only says what the bytes are, and rejects what they cannot be.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use bytes::Bytes;

/// The byte that separates packets in a long-polling payload.
pub const SEPARATOR: u8 = 0x1e;

/// Standard base64 as written by the official clients (`Buffer`/`btoa`);
/// padding accepted but not required, nothing else tolerated.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The seven Engine.IO packet types, by their wire digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// `0`: handshake data, server to client.
    Open,
    /// `1`: close the session.
    Close,
    /// `2`: heartbeat from the server (`2probe` from the client during an upgrade).
    Ping,
    /// `3`: heartbeat answer from the client (`3probe` from the server).
    Pong,
    /// `4`: application data.
    Message,
    /// `5`: the client switches to the probed WebSocket.
    Upgrade,
    /// `6`: releases a pending poll during an upgrade.
    Noop,
}

impl PacketType {
    /// The ASCII digit that starts a text packet of this type.
    pub fn digit(self) -> u8 {
        match self {
            Self::Open => b'0',
            Self::Close => b'1',
            Self::Ping => b'2',
            Self::Pong => b'3',
            Self::Message => b'4',
            Self::Upgrade => b'5',
            Self::Noop => b'6',
        }
    }

    fn from_digit(digit: u8) -> Option<Self> {
        Some(match digit {
            b'0' => Self::Open,
            b'1' => Self::Close,
            b'2' => Self::Ping,
            b'3' => Self::Pong,
            b'4' => Self::Message,
            b'5' => Self::Upgrade,
            b'6' => Self::Noop,
            _ => return None,
        })
    }
}

/// One decoded Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Handshake JSON.
    Open(String),
    /// Close the session.
    Close,
    /// Heartbeat; the payload is empty or `probe`.
    Ping(String),
    /// Heartbeat answer; the payload is empty or `probe`.
    Pong(String),
    /// A text message (without the `4`).
    Message(String),
    /// A binary message.
    Binary(Bytes),
    /// Finish the upgrade.
    Upgrade,
    /// Nothing.
    Noop,
}

impl Packet {
    /// The packet's type; a binary message is a [`PacketType::Message`].
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Open(_) => PacketType::Open,
            Self::Close => PacketType::Close,
            Self::Ping(_) => PacketType::Ping,
            Self::Pong(_) => PacketType::Pong,
            Self::Message(_) | Self::Binary(_) => PacketType::Message,
            Self::Upgrade => PacketType::Upgrade,
            Self::Noop => PacketType::Noop,
        }
    }
}

/// Why bytes are not a valid packet or payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A packet with no bytes at all (also an empty segment between two separators).
    #[error("empty packet")]
    Empty,
    /// The first byte is not a packet type digit (or `b` in a payload).
    #[error("unknown packet type {0:#04x}")]
    UnknownType(u8),
    /// A text packet or payload that is not UTF-8.
    #[error("packet is not valid UTF-8")]
    InvalidUtf8,
    /// A `b` packet whose data is not base64.
    #[error("binary packet is not valid base64")]
    InvalidBase64,
    /// A payload longer than the allowed maximum.
    #[error("payload of {len} bytes exceeds the {max} byte limit")]
    TooLarge {
        /// Length received.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Decodes one text packet: a WebSocket text frame, or one segment of a
/// polling payload that does not start with `b`.
pub fn decode_text_packet(text: &str) -> Result<Packet, DecodeError> {
    let Some(&first) = text.as_bytes().first() else {
        return Err(DecodeError::Empty);
    };
    let kind = PacketType::from_digit(first).ok_or(DecodeError::UnknownType(first))?;
    // The type digit is ASCII, so index 1 is a char boundary.
    let data = &text[1..];
    Ok(match kind {
        PacketType::Open => Packet::Open(data.to_owned()),
        PacketType::Close => Packet::Close,
        PacketType::Ping => Packet::Ping(data.to_owned()),
        PacketType::Pong => Packet::Pong(data.to_owned()),
        PacketType::Message => Packet::Message(data.to_owned()),
        PacketType::Upgrade => Packet::Upgrade,
        PacketType::Noop => Packet::Noop,
    })
}

/// Decodes a WebSocket binary frame: always a binary message, carried raw.
pub fn decode_binary_frame(data: Bytes) -> Packet {
    Packet::Binary(data)
}

/// Decodes a long-polling payload (an HTTP POST body): packets separated by
/// `\x1e`, binary packets written `b` + base64. All or nothing: one bad
/// packet rejects the whole payload.
pub fn decode_payload(body: &[u8], max_len: usize) -> Result<Vec<Packet>, DecodeError> {
    if body.len() > max_len {
        return Err(DecodeError::TooLarge {
            len: body.len(),
            max: max_len,
        });
    }
    let text = std::str::from_utf8(body).map_err(|_| DecodeError::InvalidUtf8)?;
    // The separator is ASCII, so splitting a str on it keeps UTF-8 intact.
    text.split(char::from(SEPARATOR))
        .map(|segment| match segment.strip_prefix('b') {
            Some(encoded) => {
                let data = BASE64
                    .decode(encoded)
                    .map_err(|_| DecodeError::InvalidBase64)?;
                Ok(Packet::Binary(Bytes::from(data)))
            }
            None => decode_text_packet(segment),
        })
        .collect()
}

/// Encodes a packet as one text packet (type digit + data). `None` for a
/// binary message, which has no text form on WebSocket.
pub fn encode_text_packet(packet: &Packet) -> Option<String> {
    let data = match packet {
        Packet::Open(data) | Packet::Ping(data) | Packet::Pong(data) | Packet::Message(data) => {
            data.as_str()
        }
        Packet::Close | Packet::Upgrade | Packet::Noop => "",
        Packet::Binary(_) => return None,
    };
    let mut out = String::with_capacity(1 + data.len());
    out.push(char::from(packet.packet_type().digit()));
    out.push_str(data);
    Some(out)
}

/// One already-encoded packet to put in a polling payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadItem<'a> {
    /// A text packet, type digit included (e.g. `4hello`, `2`).
    Text(&'a str),
    /// A binary message, written `b` + base64.
    Binary(&'a [u8]),
}

/// Encodes packets as one long-polling payload, in order, joined by `\x1e`.
pub fn encode_payload<'a>(items: impl IntoIterator<Item = PayloadItem<'a>>) -> String {
    let mut out = String::new();
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            out.push(char::from(SEPARATOR));
        }
        match item {
            PayloadItem::Text(text) => out.push_str(text),
            PayloadItem::Binary(data) => {
                out.push('b');
                BASE64.encode_string(data, &mut out);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1_000_000;

    #[test]
    fn decodes_every_text_packet_type() {
        assert_eq!(decode_text_packet("0{}"), Ok(Packet::Open("{}".into())));
        assert_eq!(decode_text_packet("1"), Ok(Packet::Close));
        assert_eq!(decode_text_packet("2"), Ok(Packet::Ping(String::new())));
        assert_eq!(
            decode_text_packet("2probe"),
            Ok(Packet::Ping("probe".into()))
        );
        assert_eq!(
            decode_text_packet("3probe"),
            Ok(Packet::Pong("probe".into()))
        );
        assert_eq!(
            decode_text_packet("4hello"),
            Ok(Packet::Message("hello".into()))
        );
        assert_eq!(decode_text_packet("4"), Ok(Packet::Message(String::new())));
        assert_eq!(decode_text_packet("5"), Ok(Packet::Upgrade));
        assert_eq!(decode_text_packet("6"), Ok(Packet::Noop));
    }

    #[test]
    fn keeps_multibyte_message_text() {
        assert_eq!(
            decode_text_packet("4héllo ✓"),
            Ok(Packet::Message("héllo ✓".into()))
        );
    }

    #[test]
    fn rejects_empty_text_packet() {
        assert_eq!(decode_text_packet(""), Err(DecodeError::Empty));
    }

    #[test]
    fn rejects_unknown_packet_type() {
        assert_eq!(
            decode_text_packet("abc"),
            Err(DecodeError::UnknownType(b'a'))
        );
        assert_eq!(decode_text_packet("7"), Err(DecodeError::UnknownType(b'7')));
        assert_eq!(
            decode_text_packet("9x"),
            Err(DecodeError::UnknownType(b'9'))
        );
        assert_eq!(decode_text_packet("é"), Err(DecodeError::UnknownType(0xc3)));
    }

    #[test]
    fn rejects_base64_prefix_in_a_text_frame() {
        assert_eq!(
            decode_text_packet("bAQID"),
            Err(DecodeError::UnknownType(b'b'))
        );
    }

    #[test]
    fn binary_frame_is_a_binary_message() {
        let data = Bytes::from_static(&[1, 2, 3]);
        assert_eq!(decode_binary_frame(data.clone()), Packet::Binary(data));
    }

    #[test]
    fn decodes_payload_with_text_and_binary() {
        let packets = decode_payload(b"4hello\x1ebAQIDBA==\x1e3\x1e1", MAX).unwrap();
        assert_eq!(
            packets,
            vec![
                Packet::Message("hello".into()),
                Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])),
                Packet::Pong(String::new()),
                Packet::Close,
            ]
        );
    }

    #[test]
    fn decodes_single_packet_payload() {
        assert_eq!(
            decode_payload(b"4hello", MAX),
            Ok(vec![Packet::Message("hello".into())])
        );
    }

    #[test]
    fn decodes_unpadded_base64() {
        assert_eq!(
            decode_payload(b"bAQIDBA", MAX),
            Ok(vec![Packet::Binary(Bytes::from_static(&[1, 2, 3, 4]))])
        );
    }

    #[test]
    fn decodes_empty_binary_packet() {
        assert_eq!(
            decode_payload(b"b", MAX),
            Ok(vec![Packet::Binary(Bytes::new())])
        );
    }

    #[test]
    fn rejects_empty_payload() {
        assert_eq!(decode_payload(b"", MAX), Err(DecodeError::Empty));
    }

    #[test]
    fn rejects_empty_segment_between_separators() {
        assert_eq!(
            decode_payload(b"4a\x1e\x1e4b", MAX),
            Err(DecodeError::Empty)
        );
        assert_eq!(decode_payload(b"4a\x1e", MAX), Err(DecodeError::Empty));
        assert_eq!(
            decode_payload(&[SEPARATOR; 100_000], MAX),
            Err(DecodeError::Empty)
        );
    }

    #[test]
    fn rejects_payload_with_unknown_type() {
        assert_eq!(
            decode_payload(b"abc", MAX),
            Err(DecodeError::UnknownType(b'a'))
        );
        assert_eq!(
            decode_payload(b"4ok\x1exyz", MAX),
            Err(DecodeError::UnknownType(b'x'))
        );
    }

    #[test]
    fn rejects_invalid_base64() {
        assert_eq!(
            decode_payload(b"b!!!", MAX),
            Err(DecodeError::InvalidBase64)
        );
        assert_eq!(
            decode_payload(b"bAQ-_", MAX),
            Err(DecodeError::InvalidBase64)
        );
        assert_eq!(decode_payload(b"bA", MAX), Err(DecodeError::InvalidBase64));
    }

    #[test]
    fn rejects_invalid_utf8_payload() {
        assert_eq!(decode_payload(b"4\xff", MAX), Err(DecodeError::InvalidUtf8));
        // A multibyte character split across two packets.
        assert_eq!(
            decode_payload(b"4\xc3\x1e4\xa9", MAX),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn rejects_payload_over_limit() {
        assert_eq!(
            decode_payload(b"4hello", 5),
            Err(DecodeError::TooLarge { len: 6, max: 5 })
        );
        assert!(decode_payload(b"4hell", 5).is_ok());
    }

    #[test]
    fn encodes_text_packets() {
        assert_eq!(
            encode_text_packet(&Packet::Message("hi".into())).as_deref(),
            Some("4hi")
        );
        assert_eq!(
            encode_text_packet(&Packet::Pong("probe".into())).as_deref(),
            Some("3probe")
        );
        assert_eq!(
            encode_text_packet(&Packet::Ping(String::new())).as_deref(),
            Some("2")
        );
        assert_eq!(encode_text_packet(&Packet::Noop).as_deref(), Some("6"));
        assert_eq!(encode_text_packet(&Packet::Close).as_deref(), Some("1"));
        assert_eq!(
            encode_text_packet(&Packet::Binary(Bytes::from_static(b"x"))),
            None
        );
    }

    #[test]
    fn encodes_payload_like_the_reference() {
        let payload = encode_payload([
            PayloadItem::Text("4hello"),
            PayloadItem::Binary(&[1, 2, 3, 4]),
            PayloadItem::Text("2"),
        ]);
        assert_eq!(payload, "4hello\x1ebAQIDBA==\x1e2");
        assert_eq!(encode_payload([PayloadItem::Text("6")]), "6");
        assert_eq!(encode_payload(std::iter::empty()), "");
    }

    #[test]
    fn binary_payload_starting_with_four_round_trips() {
        // socketioxide once mis-framed a base64 packet whose data began with `4`.
        let data = [b'4', 0, 255];
        let payload = encode_payload([PayloadItem::Binary(&data), PayloadItem::Text("4x")]);
        assert_eq!(
            decode_payload(payload.as_bytes(), MAX),
            Ok(vec![
                Packet::Binary(Bytes::copy_from_slice(&data)),
                Packet::Message("x".into())
            ])
        );
    }

    #[test]
    fn payload_round_trips() {
        let packets = vec![
            Packet::Message("a\u{1F600}".into()),
            Packet::Binary(Bytes::from_static(&[0; 7])),
            Packet::Message(String::new()),
        ];
        let texts: Vec<String> = packets.iter().filter_map(encode_text_packet).collect();
        let payload = encode_payload([
            PayloadItem::Text(&texts[0]),
            PayloadItem::Binary(&[0; 7]),
            PayloadItem::Text(&texts[1]),
        ]);
        assert_eq!(decode_payload(payload.as_bytes(), MAX), Ok(packets));
    }
}
