//! What every socket handler and the admin watcher of the running server
//! share: the session settings, the database, the metrics, the players
//! registry, the handle to the world's tick thread and the cluster node.
//!
//! Holds handles only; must not hold HTTP-only state (password hashing,
//! login throttling: those are `crate::http`'s).

use std::sync::Arc;

use super::players::Players;
use super::world_link::WorldHandle;
use super::SessionConfig;
use crate::cluster::ClusterNode;
use crate::metrics::Metrics;
use crate::store::Store;

/// The game session's shared state; handlers hold it in an `Arc`.
pub struct SessionState {
    /// The settings the session glue runs with.
    pub config: SessionConfig,
    /// The database (accounts, sessions, positions).
    pub store: Store,
    /// Every metric served at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Who plays which account.
    pub players: Arc<Players>,
    /// The world's tick thread.
    pub world: WorldHandle,
    /// The cluster node this server runs as (`--cluster`), if any: decides
    /// which players may play here.
    pub cluster: Option<Arc<ClusterNode>>,
}
