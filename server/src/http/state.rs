//! What every HTTP handler of the running server shares: the handles of
//! the layers below (database, players, world, metrics) and the HTTP-only
//! pieces (password hashing, login throttling, token lifetime).
//!
//! Holds handles only; the game session's own state is
//! `crate::session::SessionState`.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::{LoginThrottle, PasswordHasher};
use crate::cluster::ClusterNode;
use crate::metrics::Metrics;
use crate::session::players::Players;
use crate::session::world_link::WorldHandle;
use crate::socketio::Parser;
use crate::store::Store;

/// The HTTP edge's shared state; handlers hold it in an `Arc`.
pub struct AppState {
    /// Lifetime of the tokens `/api/login` issues.
    pub token_ttl: Duration,
    /// The Socket.IO packet format the server speaks (for `/api/health`).
    pub parser: Parser,
    /// The database (accounts, sessions, positions).
    pub store: Store,
    /// argon2id hashing off the async workers, with a concurrency cap.
    pub passwords: PasswordHasher,
    /// Login and registration throttling per account and per IP.
    pub throttle: LoginThrottle,
    /// Every metric served at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Who plays which account (logout kicks its sockets).
    pub players: Arc<Players>,
    /// The world's tick thread (health reads its tick and player count).
    pub world: WorldHandle,
    /// The cluster node (`--cluster`), for `GET /api/cluster`, the login's
    /// `url` and the health's `cluster`.
    pub cluster: Option<Arc<ClusterNode>>,
}

impl AppState {
    /// Copies the values other threads publish into the metric gauges, just
    /// before `/metrics` is rendered.
    pub fn refresh_gauges(&self) {
        let health = self.store.health();
        self.metrics
            .persistence_failing
            .set(i64::from(!health.last_flush_ok));
    }
}
