//! Region-sharded clustering (issue 13): what a cluster node
//! runs on. [`regions`] cuts the world into N x N regions and their border
//! bands; [`rendezvous`] decides which live node should own each region;
//! [`shape`] is the cluster shape every node must agree on (all pure).
//! [`leases`] and [`membership`] are the Redis parts: region leases with
//! fencing, node keys and the live-node set, the shape check at start.
//! [`node`] is the runtime `locus serve --cluster` runs on them: membership,
//! claiming and renewing leases, and where each player must play.
//! [`messages`] are what nodes tell each other through Redis (pure, with
//! their checks); [`relay`] carries them (publish, subscribe, handoff
//! records); [`border`] is the tick hook that hands players over and
//! publishes border bands.

pub mod border;
pub mod leases;
pub mod membership;
pub mod messages;
pub mod node;
pub mod regions;
pub mod relay;
pub mod rendezvous;
pub mod shape;

pub use border::{ChatLink, ClusterHook};
pub use node::{ClusterNode, Holdings, NodeSettings, NodeTiming, Route};
pub use regions::{Rect, RegionId, Regions};
pub use shape::ClusterShape;
