//! Login and registration throttling (the contract's `429`): a token bucket
//! per client IP for every login/register attempt, and an exponential lockout
//! per account after repeated wrong passwords (OWASP "Login Throttling": count
//! per account, not only per IP, because attackers rotate IPs). Memory is
//! bounded: both maps have a cap, idle entries are swept when a map is full,
//! and if that is not enough the least recently active entries go. Time is
//! passed in (`Instant`), so behaviour is deterministic in tests. Must not
//! hash passwords or touch storage.
//!
//! Lockout policy: the first [`ThrottleConfig::free_failures`] - 1 consecutive
//! failures cost nothing; the next locks the account for
//! [`ThrottleConfig::base_lockout`], and each further failure doubles it up to
//! [`ThrottleConfig::max_lockout`]. A success clears the count; failures older
//! than [`ThrottleConfig::failure_memory`] are forgotten. The cap keeps a
//! hostile client from locking a real user out for long (the lockout-DoS the
//! OWASP sheet warns about). Unknown usernames are tracked like real ones, so
//! the answers do not reveal which accounts exist.
//!
//! IPv6 clients are keyed by their /64 prefix (one subscriber usually holds a
//! whole /64), IPv4-mapped IPv6 addresses by their IPv4 address.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::AuthError;

/// Limits of [`LoginThrottle`].
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Consecutive wrong passwords for one account before it is locked; the
    /// failure that reaches this number starts the first lockout. Default: 5.
    pub free_failures: u32,
    /// First lockout. Default: 1 s.
    pub base_lockout: Duration,
    /// Longest lockout (the doubling stops here). Default: 5 min.
    pub max_lockout: Duration,
    /// An account's failure count resets after this long without a failure.
    /// Default: 15 min.
    pub failure_memory: Duration,
    /// Attempts one IP may make in a burst. Default: 20.
    pub ip_burst: u32,
    /// One more attempt per IP is allowed every this often. Default: 500 ms
    /// (2 per second sustained).
    pub ip_refill_interval: Duration,
    /// Most accounts tracked at once. Default: 100 000.
    pub max_tracked_accounts: usize,
    /// Most IPs (or /64s) tracked at once. Default: 100 000.
    pub max_tracked_ips: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            free_failures: 5,
            base_lockout: Duration::from_secs(1),
            max_lockout: Duration::from_secs(300),
            failure_memory: Duration::from_secs(15 * 60),
            ip_burst: 20,
            ip_refill_interval: Duration::from_millis(500),
            max_tracked_accounts: 100_000,
            max_tracked_ips: 100_000,
        }
    }
}

/// Longest username key kept; longer input (invalid anyway) is cut, so a
/// huge name cannot inflate memory.
const MAX_KEY_LEN: usize = 64;

/// Failure record of one account.
#[derive(Debug, Clone, Copy)]
struct Failures {
    /// Consecutive failures (reset by a success or `failure_memory`).
    count: u32,
    /// Time of the most recent failure.
    last: Instant,
    /// Attempts are refused before this instant.
    locked_until: Instant,
}

/// Token bucket of one IP.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Attempts left.
    tokens: u32,
    /// Time up to which refills have been credited.
    refilled_at: Instant,
}

/// The maps, behind one short-lived lock.
#[derive(Debug, Default)]
struct State {
    accounts: HashMap<String, Failures>,
    ips: HashMap<IpAddr, Bucket>,
}

/// Throttling state shared by the HTTP handlers (`&self` methods; the lock is
/// held only for a map operation, never across `.await`).
#[derive(Debug)]
pub struct LoginThrottle {
    /// Limits.
    config: ThrottleConfig,
    /// Both maps.
    state: Mutex<State>,
}

/// The throttling key of an account name: ASCII-lowercased (usernames are
/// unique regardless of case) and cut to [`MAX_KEY_LEN`].
fn account_key(username: &str) -> String {
    let mut end = username.len().min(MAX_KEY_LEN);
    while !username.is_char_boundary(end) {
        end -= 1;
    }
    username[..end].to_ascii_lowercase()
}

/// The throttling key of a client address.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Makes room for one more entry in a map holding at most `cap`: first drops
/// idle entries; if still full, drops the least recently active eighth (so the
/// O(n log n) sort runs at most once per cap/8 insertions).
fn make_room<K: Eq + Hash + Clone, V>(
    map: &mut HashMap<K, V>,
    cap: usize,
    is_idle: impl Fn(&V) -> bool,
    last_active: impl Fn(&V) -> Instant,
) {
    if map.len() < cap {
        return;
    }
    map.retain(|_, v| !is_idle(v));
    if map.len() < cap {
        return;
    }
    let mut by_age: Vec<(Instant, K)> = map
        .iter()
        .map(|(k, v)| (last_active(v), k.clone()))
        .collect();
    by_age.sort_unstable_by_key(|(at, _)| *at);
    let evict = (cap / 8).max(map.len() + 1 - cap);
    for (_, key) in by_age.into_iter().take(evict) {
        map.remove(&key);
    }
}

impl LoginThrottle {
    /// A throttle with no history.
    pub fn new(config: ThrottleConfig) -> LoginThrottle {
        LoginThrottle {
            config,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one attempt from `ip`'s bucket. Call first for every login and
    /// register request, before any hashing. `Err(RateLimited)` carries when
    /// the next attempt will be allowed.
    pub fn check_ip(&self, ip: IpAddr, now: Instant) -> Result<(), AuthError> {
        let config = &self.config;
        let interval = config.ip_refill_interval.max(Duration::from_nanos(1));
        let key = ip_key(ip);
        let mut state = self.state();
        if !state.ips.contains_key(&key) {
            make_room(
                &mut state.ips,
                config.max_tracked_ips,
                |b| refilled(b, now, interval, config.ip_burst).tokens >= config.ip_burst,
                |b| b.refilled_at,
            );
        }
        let bucket = state.ips.entry(key).or_insert(Bucket {
            tokens: config.ip_burst,
            refilled_at: now,
        });
        *bucket = refilled(bucket, now, interval, config.ip_burst);
        if bucket.tokens == 0 {
            let next = (bucket.refilled_at + interval).saturating_duration_since(now);
            return Err(AuthError::RateLimited {
                retry_after: next.max(Duration::from_millis(1)),
            });
        }
        bucket.tokens -= 1;
        Ok(())
    }

    /// Refuses an attempt on an account that is locked out. Call before
    /// verifying its password.
    pub fn check_account(&self, username: &str, now: Instant) -> Result<(), AuthError> {
        let state = self.state();
        match state.accounts.get(&account_key(username)) {
            Some(f) if f.locked_until > now => Err(AuthError::RateLimited {
                retry_after: f.locked_until - now,
            }),
            _ => Ok(()),
        }
    }

    /// Records a wrong password (or unknown user). Returns the lockout it
    /// started, if any.
    pub fn record_failure(&self, username: &str, now: Instant) -> Option<Duration> {
        let config = &self.config;
        let key = account_key(username);
        let mut state = self.state();
        if !state.accounts.contains_key(&key) {
            make_room(
                &mut state.accounts,
                config.max_tracked_accounts,
                |f| f.locked_until <= now && f.last + config.failure_memory <= now,
                |f| f.last,
            );
        }
        let entry = state.accounts.entry(key).or_insert(Failures {
            count: 0,
            last: now,
            locked_until: now,
        });
        if entry.last + config.failure_memory <= now {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        let free = config.free_failures.max(1);
        if entry.count < free {
            return None;
        }
        let doublings = (entry.count - free).min(30);
        let lockout = config
            .base_lockout
            .saturating_mul(1u32 << doublings)
            .min(config.max_lockout);
        entry.locked_until = now + lockout;
        tracing::warn!(
            account = %account_key(username),
            failures = entry.count,
            lockout_ms = u64::try_from(lockout.as_millis()).unwrap_or(u64::MAX),
            "login lockout"
        );
        Some(lockout)
    }

    /// Records a successful login: the account's failures are forgotten.
    pub fn record_success(&self, username: &str) {
        self.state().accounts.remove(&account_key(username));
    }

    /// Entries currently tracked (accounts, IPs), for metrics and tests.
    pub fn tracked(&self) -> (usize, usize) {
        let state = self.state();
        (state.accounts.len(), state.ips.len())
    }
}

/// `bucket` with the refills earned up to `now` credited.
fn refilled(bucket: &Bucket, now: Instant, interval: Duration, burst: u32) -> Bucket {
    let elapsed = now.saturating_duration_since(bucket.refilled_at);
    let earned = elapsed.as_nanos() / interval.as_nanos();
    let tokens = u128::from(bucket.tokens) + earned;
    if tokens >= u128::from(burst) {
        Bucket {
            tokens: burst,
            refilled_at: now,
        }
    } else {
        // `earned` < burst here, so the cast and multiplication are small.
        Bucket {
            tokens: tokens as u32,
            refilled_at: bucket.refilled_at + interval * (earned as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn config() -> ThrottleConfig {
        ThrottleConfig {
            free_failures: 3,
            base_lockout: Duration::from_secs(1),
            max_lockout: Duration::from_secs(8),
            failure_memory: Duration::from_secs(60),
            ip_burst: 3,
            ip_refill_interval: Duration::from_secs(1),
            max_tracked_accounts: 16,
            max_tracked_ips: 16,
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    fn retry_after(result: Result<(), AuthError>) -> Duration {
        match result {
            Err(AuthError::RateLimited { retry_after }) => retry_after,
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }

    #[test]
    fn ip_bucket_allows_burst_then_limits_then_refills() {
        let t = LoginThrottle::new(config());
        let t0 = Instant::now();
        for _ in 0..3 {
            t.check_ip(ip(1), t0).unwrap();
        }
        assert_eq!(retry_after(t.check_ip(ip(1), t0)), Duration::from_secs(1));
        // Another IP is unaffected.
        t.check_ip(ip(2), t0).unwrap();
        // Half a refill later: still limited, retry in the other half.
        let half = t0 + Duration::from_millis(500);
        assert_eq!(
            retry_after(t.check_ip(ip(1), half)),
            Duration::from_millis(500)
        );
        // One refill: one attempt.
        let one = t0 + Duration::from_secs(1);
        t.check_ip(ip(1), one).unwrap();
        assert!(t.check_ip(ip(1), one).is_err());
        // Long idle: back to a full burst, not more.
        let later = t0 + Duration::from_secs(100);
        for _ in 0..3 {
            t.check_ip(ip(1), later).unwrap();
        }
        assert!(t.check_ip(ip(1), later).is_err());
    }

    #[test]
    fn ipv6_clients_share_their_64_prefix() {
        let t = LoginThrottle::new(config());
        let now = Instant::now();
        for last in 1..=3u16 {
            let addr: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last).into();
            t.check_ip(addr, now).unwrap();
        }
        let other_host: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 9, 9, 9, 9).into();
        assert!(t.check_ip(other_host, now).is_err());
        let other_net: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1).into();
        t.check_ip(other_net, now).unwrap();
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        let t = LoginThrottle::new(config());
        let now = Instant::now();
        let mapped: IpAddr = Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped().into();
        for _ in 0..3 {
            t.check_ip(mapped, now).unwrap();
        }
        assert!(t.check_ip(ip(1), now).is_err());
    }

    #[test]
    fn account_locks_after_free_failures_and_doubles_up_to_cap() {
        let t = LoginThrottle::new(config());
        let mut now = Instant::now();
        assert_eq!(t.record_failure("alice", now), None);
        assert_eq!(t.record_failure("alice", now), None);
        t.check_account("alice", now).unwrap();
        let mut expected = [1, 2, 4, 8, 8, 8].map(Duration::from_secs).into_iter();
        for _ in 0..6 {
            let lockout = t.record_failure("alice", now).unwrap();
            assert_eq!(lockout, expected.next().unwrap());
            assert_eq!(retry_after(t.check_account("alice", now)), lockout);
            // Just before the end still locked, at the end free again.
            assert!(t
                .check_account("alice", now + lockout - Duration::from_millis(1))
                .is_err());
            now += lockout;
            t.check_account("alice", now).unwrap();
        }
    }

    #[test]
    fn lockout_is_per_account_and_case_insensitive() {
        let t = LoginThrottle::new(config());
        let now = Instant::now();
        t.record_failure("Alice", now);
        t.record_failure("ALICE", now);
        assert!(t.record_failure("alice", now).is_some());
        assert!(t.check_account("aLiCe", now).is_err());
        t.check_account("bob", now).unwrap();
    }

    #[test]
    fn success_clears_the_count() {
        let t = LoginThrottle::new(config());
        let now = Instant::now();
        t.record_failure("alice", now);
        t.record_failure("alice", now);
        t.record_success("alice");
        assert_eq!(t.record_failure("alice", now), None);
        assert_eq!(t.record_failure("alice", now), None);
        assert!(t.record_failure("alice", now).is_some());
    }

    #[test]
    fn old_failures_are_forgotten() {
        let t = LoginThrottle::new(config());
        let now = Instant::now();
        t.record_failure("alice", now);
        t.record_failure("alice", now);
        let later = now + Duration::from_secs(60);
        assert_eq!(t.record_failure("alice", later), None);
        assert_eq!(t.record_failure("alice", later), None);
        assert!(t.record_failure("alice", later).is_some());
    }

    #[test]
    fn maps_stay_bounded_under_many_keys() {
        let t = LoginThrottle::new(config());
        let now = Instant::now();
        for n in 0..1000u32 {
            let at = now + Duration::from_millis(u64::from(n));
            let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
            let _ = t.check_ip(addr, at);
            t.record_failure(&format!("user{n}"), at);
            let (accounts, ips) = t.tracked();
            assert!(accounts <= 16 && ips <= 16, "{accounts} {ips}");
        }
    }

    #[test]
    fn eviction_keeps_the_most_recently_active_lockouts() {
        let t = LoginThrottle::new(config());
        let now = Instant::now();
        for _ in 0..3 {
            t.record_failure("victim", now + Duration::from_secs(5));
        }
        for n in 0..15u64 {
            t.record_failure(&format!("old{n}"), now + Duration::from_millis(n));
        }
        // The map is full; a new name evicts the oldest, not the victim.
        t.record_failure("new", now + Duration::from_secs(6));
        assert!(t
            .check_account("victim", now + Duration::from_secs(5))
            .is_err());
        assert!(t.tracked().0 <= 16);
    }

    #[test]
    fn idle_entries_are_swept_before_active_ones() {
        let t = LoginThrottle::new(config());
        let now = Instant::now();
        for n in 0..16u64 {
            t.record_failure(&format!("u{n}"), now);
        }
        // After failure_memory every entry is idle: one sweep empties the map.
        t.record_failure("fresh", now + Duration::from_secs(61));
        assert_eq!(t.tracked().0, 1);
    }

    #[test]
    fn huge_usernames_are_cut_for_keys() {
        let t = LoginThrottle::new(config());
        let now = Instant::now();
        let huge = "é".repeat(1 << 16);
        t.record_failure(&huge, now);
        assert_eq!(account_key(&huge).len(), MAX_KEY_LEN);
        t.check_account(&huge, now).unwrap();
    }
}
