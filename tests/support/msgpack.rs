//! MessagePack packets as a notepack (socket.io-msgpack-parser) client
//! writes and reads them, built by hand with `rmpv` so tests control every
//! byte and key order: maps of `type` / `nsp` / `data` / `id`. Knows the
//! msgpack encoding only, not what a packet means.

use rmpv::Value;

/// `value` encoded.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).unwrap();
    out
}

/// A map with string keys, in the order given.
pub fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

/// A packet: the map of `entries`, encoded.
pub fn packet(entries: Vec<(&str, Value)>) -> Vec<u8> {
    encode(&map(entries))
}

/// One value decoded; panics on invalid msgpack.
pub fn decode(bytes: &[u8]) -> Value {
    rmpv::decode::read_value(&mut &bytes[..]).expect("valid msgpack")
}

/// A packet decoded as its (key, value) entries, in wire order.
pub fn entries(bytes: &[u8]) -> Vec<(String, Value)> {
    decode(bytes)
        .as_map()
        .expect("a msgpack map")
        .iter()
        .map(|(k, v)| (k.as_str().expect("string key").to_owned(), v.clone()))
        .collect()
}

/// The value of `key` among `entries`.
pub fn get<'a>(entries: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// The value of `key` in map `value` (`Nil` when absent or not a map).
pub fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    value
        .as_map()
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v)
        })
        .unwrap_or(&Value::Nil)
}
