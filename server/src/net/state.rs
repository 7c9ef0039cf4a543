//! What every request and socket handler of the running server shares.

use std::sync::Arc;

use super::metrics::Metrics;
use super::players::Players;
use super::world_link::WorldHandle;
use crate::auth::{LoginThrottle, PasswordHasher};
use crate::config::Config;
use crate::store::Store;

/// The running server's shared state; handlers hold it in an `Arc`.
pub struct AppState {
    /// The settings the server started with.
    pub config: Config,
    /// The database (accounts, sessions, positions).
    pub store: Store,
    /// argon2id hashing off the async workers, with a concurrency cap.
    pub passwords: PasswordHasher,
    /// Login and registration throttling per account and per IP.
    pub throttle: LoginThrottle,
    /// Every metric served at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Who plays which account.
    pub players: Arc<Players>,
    /// The world's tick thread.
    pub world: WorldHandle,
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
