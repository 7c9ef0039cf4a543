//! The per-IP rate limit on Engine.IO handshakes (requests that would open
//! a new session): a token bucket per client address, so one address cannot
//! churn sessions faster than `--handshake-rate` (with `--handshake-burst`
//! in reserve). Requests for an existing session (`sid=...`) are not counted.
//!
//! Owns only its buckets; knows nothing of sessions or sockets. The bucket
//! table is bounded: when it reaches `MAX_TRACKED` addresses, buckets that
//! have refilled completely (they carry no information) are dropped, and if
//! that is not enough the table starts afresh (a burst for everyone, never
//! unbounded memory).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::token_bucket::TokenBucket;

/// Addresses tracked at most before the table is pruned.
const MAX_TRACKED: usize = 16_384;

/// Per-IP token buckets for Engine.IO handshakes.
#[derive(Debug)]
pub struct HandshakeLimiter {
    /// Sustained handshakes per second per address.
    rate: f64,
    /// Handshakes an address may make at once (the bucket's capacity).
    burst: f64,
    /// Each recently seen address's bucket; short critical sections only.
    buckets: Mutex<HashMap<IpAddr, TokenBucket>>,
}

impl HandshakeLimiter {
    /// A limiter allowing `rate` handshakes per second per address with
    /// `burst` in reserve; `None` when `rate` is 0 (no limit).
    pub fn new(rate: f64, burst: u32) -> Option<Self> {
        (rate > 0.0).then(|| Self {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one handshake for `ip` at `now`; false when its bucket is empty.
    pub fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&ip) {
            buckets.retain(|_, b| !b.is_full(now));
            if buckets.len() >= MAX_TRACKED {
                buckets.clear();
            }
        }
        buckets
            .entry(ip)
            .or_insert_with(|| TokenBucket::new(self.rate, self.burst, now))
            .take(now)
    }

    /// Addresses currently tracked (for tests).
    pub fn tracked(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x7f00_0000 + n))
    }

    #[test]
    fn zero_rate_means_no_limiter() {
        assert!(HandshakeLimiter::new(0.0, 10).is_none());
    }

    #[test]
    fn rejects_handshakes_beyond_the_burst_then_refills() {
        let limiter = HandshakeLimiter::new(2.0, 5).unwrap();
        let t0 = Instant::now();
        assert!((0..5).all(|_| limiter.allow(ip(1), t0)));
        assert!(!limiter.allow(ip(1), t0));
        // Another address has its own bucket.
        assert!(limiter.allow(ip(2), t0));
        // Half a second refills one handshake at 2/s.
        let t1 = t0 + Duration::from_millis(500);
        assert!(limiter.allow(ip(1), t1));
        assert!(!limiter.allow(ip(1), t1));
    }

    #[test]
    fn table_stays_bounded_under_address_floods() {
        let limiter = HandshakeLimiter::new(1.0, 3).unwrap();
        let t0 = Instant::now();
        for n in 0..(MAX_TRACKED as u32 * 2 + 7) {
            limiter.allow(ip(n), t0);
        }
        assert!(limiter.tracked() <= MAX_TRACKED);
    }
}
