//! Which form a connection gets its `snapshot` events in: the JSON object
//! (the default) or the compact binary form of `crate::game::binary`, asked
//! for in the CONNECT auth payload (`{"token": T, "snapshot": "binary"}`,
//! see "Binary snapshots" in `docs/protocol.md`).
//!
//! Owns only the choice and how it is read from the auth payload; the
//! encoding itself is the world's (`Snapshot::write_json`,
//! `Snapshot::write_binary`) and the emit is `world_link`'s.

use serde_json::Value;

/// The key of the CONNECT auth payload that asks for a snapshot form.
pub const AUTH_FIELD: &str = "snapshot";

/// The form of one connection's `snapshot` events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SnapshotForm {
    /// One JSON object argument (`{"tick","ack","x","y","enter","move","leave"}`).
    #[default]
    Json,
    /// One binary argument: a binary attachment with the default parser, a
    /// msgpack `bin` with the msgpack parser.
    Binary,
}

impl SnapshotForm {
    /// The form `auth` asks for: `"snapshot": "binary"` is
    /// [`SnapshotForm::Binary`]; `"json"`, a missing field, or anything
    /// else (another string, a number, an object) is [`SnapshotForm::Json`],
    /// so a client built for a later form still gets snapshots it can read
    /// (every client must accept JSON snapshots).
    pub fn from_auth(auth: &Value) -> Self {
        match auth.get(AUTH_FIELD).and_then(Value::as_str) {
            Some("binary") => SnapshotForm::Binary,
            _ => SnapshotForm::Json,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binary_only_when_asked_exactly() {
        assert_eq!(
            SnapshotForm::from_auth(&json!({"token": "t", "snapshot": "binary"})),
            SnapshotForm::Binary
        );
        for other in [
            json!({"token": "t"}),
            json!({"token": "t", "snapshot": "json"}),
            json!({"token": "t", "snapshot": "BINARY"}),
            json!({"token": "t", "snapshot": "binary2"}),
            json!({"token": "t", "snapshot": 1}),
            json!({"token": "t", "snapshot": ["binary"]}),
            json!({"token": "t", "snapshot": null}),
            json!("binary"),
            json!(null),
        ] {
            assert_eq!(
                SnapshotForm::from_auth(&other),
                SnapshotForm::Json,
                "{other}"
            );
        }
    }
}
