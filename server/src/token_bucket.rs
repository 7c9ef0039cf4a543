//! A token bucket: `capacity` tokens, refilled continuously at `rate` per
//! second; each event takes one. The rate limiter behind per-socket input
//! limits (`crate::session`) and per-IP handshake limits (`crate::http`).
//! Pure: the caller passes the time; uses nothing else in the crate.

use std::time::Instant;

/// One rate-limited stream of events.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    /// Most tokens held at once (the burst allowed).
    capacity: f64,
    /// Tokens added per second (the sustained rate allowed).
    rate: f64,
    /// Tokens left right now (fractional while refilling).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, capacity: f64, now: Instant) -> Self {
        Self {
            capacity,
            rate,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes one token at `now`; false when the bucket is empty.
    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket would be full at `now` (it then carries no
    /// information and may be forgotten).
    pub fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.capacity
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn allows_a_burst_then_the_sustained_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(60.0, 120.0, t0);
        assert!((0..120).all(|_| bucket.take(t0)));
        assert!(!bucket.take(t0));
        let t1 = t0 + Duration::from_secs(1);
        assert!((0..60).all(|_| bucket.take(t1)));
        assert!(!bucket.take(t1));
        assert!(!bucket.is_full(t1));
        assert!(bucket.is_full(t1 + Duration::from_secs(2)));
    }
}
