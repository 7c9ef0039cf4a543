//! What cluster nodes tell each other through Redis, and its checks: the
//! border updates (`locus:border:<rx>:<ry>`), chat relayed across borders
//! (`locus:chat:<rx>:<ry>`) and handoff records (`locus:handoff:<id>`),
//! each JSON carrying its sender's [`Origin`] (node, region, lease epoch).
//! Decoding never trusts its input: anything that does not decode, is too
//! large, names a region outside the cluster or carries non-finite or
//! out-of-world positions is refused with a [`Dropped`] reason (counted by
//! the caller in `locus_cluster_dropped_total{reason}`). Pure: no Redis.

use serde::{Deserialize, Serialize};

use super::regions::{RegionId, Regions};
use crate::game::{HandedOverPlayer, MirrorEntry, PlayerId};

/// Most players one border update may carry.
pub const MAX_BORDER_PLAYERS: usize = 20_000;
/// Largest message accepted from Redis, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;
/// Longest name carried (the register rules allow 32 bytes).
const MAX_NAME_BYTES: usize = 64;
/// Longest chat text carried, in characters (the contract's limit).
const MAX_CHAT_CHARS: usize = 200;

/// The channel a region's border updates go on.
pub fn border_channel(region: RegionId) -> String {
    format!("locus:border:{}:{}", region.rx, region.ry)
}

/// The channel chat said near a region's border goes on.
pub fn chat_channel(region: RegionId) -> String {
    format!("locus:chat:{}:{}", region.rx, region.ry)
}

/// The key a handed-over player's record waits under for its new node.
pub fn handoff_key(id: PlayerId) -> String {
    format!("locus:handoff:{id}")
}

/// The pattern every node subscribes to (border updates and chat).
pub const CHANNEL_PATTERNS: [&str; 2] = ["locus:border:*", "locus:chat:*"];

/// What a channel name says: whose region and which kind of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A border update of the region.
    Border(RegionId),
    /// Chat near the region's border.
    Chat(RegionId),
}

/// Parses a channel name (`None`: not one of ours).
pub fn parse_channel(name: &str) -> Option<Channel> {
    let (kind, rest) = name.strip_prefix("locus:")?.split_once(':')?;
    let (rx, ry) = rest.split_once(':')?;
    let region = RegionId::new(rx.parse().ok()?, ry.parse().ok()?);
    match kind {
        "border" => Some(Channel::Border(region)),
        "chat" => Some(Channel::Chat(region)),
        _ => None,
    }
}

/// Who sent a message: the node, the region it speaks for, and the epoch of
/// its lease on that region (a receiver drops a message whose pair is not
/// the region's current holder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    /// The sending node's id.
    pub node: String,
    /// The region, `[rx, ry]`.
    pub region: [u32; 2],
    /// The sender's lease epoch for it.
    pub epoch: u64,
}

impl Origin {
    /// The region as an id.
    pub fn region_id(&self) -> RegionId {
        RegionId::new(self.region[0], self.region[1])
    }
}

/// A region's border band: the sender's players a neighbour must mirror
/// (the whole set each time; an empty list clears them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BorderUpdate {
    /// Sender, region, epoch.
    pub origin: Origin,
    /// The sender's tick number (informative).
    pub tick: u64,
    /// The players, sorted by id.
    pub players: Vec<MirrorEntry>,
}

/// A chat line said by a player near a region's border.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRelay {
    /// Sender, region, epoch.
    pub origin: Origin,
    /// The speaker's account id.
    pub id: PlayerId,
    /// The text (validated by the sender's node, checked again here).
    pub text: String,
}

/// A player handed over to the node holding `to`, kept under
/// [`handoff_key`] until that node takes it (or it expires).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffRecord {
    /// The node handing it over and the region it left.
    pub origin: Origin,
    /// The region it walked into, `[rx, ry]`.
    pub to: [u32; 2],
    /// Its whole state.
    pub player: HandedOverPlayer,
}

/// Why a message from Redis was dropped (the metric's `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Dropped {
    /// Not JSON of the expected shape, or too large.
    #[error("does not decode")]
    Undecodable,
    /// Names a region outside the cluster, or not the channel's region.
    #[error("names a region outside the cluster")]
    BadRegion,
    /// A position that is not finite or lies outside the world, or a name
    /// or text out of bounds.
    #[error("carries values out of bounds")]
    OutOfBounds,
    /// Its (node, epoch) is not the region's current holder.
    #[error("comes from a node that does not hold the region")]
    NotTheHolder,
}

impl Dropped {
    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Dropped::Undecodable => "undecodable",
            Dropped::BadRegion => "bad_region",
            Dropped::OutOfBounds => "out_of_bounds",
            Dropped::NotTheHolder => "not_the_holder",
        }
    }
}

/// Encodes any message (infallible for these types).
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    serde_json::to_vec(message).unwrap_or_default()
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Dropped> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(Dropped::Undecodable);
    }
    serde_json::from_slice(bytes).map_err(|_| Dropped::Undecodable)
}

/// Checks an origin's region against the cluster (and the channel's).
fn check_origin(
    origin: &Origin,
    regions: &Regions,
    channel: Option<RegionId>,
) -> Result<(), Dropped> {
    let region = origin.region_id();
    if !regions.is_valid(region) || channel.is_some_and(|c| c != region) {
        return Err(Dropped::BadRegion);
    }
    Ok(())
}

fn in_world(x: f64, y: f64, size: (f64, f64)) -> bool {
    x.is_finite() && y.is_finite() && (0.0..=size.0).contains(&x) && (0.0..=size.1).contains(&y)
}

fn name_ok(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_BYTES
}

/// Decodes a border update received on `channel`'s region.
pub fn decode_border(
    bytes: &[u8],
    regions: &Regions,
    channel: RegionId,
    world: (f64, f64),
) -> Result<BorderUpdate, Dropped> {
    let update: BorderUpdate = decode(bytes)?;
    check_origin(&update.origin, regions, Some(channel))?;
    if update.players.len() > MAX_BORDER_PLAYERS {
        return Err(Dropped::OutOfBounds);
    }
    if !update
        .players
        .iter()
        .all(|p| in_world(p.x, p.y, world) && name_ok(&p.name))
    {
        return Err(Dropped::OutOfBounds);
    }
    Ok(update)
}

/// Decodes chat received on `channel`'s region.
pub fn decode_chat(
    bytes: &[u8],
    regions: &Regions,
    channel: RegionId,
) -> Result<ChatRelay, Dropped> {
    let chat: ChatRelay = decode(bytes)?;
    check_origin(&chat.origin, regions, Some(channel))?;
    let chars = chat.text.chars().count();
    if !(1..=MAX_CHAT_CHARS).contains(&chars) || chat.text.trim().is_empty() {
        return Err(Dropped::OutOfBounds);
    }
    Ok(chat)
}

/// Decodes a handoff record taken for account `id`.
pub fn decode_handoff(
    bytes: &[u8],
    regions: &Regions,
    id: PlayerId,
    world: (f64, f64),
) -> Result<HandoffRecord, Dropped> {
    let record: HandoffRecord = decode(bytes)?;
    check_origin(&record.origin, regions, None)?;
    if !regions.is_valid(RegionId::new(record.to[0], record.to[1])) {
        return Err(Dropped::BadRegion);
    }
    let p = &record.player;
    let target_ok = p.target.is_none_or(|(x, y)| x.is_finite() && y.is_finite());
    let guard_ok = p.guard.is_none_or(|g| g.x.is_finite() && g.y.is_finite());
    if p.id != id || !in_world(p.x, p.y, world) || !name_ok(&p.name) || !target_ok || !guard_ok {
        return Err(Dropped::OutOfBounds);
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions() -> Regions {
        Regions::new(2, 1000.0, 1000.0).unwrap()
    }

    fn origin() -> Origin {
        Origin {
            node: "n1".into(),
            region: [1, 0],
            epoch: 7,
        }
    }

    fn player(id: PlayerId) -> HandedOverPlayer {
        HandedOverPlayer {
            id,
            name: "ann".into(),
            x: 510.5,
            y: 20.25,
            target: Some((530.0, 20.0)),
            last_seq: Some(12),
            ack: 12,
            reset_epoch: 3,
            guard: None,
            pending_teleport: None,
        }
    }

    #[test]
    fn channels_round_trip_and_strangers_are_not_ours() {
        let r = RegionId::new(3, 14);
        assert_eq!(parse_channel(&border_channel(r)), Some(Channel::Border(r)));
        assert_eq!(parse_channel(&chat_channel(r)), Some(Channel::Chat(r)));
        for bad in [
            "locus:border:1",
            "locus:lease:1:2",
            "other:border:1:2",
            "locus:chat:a:2",
            "",
        ] {
            assert_eq!(parse_channel(bad), None, "{bad}");
        }
    }

    #[test]
    fn messages_round_trip() {
        let world = (1000.0, 1000.0);
        let update = BorderUpdate {
            origin: origin(),
            tick: 99,
            players: vec![MirrorEntry {
                id: 4,
                name: "bo".into(),
                x: 501.0,
                y: 2.0,
            }],
        };
        let back = decode_border(&encode(&update), &regions(), RegionId::new(1, 0), world);
        assert_eq!(back, Ok(update));
        let chat = ChatRelay {
            origin: origin(),
            id: 4,
            text: "hé".into(),
        };
        assert_eq!(
            decode_chat(&encode(&chat), &regions(), RegionId::new(1, 0)),
            Ok(chat)
        );
        let record = HandoffRecord {
            origin: origin(),
            to: [0, 0],
            player: player(9),
        };
        assert_eq!(
            decode_handoff(&encode(&record), &regions(), 9, world),
            Ok(record)
        );
    }

    #[test]
    fn garbage_and_lies_are_dropped_with_a_reason() {
        let world = (1000.0, 1000.0);
        let r = regions();
        let here = RegionId::new(1, 0);
        for bad in [
            &b"not json"[..],
            b"{}",
            b"[]",
            b"{\"origin\":5}",
            b"\xff\xfe",
        ] {
            assert_eq!(
                decode_border(bad, &r, here, world),
                Err(Dropped::Undecodable)
            );
            assert_eq!(decode_chat(bad, &r, here), Err(Dropped::Undecodable));
            assert_eq!(decode_handoff(bad, &r, 1, world), Err(Dropped::Undecodable));
        }
        let mut update = BorderUpdate {
            origin: origin(),
            tick: 1,
            players: vec![],
        };
        // Another region than the channel's, or one outside the cluster.
        assert_eq!(
            decode_border(&encode(&update), &r, RegionId::new(0, 0), world),
            Err(Dropped::BadRegion)
        );
        update.origin.region = [5, 0];
        assert_eq!(
            decode_border(&encode(&update), &r, RegionId::new(5, 0), world),
            Err(Dropped::BadRegion)
        );
        update.origin.region = [1, 0];
        for (x, name) in [
            (1e9, "ok"),
            (-1.0, "ok"),
            (5.0, ""),
            (5.0, &*"x".repeat(65)),
        ] {
            update.players = vec![MirrorEntry {
                id: 1,
                name: name.into(),
                x,
                y: 1.0,
            }];
            assert_eq!(
                decode_border(&encode(&update), &r, here, world),
                Err(Dropped::OutOfBounds)
            );
        }
        // NaN does not even encode as a number in JSON: it decodes as garbage.
        let nan = br#"{"origin":{"node":"n","region":[1,0],"epoch":1},"tick":1,"players":[{"id":1,"name":"a","x":null,"y":1}]}"#;
        assert_eq!(
            decode_border(nan, &r, here, world),
            Err(Dropped::Undecodable)
        );
        let extra =
            br#"{"origin":{"node":"n","region":[1,0],"epoch":1},"tick":1,"players":[],"x":1}"#;
        assert_eq!(
            decode_border(extra, &r, here, world),
            Err(Dropped::Undecodable)
        );
        for text in ["", "   ", &"y".repeat(201)] {
            let chat = ChatRelay {
                origin: origin(),
                id: 1,
                text: text.into(),
            };
            assert_eq!(
                decode_chat(&encode(&chat), &r, here),
                Err(Dropped::OutOfBounds)
            );
        }
        let mut record = HandoffRecord {
            origin: origin(),
            to: [0, 0],
            player: player(9),
        };
        // A record for another account, or one pointing outside the world.
        assert_eq!(
            decode_handoff(&encode(&record), &r, 8, world),
            Err(Dropped::OutOfBounds)
        );
        record.to = [2, 2];
        assert_eq!(
            decode_handoff(&encode(&record), &r, 9, world),
            Err(Dropped::BadRegion)
        );
        record.to = [0, 0];
        record.player.target = Some((f64::INFINITY, 1.0));
        assert!(decode_handoff(&encode(&record), &r, 9, world).is_err());
        let huge = vec![b' '; MAX_MESSAGE_BYTES + 1];
        assert_eq!(decode_chat(&huge, &r, here), Err(Dropped::Undecodable));
    }
}
