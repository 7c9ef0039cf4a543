//! Cluster membership in Redis: each node's key `locus:node:<id>` (JSON
//! [`NodeInfo`], expiring unless renewed), the set `locus:nodes` of ids
//! ever announced (filtered by existing keys to get the live nodes), and
//! the one-time shape check against `locus:cluster` (`SET NX`).

use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use super::shape::{ClusterShape, SHAPE_KEY};

/// The set of announced node ids.
pub const NODES_KEY: &str = "locus:nodes";

/// The key of node `id`.
pub fn node_key(id: &str) -> String {
    format!("locus:node:{id}")
}

/// What a node announces about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Random node id.
    pub id: String,
    /// Its public URL.
    pub url: String,
    /// Players it simulates.
    pub players: u64,
    /// Regions it holds, `[rx, ry]`.
    pub regions: Vec<[u32; 2]>,
}

/// A new random node id (16 hex digits).
pub fn new_node_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Refuses a node whose shape differs from the cluster's (storing ours
/// when the cluster has none yet). `Err` is the one line to print.
pub async fn check_shape(
    redis: &mut ConnectionManager,
    shape: &ClusterShape,
) -> Result<(), String> {
    let set: Option<String> = redis::cmd("SET")
        .arg(SHAPE_KEY)
        .arg(shape.to_json())
        .arg("NX")
        .query_async(redis)
        .await
        .map_err(|e| format!("cannot reach the cluster's Redis: {e}"))?;
    if set.is_some() {
        return Ok(());
    }
    let stored: Option<String> = redis::cmd("GET")
        .arg(SHAPE_KEY)
        .query_async(redis)
        .await
        .map_err(|e| format!("cannot reach the cluster's Redis: {e}"))?;
    match stored {
        Some(stored) => shape.check_against(&stored),
        None => Ok(()), // deleted in between: nothing to disagree with
    }
}

/// Writes (or renews) `info` with a `ttl` expiry and adds it to the set.
pub async fn announce(
    redis: &mut ConnectionManager,
    info: &NodeInfo,
    ttl: Duration,
) -> redis::RedisResult<()> {
    let json = serde_json::to_string(info).unwrap_or_default();
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    redis::pipe()
        .cmd("SET")
        .arg(node_key(&info.id))
        .arg(json)
        .arg("PX")
        .arg(ms)
        .ignore()
        .cmd("SADD")
        .arg(NODES_KEY)
        .arg(&info.id)
        .ignore()
        .query_async(redis)
        .await
}

/// Removes node `id` (clean stop).
pub async fn withdraw(redis: &mut ConnectionManager, id: &str) -> redis::RedisResult<()> {
    redis::pipe()
        .cmd("DEL")
        .arg(node_key(id))
        .ignore()
        .cmd("SREM")
        .arg(NODES_KEY)
        .arg(id)
        .ignore()
        .query_async(redis)
        .await
}

/// The live nodes sorted by id: announced ids whose key still exists and
/// decodes. Ids whose key expired are removed from the set; a key that
/// does not decode is skipped and logged (bad input from Redis).
pub async fn live_nodes(redis: &mut ConnectionManager) -> redis::RedisResult<Vec<NodeInfo>> {
    live_nodes_counted(redis, |_| {}).await
}

/// [`live_nodes`], calling `on_bad` with the id of every node key that
/// does not decode (so a running node can count them).
pub async fn live_nodes_counted(
    redis: &mut ConnectionManager,
    mut on_bad: impl FnMut(&str),
) -> redis::RedisResult<Vec<NodeInfo>> {
    let ids: Vec<String> = redis::cmd("SMEMBERS")
        .arg(NODES_KEY)
        .query_async(redis)
        .await?;
    let mut live = Vec::new();
    for id in ids {
        let value: Option<String> = redis::cmd("GET")
            .arg(node_key(&id))
            .query_async(redis)
            .await?;
        match value.map(|v| serde_json::from_str::<NodeInfo>(&v)) {
            Some(Ok(info)) if info.id == id => live.push(info),
            Some(_) => {
                tracing::warn!(node = %id, "node key in Redis does not decode; skipped");
                on_bad(&id);
            }
            None => {
                let _: redis::RedisResult<i64> = redis::cmd("SREM")
                    .arg(NODES_KEY)
                    .arg(&id)
                    .query_async(redis)
                    .await;
            }
        }
    }
    live.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(live)
}

/// The shape stored under `locus:cluster`, if any and if it decodes.
pub async fn stored_shape(
    redis: &mut ConnectionManager,
) -> redis::RedisResult<Option<ClusterShape>> {
    let stored: Option<String> = redis::cmd("GET").arg(SHAPE_KEY).query_async(redis).await?;
    Ok(stored.and_then(|s| serde_json::from_str(&s).ok()))
}

/// The cluster as `GET /api/cluster` and `locus admin cluster --json`
/// show it: `{"regions": N, "nodes": [{"id","url","regions","players"}]}`.
pub fn cluster_json(regions: u32, nodes: &[NodeInfo]) -> serde_json::Value {
    let nodes: Vec<_> = nodes
        .iter()
        .map(|n| serde_json::json!({"id": n.id, "url": n.url, "regions": n.regions, "players": n.players}))
        .collect();
    serde_json::json!({"regions": regions, "nodes": nodes})
}
