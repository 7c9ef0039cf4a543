//! What a cluster node does on the tick thread after every tick
//! ([`ClusterHook`], the world's `TickHook`): hands over the local players
//! that walked out of the regions it holds (past a small margin, so a
//! player on a border does not bounce between nodes) to the region's
//! holder, and publishes, for every region it holds, the local players
//! within the leave radius of its border (its band) when that set changed,
//! and at least every second. Also decides which chat lines cross a border
//! ([`chat_relay`]). Never blocks: Redis is the relay's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::messages::{BorderUpdate, ChatRelay, HandoffRecord, Origin};
use super::node::{ClusterNode, Holdings};
use super::regions::RegionId;
use super::relay::{Handoff, InFlight, InFlightMap, RelaySender, HANDOFF_TTL};
use crate::game::{
    round_wire, ChatMessage, MirrorEntry, Outbox, Rect, SavedPosition, TickHook, World,
};

/// How far past the regions it holds a player may walk before it is handed
/// over (world units): hysteresis for players walking along a border.
pub const HANDOFF_MARGIN: f64 = 32.0;
/// A band unchanged for this long is published again (for nodes that
/// subscribed meanwhile, and messages lost while Redis was away).
const REPUBLISH: Duration = Duration::from_secs(1);

/// The cluster's tick hook. On a clean stop (the node holds nothing and
/// [`Holdings::leaving`] is set) it hands every player to its region's new
/// holder as soon as one is known.
pub struct ClusterHook {
    node: Arc<ClusterNode>,
    relay: RelaySender,
    in_flight: InFlightMap,
    /// The world's leave radius: a band's width.
    leave_radius: f64,
    /// Per held region: the band last published and when.
    published: HashMap<RegionId, (Vec<MirrorEntry>, Instant)>,
}

impl ClusterHook {
    /// A hook for `node`, publishing through `relay`.
    pub fn new(
        node: Arc<ClusterNode>,
        relay: RelaySender,
        in_flight: InFlightMap,
        leave_radius: f64,
    ) -> Self {
        Self {
            node,
            relay,
            in_flight,
            leave_radius,
            published: HashMap::new(),
        }
    }

    /// The regions this node may act for now, with their epochs.
    fn acting(holdings: &Holdings, now: Instant) -> Vec<(RegionId, u64)> {
        holdings
            .held
            .iter()
            .filter(|(_, (_, until))| now < *until)
            .map(|(region, (epoch, _))| (*region, *epoch))
            .collect()
    }

    /// Hands over every local player outside the held regions (and their
    /// margin) whose region has a live holder; a region nobody holds keeps
    /// its players here until somebody does.
    fn hand_off_leavers(
        &mut self,
        world: &mut World,
        out: &mut dyn Outbox,
        holdings: &Holdings,
        acting: &[(RegionId, u64)],
        now: Instant,
    ) {
        let regions = self.node.regions();
        let rects: Vec<Rect> = acting
            .iter()
            .map(|(r, _)| regions.rect(*r).grown(HANDOFF_MARGIN))
            .collect();
        for id in world.local_players_outside(&rects) {
            let Some(pos) = world.position(id) else {
                continue;
            };
            let to = regions.region_of(pos.x, pos.y);
            let Some(holder) = holdings.holder(regions.index(to)) else {
                continue;
            };
            if holder.node == holdings.me {
                continue; // ours but fenced: wait for the renewal
            }
            let (from, epoch) = if acting.is_empty() {
                (regions.region_of(pos.x, pos.y), 0) // leaving: nothing held any more
            } else {
                nearest(acting, |r| regions.rect(r).distance_to(pos.x, pos.y))
            };
            let Some(player) = world.hand_off(id, regions.index(to)) else {
                continue;
            };
            out.persist(&[SavedPosition {
                id,
                x: round_wire(player.x),
                y: round_wire(player.y),
                reset_epoch: player.reset_epoch,
            }]);
            if !acting
                .iter()
                .any(|(r, _)| regions.neighbours(to).contains(r))
            {
                // Not a region whose updates reach this node: nothing would
                // ever replace or remove this mirror.
                world.clear_mirrors(regions.index(to));
            }
            let entry = MirrorEntry {
                id,
                name: player.name.clone(),
                x: player.x,
                y: player.y,
            };
            self.in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    id,
                    InFlight {
                        from,
                        to,
                        entry,
                        until: now + HANDOFF_TTL,
                        written: false,
                        taken_at: None,
                    },
                );
            tracing::debug!(player = id, x = player.x, y = player.y, ?from, ?to, url = %holder.url, "handing a player over");
            self.relay.handoff(Handoff {
                record: HandoffRecord {
                    origin: Origin {
                        node: holdings.me.clone(),
                        region: [from.rx, from.ry],
                        epoch,
                    },
                    to: [to.rx, to.ry],
                    player,
                },
                url: holder.url.clone(),
            });
        }
    }

    /// Publishes every held region's band that changed (or is due again).
    fn publish_bands(
        &mut self,
        world: &World,
        holdings: &Holdings,
        acting: &[(RegionId, u64)],
        now: Instant,
    ) {
        let regions = self.node.regions();
        // Each local player goes in exactly one region's band: the held
        // region containing it, else (within the margin) the first whose
        // grown rectangle does.
        let mut bands: BTreeMap<RegionId, Vec<MirrorEntry>> = BTreeMap::new();
        let mut placed: HashMap<u64, RegionId> = HashMap::new();
        for (region, _) in acting {
            let rect = regions.rect(*region);
            let inner = rect.shrunk(self.leave_radius);
            for entry in world.local_players_in_band(rect.grown(HANDOFF_MARGIN), inner) {
                let inside = rect.contains(entry.x, entry.y);
                match placed.get(&entry.id) {
                    Some(_) if !inside => continue,
                    Some(other) => {
                        let other = *other;
                        if let Some(band) = bands.get_mut(&other) {
                            band.retain(|e| e.id != entry.id);
                        }
                    }
                    None => {}
                }
                placed.insert(entry.id, *region);
                bands.entry(*region).or_default().push(entry);
            }
        }
        {
            let flying = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            for f in flying.values() {
                if acting.iter().any(|(r, _)| *r == f.from) && !placed.contains_key(&f.entry.id) {
                    bands.entry(f.from).or_default().push(f.entry.clone());
                }
            }
        }
        let in_bands: usize = bands.values().map(Vec::len).sum();
        self.node
            .metrics()
            .cluster_border_players
            .set(in_bands as i64);
        self.published
            .retain(|region, _| acting.iter().any(|(r, _)| r == region));
        for (region, epoch) in acting {
            let mut band = bands.remove(region).unwrap_or_default();
            band.sort_unstable_by_key(|e| e.id);
            let due = match self.published.get(region) {
                Some((last, at)) => *last != band || now.duration_since(*at) >= REPUBLISH,
                None => true,
            };
            if !due {
                continue;
            }
            self.relay.border(BorderUpdate {
                origin: Origin {
                    node: holdings.me.clone(),
                    region: [region.rx, region.ry],
                    epoch: *epoch,
                },
                tick: world.tick_number(),
                players: band.clone(),
            });
            self.published.insert(*region, (band, now));
        }
    }
}

impl TickHook for ClusterHook {
    fn after_tick(&mut self, world: &mut World, out: &mut dyn Outbox) {
        let holdings = self.node.holdings();
        let now = Instant::now();
        let acting = Self::acting(&holdings, now);
        if acting.is_empty() {
            // A clean stop hands everyone over; a node fenced off while
            // Redis is away keeps its players.
            if holdings.leaving {
                self.hand_off_leavers(world, out, &holdings, &acting, now);
            }
            return;
        }
        self.hand_off_leavers(world, out, &holdings, &acting, now);
        self.publish_bands(world, &holdings, &acting, now);
    }
}

/// The acting region nearest by `distance` (the first of equals).
fn nearest(acting: &[(RegionId, u64)], distance: impl Fn(RegionId) -> f64) -> (RegionId, u64) {
    let mut best = acting[0];
    let mut best_distance = f64::INFINITY;
    for (region, epoch) in acting {
        let d = distance(*region);
        if d < best_distance {
            best = (*region, *epoch);
            best_distance = d;
        }
    }
    best
}

/// The relay message for chat said at `(x, y)`, when the speaker is
/// within `view_radius` of the border of the held region it stands in
/// (listeners on the other side may hear it); `None` otherwise.
pub fn chat_relay(
    node: &ClusterNode,
    x: f64,
    y: f64,
    view_radius: f64,
    message: &ChatMessage,
) -> Option<ChatRelay> {
    let regions = node.regions();
    let region = regions.region_of(x, y);
    let holdings = node.holdings();
    let (epoch, until) = holdings.held.get(&region)?;
    if Instant::now() >= *until || regions.rect(region).shrunk(view_radius).contains(x, y) {
        return None;
    }
    Some(ChatRelay {
        origin: Origin {
            node: holdings.me.clone(),
            region: [region.rx, region.ry],
            epoch: *epoch,
        },
        id: message.id,
        text: message.text.clone(),
    })
}

/// The chat side of a cluster node's outbox: relays chat said near a border.
#[derive(Clone)]
pub struct ChatLink {
    /// Where relayed chat goes.
    pub relay: RelaySender,
    /// The world's view radius (who hears a chat line).
    pub view_radius: f64,
}

impl ChatLink {
    /// Relays `message`, said at `(x, y)`, if it may be heard across a border.
    pub fn said(&self, x: f64, y: f64, message: &ChatMessage) {
        if let Some(chat) = chat_relay(self.relay.node(), x, y, self.view_radius, message) {
            self.relay.chat(chat);
        }
    }
}
