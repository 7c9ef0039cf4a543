//! Session tokens: 32 random bytes from a CSPRNG (rand's `ThreadRng`, a
//! ChaCha12 generator reseeded from the OS), sent to the client as base64url
//! without padding (43 characters), stored only as SHA-256 of the raw bytes,
//! with an expiry. Must not touch storage: the caller stores the hash.
//!
//! No constant-time comparison is needed: the server never compares a
//! presented token with a stored one. It hashes the presented token and looks
//! the hash up as a primary key, and timing of that lookup tells an attacker
//! nothing useful about any valid token (they would need a SHA-256 preimage).

use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// Random bytes per token (256 bits; the contract asks for at least 128).
pub const TOKEN_BYTES: usize = 32;

/// Length of the encoded token string.
pub const TOKEN_LEN: usize = 43;

/// A freshly issued token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The bearer string for the client (`{"token": ...}`). Never stored or
    /// logged; `Debug` hides it.
    pub token: String,
    /// SHA-256 of the token's bytes: what the store keeps.
    pub hash: [u8; 32],
    /// When the session stops being accepted.
    pub expires_at: SystemTime,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Issues a new random token valid for `ttl` from `now`.
pub fn issue(now: SystemTime, ttl: Duration) -> IssuedToken {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    IssuedToken {
        token: URL_SAFE_NO_PAD.encode(bytes),
        hash: Sha256::digest(bytes).into(),
        expires_at: now.checked_add(ttl).unwrap_or(now),
    }
}

/// The store key for a token presented by a client, or `None` if the string
/// cannot be a token we issued (wrong length or alphabet), so garbage is
/// rejected without a database lookup.
pub fn hash_presented(token: &str) -> Option<[u8; 32]> {
    if token.len() != TOKEN_LEN {
        return None;
    }
    let mut bytes = [0u8; TOKEN_BYTES];
    match URL_SAFE_NO_PAD.decode_slice(token, &mut bytes) {
        Ok(TOKEN_BYTES) => Some(Sha256::digest(bytes).into()),
        _ => None,
    }
}

/// The token of an `Authorization: Bearer TOKEN` header value (scheme name
/// case-insensitive), or `None`.
pub fn bearer(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_token_is_43_base64url_chars_and_hashes_to_its_key() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let issued = issue(now, Duration::from_secs(60));
        assert_eq!(issued.token.len(), TOKEN_LEN);
        assert!(issued
            .token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(hash_presented(&issued.token), Some(issued.hash));
        assert_eq!(issued.expires_at, now + Duration::from_secs(60));
    }

    #[test]
    fn tokens_are_distinct() {
        let now = SystemTime::now();
        let a = issue(now, Duration::from_secs(1));
        let b = issue(now, Duration::from_secs(1));
        assert_ne!(a.token, b.token);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn hash_is_not_the_token() {
        let issued = issue(SystemTime::now(), Duration::from_secs(1));
        let decoded = URL_SAFE_NO_PAD.decode(&issued.token).unwrap();
        assert_ne!(&decoded[..], &issued.hash[..]);
    }

    #[test]
    fn rejects_malformed_presented_tokens() {
        let good = issue(SystemTime::now(), Duration::from_secs(1)).token;
        assert_eq!(hash_presented(""), None);
        assert_eq!(hash_presented(&good[..42]), None);
        assert_eq!(hash_presented(&format!("{good}A")), None);
        assert_eq!(hash_presented(&format!("{}=", &good[..42])), None);
        assert_eq!(hash_presented(&"+".repeat(43)), None);
        assert_eq!(hash_presented(&"é".repeat(21)), None);
        assert_eq!(hash_presented(&"x".repeat(1 << 16)), None);
    }

    #[test]
    fn rejects_non_canonical_trailing_bits() {
        // 43 chars encode 258 bits; the last char's low 2 bits must be zero.
        let token = "A".repeat(42) + "B";
        assert_eq!(hash_presented(&token), None);
        assert!(hash_presented(&("A".repeat(42) + "A")).is_some());
    }

    #[test]
    fn debug_hides_the_token() {
        let issued = issue(SystemTime::now(), Duration::from_secs(1));
        assert!(!format!("{issued:?}").contains(&issued.token));
    }

    #[test]
    fn parses_bearer_header() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer   abc  "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer(""), None);
    }

    #[test]
    fn expiry_saturates_instead_of_panicking() {
        let now = SystemTime::now();
        let issued = issue(now, Duration::MAX);
        assert_eq!(issued.expires_at, now);
    }
}
