//! Rooms and broadcast delivery for one namespace, behind the [`Adapter`]
//! trait so a multi-node adapter (publishing encoded packets to other
//! servers) can replace the in-memory one without touching handlers.
//!
//! Owns room membership. Never encodes (packets arrive encoded once) and
//! never sends while holding its lock: recipients are collected, the lock is
//! released, then each recipient's queue is fed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use super::encode::EncodedPacket;
use super::socket::Socket;
use super::{read, write, EmitError};

/// A room name. Every socket is also in the room named by its own id.
pub type Room = Arc<str>;

/// Who a broadcast is for: sockets in any of `rooms` (every socket of the
/// namespace when empty), minus those in any of `except`, minus
/// `except_socket`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastTarget {
    /// Rooms to reach; empty means the whole namespace.
    pub rooms: Vec<Room>,
    /// Rooms whose members are skipped.
    pub except: Vec<Room>,
    /// A socket to skip (the sender of a `socket.broadcast()`).
    pub except_socket: Option<Arc<str>>,
}

/// What happened to a broadcast.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastReport {
    /// Sockets whose queue took the packet.
    pub delivered: usize,
    /// Sockets whose queue was full: they did not get the packet.
    pub full: Vec<Arc<str>>,
    /// Sockets that closed meanwhile.
    pub closed: usize,
}

impl BroadcastReport {
    /// Feeds `packet` to `socket`'s queue and counts the outcome.
    pub fn deliver(&mut self, socket: &Socket, packet: &EncodedPacket) {
        match socket.send_encoded(packet) {
            Ok(()) => self.delivered += 1,
            Err(EmitError::Full) => self.full.push(socket.id_arc().clone()),
            Err(_) => self.closed += 1,
        }
    }
}

/// Room membership and broadcast delivery for one namespace.
///
/// Called for every socket of the namespace: `add_socket` before its connect
/// handler runs (so it may join rooms there), `remove_socket` after its
/// disconnect handler (so rooms stay readable inside it).
pub trait Adapter: Send + Sync + 'static {
    /// A socket arrived; it joins the room named by its id.
    fn add_socket(&self, socket: &Socket);
    /// A socket left; it leaves every room.
    fn remove_socket(&self, id: &str);
    /// Adds socket `id` to `room`.
    fn join(&self, id: &str, room: Room);
    /// Removes socket `id` from `room`.
    fn leave(&self, id: &str, room: &str);
    /// The rooms of socket `id`, its own included.
    fn rooms(&self, id: &str) -> Vec<Room>;
    /// The local sockets `target` designates, each once.
    fn sockets(&self, target: &BroadcastTarget) -> Vec<Socket>;
    /// Delivers the already-encoded `packet` to every socket `target`
    /// designates. A multi-node adapter also forwards it to its peers.
    fn broadcast(&self, packet: &EncodedPacket, target: &BroadcastTarget) -> BroadcastReport {
        let mut report = BroadcastReport::default();
        for socket in self.sockets(target) {
            report.deliver(&socket, packet);
        }
        report
    }
}

/// The single-process adapter: room and socket indexes under one lock per
/// namespace. A room broadcast touches only the room's members.
#[derive(Default)]
pub struct InMemoryAdapter {
    /// Membership, read on broadcast, written on join/leave.
    index: RwLock<Index>,
}

#[derive(Default)]
struct Index {
    /// Room → its members.
    rooms: HashMap<Room, HashMap<Arc<str>, Socket>>,
    /// Socket id → the socket and its rooms.
    sockets: HashMap<Arc<str>, (Socket, HashSet<Room>)>,
}

impl Index {
    fn join(&mut self, id: &str, room: Room) {
        let Some((socket, rooms)) = self.sockets.get_mut(id) else {
            return;
        };
        if rooms.insert(room.clone()) {
            self.rooms
                .entry(room)
                .or_default()
                .insert(socket.id_arc().clone(), socket.clone());
        }
    }

    fn leave(&mut self, id: &str, room: &str) {
        let Some((_, rooms)) = self.sockets.get_mut(id) else {
            return;
        };
        if rooms.remove(room) {
            if let Some(members) = self.rooms.get_mut(room) {
                members.remove(id);
                if members.is_empty() {
                    self.rooms.remove(room);
                }
            }
        }
    }
}

impl InMemoryAdapter {
    /// An empty adapter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of rooms that have members.
    pub fn room_count(&self) -> usize {
        read(&self.index).rooms.len()
    }
}

impl Adapter for InMemoryAdapter {
    fn add_socket(&self, socket: &Socket) {
        let mut index = write(&self.index);
        let id = socket.id_arc().clone();
        index
            .sockets
            .insert(id.clone(), (socket.clone(), HashSet::new()));
        index.join(&id, id.clone());
    }

    fn remove_socket(&self, id: &str) {
        let mut index = write(&self.index);
        let Some((_, rooms)) = index.sockets.remove(id) else {
            return;
        };
        for room in rooms {
            if let Some(members) = index.rooms.get_mut(&room) {
                members.remove(id);
                if members.is_empty() {
                    index.rooms.remove(&room);
                }
            }
        }
    }

    fn join(&self, id: &str, room: Room) {
        write(&self.index).join(id, room);
    }

    fn leave(&self, id: &str, room: &str) {
        write(&self.index).leave(id, room);
    }

    fn rooms(&self, id: &str) -> Vec<Room> {
        read(&self.index)
            .sockets
            .get(id)
            .map(|(_, rooms)| rooms.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn sockets(&self, target: &BroadcastTarget) -> Vec<Socket> {
        let index = read(&self.index);
        let mut excluded: HashSet<&str> = HashSet::new();
        for room in &target.except {
            if let Some(members) = index.rooms.get(room) {
                excluded.extend(members.keys().map(|id| &**id));
            }
        }
        if let Some(id) = &target.except_socket {
            excluded.insert(id);
        }
        let keep = |id: &Arc<str>| !excluded.contains(&**id);
        match target.rooms.as_slice() {
            [] => index
                .sockets
                .iter()
                .filter(|(id, _)| keep(id))
                .map(|(_, (s, _))| s.clone())
                .collect(),
            [room] => index
                .rooms
                .get(room)
                .map(|members| {
                    members
                        .iter()
                        .filter(|(id, _)| keep(id))
                        .map(|(_, s)| s.clone())
                        .collect()
                })
                .unwrap_or_default(),
            rooms => {
                let mut seen: HashSet<&str> = HashSet::new();
                let mut out = Vec::new();
                for members in rooms.iter().filter_map(|room| index.rooms.get(room)) {
                    for (id, socket) in members {
                        if keep(id) && seen.insert(id) {
                            out.push(socket.clone());
                        }
                    }
                }
                out
            }
        }
    }
}
