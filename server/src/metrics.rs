//! The server's Prometheus metrics, rendered in the OpenMetrics text format
//! (served at `GET /metrics` by `crate::http`). Owns the registry; the
//! session glue, the store observer and the HTTP edge only increment the
//! handles kept here. Must not know routes or sockets.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;

use crate::engineio::Traffic;
use crate::game::TickStats;

/// Reads the Engine.IO traffic counters at each scrape.
#[derive(Debug)]
struct TrafficCollector(Arc<Traffic>);

impl Collector for TrafficCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let t = &self.0;
        let series = [
            ("messages_in", "Socket.IO messages received", &t.messages_in),
            (
                "bytes_in",
                "Bytes of Socket.IO messages received",
                &t.bytes_in,
            ),
            (
                "messages_out",
                "Socket.IO messages sent (a broadcast counts once per recipient)",
                &t.messages_out,
            ),
            (
                "bytes_out",
                "Bytes of Socket.IO messages sent (a broadcast counts once per recipient)",
                &t.bytes_out,
            ),
        ];
        for (name, help, value) in series {
            let counter = ConstCounter::new(value.load(Ordering::Relaxed));
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        Ok(())
    }
}

/// The Content-Type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Which game event a counter counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum EventKind {
    /// Client `position`.
    position,
    /// `chat`, either way.
    chat,
    /// Server `welcome`.
    welcome,
    /// Server `snapshot`.
    snapshot,
    /// Server `teleport`.
    teleport,
    /// Server `kicked`.
    kicked,
}

/// Label set of the event counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// The event name.
    pub event: EventKind,
}

/// Why a client input was dropped or a client kicked.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// A short machine-friendly reason, e.g. `malformed`, `flood`.
    pub reason: String,
}

/// Every metric of the server.
pub struct Metrics {
    /// Owns the descriptions; read by [`Metrics::render`].
    registry: Registry,
    /// Game events received from clients, by event.
    pub events_in: Family<EventLabels, Counter>,
    /// Game events sent to clients, by event.
    pub events_out: Family<EventLabels, Counter>,
    /// Duration of each persistence flush, in seconds.
    pub flush_duration: Histogram,
    /// Persistence flushes that failed (and will be retried).
    pub flush_failures: Counter,
    /// 1 while the last persistence flush failed, else 0.
    pub persistence_failing: Gauge,
    /// Failed logins (wrong password, unknown user, throttled).
    pub login_failures: Counter,
    /// Client inputs dropped, by reason.
    pub inputs_dropped: Family<ReasonLabels, Counter>,
    /// Sockets kicked, by reason.
    pub kicks: Family<ReasonLabels, Counter>,
    /// Cluster input from Redis dropped because it does not decode, by reason.
    pub cluster_dropped: Family<ReasonLabels, Counter>,
    /// Players this node handed over to another node.
    pub cluster_handoffs_out: Counter,
    /// Handed-over players this node took in (from a handoff record).
    pub cluster_handoffs_in: Counter,
    /// Bytes this node published to the cluster's Redis (border updates,
    /// chat and handoff records).
    pub cluster_published_bytes: Counter,
    /// Local players in the border bands this node publishes (last tick).
    pub cluster_border_players: Gauge,
}

impl Metrics {
    /// Registers every metric under the `locus_` prefix, the world's tick
    /// statistics included.
    pub fn new(world: &TickStats, traffic: Arc<Traffic>) -> Self {
        let mut registry = Registry::with_prefix("locus");
        world.register(&mut registry);
        let events_in = Family::<EventLabels, Counter>::default();
        registry.register(
            "events_in",
            "Game events received from clients",
            events_in.clone(),
        );
        let events_out = Family::<EventLabels, Counter>::default();
        registry.register(
            "events_out",
            "Game events sent to clients",
            events_out.clone(),
        );
        registry.register_collector(Box::new(TrafficCollector(traffic)));
        let flush_duration = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "persistence_flush_duration_seconds",
            "Duration of one batched position write",
            flush_duration.clone(),
        );
        let flush_failures = Counter::default();
        registry.register(
            "persistence_flush_failures",
            "Position writes that failed",
            flush_failures.clone(),
        );
        let persistence_failing = Gauge::default();
        registry.register(
            "persistence_failing",
            "1 while position writes fail (disk full, read-only), else 0",
            persistence_failing.clone(),
        );
        let login_failures = Counter::default();
        registry.register(
            "login_failures",
            "Failed or throttled logins",
            login_failures.clone(),
        );
        let inputs_dropped = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "inputs_dropped",
            "Client inputs dropped",
            inputs_dropped.clone(),
        );
        let kicks = Family::<ReasonLabels, Counter>::default();
        registry.register("kicks", "Sockets kicked by the server", kicks.clone());
        let cluster_dropped = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "cluster_dropped",
            "Values read from the cluster's Redis that did not decode and were dropped",
            cluster_dropped.clone(),
        );
        let cluster_handoffs_out = Counter::default();
        registry.register(
            "cluster_handoffs_out",
            "Players handed over to another cluster node",
            cluster_handoffs_out.clone(),
        );
        let cluster_handoffs_in = Counter::default();
        registry.register(
            "cluster_handoffs_in",
            "Handed-over players taken in from another cluster node",
            cluster_handoffs_in.clone(),
        );
        let cluster_published_bytes = Counter::default();
        registry.register(
            "cluster_published_bytes",
            "Bytes published to the cluster's Redis",
            cluster_published_bytes.clone(),
        );
        let cluster_border_players = Gauge::default();
        registry.register(
            "cluster_border_players",
            "Local players in the border bands this node publishes",
            cluster_border_players.clone(),
        );
        Self {
            registry,
            events_in,
            events_out,
            flush_duration,
            flush_failures,
            persistence_failing,
            login_failures,
            inputs_dropped,
            kicks,
            cluster_dropped,
            cluster_handoffs_out,
            cluster_handoffs_in,
            cluster_published_bytes,
            cluster_border_players,
        }
    }

    /// Counts one received game event.
    pub fn event_in(&self, event: EventKind) {
        self.events_in.get_or_create(&EventLabels { event }).inc();
    }

    /// Counts sent game events.
    pub fn event_out(&self, event: EventKind, count: u64) {
        self.events_out
            .get_or_create(&EventLabels { event })
            .inc_by(count);
    }

    /// Counts one dropped input.
    pub fn input_dropped(&self, reason: &str) {
        self.inputs_dropped
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts one value from the cluster's Redis dropped as undecodable.
    pub fn cluster_dropped(&self, reason: &str) {
        self.cluster_dropped
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts one kick.
    pub fn kicked(&self, reason: &str) {
        self.kicks
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let world = TickStats::default();
        let m = Metrics::new(&world, Arc::default());
        world.players_online.set(3);
        world.tick_duration.observe(0.002);
        m.event_in(EventKind::position);
        m.login_failures.inc();
        let text = m.render();
        for name in [
            "locus_players_online 3",
            "locus_tick_duration_seconds_count 1",
            "locus_events_in_total{event=\"position\"} 1",
            "locus_login_failures_total 1",
            "locus_persistence_flush_duration_seconds",
            "locus_bytes_in_total 0",
            "locus_bytes_out_total 0",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
