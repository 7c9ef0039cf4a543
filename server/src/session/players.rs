//! Which Socket.IO socket plays which account: the registry the tick
//! thread reads to deliver snapshots, and the per-account lock that keeps a
//! connect and a disconnect of the same account from interleaving (so a
//! reconnect never reads a position older than the one being saved).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use serde::Serialize;

use crate::game::PlayerId;
use crate::socketio::Socket;

/// `kicked {"reason"}`.
#[derive(Serialize)]
struct Kicked<'a> {
    reason: &'a str,
}

/// Sends `kicked {"reason"}` to `socket`, then disconnects it and closes
/// its connection (the client should not silently reconnect).
pub fn kick(socket: &Socket, reason: &str) {
    // A full or closed queue cannot take the notice; the disconnect follows anyway.
    let _ = socket.emit("kicked", &Kicked { reason });
    socket.disconnect();
    socket.close_connection();
}

/// The online players' sockets.
#[derive(Default)]
pub struct Players {
    /// Account id to the socket currently playing it. Read once per tick by
    /// the tick thread; written on connect and disconnect.
    bound: RwLock<HashMap<PlayerId, Socket>>,
    /// One async lock per account with a connect or disconnect in progress.
    account_locks: Mutex<HashMap<PlayerId, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds an account's lock; dropping it releases the lock.
pub struct AccountGuard<'a> {
    players: &'a Players,
    id: PlayerId,
    lock: Arc<tokio::sync::Mutex<()>>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for AccountGuard<'_> {
    fn drop(&mut self) {
        let mut locks = self
            .players
            .account_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Two references: ours and the map's. Anyone else waiting holds a third.
        if Arc::strong_count(&self.lock) <= 2 {
            locks.remove(&self.id);
        }
    }
}

impl Players {
    /// Waits until no other connect or disconnect of account `id` runs.
    pub async fn lock_account(&self, id: PlayerId) -> AccountGuard<'_> {
        let lock = {
            let mut locks = self.account_locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.entry(id).or_default().clone()
        };
        let guard = lock.clone().lock_owned().await;
        AccountGuard {
            players: self,
            id,
            lock,
            _guard: guard,
        }
    }

    /// Number of online players.
    pub fn online(&self) -> usize {
        self.read().len()
    }

    /// The socket playing account `id`.
    pub fn socket(&self, id: PlayerId) -> Option<Socket> {
        self.read().get(&id).cloned()
    }

    /// Binds `socket` to account `id`; returns the socket it replaces.
    pub fn bind(&self, id: PlayerId, socket: Socket) -> Option<Socket> {
        self.bound
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, socket)
    }

    /// Unbinds account `id` if `socket_id` is still the socket playing it.
    pub fn unbind_if(&self, id: PlayerId, socket_id: &str) -> bool {
        let mut bound = self.bound.write().unwrap_or_else(|e| e.into_inner());
        if bound.get(&id).is_some_and(|s| s.id() == socket_id) {
            bound.remove(&id);
            true
        } else {
            false
        }
    }

    /// Kicks the socket playing account `id`, if any.
    pub fn kick_account(&self, id: PlayerId, reason: &str) {
        if let Some(socket) = self.socket(id) {
            kick(&socket, reason);
        }
    }

    /// Every bound socket; used at shutdown.
    pub fn sockets(&self) -> Vec<Socket> {
        self.read().values().cloned().collect()
    }

    /// A read view of the registry, held by the tick thread for one tick.
    pub fn read(&self) -> RwLockReadGuard<'_, HashMap<PlayerId, Socket>> {
        self.bound.read().unwrap_or_else(|e| e.into_inner())
    }
}
