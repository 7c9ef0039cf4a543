//! Region leases in Redis with fencing. A lease is the key
//! `locus:lease:<rx>:<ry>` holding `<node_id>:<epoch>`, taken with
//! `SET NX PX ttl` (the epoch from `INCR locus:epoch:<rx>:<ry>`), renewed by
//! a compare-and-`PEXPIRE` script and released by a compare-and-`DEL`
//! script, so a node never extends or drops a lease it no longer holds.
//! [`Lease::acts_until`] is the fencing deadline: the node acts for the
//! region only before it (renewal time + TTL - margin, monotonic).

use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use redis::Script;

use super::regions::RegionId;

/// The lease key of `region`.
pub fn lease_key(region: RegionId) -> String {
    format!("locus:lease:{}:{}", region.rx, region.ry)
}

/// The epoch counter key of `region`.
pub fn epoch_key(region: RegionId) -> String {
    format!("locus:epoch:{}:{}", region.rx, region.ry)
}

/// Extends the lease only when it still holds our value.
const RENEW: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

/// Deletes the lease only when it still holds our value.
const RELEASE: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1]) else return 0 end";

/// A lease this node holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The region.
    pub region: RegionId,
    /// Its fencing epoch (every message about the region carries it).
    pub epoch: u64,
    /// Until when (monotonic) this node may act for the region.
    acts_until: Instant,
}

impl Lease {
    /// Whether the node may still act for the region at `now`.
    pub fn valid_at(&self, now: Instant) -> bool {
        now < self.acts_until
    }

    /// The fencing deadline.
    pub fn acts_until(&self) -> Instant {
        self.acts_until
    }
}

/// Parses a lease value `<node_id>:<epoch>` (from Redis: may be garbage).
pub fn parse_value(value: &str) -> Option<(&str, u64)> {
    let (node, epoch) = value.rsplit_once(':')?;
    (!node.is_empty()).then_some(())?;
    Some((node, epoch.parse().ok()?))
}

/// Takes, renews and releases leases for one node.
#[derive(Clone)]
pub struct Leases {
    redis: ConnectionManager,
    node: String,
    ttl: Duration,
    margin: Duration,
}

impl Leases {
    /// Leases of node `node` with `ttl` (e.g. 3 s) and a fencing `margin`
    /// (e.g. 500 ms) subtracted from every deadline.
    pub fn new(redis: ConnectionManager, node: String, ttl: Duration, margin: Duration) -> Self {
        Self {
            redis,
            node,
            ttl,
            margin,
        }
    }

    fn deadline(&self, started: Instant) -> Instant {
        started + self.ttl.saturating_sub(self.margin)
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX)
    }

    /// Tries to take `region`: `Ok(None)` when another node holds it.
    pub async fn acquire(&self, region: RegionId) -> redis::RedisResult<Option<Lease>> {
        let mut redis = self.redis.clone();
        let started = Instant::now();
        let epoch: u64 = redis::cmd("INCR")
            .arg(epoch_key(region))
            .query_async(&mut redis)
            .await?;
        let value = format!("{}:{epoch}", self.node);
        let set: Option<String> = redis::cmd("SET")
            .arg(lease_key(region))
            .arg(&value)
            .arg("NX")
            .arg("PX")
            .arg(self.ttl_ms())
            .query_async(&mut redis)
            .await?;
        Ok(set.map(|_| Lease {
            region,
            epoch,
            acts_until: self.deadline(started),
        }))
    }

    /// Renews `lease`; false (and the lease must be dropped) when it was
    /// lost (expired and taken, or deleted).
    pub async fn renew(&self, lease: &mut Lease) -> redis::RedisResult<bool> {
        let mut redis = self.redis.clone();
        let started = Instant::now();
        let renewed: i64 = Script::new(RENEW)
            .key(lease_key(lease.region))
            .arg(format!("{}:{}", self.node, lease.epoch))
            .arg(self.ttl_ms())
            .invoke_async(&mut redis)
            .await?;
        if renewed == 1 {
            lease.acts_until = self.deadline(started);
        }
        Ok(renewed == 1)
    }

    /// Releases `lease` (only if still ours).
    pub async fn release(&self, lease: &Lease) -> redis::RedisResult<bool> {
        let mut redis = self.redis.clone();
        let released: i64 = Script::new(RELEASE)
            .key(lease_key(lease.region))
            .arg(format!("{}:{}", self.node, lease.epoch))
            .invoke_async(&mut redis)
            .await?;
        Ok(released == 1)
    }

    /// Who holds `region` now, with which epoch (`None`: free, or a value
    /// that does not decode).
    pub async fn holder(&self, region: RegionId) -> redis::RedisResult<Option<(String, u64)>> {
        let mut redis = self.redis.clone();
        let value: Option<String> = redis::cmd("GET")
            .arg(lease_key(region))
            .query_async(&mut redis)
            .await?;
        Ok(value
            .as_deref()
            .and_then(parse_value)
            .map(|(n, e)| (n.to_owned(), e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_values_parse_strictly() {
        assert_eq!(parse_value("abc:12"), Some(("abc", 12)));
        assert_eq!(parse_value("a:b:3"), Some(("a:b", 3)));
        for bad in ["", ":1", "abc", "abc:", "abc:-1", "abc:x"] {
            assert_eq!(parse_value(bad), None, "{bad}");
        }
        assert_eq!(lease_key(RegionId::new(1, 2)), "locus:lease:1:2");
    }
}
