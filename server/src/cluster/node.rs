//! The cluster node runtime started by `locus serve --cluster`: joins the
//! membership (a node key renewed every [`NodeTiming::interval`]), checks
//! the cluster shape once at start, and every interval computes the
//! desired owner of each region by rendezvous over the live nodes, takes,
//! renews and releases its region leases, and reads who holds every region
//! (for `moved` and `GET /api/cluster`). What it learns is kept in a
//! [`ClusterNode`] the session and HTTP layers ask ([`ClusterNode::route`],
//! [`ClusterNode::health`], [`ClusterNode::cluster_json`]).
//!
//! Faults: while Redis cannot be reached the node keeps every region it
//! holds (nobody can claim them meanwhile) and reports `degraded`; it
//! resumes (renewing, or re-taking leases lost with a restarted Redis)
//! when Redis answers again. Fencing: the node routes players into a
//! region only before its lease's fencing deadline. Values in Redis that
//! do not decode are dropped, counted in `locus_cluster_dropped_total{reason}`
//! and logged.
//!
//! What each round learnt is also published as one [`Holdings`] snapshot
//! (held regions with epochs and fencing deadlines, every region's holder),
//! which the tick thread's border hook and the relay read without a lock
//! held across a tick ([`ClusterNode::holdings`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio_util::sync::CancellationToken;

use super::leases::{self, Lease, Leases};
use super::membership::{self, NodeInfo};
use super::regions::{RegionId, Regions};
use super::rendezvous;
use super::shape::ClusterShape;
use crate::metrics::Metrics;

/// How often a node renews and how long its keys live.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeTiming {
    /// Time between two rounds (announce, claim, renew, read). Default 500 ms.
    pub interval: Duration,
    /// Life of the node key unless renewed. Default 3 s.
    pub node_ttl: Duration,
    /// Life of a region lease unless renewed. Default 3 s: with the
    /// interval, a killed node's regions are claimed within 3.5 s.
    pub lease_ttl: Duration,
    /// Subtracted from every lease deadline (clock drift, slow renewals).
    /// Default 500 ms.
    pub fencing_margin: Duration,
    /// Longest wait for one Redis connection or answer. Default 1 s.
    pub redis_timeout: Duration,
}

impl Default for NodeTiming {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(500),
            node_ttl: Duration::from_secs(3),
            lease_ttl: Duration::from_secs(3),
            fencing_margin: Duration::from_millis(500),
            redis_timeout: Duration::from_secs(1),
        }
    }
}

/// What a node is started with.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSettings {
    /// The cluster's Redis.
    pub redis_url: String,
    /// The URL clients reach this node at.
    pub public_url: String,
    /// The shape every node must agree on.
    pub shape: ClusterShape,
    /// Renewal periods and lifetimes.
    pub timing: NodeTiming,
}

/// Where a player at some position must play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// On this node: it holds the region's lease.
    Here,
    /// On the node at this public URL.
    Moved(String),
    /// Nobody holds the region right now (a claim is under way, or this
    /// node lost contact with Redis): the client should retry shortly.
    Unowned,
}

/// The holder of a region as last read from Redis.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    /// The holding node's id.
    pub node: String,
    /// Its public URL.
    pub url: String,
    /// The epoch of its lease: messages about the region must carry it.
    pub epoch: u64,
}

/// Who holds what, as of one round: the border hook's and the relay's view.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    /// Increases with every round that published it.
    pub generation: u64,
    /// This node's id.
    pub me: String,
    /// Regions this node holds: lease epoch and fencing deadline.
    pub held: BTreeMap<RegionId, (u64, Instant)>,
    /// The holder of each region by region index (`None`: free, or held by
    /// a node that is not live).
    pub holders: Vec<Option<Holder>>,
    /// Set on a clean stop with other nodes live: every player goes to
    /// its region's holder.
    pub leaving: bool,
}

impl Holdings {
    /// Whether this node may act for `region` at `now`.
    pub fn acts_for(&self, region: RegionId, now: Instant) -> bool {
        self.held
            .get(&region)
            .is_some_and(|(_, until)| now < *until)
    }

    /// The holder of the region with index `index`, if known and live.
    pub fn holder(&self, index: u32) -> Option<&Holder> {
        self.holders.get(index as usize).and_then(Option::as_ref)
    }
}

/// What the last round learnt; read by every request.
#[derive(Debug, Default)]
struct View {
    /// Regions this node holds, with their fencing deadlines.
    held: BTreeMap<RegionId, Instant>,
    /// The holder of each region by region index (`None`: free, held by a
    /// node that is not live, or a value that does not decode).
    holders: Vec<Option<Holder>>,
    /// The live nodes, sorted by id.
    nodes: Vec<NodeInfo>,
    /// Set on a clean stop: no player is routed here any more.
    leaving: bool,
}

/// A running cluster node: its identity, its view of the cluster and its
/// leases. Shared (`Arc`) by the renewal task and the request handlers.
pub struct ClusterNode {
    id: String,
    url: String,
    redis_url: String,
    shape: ClusterShape,
    regions: Regions,
    timing: NodeTiming,
    redis: ConnectionManager,
    leases: Leases,
    view: RwLock<View>,
    /// The last round's [`Holdings`], replaced whole every round.
    holdings: RwLock<Arc<Holdings>>,
    /// The leases themselves; only the renewal rounds and the stop touch them.
    held: tokio::sync::Mutex<BTreeMap<RegionId, Lease>>,
    degraded: AtomicBool,
    players_online: Box<dyn Fn() -> u64 + Send + Sync>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl ClusterNode {
    /// Connects to Redis, refuses a node that does not fit the cluster's
    /// shape, runs a first round (announce and claim) and starts the
    /// renewal task. `Err` is the one line to print.
    pub async fn join(
        settings: NodeSettings,
        metrics: Arc<Metrics>,
        players_online: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Result<Arc<Self>, String> {
        let unreachable = |e: redis::RedisError| {
            format!(
                "cannot reach the cluster's Redis {}: {e}",
                settings.redis_url
            )
        };
        let regions = Regions::new(
            settings.shape.regions,
            settings.shape.world_w,
            settings.shape.world_h,
        )
        .map_err(|e| e.to_string())?;
        let client = redis::Client::open(settings.redis_url.as_str()).map_err(unreachable)?;
        let timing = settings.timing;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timing.redis_timeout))
            .set_response_timeout(Some(timing.redis_timeout))
            .set_number_of_retries(1)
            .set_max_delay(timing.interval);
        let mut redis = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unreachable)?;
        membership::check_shape(&mut redis, &settings.shape).await?;
        let id = membership::new_node_id();
        let leases = Leases::new(
            redis.clone(),
            id.clone(),
            timing.lease_ttl,
            timing.fencing_margin,
        );
        let node = Arc::new(Self {
            id,
            url: settings.public_url,
            redis_url: settings.redis_url.clone(),
            shape: settings.shape,
            regions,
            timing,
            redis,
            leases,
            view: RwLock::new(View::default()),
            holdings: RwLock::new(Arc::new(Holdings::default())),
            held: tokio::sync::Mutex::new(BTreeMap::new()),
            degraded: AtomicBool::new(false),
            players_online: Box::new(players_online),
            metrics,
            stop: CancellationToken::new(),
            task: Mutex::new(None),
        });
        node.round().await.map_err(unreachable)?;
        tracing::info!(node = %node.id, url = %node.url, regions = node.regions.per_side(), "joined the cluster");
        let running = node.clone();
        let task = tokio::spawn(async move { running.run().await });
        *node.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(node)
    }

    /// This node's public URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// This node's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The cluster's regions.
    pub fn regions(&self) -> &Regions {
        &self.regions
    }

    /// The cluster's Redis URL (for the relay's subscriber connection).
    pub fn redis_url(&self) -> &str {
        &self.redis_url
    }

    /// A connection to the cluster's Redis (it reconnects by itself).
    pub fn redis(&self) -> ConnectionManager {
        self.redis.clone()
    }

    /// The metrics this node counts into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Who held what at the last round (empty after a clean stop began).
    pub fn holdings(&self) -> Arc<Holdings> {
        self.holdings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `"ok"`, or `"degraded"` while Redis cannot be reached.
    pub fn health(&self) -> &'static str {
        if self.degraded.load(Ordering::Relaxed) {
            "degraded"
        } else {
            "ok"
        }
    }

    /// Where a player at `(x, y)` must play (never here once leaving).
    pub fn route(&self, x: f64, y: f64) -> Route {
        let region = self.regions.region_of(x, y);
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        if !view.leaving
            && view
                .held
                .get(&region)
                .is_some_and(|until| Instant::now() < *until)
        {
            return Route::Here;
        }
        let index = self.regions.index(region) as usize;
        match view.holders.get(index).cloned().flatten() {
            Some(holder) if holder.node != self.id => Route::Moved(holder.url),
            _ => Route::Unowned,
        }
    }

    /// [`Self::route`] for a stored position, `None` (never placed) meaning
    /// the world's spawn point, its centre (the game's rule).
    pub fn route_stored(&self, position: Option<(f64, f64)>) -> Route {
        let (x, y) = position.unwrap_or((self.shape.world_w / 2.0, self.shape.world_h / 2.0));
        self.route(x, y)
    }

    /// The cluster as `GET /api/cluster` shows it: every live node with the
    /// regions whose lease it holds (as last read) and its online players.
    pub fn cluster_json(&self) -> serde_json::Value {
        let view = self.view.read().unwrap_or_else(|e| e.into_inner());
        let nodes: Vec<NodeInfo> = view
            .nodes
            .iter()
            .map(|node| NodeInfo {
                regions: self
                    .regions
                    .all()
                    .filter(|r| {
                        let index = self.regions.index(*r) as usize;
                        matches!(view.holders.get(index), Some(Some(h)) if h.node == node.id)
                    })
                    .map(|r| [r.rx, r.ry])
                    .collect(),
                ..node.clone()
            })
            .collect();
        membership::cluster_json(self.regions.per_side(), &nodes)
    }

    /// A clean stop, first half: routes no player here any more and
    /// removes the node key. When other live nodes can take the regions,
    /// it also releases every lease at once and keeps reading who holds
    /// what (rounds that only read), so that the tick hook hands every
    /// player over to its region's new holder: returns true then, and the
    /// caller waits for the players to go before [`Self::stop_rounds`].
    /// Alone, it keeps its leases until [`Self::release_leases`] (after the
    /// final save, so a later owner loads the saved positions).
    pub async fn leave(&self) -> bool {
        let others = {
            let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
            view.leaving = true;
            view.nodes.iter().any(|n| n.id != self.id)
        };
        let mut redis = self.redis.clone();
        if let Err(error) = membership::withdraw(&mut redis, &self.id).await {
            tracing::warn!(%error, "cannot remove the node key; it expires by itself");
        }
        if !others {
            self.stop_rounds().await;
            self.publish_holdings(|h| h.held.clear());
            return false;
        }
        self.publish_holdings(|h| {
            h.held.clear();
            h.leaving = true;
        });
        self.release_leases().await;
        true
    }

    /// Stops the rounds (a clean stop, after the players were handed over).
    pub async fn stop_rounds(&self) {
        self.stop.cancel();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// A clean stop, second half (after the players' positions are saved,
    /// so the next owner loads them): releases every lease.
    pub async fn release_leases(&self) {
        let held = std::mem::take(&mut *self.held.lock().await);
        for lease in held.values() {
            if let Err(error) = self.leases.release(lease).await {
                tracing::warn!(%error, region = ?lease.region, "cannot release a lease; it expires by itself");
            }
        }
        tracing::info!(regions = held.len(), "region leases released");
    }

    /// Rounds every interval until stopped; Redis errors mark the node
    /// degraded (its regions are kept) until a round succeeds again.
    async fn run(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(self.timing.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            match self.round().await {
                Ok(()) => {
                    if self.degraded.swap(false, Ordering::Relaxed) {
                        tracing::info!("the cluster's Redis answers again; coordination resumed");
                        let mut redis = self.redis.clone();
                        if let Err(line) = membership::check_shape(&mut redis, &self.shape).await {
                            tracing::error!("{line}");
                        }
                    }
                }
                Err(error) => {
                    if !self.degraded.swap(true, Ordering::Relaxed) {
                        tracing::warn!(%error, "the cluster's Redis cannot be reached; keeping the regions held (degraded)");
                    }
                }
            }
        }
    }

    /// One round: announce, read the live nodes, claim / renew / release
    /// leases towards the rendezvous owners, read every region's holder.
    async fn round(&self) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        let mut held = self.held.lock().await;
        if self.view.read().unwrap_or_else(|e| e.into_inner()).leaving {
            // Leaving: no announce, no claims; only who holds what now.
            let live =
                membership::live_nodes_counted(&mut redis, |_| self.dropped("node_key")).await?;
            let holders = self.read_holders(&mut redis, &live).await?;
            {
                let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
                view.holders = holders.clone();
                view.nodes = live;
            }
            self.publish_holdings(|h| {
                h.held.clear();
                h.holders = holders;
            });
            return Ok(());
        }
        let info = NodeInfo {
            id: self.id.clone(),
            url: self.url.clone(),
            players: (self.players_online)(),
            regions: held.keys().map(|r| [r.rx, r.ry]).collect(),
        };
        membership::announce(&mut redis, &info, self.timing.node_ttl).await?;
        let live = membership::live_nodes_counted(&mut redis, |_| self.dropped("node_key")).await?;
        let mut ids: Vec<String> = live.iter().map(|n| n.id.clone()).collect();
        if !ids.contains(&self.id) {
            ids.push(self.id.clone());
        }
        for region in self.regions.all() {
            let mine = rendezvous::owner(&ids, region) == Some(self.id.as_str());
            match held.get(&region).cloned() {
                Some(lease) if !mine => {
                    // Another live node should own it: stop routing players
                    // here before the lease is gone (the new owner may take
                    // it at once), then let it go.
                    held.remove(&region);
                    self.stop_routing(region);
                    self.leases.release(&lease).await?;
                    tracing::info!(?region, "region released to its new owner");
                }
                Some(mut lease) => {
                    if self.leases.renew(&mut lease).await? {
                        held.insert(region, lease);
                    } else {
                        // Lost (expired while Redis was away, or a restarted
                        // Redis forgot it): take it again if still free.
                        held.remove(&region);
                        self.stop_routing(region);
                        match self.leases.acquire(region).await? {
                            Some(lease) => {
                                tracing::info!(
                                    ?region,
                                    epoch = lease.epoch,
                                    "region lease taken again"
                                );
                                held.insert(region, lease);
                            }
                            None => tracing::warn!(?region, "region lease lost to another node"),
                        }
                    }
                }
                None if mine => {
                    if let Some(lease) = self.leases.acquire(region).await? {
                        tracing::info!(?region, epoch = lease.epoch, "region claimed");
                        held.insert(region, lease);
                    }
                }
                None => {}
            }
        }
        let holders = self.read_holders(&mut redis, &live).await?;
        let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
        view.held = held
            .iter()
            .map(|(region, lease)| (*region, lease.acts_until()))
            .collect();
        let leaving = view.leaving;
        view.holders = holders.clone();
        view.nodes = live;
        drop(view);
        if !leaving {
            self.publish_holdings(|h| {
                h.held = held
                    .iter()
                    .map(|(region, lease)| (*region, (lease.epoch, lease.acts_until())))
                    .collect();
                h.holders = holders;
            });
        }
        Ok(())
    }

    /// Replaces the published [`Holdings`] with a changed copy.
    fn publish_holdings(&self, change: impl FnOnce(&mut Holdings)) {
        let mut slot = self.holdings.write().unwrap_or_else(|e| e.into_inner());
        let mut next = (**slot).clone();
        next.generation += 1;
        next.me.clone_from(&self.id);
        change(&mut next);
        *slot = Arc::new(next);
    }

    /// Routes no new player to `region` from now on (before this round ends
    /// and publishes the whole view), so that no two nodes admit players
    /// for it while its lease changes hands.
    fn stop_routing(&self, region: RegionId) {
        self.view
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .held
            .remove(&region);
        self.publish_holdings(|h| {
            h.held.remove(&region);
        });
    }

    /// Every region's holder (one `MGET`), by region index.
    async fn read_holders(
        &self,
        redis: &mut ConnectionManager,
        live: &[NodeInfo],
    ) -> redis::RedisResult<Vec<Option<Holder>>> {
        let keys: Vec<String> = self.regions.all().map(leases::lease_key).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(redis).await?;
        Ok(values
            .iter()
            .zip(&keys)
            .map(|(value, key)| {
                let value = value.as_deref()?;
                let Some((node, epoch)) = leases::parse_value(value) else {
                    tracing::warn!(%key, "lease value in Redis does not decode; ignored");
                    self.dropped("lease_value");
                    return None;
                };
                let url = live.iter().find(|n| n.id == node)?.url.clone();
                Some(Holder {
                    node: node.to_owned(),
                    url,
                    epoch,
                })
            })
            .collect())
    }

    fn dropped(&self, reason: &str) {
        self.metrics.cluster_dropped(reason);
    }
}
