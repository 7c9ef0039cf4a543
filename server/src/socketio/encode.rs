//! Turns Socket.IO packets into Engine.IO messages for the configured parser,
//! once per packet: a broadcast shares the result among all recipients.
//!
//! Owns [`EncodedPacket`] and the per-thread scratch buffers the encoders
//! write into, so a typed emit allocates only the message the engine keeps.
//! Knows nothing of sockets or namespaces.

use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use super::error::EmitError;
use super::Parser;
use crate::engineio::OutboundMessage;
use crate::protocol::socketio::{is_reserved_event, Packet, PacketBody};
use crate::protocol::{msgpack, socketio as text};

/// A packet encoded for the wire: one Engine.IO message, or a binary packet's
/// header followed by its attachments. Cloning shares the bytes.
#[derive(Debug, Clone)]
pub struct EncodedPacket(Repr);

#[derive(Debug, Clone)]
enum Repr {
    /// The common case: a single message.
    Single(OutboundMessage),
    /// A header and its attachments, to be sent adjacent and in order.
    Multi(Arc<[OutboundMessage]>),
}

impl EncodedPacket {
    fn single(message: OutboundMessage) -> Self {
        Self(Repr::Single(message))
    }

    /// The Engine.IO messages, in wire order.
    pub fn messages(&self) -> &[OutboundMessage] {
        match &self.0 {
            Repr::Single(message) => std::slice::from_ref(message),
            Repr::Multi(messages) => messages,
        }
    }

    /// The single message when the packet is not split in several.
    pub(crate) fn as_single(&self) -> Option<&OutboundMessage> {
        match &self.0 {
            Repr::Single(message) => Some(message),
            Repr::Multi(_) => None,
        }
    }
}

/// Upper bound on the capacity a scratch buffer keeps between uses.
const SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

/// Runs `f` on this thread's cleared scratch buffer (a fresh one if `f`
/// re-enters).
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let result = f(&mut buf);
            if buf.capacity() > SCRATCH_KEEP {
                *buf = Vec::with_capacity(1024);
            }
            result
        }
        Err(_) => f(&mut Vec::new()),
    })
}

fn text_message(buf: &[u8]) -> Result<OutboundMessage, EmitError> {
    let text = std::str::from_utf8(buf).map_err(|e| EmitError::Serialize(e.to_string()))?;
    Ok(OutboundMessage::text(text))
}

/// Checks an event name the server is about to emit.
pub(crate) fn check_event(event: &str) -> Result<(), EmitError> {
    if is_reserved_event(event) {
        return Err(EmitError::ReservedEvent(event.to_owned()));
    }
    Ok(())
}

/// Encodes an EVENT whose arguments come from `data` (a JSON array or a
/// tuple spreads into several arguments).
pub(crate) fn event<T: Serialize + ?Sized>(
    parser: Parser,
    nsp: &str,
    event: &str,
    ack: Option<u64>,
    data: &T,
) -> Result<EncodedPacket, EmitError> {
    check_event(event)?;
    let message = match parser {
        Parser::Json => with_scratch(|buf| {
            text::write_event(buf, nsp, event, ack, data)
                .map_err(|e| EmitError::Serialize(e.to_string()))?;
            text_message(buf)
        })?,
        Parser::MsgPack => {
            let mut buf = Vec::new();
            msgpack::write_event(&mut buf, nsp, event, ack, data)
                .map_err(|e| EmitError::Serialize(e.to_string()))?;
            OutboundMessage::binary(Bytes::from(buf))
        }
    };
    Ok(EncodedPacket::single(message))
}

/// Encodes an EVENT with one argument given as JSON text the caller already
/// encoded (JSON parser only). The text is trusted, not parsed again.
pub(crate) fn event_with_json(
    nsp: &str,
    event: &str,
    json: &str,
) -> Result<EncodedPacket, EmitError> {
    check_event(event)?;
    let name = serde_json::to_string(event).map_err(|e| EmitError::Serialize(e.to_string()))?;
    let mut text = String::with_capacity(4 + nsp.len() + name.len() + json.len());
    text.push('2');
    if nsp != "/" {
        text.push_str(nsp);
        text.push(',');
    }
    text.push('[');
    text.push_str(&name);
    text.push(',');
    text.push_str(json);
    text.push(']');
    Ok(EncodedPacket::single(OutboundMessage::text(&text)))
}

/// Encodes an ACK whose arguments come from `data`, as [`event`] does.
pub(crate) fn ack<T: Serialize + ?Sized>(
    parser: Parser,
    nsp: &str,
    id: u64,
    data: &T,
) -> Result<EncodedPacket, EmitError> {
    let message = match parser {
        Parser::Json => with_scratch(|buf| {
            text::write_ack(buf, nsp, id, data).map_err(|e| EmitError::Serialize(e.to_string()))?;
            text_message(buf)
        })?,
        Parser::MsgPack => {
            let mut buf = Vec::new();
            msgpack::write_ack(&mut buf, nsp, id, data)
                .map_err(|e| EmitError::Serialize(e.to_string()))?;
            OutboundMessage::binary(Bytes::from(buf))
        }
    };
    Ok(EncodedPacket::single(message))
}

/// The header of an event whose one argument is a binary attachment
/// (`451-["event",{"_placeholder":true,"num":0}]` on namespace `/`), with
/// the JSON parser: it is the same for every socket of the namespace, so a
/// sender of many such events encodes it once ([`binary_event`]). `None`
/// with msgpack, whose packet carries the bytes inline.
pub(crate) fn binary_event_header(
    parser: Parser,
    namespace: &str,
    event: &str,
) -> Result<Option<OutboundMessage>, EmitError> {
    check_event(event)?;
    if parser != Parser::Json {
        return Ok(None);
    }
    let body = PacketBody::Event {
        name: event.to_owned(),
        args: crate::protocol::socketio::Args::new().with_binary(Bytes::new()),
        ack: None,
    };
    let encoded = packet(parser, &Packet::new(namespace, body));
    Ok(encoded.messages().first().cloned())
}

/// The event of [`binary_event_header`] with `data` as its attachment.
pub(crate) fn binary_event(header: &OutboundMessage, data: Bytes) -> EncodedPacket {
    EncodedPacket(Repr::Multi(Arc::new([
        header.clone(),
        OutboundMessage::binary(data),
    ])))
}

/// Encodes any packet (the value path: binaries as attachments).
pub(crate) fn packet(parser: Parser, packet: &Packet) -> EncodedPacket {
    match parser {
        Parser::MsgPack => EncodedPacket::single(OutboundMessage::binary(Bytes::from(
            msgpack::encode(packet),
        ))),
        Parser::Json => {
            let head = with_scratch(|buf| {
                let mut text = String::from_utf8(std::mem::take(buf)).unwrap_or_default();
                text::write_packet(&mut text, packet);
                let message = OutboundMessage::text(&text);
                *buf = text.into_bytes();
                message
            });
            let attachments = match &packet.body {
                PacketBody::Event { args, .. } | PacketBody::Ack { args, .. } => args.attachments(),
                _ => &[],
            };
            if attachments.is_empty() {
                return EncodedPacket::single(head);
            }
            let mut messages = Vec::with_capacity(1 + attachments.len());
            messages.push(head);
            messages.extend(attachments.iter().cloned().map(OutboundMessage::binary));
            EncodedPacket(Repr::Multi(messages.into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::socketio::Args;

    fn event_with_binary(parser: Parser, namespace: &str, data: &Bytes) -> EncodedPacket {
        let body = PacketBody::Event {
            name: "snapshot".to_owned(),
            args: Args::new().with_binary(data.clone()),
            ack: None,
        };
        packet(parser, &Packet::new(namespace, body))
    }

    #[test]
    fn a_shared_binary_event_header_encodes_the_same_packet() {
        let data = Bytes::from_static(b"\x01\x02\x03");
        for namespace in ["/", "/admin"] {
            let header = binary_event_header(Parser::Json, namespace, "snapshot")
                .unwrap()
                .expect("the JSON parser has a header");
            let shared = binary_event(&header, data.clone());
            let whole = event_with_binary(Parser::Json, namespace, &data);
            assert_eq!(
                format!("{:?}", shared.messages()),
                format!("{:?}", whole.messages())
            );
            assert_eq!(shared.messages().len(), 2);
        }
        assert!(binary_event_header(Parser::MsgPack, "/", "snapshot")
            .unwrap()
            .is_none());
        assert!(binary_event_header(Parser::Json, "/", "connect").is_err());
    }
}
