//! Socket.IO v5 packets and the default text codec (the `socket.io-parser`
//! format): `<type>[<attachments>-][<nsp>,][<ackId>][JSON]`, with binary
//! values carried as separate attachments referenced by
//! `{"_placeholder":true,"num":N}` placeholders.
//!
//! Owns the packet model shared by both parsers ([`Packet`], [`Args`]), the
//! strict text decoder with its attachment state machine ([`Decoder`]), and
//! the encoders (value based, and a serde fast path that writes straight into
//! a reusable buffer). Pure: no I/O, nothing from the rest of the crate.
//!
//! The decoder follows the reference parser's rules (Node `socket.io-parser`
//! 4.2.x `decodeString`/`isPayloadValid` plus its CVE fixes) and is stricter
//! where the reference is sloppy (only ASCII digits count as numbers).

use std::fmt::Write as _;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

/// Attachments a binary packet may declare unless configured otherwise (the
/// reference parser's `maxAttachments`).
pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// Event names a client may not use: the reference server reserves them for
/// its own lifecycle events.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whether `name` is one of [`RESERVED_EVENTS`].
pub fn is_reserved_event(name: &str) -> bool {
    RESERVED_EVENTS.contains(&name)
}

/// The seven Socket.IO packet types, with their wire digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PacketType {
    /// Joins a namespace (client), or confirms it (server).
    Connect = 0,
    /// Leaves a namespace.
    Disconnect = 1,
    /// An event: `[name, ...args]`.
    Event = 2,
    /// The reply to an event that asked for one.
    Ack = 3,
    /// The server refused a CONNECT.
    ConnectError = 4,
    /// An event followed by binary attachments.
    BinaryEvent = 5,
    /// An ack followed by binary attachments.
    BinaryAck = 6,
}

impl PacketType {
    /// The type for a wire digit, if it is one.
    pub fn from_digit(digit: u8) -> Option<Self> {
        Some(match digit {
            b'0' => Self::Connect,
            b'1' => Self::Disconnect,
            b'2' => Self::Event,
            b'3' => Self::Ack,
            b'4' => Self::ConnectError,
            b'5' => Self::BinaryEvent,
            b'6' => Self::BinaryAck,
            _ => return None,
        })
    }

    /// The wire digit.
    pub fn digit(self) -> char {
        char::from(b'0' + self as u8)
    }
}

/// The arguments of an EVENT (after its name) or of an ACK.
///
/// Binary values live in `attachments`; the JSON values refer to them with
/// `{"_placeholder":true,"num":N}` objects, exactly as the default parser puts
/// them on the wire. The msgpack codec converts its inline binaries to and
/// from this form, so handlers see one shape whatever the parser.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Args {
    /// The arguments, in order, binaries replaced by placeholders.
    values: Vec<Value>,
    /// The binary values the placeholders point at, by `num`.
    attachments: Vec<Bytes>,
}

impl Args {
    /// No arguments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arguments from JSON values and the binaries their placeholders refer to.
    pub fn from_parts(values: Vec<Value>, attachments: Vec<Bytes>) -> Self {
        Self {
            values,
            attachments,
        }
    }

    /// Appends a JSON argument.
    pub fn push(&mut self, value: Value) -> &mut Self {
        self.values.push(value);
        self
    }

    /// Appends a binary argument (sent as an attachment).
    pub fn push_binary(&mut self, data: Bytes) -> &mut Self {
        let value = self.attach(data);
        self.values.push(value);
        self
    }

    /// Stores `data` as the next attachment and returns the placeholder that
    /// refers to it, to place anywhere inside an argument.
    pub fn attach(&mut self, data: Bytes) -> Value {
        let num = self.attachments.len();
        self.attachments.push(data);
        placeholder(num)
    }

    /// Builder form of [`Args::push`].
    pub fn with(mut self, value: Value) -> Self {
        self.values.push(value);
        self
    }

    /// Builder form of [`Args::push_binary`].
    pub fn with_binary(mut self, data: Bytes) -> Self {
        self.push_binary(data);
        self
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Argument `index`, binaries shown as placeholders.
    pub fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(index)
    }

    /// All arguments, binaries shown as placeholders.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Deserializes argument `index` into `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(
        &self,
        index: usize,
    ) -> Result<T, serde_json::Error> {
        match self.values.get(index) {
            Some(value) => T::deserialize(value),
            None => T::deserialize(Value::Null),
        }
    }

    /// Argument `index` when it is a binary value.
    pub fn binary(&self, index: usize) -> Option<&Bytes> {
        let num = placeholder_num(self.values.get(index)?)?.ok()?;
        self.attachments.get(usize::try_from(num).ok()?)
    }

    /// The binary attachments, by placeholder `num`.
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// The JSON values and the attachments.
    pub fn into_parts(self) -> (Vec<Value>, Vec<Bytes>) {
        (self.values, self.attachments)
    }
}

impl From<Vec<Value>> for Args {
    fn from(values: Vec<Value>) -> Self {
        Self {
            values,
            attachments: Vec::new(),
        }
    }
}

/// The placeholder object for attachment `num`, keys in the reference order.
pub fn placeholder(num: usize) -> Value {
    let mut map = Map::with_capacity(2);
    map.insert("_placeholder".to_owned(), Value::Bool(true));
    map.insert("num".to_owned(), Value::from(num));
    Value::Object(map)
}

/// `None` when `value` is not a placeholder (no `"_placeholder": true`);
/// otherwise its `num`, or `Err` when `num` is not a non-negative integer.
pub fn placeholder_num(value: &Value) -> Option<Result<u64, ()>> {
    let map = value.as_object()?;
    if map.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    Some(map.get("num").and_then(Value::as_u64).ok_or(()))
}

/// What a packet carries, by type.
#[derive(Debug, Clone, PartialEq)]
pub enum PacketBody {
    /// CONNECT. From a client: the `auth` object, if any. From the server:
    /// `{"sid": ...}`.
    Connect(Option<Map<String, Value>>),
    /// DISCONNECT (no payload).
    Disconnect,
    /// EVENT or BINARY_EVENT (binary when `args` has attachments).
    Event {
        /// The event name (a numeric name is given in its decimal form).
        name: String,
        /// The arguments after the name.
        args: Args,
        /// The ack id when the sender wants a reply.
        ack: Option<u64>,
    },
    /// ACK or BINARY_ACK (binary when `args` has attachments).
    Ack {
        /// The id of the event being answered.
        id: u64,
        /// The reply arguments.
        args: Args,
    },
    /// CONNECT_ERROR: `{"message", "data"?}` (a bare string is accepted too).
    ConnectError(Value),
}

/// One Socket.IO packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The namespace, `/` for the main one.
    pub nsp: String,
    /// Type and payload.
    pub body: PacketBody,
}

impl Packet {
    /// A packet for namespace `nsp`.
    pub fn new(nsp: impl Into<String>, body: PacketBody) -> Self {
        Self {
            nsp: nsp.into(),
            body,
        }
    }

    /// The wire type this packet encodes to.
    pub fn packet_type(&self) -> PacketType {
        match &self.body {
            PacketBody::Connect(_) => PacketType::Connect,
            PacketBody::Disconnect => PacketType::Disconnect,
            PacketBody::Event { args, .. } if args.attachments.is_empty() => PacketType::Event,
            PacketBody::Event { .. } => PacketType::BinaryEvent,
            PacketBody::Ack { args, .. } if args.attachments.is_empty() => PacketType::Ack,
            PacketBody::Ack { .. } => PacketType::BinaryAck,
            PacketBody::ConnectError(_) => PacketType::ConnectError,
        }
    }

    /// The server's CONNECT reply: exactly `{"sid":...}`.
    pub fn connect_reply(nsp: impl Into<String>, sid: &str) -> Self {
        let mut map = Map::with_capacity(1);
        map.insert("sid".to_owned(), Value::String(sid.to_owned()));
        Self::new(nsp, PacketBody::Connect(Some(map)))
    }

    /// A CONNECT_ERROR `{"message", "data"?}` (`data` omitted when `None`).
    pub fn connect_error(nsp: impl Into<String>, message: &str, data: Option<Value>) -> Self {
        let mut map = Map::with_capacity(2);
        map.insert("message".to_owned(), Value::String(message.to_owned()));
        if let Some(data) = data {
            map.insert("data".to_owned(), data);
        }
        Self::new(nsp, PacketBody::ConnectError(Value::Object(map)))
    }
}

/// Why a packet was refused. Every variant means the peer broke the
/// protocol; the reference server closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// An empty message.
    #[error("empty packet")]
    Empty,
    /// The first character is not a packet type 0-6.
    #[error("unknown packet type")]
    UnknownType,
    /// The attachment count is missing, not an integer, or not followed by `-`.
    #[error("illegal attachments")]
    IllegalAttachments,
    /// A binary packet declaring no attachment at all.
    #[error("binary packet without attachments")]
    ZeroAttachments,
    /// More attachments than allowed.
    #[error("too many attachments (max {max})")]
    TooManyAttachments {
        /// The configured maximum.
        max: usize,
    },
    /// The ack id does not fit in 64 bits.
    #[error("invalid ack id")]
    InvalidAckId,
    /// The JSON part does not parse.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The payload has the wrong shape for the packet type.
    #[error("invalid payload: {0}")]
    InvalidPayload(&'static str),
    /// The event name is one of [`RESERVED_EVENTS`].
    #[error("reserved event name {0:?}")]
    ReservedEventName(String),
    /// A placeholder whose `num` is not an integer below the attachment count.
    #[error("illegal attachment placeholder")]
    IllegalPlaceholder,
    /// A binary message while no binary packet awaits attachments.
    #[error("unexpected binary message")]
    UnexpectedBinary,
    /// A text message while a binary packet still awaits attachments.
    #[error("text message while attachments are pending")]
    UnexpectedText,
    /// A malformed msgpack packet (msgpack parser only).
    #[error("invalid msgpack: {0}")]
    InvalidMsgpack(String),
}

/// The outcome of feeding one message to a [`Decoder`].
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A whole packet.
    Packet(Packet),
    /// A binary packet still needs this many attachments.
    NeedAttachments(usize),
}

/// A binary packet waiting for its attachments.
#[derive(Debug)]
struct Pending {
    /// The packet, its args holding no attachments yet.
    packet: Packet,
    /// How many attachments the header declared.
    expected: usize,
    /// The attachments received so far.
    received: Vec<Bytes>,
}

/// The default parser's decoder: text packets, and the binary attachments
/// that follow a BINARY_EVENT / BINARY_ACK header. One per connection.
#[derive(Debug)]
pub struct Decoder {
    /// The largest attachment count accepted.
    max_attachments: usize,
    /// The binary packet being reassembled, if any.
    pending: Option<Pending>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ATTACHMENTS)
    }
}

impl Decoder {
    /// A decoder that accepts at most `max_attachments` per packet.
    pub fn new(max_attachments: usize) -> Self {
        Self {
            max_attachments,
            pending: None,
        }
    }

    /// Whether a binary packet is waiting for attachments.
    pub fn is_reassembling(&self) -> bool {
        self.pending.is_some()
    }

    /// Feeds a text message.
    pub fn feed_text(&mut self, text: &str) -> Result<Progress, ParseError> {
        if self.pending.is_some() {
            self.pending = None;
            return Err(ParseError::UnexpectedText);
        }
        let header = decode_text(text, self.max_attachments)?;
        if header.attachments == 0 {
            return Ok(Progress::Packet(header.packet));
        }
        let expected = header.attachments;
        self.pending = Some(Pending {
            packet: header.packet,
            expected,
            received: Vec::with_capacity(expected),
        });
        Ok(Progress::NeedAttachments(expected))
    }

    /// Feeds a binary message (an attachment).
    pub fn feed_binary(&mut self, data: Bytes) -> Result<Progress, ParseError> {
        let Some(pending) = self.pending.as_mut() else {
            return Err(ParseError::UnexpectedBinary);
        };
        pending.received.push(data);
        if pending.received.len() < pending.expected {
            return Ok(Progress::NeedAttachments(
                pending.expected - pending.received.len(),
            ));
        }
        let Pending {
            mut packet,
            received,
            ..
        } = self.pending.take().expect("checked above");
        match &mut packet.body {
            PacketBody::Event { args, .. } | PacketBody::Ack { args, .. } => {
                args.attachments = received
            }
            _ => unreachable!("only events and acks carry attachments"),
        }
        Ok(Progress::Packet(packet))
    }
}

/// A decoded text packet and the number of attachments it still awaits.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The packet (binary packets without their attachments yet).
    pub packet: Packet,
    /// Attachments to collect before the packet is whole (0 when not binary).
    pub attachments: usize,
}

/// Decodes one text packet. Binary packets come back without attachments and
/// with `attachments` > 0; use [`Decoder`] to collect them.
pub fn decode_text(text: &str, max_attachments: usize) -> Result<Header, ParseError> {
    let bytes = text.as_bytes();
    let first = *bytes.first().ok_or(ParseError::Empty)?;
    let kind = PacketType::from_digit(first).ok_or(ParseError::UnknownType)?;
    let mut i = 1;

    let mut attachments = 0;
    if matches!(kind, PacketType::BinaryEvent | PacketType::BinaryAck) {
        let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || bytes.get(i + digits) != Some(&b'-') {
            return Err(ParseError::IllegalAttachments);
        }
        // Any count past the maximum is refused, so a digit run longer than
        // the maximum's own is too many whatever its value.
        let count =
            parse_decimal(&bytes[i..i + digits]).map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        match count {
            Some(0) => return Err(ParseError::ZeroAttachments),
            Some(n) if n <= max_attachments => attachments = n,
            _ => {
                return Err(ParseError::TooManyAttachments {
                    max: max_attachments,
                })
            }
        }
        i += digits + 1;
    }

    let nsp = if bytes.get(i) == Some(&b'/') {
        let end = bytes[i..]
            .iter()
            .position(|&b| b == b',')
            .map_or(bytes.len(), |p| i + p);
        let nsp = &text[i..end];
        i = (end + 1).min(bytes.len());
        nsp
    } else {
        "/"
    };

    let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    let id = if digits > 0 {
        let id = parse_decimal(&bytes[i..i + digits]).ok_or(ParseError::InvalidAckId)?;
        i += digits;
        Some(id)
    } else {
        None
    };

    let json = &text[i..];
    let data = if json.is_empty() {
        None
    } else {
        Some(
            serde_json::from_str::<Value>(json)
                .map_err(|e| ParseError::InvalidJson(e.to_string()))?,
        )
    };

    let body = match kind {
        PacketType::Connect => match data {
            None => PacketBody::Connect(None),
            Some(Value::Object(map)) => PacketBody::Connect(Some(map)),
            Some(_) => {
                return Err(ParseError::InvalidPayload(
                    "CONNECT payload must be an object",
                ))
            }
        },
        PacketType::Disconnect => match data {
            None => PacketBody::Disconnect,
            Some(_) => return Err(ParseError::InvalidPayload("DISCONNECT carries no payload")),
        },
        PacketType::ConnectError => match data {
            Some(value @ (Value::Object(_) | Value::String(_))) => PacketBody::ConnectError(value),
            _ => {
                return Err(ParseError::InvalidPayload(
                    "CONNECT_ERROR payload must be an object or a string",
                ))
            }
        },
        PacketType::Event | PacketType::BinaryEvent => {
            let Some(Value::Array(values)) = data else {
                return Err(ParseError::InvalidPayload("EVENT payload must be an array"));
            };
            let (name, values) = split_event(values)?;
            check_placeholders(&values, attachments)?;
            PacketBody::Event {
                name,
                args: Args::from(values),
                ack: id,
            }
        }
        PacketType::Ack | PacketType::BinaryAck => {
            let Some(Value::Array(values)) = data else {
                return Err(ParseError::InvalidPayload("ACK payload must be an array"));
            };
            let id = id.ok_or(ParseError::InvalidPayload("ACK without an id"))?;
            check_placeholders(&values, attachments)?;
            PacketBody::Ack {
                id,
                args: Args::from(values),
            }
        }
    };
    Ok(Header {
        packet: Packet {
            nsp: nsp.to_owned(),
            body,
        },
        attachments,
    })
}

/// Splits `[name, ...args]`, checking the name.
pub(crate) fn split_event(mut values: Vec<Value>) -> Result<(String, Vec<Value>), ParseError> {
    if values.is_empty() {
        return Err(ParseError::InvalidPayload(
            "EVENT payload must not be empty",
        ));
    }
    let name = match values.remove(0) {
        Value::String(name) => name,
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(ParseError::InvalidPayload(
                "event name must be a string or a number",
            ))
        }
    };
    if is_reserved_event(&name) {
        return Err(ParseError::ReservedEventName(name));
    }
    Ok((name, values))
}

/// Checks every placeholder refers to one of `attachments` (CVE-2022-2421).
/// Packets without attachments keep placeholder-like objects as plain data,
/// as the reference does.
fn check_placeholders(values: &[Value], attachments: usize) -> Result<(), ParseError> {
    if attachments == 0 {
        return Ok(());
    }
    fn walk(value: &Value, attachments: u64) -> Result<(), ParseError> {
        match placeholder_num(value) {
            Some(Ok(num)) if num < attachments => return Ok(()),
            Some(_) => return Err(ParseError::IllegalPlaceholder),
            None => {}
        }
        match value {
            Value::Array(items) => items.iter().try_for_each(|v| walk(v, attachments)),
            Value::Object(map) => map.values().try_for_each(|v| walk(v, attachments)),
            _ => Ok(()),
        }
    }
    let attachments = attachments as u64;
    values.iter().try_for_each(|v| walk(v, attachments))
}

/// A run of ASCII digits as a number, `None` on overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Encodes a packet: the text message, then the attachments to send right
/// after it, in order.
pub fn encode(packet: &Packet) -> (String, Vec<Bytes>) {
    let mut out = String::new();
    write_packet(&mut out, packet);
    let attachments = match &packet.body {
        PacketBody::Event { args, .. } | PacketBody::Ack { args, .. } => args.attachments.clone(),
        _ => Vec::new(),
    };
    (out, attachments)
}

/// Appends the text message of `packet` to `out` (attachments not included).
pub fn write_packet(out: &mut String, packet: &Packet) {
    let ack_id = match &packet.body {
        PacketBody::Event { ack, .. } => *ack,
        PacketBody::Ack { id, .. } => Some(*id),
        _ => None,
    };
    let attachments = match &packet.body {
        PacketBody::Event { args, .. } | PacketBody::Ack { args, .. } => args.attachments.len(),
        _ => 0,
    };
    write_header(out, packet.packet_type(), attachments, &packet.nsp, ack_id);
    match &packet.body {
        PacketBody::Connect(None) | PacketBody::Disconnect => {}
        PacketBody::Connect(Some(map)) => write_json(out, map),
        PacketBody::ConnectError(value) => write_json(out, value),
        PacketBody::Event { name, args, .. } => {
            out.push('[');
            write_json(out, name);
            for value in &args.values {
                out.push(',');
                write_json(out, value);
            }
            out.push(']');
        }
        PacketBody::Ack { args, .. } => write_json(out, &args.values),
    }
}

/// Appends `<type>[<n>-][<nsp>,][<id>]`.
fn write_header(
    out: &mut String,
    kind: PacketType,
    attachments: usize,
    nsp: &str,
    id: Option<u64>,
) {
    out.push(kind.digit());
    if matches!(kind, PacketType::BinaryEvent | PacketType::BinaryAck) {
        let _ = write!(out, "{attachments}-");
    }
    if nsp != "/" {
        out.push_str(nsp);
        out.push(',');
    }
    if let Some(id) = id {
        let _ = write!(out, "{id}");
    }
}

/// Appends compact JSON (as `JSON.stringify` writes it).
fn write_json<T: Serialize + ?Sized>(out: &mut String, value: &T) {
    // Serializing a `Value`, a map or a string cannot fail.
    let json = serde_json::to_string(value).unwrap_or_default();
    out.push_str(&json);
}

/// Appends to `out` the text EVENT packet `[event, ...args]`, where the
/// arguments come from `data`: a value serializing to a JSON array gives one
/// argument per element (so a tuple is several arguments), anything else is
/// one argument; wrap a list in a 1-tuple to send it as a single argument.
///
/// The fast path for typed emits: no intermediate [`Value`].
pub fn write_event<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    nsp: &str,
    event: &str,
    ack: Option<u64>,
    data: &T,
) -> Result<(), serde_json::Error> {
    write_bytes_header(out, PacketType::Event, nsp, ack);
    out.push(b'[');
    serde_json::to_writer(&mut *out, event)?;
    out.push(b',');
    write_spread(out, data)
}

/// Appends to `out` the text ACK packet for `id`, arguments from `data` as in
/// [`write_event`].
pub fn write_ack<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    nsp: &str,
    id: u64,
    data: &T,
) -> Result<(), serde_json::Error> {
    write_bytes_header(out, PacketType::Ack, nsp, Some(id));
    out.push(b'[');
    write_spread(out, data)
}

/// Writes `data` after an open `[` (and a `,` when arguments precede it),
/// spreading a JSON array into the enclosing one, then closes it.
fn write_spread<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    data: &T,
) -> Result<(), serde_json::Error> {
    let start = out.len();
    serde_json::to_writer(&mut *out, data)?;
    if out.get(start) != Some(&b'[') {
        out.push(b']');
        return Ok(());
    }
    if out.len() == start + 2 {
        // `[]`: no arguments. Drop it and the separator before it, if any.
        out.truncate(start);
        if out.last() == Some(&b',') {
            out.pop();
        }
        out.push(b']');
    } else {
        // `[a,b]`: drop the opening bracket; the closing one ends the packet.
        out.remove(start);
    }
    Ok(())
}

fn write_bytes_header(out: &mut Vec<u8>, kind: PacketType, nsp: &str, id: Option<u64>) {
    out.push(kind.digit() as u8);
    if nsp != "/" {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        let _ = std::io::Write::write_fmt(out, format_args!("{id}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(text: &str) -> Result<Packet, ParseError> {
        let header = decode_text(text, DEFAULT_MAX_ATTACHMENTS)?;
        assert_eq!(header.attachments, 0, "{text} is binary");
        Ok(header.packet)
    }

    fn event(nsp: &str, name: &str, values: Vec<Value>, ack: Option<u64>) -> Packet {
        Packet::new(
            nsp,
            PacketBody::Event {
                name: name.into(),
                args: values.into(),
                ack,
            },
        )
    }

    fn text_of(packet: &Packet) -> String {
        encode(packet).0
    }

    #[test]
    fn decodes_connect_forms() {
        assert_eq!(
            decode("0").unwrap(),
            Packet::new("/", PacketBody::Connect(None))
        );
        assert_eq!(
            decode("0/custom").unwrap(),
            Packet::new("/custom", PacketBody::Connect(None))
        );
        assert_eq!(
            decode("0/custom,").unwrap(),
            Packet::new("/custom", PacketBody::Connect(None))
        );
        let p = decode(r#"0/admin,{"token":"123"}"#).unwrap();
        let PacketBody::Connect(Some(map)) = p.body else {
            panic!()
        };
        assert_eq!(p.nsp, "/admin");
        assert_eq!(map["token"], "123");
        let p = decode(r#"0{"token":"abc"}"#).unwrap();
        assert_eq!(p.nsp, "/");
    }

    #[test]
    fn decodes_events_and_acks() {
        assert_eq!(
            decode(r#"2["foo"]"#).unwrap(),
            event("/", "foo", vec![], None)
        );
        assert_eq!(
            decode(r#"2/admin,["bar"]"#).unwrap(),
            event("/admin", "bar", vec![], None)
        );
        assert_eq!(
            decode(r#"212["foo"]"#).unwrap(),
            event("/", "foo", vec![], Some(12))
        );
        assert_eq!(
            decode(r#"2456["message-with-ack",1,"2",{"3":[false]}]"#).unwrap(),
            event(
                "/",
                "message-with-ack",
                vec![json!(1), json!("2"), json!({"3":[false]})],
                Some(456)
            )
        );
        assert_eq!(
            decode("2[42,1]").unwrap(),
            event("/", "42", vec![json!(1)], None)
        );
        assert_eq!(
            decode(r#"3/admin,13["bar"]"#).unwrap(),
            Packet::new(
                "/admin",
                PacketBody::Ack {
                    id: 13,
                    args: vec![json!("bar")].into()
                }
            )
        );
        assert_eq!(
            decode("35[]").unwrap(),
            Packet::new(
                "/",
                PacketBody::Ack {
                    id: 5,
                    args: Args::new()
                }
            )
        );
        assert_eq!(
            decode("1/admin,").unwrap(),
            Packet::new("/admin", PacketBody::Disconnect)
        );
        assert_eq!(
            decode("1").unwrap(),
            Packet::new("/", PacketBody::Disconnect)
        );
        assert_eq!(
            decode(r#"4{"message":"Not authorized"}"#).unwrap().body,
            PacketBody::ConnectError(json!({"message":"Not authorized"}))
        );
        assert_eq!(
            decode(r#"4"oops""#).unwrap().body,
            PacketBody::ConnectError(json!("oops"))
        );
        // Placeholder-like objects in a plain EVENT are plain data.
        let p = decode(r#"2["x",{"_placeholder":true,"num":"splice"}]"#).unwrap();
        let PacketBody::Event { args, .. } = p.body else {
            panic!()
        };
        assert_eq!(args.binary(0), None);
    }

    #[test]
    fn encodes_reference_examples() {
        assert_eq!(text_of(&Packet::new("/", PacketBody::Connect(None))), "0");
        assert_eq!(
            text_of(&Packet::connect_reply("/admin", "oSO0")),
            r#"0/admin,{"sid":"oSO0"}"#
        );
        assert_eq!(text_of(&Packet::connect_reply("/", "x")), r#"0{"sid":"x"}"#);
        assert_eq!(
            text_of(&Packet::connect_error("/random", "Invalid namespace", None)),
            r#"4/random,{"message":"Invalid namespace"}"#
        );
        assert_eq!(
            text_of(&Packet::connect_error("/", "no", Some(json!({"a":1})))),
            r#"4{"message":"no","data":{"a":1}}"#
        );
        assert_eq!(text_of(&event("/", "foo", vec![], None)), r#"2["foo"]"#);
        assert_eq!(
            text_of(&event("/admin", "bar", vec![], None)),
            r#"2/admin,["bar"]"#
        );
        assert_eq!(
            text_of(&event("/", "foo", vec![], Some(12))),
            r#"212["foo"]"#
        );
        assert_eq!(
            text_of(&Packet::new(
                "/admin",
                PacketBody::Ack {
                    id: 13,
                    args: vec![json!("bar")].into()
                }
            )),
            r#"3/admin,13["bar"]"#
        );
        assert_eq!(
            text_of(&Packet::new("/admin", PacketBody::Disconnect)),
            "1/admin,"
        );
        assert_eq!(text_of(&Packet::new("/", PacketBody::Disconnect)), "1");
    }

    #[test]
    fn encodes_binary_packets_with_placeholders() {
        let args = Args::new()
            .with(json!("a"))
            .with_binary(Bytes::from_static(&[1, 2, 3]));
        let p = Packet::new(
            "/admin",
            PacketBody::Event {
                name: "baz".into(),
                args: args.clone(),
                ack: None,
            },
        );
        let (text, bins) = encode(&p);
        assert_eq!(
            text,
            r#"51-/admin,["baz","a",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(bins, vec![Bytes::from_static(&[1, 2, 3])]);
        let p = Packet::new("/", PacketBody::Ack { id: 15, args });
        assert_eq!(encode(&p).0, r#"61-15["a",{"_placeholder":true,"num":0}]"#);
    }

    #[test]
    fn reassembles_binary_event() {
        let mut d = Decoder::default();
        let header = r#"52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
        assert_eq!(d.feed_text(header).unwrap(), Progress::NeedAttachments(2));
        assert!(d.is_reassembling());
        assert_eq!(
            d.feed_binary(Bytes::from_static(&[1, 2, 3])).unwrap(),
            Progress::NeedAttachments(1)
        );
        let Progress::Packet(p) = d.feed_binary(Bytes::from_static(&[4, 5, 6])).unwrap() else {
            panic!()
        };
        assert!(!d.is_reassembling());
        let PacketBody::Event { name, args, ack } = &p.body else {
            panic!()
        };
        assert_eq!((name.as_str(), *ack), ("message-with-ack", Some(789)));
        assert_eq!(args.binary(0).unwrap().as_ref(), &[1, 2, 3]);
        assert_eq!(args.binary(1).unwrap().as_ref(), &[4, 5, 6]);
        // Re-encoding as an ack gives the reference reply.
        let reply = Packet::new(
            "/",
            PacketBody::Ack {
                id: 789,
                args: args.clone(),
            },
        );
        let (text, bins) = encode(&reply);
        assert_eq!(
            text,
            r#"62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
        );
        assert_eq!(bins.len(), 2);
    }

    #[test]
    fn placeholders_may_be_nested_and_carry_extra_keys() {
        let mut d = Decoder::default();
        let header = r#"51-["x",{"a":[{"_placeholder":true,"num":0,"extra":1}]}]"#;
        assert_eq!(d.feed_text(header).unwrap(), Progress::NeedAttachments(1));
        assert!(matches!(
            d.feed_binary(Bytes::new()).unwrap(),
            Progress::Packet(_)
        ));
    }

    #[test]
    fn round_trips() {
        let packets = [
            Packet::new("/", PacketBody::Connect(None)),
            Packet::connect_reply("/chat", "abc"),
            Packet::new("/chat", PacketBody::Disconnect),
            event(
                "/",
                "e",
                vec![json!({"z":1,"a":[1.5,null,"\u{1}"]})],
                Some(0),
            ),
            Packet::new(
                "/x",
                PacketBody::Ack {
                    id: u64::MAX,
                    args: vec![json!(true)].into(),
                },
            ),
            Packet::connect_error("/", "m", Some(json!([1]))),
        ];
        for p in packets {
            let text = text_of(&p);
            assert_eq!(decode(&text).unwrap(), p, "{text}");
        }
    }

    #[test]
    fn keeps_key_order_like_json_stringify() {
        let p = decode(r#"2["m",{"z":1,"a":2,"m":{"y":[],"b":"\n"}}]"#).unwrap();
        assert_eq!(text_of(&p), r#"2["m",{"z":1,"a":2,"m":{"y":[],"b":"\n"}}]"#);
    }

    #[test]
    fn typed_fast_path_spreads_arrays_and_tuples() {
        let mut out = Vec::new();
        write_event(&mut out, "/", "e", None, &(1, "2", json!({"3":[true]}))).unwrap();
        assert_eq!(out, br#"2["e",1,"2",{"3":[true]}]"#);
        out.clear();
        write_event(&mut out, "/c", "e", Some(7), &json!({"k":[1]})).unwrap();
        assert_eq!(out, br#"2/c,7["e",{"k":[1]}]"#);
        out.clear();
        write_event(&mut out, "/", "e", None, &()).unwrap();
        assert_eq!(out, br#"2["e",null]"#);
        out.clear();
        write_event(&mut out, "/", "e", None, &Vec::<u8>::new()).unwrap();
        assert_eq!(out, br#"2["e"]"#);
        out.clear();
        write_event(&mut out, "/", "e", None, &(vec![1, 2],)).unwrap();
        assert_eq!(out, br#"2["e",[1,2]]"#);
        out.clear();
        write_ack(&mut out, "/", 3, &()).unwrap();
        assert_eq!(out, br#"33[null]"#);
        out.clear();
        write_ack(&mut out, "/n", 3, &[0u8; 0]).unwrap();
        assert_eq!(out, br#"3/n,3[]"#);
        out.clear();
        write_ack(&mut out, "/", 3, &("a", 2)).unwrap();
        assert_eq!(out, br#"33["a",2]"#);
    }

    fn err(text: &str) -> ParseError {
        decode_text(text, DEFAULT_MAX_ATTACHMENTS).expect_err(text)
    }

    #[test]
    fn rejects_empty_packet() {
        assert_eq!(err(""), ParseError::Empty);
    }

    #[test]
    fn rejects_unknown_packet_type() {
        assert_eq!(err("abc"), ParseError::UnknownType);
        assert_eq!(err("7"), ParseError::UnknownType);
        assert_eq!(err("999"), ParseError::UnknownType);
        assert_eq!(err("/1"), ParseError::UnknownType);
    }

    #[test]
    fn rejects_non_array_event_payload() {
        assert!(matches!(err("2{}"), ParseError::InvalidPayload(_)));
        assert!(matches!(
            err(r#"2/admin,{}"#),
            ParseError::InvalidPayload(_)
        ));
        assert!(matches!(
            err(r#"2/admin,"invalid"#),
            ParseError::InvalidJson(_)
        ));
        assert!(matches!(err("2[]"), ParseError::InvalidPayload(_)));
        assert!(matches!(err("2"), ParseError::InvalidPayload(_)));
        assert!(matches!(err("25"), ParseError::InvalidPayload(_)));
    }

    #[test]
    fn rejects_non_string_event_name() {
        assert!(matches!(
            err(r#"2[{"toString":"foo"}]"#),
            ParseError::InvalidPayload(_)
        ));
        assert!(matches!(
            err(r#"2[true,"foo"]"#),
            ParseError::InvalidPayload(_)
        ));
        assert!(matches!(
            err(r#"2[null,"bar"]"#),
            ParseError::InvalidPayload(_)
        ));
        assert!(matches!(err(r#"2[["a"]]"#), ParseError::InvalidPayload(_)));
    }

    #[test]
    fn rejects_reserved_event_name() {
        for name in RESERVED_EVENTS {
            assert_eq!(
                err(&format!(r#"2["{name}"]"#)),
                ParseError::ReservedEventName(name.into())
            );
        }
        assert_eq!(
            err(r#"2["disconnect","123"]"#),
            ParseError::ReservedEventName("disconnect".into())
        );
        assert!(matches!(
            err(r#"51-["connect",{"_placeholder":true,"num":0}]"#),
            ParseError::ReservedEventName(_)
        ));
        // `error` is not reserved for the parser: the server layer keeps it harmless.
        assert!(decode(r#"2["error"]"#).is_ok());
    }

    #[test]
    fn rejects_invalid_json() {
        assert!(matches!(
            err(r#"442["some","data""#),
            ParseError::InvalidJson(_)
        ));
        assert!(matches!(
            err(r#"2["a"] trailing"#),
            ParseError::InvalidJson(_)
        ));
        assert!(matches!(err(r#"2['a']"#), ParseError::InvalidJson(_)));
    }

    #[test]
    fn rejects_invalid_ack_id() {
        assert!(matches!(
            err(r#"2abc["message-with-ack",1]"#),
            ParseError::InvalidJson(_)
        ));
        assert_eq!(
            err(r#"299999999999999999999999["move",{}]"#),
            ParseError::InvalidAckId
        );
        assert!(matches!(err(r#"2-1["m"]"#), ParseError::InvalidJson(_)));
        assert!(decode(r#"218446744073709551615["m"]"#).is_ok());
        assert_eq!(
            err(r#"218446744073709551616["m"]"#),
            ParseError::InvalidAckId
        );
    }

    #[test]
    fn rejects_ack_without_array_or_id() {
        assert!(matches!(err(r#"31{}"#), ParseError::InvalidPayload(_)));
        assert!(matches!(err("31"), ParseError::InvalidPayload(_)));
        assert!(matches!(err("3[]"), ParseError::InvalidPayload(_)));
    }

    #[test]
    fn rejects_non_object_connect_payload() {
        assert!(matches!(
            err(r#"0/admin,"invalid""#),
            ParseError::InvalidPayload(_)
        ));
        assert!(matches!(err("0[]"), ParseError::InvalidPayload(_)));
        assert!(matches!(err("0null"), ParseError::InvalidPayload(_)));
        // An id on a CONNECT means nothing; the reference accepts it too.
        assert_eq!(decode("01").unwrap().body, PacketBody::Connect(None));
    }

    #[test]
    fn rejects_disconnect_with_payload() {
        assert!(matches!(
            err(r#"1/admin,{}"#),
            ParseError::InvalidPayload(_)
        ));
    }

    #[test]
    fn rejects_bad_connect_error_payload() {
        assert!(matches!(err("4[1]"), ParseError::InvalidPayload(_)));
        assert!(matches!(err("4"), ParseError::InvalidPayload(_)));
    }

    #[test]
    fn rejects_illegal_attachment_counts() {
        assert_eq!(err("5"), ParseError::IllegalAttachments);
        assert_eq!(err("51"), ParseError::IllegalAttachments);
        assert_eq!(err("5a-"), ParseError::IllegalAttachments);
        assert_eq!(err("51.23-"), ParseError::IllegalAttachments);
        assert_eq!(err(r#"5-["a"]"#), ParseError::IllegalAttachments);
        assert_eq!(err(r#"6-1-1["a"]"#), ParseError::IllegalAttachments);
    }

    #[test]
    fn rejects_zero_attachments() {
        assert_eq!(err(r#"50-["a"]"#), ParseError::ZeroAttachments);
        assert_eq!(err(r#"600-1[]"#), ParseError::ZeroAttachments);
    }

    #[test]
    fn rejects_too_many_attachments() {
        assert_eq!(
            err(r#"511-["a"]"#),
            ParseError::TooManyAttachments { max: 10 }
        );
        assert_eq!(
            err(r#"5999999-["a"]"#),
            ParseError::TooManyAttachments { max: 10 }
        );
        assert_eq!(
            err(r#"5999999999999999999999999999-["a"]"#),
            ParseError::TooManyAttachments { max: 10 }
        );
        assert!(decode_text(r#"510-["a"]"#, 10).is_ok());
        assert_eq!(
            decode_text(r#"52-["a"]"#, 1).unwrap_err(),
            ParseError::TooManyAttachments { max: 1 }
        );
    }

    #[test]
    fn rejects_illegal_placeholder() {
        for bad in [
            r#"51-["hello",{"_placeholder":true,"num":"splice"}]"#,
            r#"51-["hello",{"_placeholder":true,"num":-1}]"#,
            r#"51-["hello",{"_placeholder":true,"num":1}]"#,
            r#"51-["hello",{"_placeholder":true,"num":5}]"#,
            r#"51-["hello",{"_placeholder":true,"num":0.5}]"#,
            r#"51-["hello",{"_placeholder":true}]"#,
            r#"61-3[{"x":[{"_placeholder":true,"num":2}]}]"#,
        ] {
            assert_eq!(err(bad), ParseError::IllegalPlaceholder, "{bad}");
        }
    }

    #[test]
    fn rejects_unexpected_binary() {
        let mut d = Decoder::default();
        assert_eq!(
            d.feed_binary(Bytes::from_static(b"x")),
            Err(ParseError::UnexpectedBinary)
        );
        // A binary past the declared count is stray too.
        d.feed_text(r#"51-["a",{"_placeholder":true,"num":0}]"#)
            .unwrap();
        assert!(matches!(
            d.feed_binary(Bytes::new()).unwrap(),
            Progress::Packet(_)
        ));
        assert_eq!(
            d.feed_binary(Bytes::new()),
            Err(ParseError::UnexpectedBinary)
        );
    }

    #[test]
    fn rejects_text_while_attachments_pending() {
        let mut d = Decoder::default();
        d.feed_text(r#"52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
            .unwrap();
        d.feed_binary(Bytes::new()).unwrap();
        assert_eq!(d.feed_text(r#"2["b"]"#), Err(ParseError::UnexpectedText));
        // The decoder is usable again afterwards.
        assert!(matches!(
            d.feed_text(r#"2["b"]"#).unwrap(),
            Progress::Packet(_)
        ));
    }

    #[test]
    fn args_helpers() {
        let args = Args::from(vec![json!({"x":1.5,"y":2}), json!("s")]);
        #[derive(serde::Deserialize, PartialEq, Debug)]
        struct P {
            x: f64,
            y: f64,
        }
        assert_eq!(args.parse::<P>(0).unwrap(), P { x: 1.5, y: 2.0 });
        assert!(args.parse::<P>(1).is_err());
        assert_eq!(args.parse::<Option<String>>(5).unwrap(), None);
        assert_eq!(args.binary(0), None);
        assert_eq!(args.len(), 2);
    }
}
