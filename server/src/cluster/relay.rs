//! The cluster node's traffic with the other nodes through Redis, off the
//! tick thread. Out: border updates and chat are PUBLISHed on their
//! region's channel; a handoff first waits for the store to commit the
//! player's saved position, then writes its record
//! (`SET locus:handoff:<id> ... PX 10000`) and only then tells the client to
//! `migrate` (so the new node finds either the record or the saved
//! position, never an older one). In: one pub/sub connection subscribed to
//! every border and chat channel applies what the holders of neighbouring
//! regions publish as world mirrors and mirrored chat, dropping (counting
//! and logging) what does not decode or does not come from the region's
//! current holder; a watcher clears the mirrors of a region whose holder
//! changed, and retires handoffs in flight once their record is taken.
//!
//! Handoffs in flight ([`InFlight`]) keep a migrating player visible on
//! both sides while its client reconnects: the old node keeps publishing it
//! in the band of the region it left, and keeps its own mirror of it even
//! though the new node does not publish it yet.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::messages::{self, BorderUpdate, Channel, ChatRelay, Dropped, HandoffRecord};
use super::node::ClusterNode;
use super::regions::RegionId;
use crate::game::tick_loop::WorldCommand;
use crate::game::{HandedOverPlayer, MirrorEntry, PlayerId};
use crate::store::Store;

/// How long a handoff record waits in Redis for the player's client.
pub const HANDOFF_TTL: Duration = Duration::from_secs(10);
/// How long a taken handoff stays in flight: enough for the new node to
/// publish the player in its own band.
const TAKEN_GRACE: Duration = Duration::from_millis(500);
/// Border updates and chat queued for publishing before new ones are
/// dropped (Redis slow or away; a border update is resent within a second).
const OUTGOING_QUEUE: usize = 4096;
/// How often the watcher looks at holders and handoffs in flight.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);
/// Longest wait between two attempts to reopen the subscriber connection.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A player handed over and not yet settled on its new node.
#[derive(Debug, Clone, PartialEq)]
pub struct InFlight {
    /// The region it left (whose band keeps publishing it meanwhile).
    pub from: RegionId,
    /// The region it walked into.
    pub to: RegionId,
    /// Where it was handed over.
    pub entry: MirrorEntry,
    /// When its record expires.
    pub until: Instant,
    /// Whether its record is in Redis (written by the relay after the
    /// store's flush): only then does a missing record mean it was taken.
    pub written: bool,
    /// When the watcher saw its record gone (taken by the new node).
    pub taken_at: Option<Instant>,
}

/// Handoffs in flight by player, shared by the tick hook and the relay.
pub type InFlightMap = Arc<Mutex<HashMap<PlayerId, InFlight>>>;

/// A handoff for the relay to complete.
#[derive(Debug, Clone)]
pub struct Handoff {
    /// The record to write.
    pub record: HandoffRecord,
    /// The new node's public URL (the `migrate` event's).
    pub url: String,
}

/// What the tick thread and the outbox give the relay (never blocks).
#[derive(Clone)]
pub struct RelaySender {
    published: mpsc::Sender<Published>,
    handoffs: mpsc::UnboundedSender<Handoff>,
    node: Arc<ClusterNode>,
    /// Handoffs queued and not yet announced to their clients.
    pending: Arc<AtomicUsize>,
}

/// A message for a region's channel.
#[derive(Debug)]
enum Published {
    Border(BorderUpdate),
    Chat(ChatRelay),
}

/// The relay's end of a [`RelaySender`].
pub struct RelayInbox {
    published: mpsc::Receiver<Published>,
    handoffs: mpsc::UnboundedReceiver<Handoff>,
    pending: Arc<AtomicUsize>,
}

/// A sender and the inbox it feeds.
pub fn channel(node: Arc<ClusterNode>) -> (RelaySender, RelayInbox) {
    let (published, published_rx) = mpsc::channel(OUTGOING_QUEUE);
    let (handoffs, handoffs_rx) = mpsc::unbounded_channel();
    let pending = Arc::new(AtomicUsize::new(0));
    (
        RelaySender {
            published,
            handoffs,
            node,
            pending: pending.clone(),
        },
        RelayInbox {
            published: published_rx,
            handoffs: handoffs_rx,
            pending,
        },
    )
}

impl RelaySender {
    /// Queues a border update; dropped (and counted) when the queue is full.
    pub fn border(&self, update: BorderUpdate) {
        self.publish(Published::Border(update));
    }

    /// Queues chat for the other side of a border.
    pub fn chat(&self, chat: ChatRelay) {
        self.publish(Published::Chat(chat));
    }

    /// Queues a handoff (never dropped: the player waits for it).
    pub fn handoff(&self, handoff: Handoff) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        if self.handoffs.send(handoff).is_err() {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(
                "a handoff after the relay stopped; the player keeps its saved position"
            );
        }
    }

    /// Handoffs queued whose client was not yet told to `migrate`.
    pub fn pending_handoffs(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// The node this relay speaks for.
    pub fn node(&self) -> &Arc<ClusterNode> {
        &self.node
    }

    fn publish(&self, message: Published) {
        if self.published.try_send(message).is_err() {
            self.node.metrics().cluster_dropped("relay_queue_full");
        }
    }
}

/// What the relay acts on besides Redis.
#[derive(Clone)]
pub struct RelayLinks {
    /// Sends a command to the world; false when it was not taken.
    pub world: Arc<dyn Fn(WorldCommand) -> bool + Send + Sync>,
    /// Sends `migrate {url}` to the player's socket and closes it.
    pub migrate: Arc<dyn Fn(PlayerId, String) + Send + Sync>,
    /// The store, flushed before a handoff is announced.
    pub store: Store,
    /// The world's size, for checking positions from Redis.
    pub world_size: (f64, f64),
}

/// Runs the relay until `stop`: publisher, subscriber and watcher.
pub async fn run(
    node: Arc<ClusterNode>,
    inbox: RelayInbox,
    in_flight: InFlightMap,
    links: RelayLinks,
    stop: CancellationToken,
) {
    let publisher = publish(
        node.clone(),
        inbox,
        in_flight.clone(),
        links.clone(),
        stop.clone(),
    );
    let subscriber = subscribe(node.clone(), in_flight.clone(), links.clone(), stop.clone());
    let watcher = watch(node, in_flight, links, stop);
    tokio::join!(publisher, subscriber, watcher);
}

/// Takes the handoff record of account `id` if one waits (`GETDEL`): the
/// player's state when it is handed to a region this node holds, else
/// `None` (no record, or one dropped and counted: it does not decode, or
/// names a region this node does not hold; the player's saved position is
/// then used). `Err` when Redis cannot be asked.
pub async fn take_handoff(
    node: &ClusterNode,
    id: PlayerId,
    world_size: (f64, f64),
) -> Result<Option<HandedOverPlayer>, redis::RedisError> {
    let mut redis = node.redis();
    let bytes: Option<Vec<u8>> = redis::cmd("GETDEL")
        .arg(messages::handoff_key(id))
        .query_async(&mut redis)
        .await?;
    let Some(bytes) = bytes else {
        return Ok(None);
    };
    let record = match messages::decode_handoff(&bytes, node.regions(), id, world_size) {
        Ok(record) => record,
        Err(reason) => {
            dropped(node, reason, "a handoff record");
            return Ok(None);
        }
    };
    let to = RegionId::new(record.to[0], record.to[1]);
    let here = node.regions().region_of(record.player.x, record.player.y);
    if !node.holdings().acts_for(to, Instant::now()) || here != to {
        node.metrics().cluster_dropped("handoff_not_ours");
        tracing::warn!(player = id, region = ?to, "a handoff record for a region this node does not hold; using the saved position");
        return Ok(None);
    }
    node.metrics().cluster_handoffs_in.inc();
    tracing::debug!(
        player = id,
        x = record.player.x,
        y = record.player.y,
        "took a handoff record"
    );
    Ok(Some(record.player))
}

fn dropped(node: &ClusterNode, reason: Dropped, what: &str) {
    node.metrics().cluster_dropped(reason.label());
    match reason {
        // Normal while a region changes hands: not worth a warning.
        Dropped::NotTheHolder => tracing::debug!(%reason, "{what} from Redis dropped"),
        _ => tracing::warn!(%reason, "{what} from Redis dropped"),
    }
}

/// PUBLISHes border updates and chat; completes handoffs.
async fn publish(
    node: Arc<ClusterNode>,
    mut inbox: RelayInbox,
    in_flight: InFlightMap,
    links: RelayLinks,
    stop: CancellationToken,
) {
    let mut redis = node.redis();
    let mut failing = false;
    loop {
        let result = tokio::select! {
            () = stop.cancelled() => return,
            Some(first) = inbox.published.recv() => {
                let mut pipe = redis::pipe();
                let mut bytes = 0;
                let mut next = Some(first);
                let mut count = 0;
                while let Some(message) = next {
                    let (channel, payload) = match message {
                        Published::Border(u) => (messages::border_channel(u.origin.region_id()), messages::encode(&u)),
                        Published::Chat(c) => (messages::chat_channel(c.origin.region_id()), messages::encode(&c)),
                    };
                    bytes += payload.len();
                    pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
                    count += 1;
                    next = if count < 256 { inbox.published.try_recv().ok() } else { None };
                }
                node.metrics().cluster_published_bytes.inc_by(bytes as u64);
                pipe.query_async::<()>(&mut redis).await
            }
            Some(first) = inbox.handoffs.recv() => {
                let mut batch = vec![first];
                while let Ok(next) = inbox.handoffs.try_recv() {
                    batch.push(next);
                }
                let count = batch.len();
                let done = complete_handoffs(&node, &mut redis, &in_flight, &links, batch).await;
                inbox.pending.fetch_sub(count, Ordering::SeqCst);
                done
            }
        };
        match result {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("publishing to the cluster's Redis again");
            }
            Ok(()) => {}
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "cannot publish to the cluster's Redis; border updates are lost meanwhile");
            }
            Err(_) => {}
        }
    }
}

/// Saves, records and migrates a batch of handed-over players. The
/// players go whatever happens: without a record the new node reads the
/// position this waited for the store to commit.
async fn complete_handoffs(
    node: &ClusterNode,
    redis: &mut redis::aio::ConnectionManager,
    in_flight: &InFlightMap,
    links: &RelayLinks,
    batch: Vec<Handoff>,
) -> redis::RedisResult<()> {
    if let Err(error) = links.store.flush().await {
        tracing::warn!(%error, "positions of handed-over players not yet saved");
    }
    let mut pipe = redis::pipe();
    let mut bytes = 0;
    for handoff in &batch {
        let payload = messages::encode(&handoff.record);
        bytes += payload.len();
        pipe.cmd("SET")
            .arg(messages::handoff_key(handoff.record.player.id))
            .arg(payload)
            .arg("PX")
            .arg(HANDOFF_TTL.as_millis() as u64)
            .ignore();
    }
    node.metrics().cluster_published_bytes.inc_by(bytes as u64);
    let written = pipe.query_async::<()>(redis).await;
    match &written {
        Ok(()) => {
            let mut flying = in_flight.lock().unwrap_or_else(|e| e.into_inner());
            for handoff in &batch {
                if let Some(f) = flying.get_mut(&handoff.record.player.id) {
                    f.written = true;
                }
            }
        }
        Err(error) => {
            tracing::warn!(%error, players = batch.len(), "handoff records not written; the new node reads the saved positions");
        }
    }
    for handoff in batch {
        node.metrics().cluster_handoffs_out.inc();
        (links.migrate)(handoff.record.player.id, handoff.url);
    }
    written
}

/// Keeps one pub/sub connection open (with backoff) and applies what it
/// receives.
async fn subscribe(
    node: Arc<ClusterNode>,
    in_flight: InFlightMap,
    links: RelayLinks,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let opened = async {
            let client = redis::Client::open(node.redis_url())?;
            let mut pubsub = client.get_async_pubsub().await?;
            for pattern in messages::CHANNEL_PATTERNS {
                pubsub.psubscribe(pattern).await?;
            }
            Ok::<_, redis::RedisError>(pubsub)
        };
        let opened = tokio::select! {
            () = stop.cancelled() => return,
            opened = tokio::time::timeout(MAX_BACKOFF, opened) => opened,
        };
        match opened {
            Ok(Ok(pubsub)) => {
                backoff = Duration::from_millis(100);
                tracing::debug!("subscribed to the cluster's border and chat channels");
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        message = messages.next() => match message {
                            Some(message) => receive(&node, &in_flight, &links, message.get_channel_name(), message.get_payload_bytes()),
                            None => break,
                        },
                    }
                }
                tracing::warn!("the cluster's pub/sub connection closed; reopening it");
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "cannot subscribe to the cluster's channels yet")
            }
            Err(_) => tracing::debug!("subscribing to the cluster's channels timed out"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Whether this node mirrors `region`: it does not hold it, and it holds
/// one of its neighbours.
fn mirrors(node: &ClusterNode, region: RegionId, now: Instant) -> bool {
    let holdings = node.holdings();
    !holdings.acts_for(region, now)
        && node
            .regions()
            .neighbours(region)
            .iter()
            .any(|n| holdings.acts_for(*n, now))
}

/// Applies one message from a border or chat channel.
fn receive(
    node: &ClusterNode,
    in_flight: &InFlightMap,
    links: &RelayLinks,
    channel: &str,
    payload: &[u8],
) {
    let Some(channel) = messages::parse_channel(channel) else {
        return;
    };
    let (Channel::Border(region) | Channel::Chat(region)) = channel;
    if !node.regions().is_valid(region) {
        return dropped(node, Dropped::BadRegion, "a message");
    }
    if !mirrors(node, region, Instant::now()) {
        return; // ours, or not next to ours: not for this node
    }
    let holdings = node.holdings();
    let is_holder = |origin: &messages::Origin| {
        holdings
            .holder(node.regions().index(region))
            .is_some_and(|h| h.node == origin.node && h.epoch == origin.epoch)
    };
    let source = node.regions().index(region);
    match channel {
        Channel::Border(_) => {
            let mut update =
                match messages::decode_border(payload, node.regions(), region, links.world_size) {
                    Ok(update) => update,
                    Err(reason) => return dropped(node, reason, "a border update"),
                };
            if update.origin.node == holdings.me {
                return;
            }
            if !is_holder(&update.origin) {
                return dropped(node, Dropped::NotTheHolder, "a border update");
            }
            // Players this node handed into the region stay mirrored until
            // their new node publishes them.
            {
                let flying = in_flight.lock().unwrap_or_else(|e| e.into_inner());
                for f in flying.values().filter(|f| f.to == region) {
                    if !update.players.iter().any(|p| p.id == f.entry.id) {
                        update.players.push(f.entry.clone());
                    }
                }
            }
            if !(links.world)(WorldCommand::SetMirrors {
                source,
                entries: update.players,
            }) {
                node.metrics().cluster_dropped("world_busy");
            }
        }
        Channel::Chat(_) => {
            let chat = match messages::decode_chat(payload, node.regions(), region) {
                Ok(chat) => chat,
                Err(reason) => return dropped(node, reason, "a chat relay"),
            };
            if chat.origin.node == holdings.me {
                return;
            }
            if !is_holder(&chat.origin) {
                return dropped(node, Dropped::NotTheHolder, "a chat relay");
            }
            if !(links.world)(WorldCommand::ChatFromMirror {
                from: chat.id,
                text: chat.text,
            }) {
                node.metrics().cluster_dropped("world_busy");
            }
        }
    }
}

/// Clears the mirrors of regions whose holder changed (or that stopped
/// being next to this node's), and retires handoffs whose record was taken
/// or expired.
async fn watch(
    node: Arc<ClusterNode>,
    in_flight: InFlightMap,
    links: RelayLinks,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(WATCH_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Per region index: the (holder, epoch) last seen while mirrored.
    let mut seen: HashMap<u32, Option<(String, u64)>> = HashMap::new();
    let mut redis = node.redis();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let now = Instant::now();
        let holdings = node.holdings();
        for region in node.regions().all() {
            let index = node.regions().index(region);
            let current = mirrors(&node, region, now)
                .then(|| holdings.holder(index).map(|h| (h.node.clone(), h.epoch)))
                .flatten();
            let before = seen.insert(index, current.clone()).flatten();
            if before.is_some() && before != current {
                (links.world)(WorldCommand::ClearMirrors { source: index });
            }
        }
        let pending: Vec<PlayerId> = {
            let mut flying = in_flight.lock().unwrap_or_else(|e| e.into_inner());
            flying.retain(|_, f| now < f.until && f.taken_at.is_none_or(|t| now < t + TAKEN_GRACE));
            flying
                .iter()
                .filter(|(_, f)| f.written && f.taken_at.is_none())
                .map(|(id, _)| *id)
                .collect()
        };
        if pending.is_empty() {
            continue;
        }
        let mut pipe = redis::pipe();
        for id in &pending {
            pipe.cmd("EXISTS").arg(messages::handoff_key(*id));
        }
        let Ok(exists) = pipe.query_async::<Vec<bool>>(&mut redis).await else {
            continue;
        };
        let mut flying = in_flight.lock().unwrap_or_else(|e| e.into_inner());
        for (id, exists) in pending.iter().zip(exists) {
            if let (false, Some(f)) = (exists, flying.get_mut(id)) {
                f.taken_at = Some(now);
            }
        }
    }
}
