//! Pure protocol code: Engine.IO and Socket.IO packets and their wire codecs.
//!
//! Nothing here performs I/O or depends on the rest of the crate, so every
//! decoder can be unit-tested and fuzzed on bare bytes.

pub mod engineio;
pub mod msgpack;
pub mod socketio;
