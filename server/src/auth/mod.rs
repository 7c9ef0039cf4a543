//! Authentication building blocks: argon2id password hashing off the async
//! workers ([`password`]), random session tokens stored only as hashes
//! ([`token`]), login throttling per account and per IP ([`throttle`]), and
//! the username/password rules of the contract ([`validate`]). Must not touch
//! SQLite (the `store` keeps PHC strings and token hashes) or HTTP (`net`
//! maps [`AuthError`] to status codes).
//!
//! A login handler in `net` is expected to run, in order:
//! `throttle.check_ip` → validate lengths → `throttle.check_account` →
//! `store.account_by_username` → `passwords.verify(pw, account.map(phc))`
//! (dummy hash for unknown users) → on failure `throttle.record_failure` and
//! `401 {"error":"invalid credentials"}`; on success `record_success`,
//! `token::issue`, `store.create_session(id, issued.hash, issued.expires_at)`.

pub mod password;
pub mod throttle;
pub mod token;
pub mod validate;

use std::time::Duration;

pub use password::{PasswordConfig, PasswordHasher};
pub use throttle::{LoginThrottle, ThrottleConfig};
pub use token::IssuedToken;

/// The auth layer's error. Display texts of the `Invalid*` and `RateLimited`
/// variants are written for the client's `{"error": ...}` body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The username breaks the contract's rules (→ 400).
    #[error("{0}")]
    InvalidUsername(&'static str),
    /// The password breaks the contract's length rule (→ 400).
    #[error("{0}")]
    InvalidPassword(&'static str),
    /// Too many attempts from this IP or for this account (→ 429 with
    /// `Retry-After`).
    #[error("too many attempts, retry in {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// When the next attempt will be accepted.
        retry_after: Duration,
    },
    /// Too many logins are waiting for a hashing slot (→ 503 or 429).
    #[error("server busy, try again shortly")]
    Overloaded,
    /// argon2 failed or its task panicked; an internal error (→ 500, logged).
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// Everything the auth layer can be configured with.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// argon2id cost and hashing concurrency; see [`PasswordConfig`].
    pub password: PasswordConfig,
    /// How long a session token is valid after login. Default: 7 days.
    pub token_ttl: Duration,
    /// Login throttling; see [`ThrottleConfig`].
    pub throttle: ThrottleConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            password: PasswordConfig::default(),
            token_ttl: Duration::from_secs(7 * 24 * 3600),
            throttle: ThrottleConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limited_message_rounds_up_to_a_second() {
        let err = AuthError::RateLimited {
            retry_after: Duration::from_millis(200),
        };
        assert_eq!(err.to_string(), "too many attempts, retry in 1 s");
    }

    #[test]
    fn token_ttl_defaults_to_seven_days() {
        assert_eq!(
            AuthConfig::default().token_ttl,
            Duration::from_secs(604_800)
        );
    }
}
