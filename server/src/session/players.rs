//! Which Socket.IO socket plays which account (and in which form it takes
//! its snapshots): the registry the tick thread reads to deliver snapshots,
//! and the per-account lock that keeps a
//! connect and a disconnect of the same account from interleaving (so a
//! reconnect never reads a position older than the one being saved).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use super::SnapshotForm;
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

/// `migrate {"url"}`.
#[derive(Serialize)]
struct Migrate<'a> {
    url: &'a str,
}

/// How long after a player was handed to another node a `logged in
/// elsewhere` kick for it is taken as that handoff's own echo (the new
/// node's login of the same player) rather than a second login.
pub const MIGRATE_ECHO: Duration = Duration::from_secs(5);

/// The socket playing an account.
#[derive(Clone)]
pub struct Bound {
    /// The socket.
    pub socket: Socket,
    /// The form its client asked its snapshots in, at connect.
    pub form: SnapshotForm,
    /// When it was bound (the login time presence compares across servers).
    pub since: SystemTime,
}

/// The online players' sockets.
#[derive(Default)]
pub struct Players {
    /// Account id to the socket currently playing it. Read for every
    /// snapshot by the tick thread; written on connect and disconnect.
    bound: RwLock<HashMap<PlayerId, Bound>>,
    /// One async lock per account with a connect or disconnect in progress.
    account_locks: Mutex<HashMap<PlayerId, Arc<tokio::sync::Mutex<()>>>>,
    /// Accounts handed to another node, and when (pruned as they age).
    migrated: Mutex<HashMap<PlayerId, Instant>>,
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
        self.read().get(&id).map(|b| b.socket.clone())
    }

    /// The socket playing account `id` and the form it takes snapshots in.
    pub fn bound(&self, id: PlayerId) -> Option<Bound> {
        self.read().get(&id).cloned()
    }

    /// Binds `socket`, taking snapshots in `form`, to account `id`; returns
    /// the socket it replaces.
    pub fn bind(&self, id: PlayerId, socket: Socket, form: SnapshotForm) -> Option<Socket> {
        self.bound
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                id,
                Bound {
                    socket,
                    form,
                    since: SystemTime::now(),
                },
            )
            .map(|b| b.socket)
    }

    /// Unbinds account `id` if `socket_id` is still the socket playing it.
    pub fn unbind_if(&self, id: PlayerId, socket_id: &str) -> bool {
        let mut bound = self.bound.write().unwrap_or_else(|e| e.into_inner());
        if bound.get(&id).is_some_and(|b| b.socket.id() == socket_id) {
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

    /// Tells the socket playing account `id` to reconnect to `url`
    /// (`migrate {"url"}`), unbinds and closes it: the world has already
    /// handed the player to the node there.
    pub fn migrate_account(&self, id: PlayerId, url: &str) {
        let now = Instant::now();
        {
            let mut migrated = self.migrated.lock().unwrap_or_else(|e| e.into_inner());
            migrated.retain(|_, at| now.duration_since(*at) < MIGRATE_ECHO);
            migrated.insert(id, now);
        }
        let socket = {
            let mut bound = self.bound.write().unwrap_or_else(|e| e.into_inner());
            bound.remove(&id).map(|b| b.socket)
        };
        if let Some(socket) = socket {
            let _ = socket.emit("migrate", &Migrate { url });
            socket.disconnect();
            socket.close_connection();
        }
    }

    /// Whether account `id` was handed to another node within
    /// [`MIGRATE_ECHO`].
    pub fn recently_migrated(&self, id: PlayerId) -> bool {
        self.migrated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .is_some_and(|at| at.elapsed() < MIGRATE_ECHO)
    }

    /// Every bound socket; used at shutdown.
    pub fn sockets(&self) -> Vec<Socket> {
        self.read().values().map(|b| b.socket.clone()).collect()
    }

    /// A read view of the registry (held for a few instructions).
    pub fn read(&self) -> RwLockReadGuard<'_, HashMap<PlayerId, Bound>> {
        self.bound.read().unwrap_or_else(|e| e.into_inner())
    }
}
