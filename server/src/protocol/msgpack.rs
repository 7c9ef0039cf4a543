//! The `socket.io-msgpack-parser` wire format (v3, over `notepack.io` 2.2):
//! each Socket.IO packet is one binary Engine.IO message holding a msgpack
//! map `{type, nsp, data?, id?}` with binaries inline.
//!
//! Owns the msgpack decoder and encoders for [`Packet`]. It converts inline
//! binaries to and from the placeholder + attachment form of [`Args`], so the
//! server layer handles one packet model whatever the parser. Pure: no I/O,
//! nothing from the rest of the crate besides the shared packet model.
//!
//! The reader is written over `rmp`'s marker decoding instead of
//! `rmpv::Value` because notepack's quirks depend on the exact marker: a
//! `fixext1` of type 0 (`d4 00 00`) is `undefined`, while an `ext8` of type 0
//! is an `ArrayBuffer`, and `rmpv` maps both to the same value. It also
//! bounds nesting ([`MAX_DEPTH`]) and never allocates from a declared length
//! beyond the bytes actually present.

use bytes::Bytes;
use rmp::Marker;
use serde::Serialize;
use serde_json::{Map, Number, Value};

use super::socketio::{
    placeholder_num, split_event, Args, Packet, PacketBody, PacketType, ParseError,
};

/// Deepest nesting of arrays and maps accepted in a packet (the same bound
/// serde_json applies to the text parser).
pub const MAX_DEPTH: usize = 128;

/// Decodes one packet from a binary Engine.IO message.
pub fn decode(message: &Bytes) -> Result<Packet, ParseError> {
    let mut reader = Reader {
        input: message,
        pos: 0,
    };
    let entries = match reader.marker()? {
        Marker::FixMap(n) => usize::from(n),
        Marker::Map16 => usize::from(reader.be_u16()?),
        Marker::Map32 => reader.be_u32()? as usize,
        _ => return Err(invalid("packet is not a map")),
    };
    let mut kind = None;
    let mut nsp = None;
    let mut data = None;
    let mut id = None;
    let mut attachments = Vec::new();
    for _ in 0..entries {
        let key = reader.value(1, &mut attachments)?;
        match key.as_ref().and_then(Value::as_str) {
            Some("type") => kind = reader.value(1, &mut attachments)?,
            Some("nsp") => nsp = reader.value(1, &mut attachments)?,
            Some("data") => data = reader.value(1, &mut attachments)?,
            Some("id") => id = reader.value(1, &mut attachments)?,
            // Unknown keys (notepack clients add `options`) are skipped.
            _ => drop(reader.value(1, &mut Vec::new())?),
        }
    }
    if reader.pos != message.len() {
        return Err(invalid("trailing bytes"));
    }

    let kind = kind
        .as_ref()
        .and_then(Value::as_u64)
        .filter(|&t| t <= PacketType::ConnectError as u64)
        .ok_or(ParseError::UnknownType)?;
    let Some(Value::String(nsp)) = nsp else {
        return Err(ParseError::InvalidPayload("nsp must be a string"));
    };
    let id = match id {
        None => None,
        Some(value) => Some(value.as_u64().ok_or(ParseError::InvalidAckId)?),
    };
    let body = match kind {
        0 => match data {
            None => PacketBody::Connect(None),
            Some(Value::Object(map)) => PacketBody::Connect(Some(map)),
            Some(_) => return Err(ParseError::InvalidPayload("CONNECT payload must be a map")),
        },
        1 => match data {
            None => PacketBody::Disconnect,
            Some(_) => return Err(ParseError::InvalidPayload("DISCONNECT carries no payload")),
        },
        4 => match data {
            Some(value @ (Value::Object(_) | Value::String(_))) => PacketBody::ConnectError(value),
            _ => {
                return Err(ParseError::InvalidPayload(
                    "CONNECT_ERROR payload must be a map or a string",
                ))
            }
        },
        2 => {
            let Some(Value::Array(values)) = data else {
                return Err(ParseError::InvalidPayload("EVENT payload must be an array"));
            };
            let (name, values) = split_event(values)?;
            PacketBody::Event {
                name,
                args: Args::from_parts(values, attachments),
                ack: id,
            }
        }
        _ => {
            let Some(Value::Array(values)) = data else {
                return Err(ParseError::InvalidPayload("ACK payload must be an array"));
            };
            let id = id.ok_or(ParseError::InvalidPayload("ACK without an id"))?;
            PacketBody::Ack {
                id,
                args: Args::from_parts(values, attachments),
            }
        }
    };
    Ok(Packet { nsp, body })
}

fn invalid(what: &str) -> ParseError {
    ParseError::InvalidMsgpack(what.to_owned())
}

/// A cursor over the message.
struct Reader<'a> {
    /// The whole message (attachments are zero-copy slices of it).
    input: &'a Bytes,
    /// Next byte to read.
    pos: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn take(&mut self, len: usize) -> Result<&[u8], ParseError> {
        if len > self.remaining() {
            return Err(invalid("truncated"));
        }
        let start = self.pos;
        self.pos += len;
        Ok(&self.input[start..self.pos])
    }

    fn take_bytes(&mut self, len: usize) -> Result<Bytes, ParseError> {
        self.take(len)?;
        Ok(self.input.slice(self.pos - len..self.pos))
    }

    fn byte(&mut self) -> Result<u8, ParseError> {
        Ok(self.take(1)?[0])
    }

    fn be_u16(&mut self) -> Result<u16, ParseError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn be_u32(&mut self) -> Result<u32, ParseError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn be_u64(&mut self) -> Result<u64, ParseError> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes(b.try_into().expect("8 bytes")))
    }

    fn marker(&mut self) -> Result<Marker, ParseError> {
        Ok(Marker::from_u8(self.byte()?))
    }

    /// Reads one value at nesting `depth`, moving binaries into
    /// `attachments` (replaced by placeholders). `None` is JavaScript's
    /// `undefined`.
    fn value(
        &mut self,
        depth: usize,
        attachments: &mut Vec<Bytes>,
    ) -> Result<Option<Value>, ParseError> {
        if depth > MAX_DEPTH {
            return Err(invalid("nested too deeply"));
        }
        let value = match self.marker()? {
            Marker::Null => Value::Null,
            Marker::True => Value::Bool(true),
            Marker::False => Value::Bool(false),
            Marker::FixPos(n) => Value::from(n),
            Marker::FixNeg(n) => Value::from(n),
            Marker::U8 => Value::from(self.byte()?),
            Marker::U16 => Value::from(self.be_u16()?),
            Marker::U32 => Value::from(self.be_u32()?),
            Marker::U64 => Value::from(self.be_u64()?),
            Marker::I8 => Value::from(self.byte()? as i8),
            Marker::I16 => Value::from(self.be_u16()? as i16),
            Marker::I32 => Value::from(self.be_u32()? as i32),
            Marker::I64 => Value::from(self.be_u64()? as i64),
            Marker::F32 => float(f64::from(f32::from_bits(self.be_u32()?))),
            Marker::F64 => float(f64::from_bits(self.be_u64()?)),
            Marker::FixStr(n) => self.string(usize::from(n))?,
            Marker::Str8 => {
                let len = self.byte()?;
                self.string(usize::from(len))?
            }
            Marker::Str16 => {
                let len = self.be_u16()?;
                self.string(usize::from(len))?
            }
            Marker::Str32 => {
                let len = self.be_u32()?;
                self.string(len as usize)?
            }
            Marker::Bin8 => {
                let len = self.byte()?;
                self.binary(usize::from(len), attachments)?
            }
            Marker::Bin16 => {
                let len = self.be_u16()?;
                self.binary(usize::from(len), attachments)?
            }
            Marker::Bin32 => {
                let len = self.be_u32()?;
                self.binary(len as usize, attachments)?
            }
            Marker::FixArray(n) => self.array(usize::from(n), depth, attachments)?,
            Marker::Array16 => {
                let len = self.be_u16()?;
                self.array(usize::from(len), depth, attachments)?
            }
            Marker::Array32 => {
                let len = self.be_u32()?;
                self.array(len as usize, depth, attachments)?
            }
            Marker::FixMap(n) => self.map(usize::from(n), depth, attachments)?,
            Marker::Map16 => {
                let len = self.be_u16()?;
                self.map(usize::from(len), depth, attachments)?
            }
            Marker::Map32 => {
                let len = self.be_u32()?;
                self.map(len as usize, depth, attachments)?
            }
            Marker::FixExt1 => {
                let ty = self.byte()? as i8;
                let data = self.take_bytes(1)?;
                if ty == 0 {
                    return Ok(None);
                }
                self.foreign_ext(ty, data, attachments)
            }
            Marker::FixExt2 => self.fixed_ext(2, attachments)?,
            Marker::FixExt4 => self.fixed_ext(4, attachments)?,
            Marker::FixExt8 => {
                let ty = self.byte()? as i8;
                let data = self.take_bytes(8)?;
                if ty == 0 {
                    // notepack's Date: signed high word and low word of the
                    // milliseconds since the epoch. Handlers get the number.
                    let hi = i64::from(i32::from_be_bytes(data[..4].try_into().expect("4 bytes")));
                    let lo = i64::from(u32::from_be_bytes(data[4..].try_into().expect("4 bytes")));
                    Value::from(hi * (1 << 32) + lo)
                } else {
                    self.foreign_ext(ty, data, attachments)
                }
            }
            Marker::FixExt16 => self.fixed_ext(16, attachments)?,
            Marker::Ext8 => {
                let len = self.byte()?;
                self.ext(usize::from(len), attachments)?
            }
            Marker::Ext16 => {
                let len = self.be_u16()?;
                self.ext(usize::from(len), attachments)?
            }
            Marker::Ext32 => {
                let len = self.be_u32()?;
                self.ext(len as usize, attachments)?
            }
            Marker::Reserved => return Err(invalid("reserved marker 0xc1")),
        };
        Ok(Some(value))
    }

    fn string(&mut self, len: usize) -> Result<Value, ParseError> {
        let bytes = self.take(len)?;
        let text = std::str::from_utf8(bytes).map_err(|_| invalid("string is not UTF-8"))?;
        Ok(Value::String(text.to_owned()))
    }

    fn binary(&mut self, len: usize, attachments: &mut Vec<Bytes>) -> Result<Value, ParseError> {
        let data = self.take_bytes(len)?;
        Ok(attach(data, attachments))
    }

    /// `ext8/16/32`: type 0 is an `ArrayBuffer`.
    fn ext(&mut self, len: usize, attachments: &mut Vec<Bytes>) -> Result<Value, ParseError> {
        let ty = self.byte()? as i8;
        let data = self.take_bytes(len)?;
        if ty == 0 {
            Ok(attach(data, attachments))
        } else {
            Ok(self.foreign_ext(ty, data, attachments))
        }
    }

    fn fixed_ext(&mut self, len: usize, attachments: &mut Vec<Bytes>) -> Result<Value, ParseError> {
        let ty = self.byte()? as i8;
        let data = self.take_bytes(len)?;
        Ok(self.foreign_ext(ty, data, attachments))
    }

    /// An extension notepack does not know: `[type, <binary>]`, as notepack
    /// decodes it.
    fn foreign_ext(&self, ty: i8, data: Bytes, attachments: &mut Vec<Bytes>) -> Value {
        Value::Array(vec![Value::from(ty), attach(data, attachments)])
    }

    fn array(
        &mut self,
        len: usize,
        depth: usize,
        attachments: &mut Vec<Bytes>,
    ) -> Result<Value, ParseError> {
        // Every item takes at least one byte: never reserve past the input.
        let mut items = Vec::with_capacity(len.min(self.remaining()));
        for _ in 0..len {
            items.push(self.value(depth + 1, attachments)?.unwrap_or(Value::Null));
        }
        Ok(Value::Array(items))
    }

    fn map(
        &mut self,
        len: usize,
        depth: usize,
        attachments: &mut Vec<Bytes>,
    ) -> Result<Value, ParseError> {
        let mut map = Map::with_capacity(len.min(self.remaining() / 2));
        for _ in 0..len {
            let key = match self.value(depth + 1, attachments)? {
                Some(Value::String(key)) => key,
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(Value::Null) => "null".to_owned(),
                None => "undefined".to_owned(),
                Some(_) => return Err(invalid("map key is not a scalar")),
            };
            // An `undefined` value drops the key, as JSON.stringify does.
            if let Some(value) = self.value(depth + 1, attachments)? {
                map.insert(key, value);
            }
        }
        Ok(Value::Object(map))
    }
}

/// A float as JSON; NaN and infinities become `null` like JSON.stringify.
fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn attach(data: Bytes, attachments: &mut Vec<Bytes>) -> Value {
    let num = attachments.len();
    attachments.push(data);
    super::socketio::placeholder(num)
}

/// Encodes `packet` as one binary message. Placeholders referring to the
/// packet's attachments become inline `bin` values.
pub fn encode(packet: &Packet) -> Vec<u8> {
    let mut out = Vec::new();
    let id = match &packet.body {
        PacketBody::Event { ack, .. } => *ack,
        PacketBody::Ack { id, .. } => Some(*id),
        _ => None,
    };
    let has_data = !matches!(
        packet.body,
        PacketBody::Connect(None) | PacketBody::Disconnect
    );
    let kind = match packet.packet_type() {
        PacketType::BinaryEvent => PacketType::Event,
        PacketType::BinaryAck => PacketType::Ack,
        other => other,
    };
    let entries = 2 + u32::from(has_data) + u32::from(id.is_some());
    let _ = rmp::encode::write_map_len(&mut out, entries);
    write_key_uint(&mut out, "type", kind as u64);
    if has_data {
        let _ = rmp::encode::write_str(&mut out, "data");
        match &packet.body {
            PacketBody::Connect(Some(map)) => write_map(&mut out, map, &[]),
            PacketBody::ConnectError(value) => write_value(&mut out, value, &[]),
            PacketBody::Event { name, args, .. } => {
                let _ = rmp::encode::write_array_len(&mut out, len32(args.len() + 1));
                let _ = rmp::encode::write_str(&mut out, name);
                for value in args.values() {
                    write_value(&mut out, value, args.attachments());
                }
            }
            PacketBody::Ack { args, .. } => {
                let _ = rmp::encode::write_array_len(&mut out, len32(args.len()));
                for value in args.values() {
                    write_value(&mut out, value, args.attachments());
                }
            }
            PacketBody::Connect(None) | PacketBody::Disconnect => {}
        }
    }
    let _ = rmp::encode::write_str(&mut out, "nsp");
    let _ = rmp::encode::write_str(&mut out, &packet.nsp);
    if let Some(id) = id {
        write_key_uint(&mut out, "id", id);
    }
    out
}

fn len32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn write_key_uint(out: &mut Vec<u8>, key: &str, value: u64) {
    let _ = rmp::encode::write_str(out, key);
    let _ = rmp::encode::write_uint(out, value);
}

/// Writes a JSON value; placeholders pointing into `attachments` become `bin`.
fn write_value(out: &mut Vec<u8>, value: &Value, attachments: &[Bytes]) {
    match value {
        Value::Null => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                let _ = rmp::encode::write_uint(out, u);
            } else if let Some(i) = n.as_i64() {
                let _ = rmp::encode::write_sint(out, i);
            } else {
                let _ = rmp::encode::write_f64(out, n.as_f64().unwrap_or(f64::NAN));
            }
        }
        Value::String(s) => {
            let _ = rmp::encode::write_str(out, s);
        }
        Value::Array(items) => {
            let _ = rmp::encode::write_array_len(out, len32(items.len()));
            for item in items {
                write_value(out, item, attachments);
            }
        }
        Value::Object(map) => {
            let binary = placeholder_num(value)
                .and_then(Result::ok)
                .and_then(|num| attachments.get(usize::try_from(num).ok()?));
            match binary {
                Some(data) => {
                    let _ = rmp::encode::write_bin(out, data);
                }
                None => write_map(out, map, attachments),
            }
        }
    }
}

fn write_map(out: &mut Vec<u8>, map: &Map<String, Value>, attachments: &[Bytes]) {
    let _ = rmp::encode::write_map_len(out, len32(map.len()));
    for (key, value) in map {
        let _ = rmp::encode::write_str(out, key);
        write_value(out, value, attachments);
    }
}

/// Error from the typed fast path.
pub type EncodeError = rmp_serde::encode::Error;

/// Appends to `out` the EVENT packet `[event, ...args]`, the arguments coming
/// from `data` with the rule of [`super::socketio::write_event`] (an array or
/// tuple gives one argument per element). Structs become maps, `serde_bytes`
/// values become `bin`.
pub fn write_event<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    nsp: &str,
    event: &str,
    ack: Option<u64>,
    data: &T,
) -> Result<(), EncodeError> {
    write_args_packet(out, PacketType::Event, nsp, Some(event), ack, data)
}

/// Appends to `out` the ACK packet for `id`, arguments from `data` as in
/// [`write_event`].
pub fn write_ack<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    nsp: &str,
    id: u64,
    data: &T,
) -> Result<(), EncodeError> {
    write_args_packet(out, PacketType::Ack, nsp, None, Some(id), data)
}

fn write_args_packet<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    kind: PacketType,
    nsp: &str,
    event: Option<&str>,
    id: Option<u64>,
    data: &T,
) -> Result<(), EncodeError> {
    let _ = rmp::encode::write_map_len(out, 3 + u32::from(id.is_some()));
    write_key_uint(out, "type", kind as u64);
    let _ = rmp::encode::write_str(out, "nsp");
    let _ = rmp::encode::write_str(out, nsp);
    if let Some(id) = id {
        write_key_uint(out, "id", id);
    }
    let _ = rmp::encode::write_str(out, "data");
    let start = out.len();
    data.serialize(&mut rmp_serde::Serializer::new(&mut *out).with_struct_map())?;

    // Spread an array into the argument list, or wrap anything else.
    let (items, header_len) = match Marker::from_u8(out[start]) {
        Marker::FixArray(n) => (u32::from(n), 1),
        Marker::Array16 => (
            u32::from(u16::from_be_bytes([out[start + 1], out[start + 2]])),
            3,
        ),
        Marker::Array32 => (
            u32::from_be_bytes(out[start + 1..start + 5].try_into().expect("4 bytes")),
            5,
        ),
        _ => (1, 0),
    };
    let mut prefix = Vec::with_capacity(8 + event.map_or(0, str::len));
    let _ = rmp::encode::write_array_len(
        &mut prefix,
        items.saturating_add(u32::from(event.is_some())),
    );
    if let Some(event) = event {
        let _ = rmp::encode::write_str(&mut prefix, event);
    }
    out.splice(start..start + header_len, prefix);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes(v: &[u8]) -> Bytes {
        Bytes::copy_from_slice(v)
    }

    /// Hand-written msgpack of `{"type":2,"nsp":"/","data":["hello","you"]}`
    /// as the research notes show it.
    const HELLO: &[u8] = &[
        0x83, 0xa4, b't', b'y', b'p', b'e', 0x02, 0xa3, b'n', b's', b'p', 0xa1, b'/', 0xa4, b'd',
        b'a', b't', b'a', 0x92, 0xa5, b'h', b'e', b'l', b'l', b'o', 0xa3, b'y', b'o', b'u',
    ];

    fn map(entries: &[(&str, &[u8])]) -> Bytes {
        let mut out = Vec::new();
        rmp::encode::write_map_len(&mut out, entries.len() as u32).unwrap();
        for (k, v) in entries {
            rmp::encode::write_str(&mut out, k).unwrap();
            out.extend_from_slice(v);
        }
        out.into()
    }

    #[test]
    fn decodes_reference_event() {
        let p = decode(&bytes(HELLO)).unwrap();
        assert_eq!(
            p,
            Packet::new(
                "/",
                PacketBody::Event {
                    name: "hello".into(),
                    args: vec![json!("you")].into(),
                    ack: None
                }
            )
        );
    }

    #[test]
    fn decodes_undefined_and_binaries() {
        // CONNECT with `data: undefined` (d4 00 00) = no auth.
        let p = decode(&map(&[
            ("type", &[0]),
            ("nsp", &[0xa1, b'/']),
            ("data", &[0xd4, 0, 0]),
        ]))
        .unwrap();
        assert_eq!(p.body, PacketBody::Connect(None));
        // EVENT ["b", <bin 1 2>, <ext0 3>, undefined, {k: undefined}], id 7, options ignored.
        let data: &[u8] = &[
            0x95, 0xa1, b'b', 0xc4, 2, 1, 2, 0xc7, 1, 0, 3, 0xd4, 0, 0, 0x81, 0xa1, b'k', 0xd4, 0,
            0,
        ];
        let p = decode(&map(&[
            ("type", &[2]),
            ("nsp", &[0xa2, b'/', b'x']),
            ("data", data),
            ("id", &[7]),
            (
                "options",
                &[
                    0x81, 0xa8, b'c', b'o', b'm', b'p', b'r', b'e', b's', b's', 0xc3,
                ],
            ),
        ]))
        .unwrap();
        let PacketBody::Event { name, args, ack } = p.body else {
            panic!()
        };
        assert_eq!((name.as_str(), ack, p.nsp.as_str()), ("b", Some(7), "/x"));
        assert_eq!(args.binary(0).unwrap().as_ref(), &[1, 2]);
        assert_eq!(args.binary(1).unwrap().as_ref(), &[3]);
        assert_eq!(args.get(2), Some(&Value::Null));
        assert_eq!(args.get(3), Some(&json!({})));
    }

    #[test]
    fn decodes_dates_and_foreign_extensions() {
        let date: &[u8] = &[0x92, 0xa1, b'd', 0xd7, 0, 0, 0, 0, 1, 0, 0, 0, 2];
        let p = decode(&map(&[
            ("type", &[2]),
            ("nsp", &[0xa1, b'/']),
            ("data", date),
        ]))
        .unwrap();
        let PacketBody::Event { args, .. } = p.body else {
            panic!()
        };
        assert_eq!(args.get(0), Some(&json!((1u64 << 32) + 2)));
        let ext: &[u8] = &[0x92, 0xa1, b'd', 0xd5, 5, 9, 9];
        let p = decode(&map(&[
            ("type", &[2]),
            ("nsp", &[0xa1, b'/']),
            ("data", ext),
        ]))
        .unwrap();
        let PacketBody::Event { args, .. } = p.body else {
            panic!()
        };
        assert_eq!(args.get(0).unwrap()[0], json!(5));
        assert_eq!(args.attachments()[0].as_ref(), &[9, 9]);
    }

    #[test]
    fn encodes_and_round_trips() {
        let args = Args::new()
            .with(json!({"a":[1,-2,1.5,null,true,"s"]}))
            .with_binary(bytes(&[1, 2, 3]));
        let packets = [
            Packet::connect_reply("/", "abc"),
            Packet::new("/c", PacketBody::Connect(None)),
            Packet::new("/c", PacketBody::Disconnect),
            Packet::connect_error("/", "Invalid namespace", Some(json!({"x":1}))),
            Packet::new(
                "/",
                PacketBody::Event {
                    name: "e".into(),
                    args: args.clone(),
                    ack: Some(3),
                },
            ),
            Packet::new("/", PacketBody::Ack { id: u64::MAX, args }),
        ];
        for p in packets {
            let encoded = encode(&p);
            assert_eq!(decode(&encoded.into()).unwrap(), p);
        }
    }

    #[test]
    fn connect_reply_keys_are_type_data_nsp() {
        let encoded = encode(&Packet::connect_reply("/", "abc"));
        let value = rmpv::decode::read_value(&mut &encoded[..]).unwrap();
        let keys: Vec<_> = value
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(keys, ["type", "data", "nsp"]);
    }

    #[test]
    fn typed_fast_path_matches_value_encoding() {
        #[derive(Serialize)]
        struct Pos {
            x: f64,
            y: i32,
        }
        let mut out = Vec::new();
        write_event(&mut out, "/", "pos", None, &Pos { x: 1.5, y: -3 }).unwrap();
        let p = decode(&out.clone().into()).unwrap();
        assert_eq!(
            p.body,
            PacketBody::Event {
                name: "pos".into(),
                args: vec![json!({"x":1.5,"y":-3})].into(),
                ack: None
            }
        );
        out.clear();
        write_event(&mut out, "/n", "two", Some(9), &(1, "b")).unwrap();
        let p = decode(&out.clone().into()).unwrap();
        assert_eq!(p.nsp, "/n");
        assert_eq!(
            p.body,
            PacketBody::Event {
                name: "two".into(),
                args: vec![json!(1), json!("b")].into(),
                ack: Some(9)
            }
        );
        out.clear();
        let long: Vec<u32> = (0..70_000).collect();
        write_ack(&mut out, "/", 4, &(long.clone(),)).unwrap();
        let PacketBody::Ack { id, args } = decode(&out.clone().into()).unwrap().body else {
            panic!()
        };
        assert_eq!(
            (
                id,
                args.len(),
                args.get(0).unwrap().as_array().unwrap().len()
            ),
            (4, 1, 70_000)
        );
        out.clear();
        write_ack(&mut out, "/", 4, &long).unwrap();
        let PacketBody::Ack { args, .. } = decode(&out.into()).unwrap().body else {
            panic!()
        };
        assert_eq!(args.len(), 70_000);
    }

    fn event_with(data: &[u8]) -> Bytes {
        map(&[("type", &[2]), ("nsp", &[0xa1, b'/']), ("data", data)])
    }

    #[test]
    fn rejects_deep_nesting_without_overflowing() {
        let mut data = vec![0x92, 0xa1, b'e'];
        data.extend(std::iter::repeat_n(0x91, 100_000));
        data.push(0xc0);
        assert!(matches!(
            decode(&event_with(&data)),
            Err(ParseError::InvalidMsgpack(_))
        ));
        let mut maps = vec![0x92, 0xa1, b'e'];
        for _ in 0..100_000 {
            maps.extend_from_slice(&[0x81, 0xa1, b'k']);
        }
        maps.push(0xc0);
        assert!(matches!(
            decode(&event_with(&maps)),
            Err(ParseError::InvalidMsgpack(_))
        ));
        // Nesting within the bound is fine.
        let mut ok = vec![0x92, 0xa1, b'e'];
        ok.extend(std::iter::repeat_n(0x91, MAX_DEPTH - 3));
        ok.push(0xc0);
        assert!(decode(&event_with(&ok)).is_ok());
    }

    /// Reserving from these headers would ask for hundreds of GiB and abort
    /// the test process, so passing proves the decoder does not.
    #[test]
    fn rejects_huge_declared_lengths_without_allocating() {
        for header in [
            &[0xdd, 0xff, 0xff, 0xff, 0xff][..], // array32 of 2^32-1
            &[0xdf, 0xff, 0xff, 0xff, 0xff],     // map32
            &[0xc6, 0xff, 0xff, 0xff, 0xff],     // bin32
            &[0xdb, 0xff, 0xff, 0xff, 0xff],     // str32
            &[0xc9, 0xff, 0xff, 0xff, 0xff, 0],  // ext32
        ] {
            let mut data = vec![0x92, 0xa1, b'e'];
            data.extend_from_slice(header);
            data.extend_from_slice(&[0xc0; 16]);
            assert!(
                matches!(
                    decode(&event_with(&data)),
                    Err(ParseError::InvalidMsgpack(_))
                ),
                "{header:x?}"
            );
        }
        // The top-level map too.
        assert!(decode(&bytes(&[0xdf, 0xff, 0xff, 0xff, 0xff])).is_err());
    }

    #[test]
    fn rejects_wrong_shapes() {
        let nsp: &[u8] = &[0xa1, b'/'];
        for (bad, why) in [
            (bytes(&[0x92, 1, 2]), "not a map"),
            (
                map(&[("type", &[5]), ("nsp", nsp), ("data", &[0x91, 0xa1, b'e'])]),
                "type 5",
            ),
            (map(&[("type", &[0xff]), ("nsp", nsp)]), "negative type"),
            (
                map(&[("type", &[0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0])]),
                "float type",
            ),
            (map(&[("type", &[0])]), "missing nsp"),
            (map(&[("type", &[0]), ("nsp", &[1])]), "nsp not a string"),
            (
                map(&[("type", &[0]), ("nsp", nsp), ("data", &[0x90])]),
                "connect array",
            ),
            (
                map(&[("type", &[1]), ("nsp", nsp), ("data", &[0x80])]),
                "disconnect data",
            ),
            (
                map(&[("type", &[2]), ("nsp", nsp), ("data", &[0x80])]),
                "event map",
            ),
            (map(&[("type", &[2]), ("nsp", nsp)]), "event without data"),
            (
                map(&[("type", &[2]), ("nsp", nsp), ("data", &[0x91, 0xc3])]),
                "event name bool",
            ),
            (
                map(&[
                    ("type", &[2]),
                    ("nsp", nsp),
                    (
                        "data",
                        &[0x91, 0xa7, b'c', b'o', b'n', b'n', b'e', b'c', b't'],
                    ),
                ]),
                "reserved",
            ),
            (
                map(&[
                    ("type", &[2]),
                    ("nsp", nsp),
                    ("data", &[0x91, 0xa1, b'e']),
                    ("id", &[0xff]),
                ]),
                "negative id",
            ),
            (
                map(&[("type", &[3]), ("nsp", nsp), ("data", &[0x90])]),
                "ack without id",
            ),
            (
                map(&[("type", &[4]), ("nsp", nsp), ("data", &[1])]),
                "connect_error number",
            ),
            (
                map(&[
                    ("type", &[2]),
                    ("nsp", nsp),
                    ("data", &[0x91, 0xa2, 0xff, 0xfe]),
                ]),
                "invalid utf-8",
            ),
            (
                map(&[("type", &[2]), ("nsp", nsp), ("data", &[0x91, 0xc1])]),
                "reserved marker",
            ),
            (
                map(&[("type", &[2]), ("nsp", nsp), ("data", &[0x91, 0xa1])]),
                "truncated",
            ),
            (
                map(&[
                    ("type", &[2]),
                    ("nsp", nsp),
                    ("data", &[0x91, 0x81, 0x90, 0xc0]),
                ]),
                "array key",
            ),
        ] {
            assert!(decode(&bad).is_err(), "{why}");
        }
        let mut trailing = HELLO.to_vec();
        trailing.push(0xc0);
        assert_eq!(decode(&trailing.into()), Err(invalid("trailing bytes")));
    }

    #[test]
    fn nan_and_infinity_become_null() {
        let data: &[u8] = &[
            0x93, 0xa1, b'e', 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0, 0xca, 0x7f, 0x80, 0, 0,
        ];
        let PacketBody::Event { args, .. } = decode(&event_with(data)).unwrap().body else {
            panic!()
        };
        assert_eq!(args.values(), &[Value::Null, Value::Null]);
    }
}
