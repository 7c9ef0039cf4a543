//! Region-sharded clustering (issue 13): the pure parts a cluster node
//! runs on. [`regions`] cuts the world into N x N regions and their border
//! bands; [`rendezvous`] decides which live node should own each region;
//! [`shape`] is the cluster shape every node must agree on. No I/O here:
//! the Redis-running parts (membership, leases, channels) build on these.

pub mod leases;
pub mod regions;
pub mod rendezvous;
pub mod shape;

pub use regions::{Rect, RegionId, Regions};
pub use shape::ClusterShape;
