//! Bot accounts for load tests: creating (or reusing) them with a fresh
//! bearer token each, in one transaction, and refusing to hand a token for
//! an account that is not a bot. Shared by `locus admin bot-tokens` and
//! `locus bots --db`, which must not depend on each other.
//!
//! Blocking (an [`AdminStore`] call): run it from a blocking thread. Knows no
//! command line and no sockets.

use std::time::{Duration, SystemTime};

use crate::auth::token;
use crate::game::PlayerId;
use crate::store::{AdminStore, BotAccount, StoreError};

/// The stored password of bot accounts: it starts with
/// [`crate::auth::password::UNUSABLE_PASSWORD_PREFIX`], so
/// `auth::PasswordHasher::verify` always answers false: a bot can only play
/// with its token.
pub const BOT_PASSWORD_PHC: &str = "!locus-bot:no-password";

/// Bot names that clash with real accounts are listed up to this many.
const CLASHES_SHOWN: usize = 5;

/// Why bot accounts were not created.
#[derive(Debug, thiserror::Error)]
pub enum BotAccountError {
    /// Some names belong to real (non-bot) accounts; nothing was changed.
    #[error(
        "{count} of the bot names belong to accounts that are not bots ({shown}); choose another prefix; nothing was changed"
    )]
    RealAccounts {
        /// How many names clash.
        count: usize,
        /// The first few of them, comma-separated.
        shown: String,
    },
    /// The database refused or failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Creates (or reuses) the bot accounts `names`, with a fresh token each
/// valid for `ttl`, in one transaction: (player ids, tokens), in order.
/// Refuses, changing nothing, when any name belongs to an account that is
/// not a bot: a load generator never gets a token for a real account.
pub fn create_bot_accounts(
    store: &mut AdminStore,
    names: &[String],
    ttl: Duration,
) -> Result<(Vec<PlayerId>, Vec<token::IssuedToken>), BotAccountError> {
    refuse_real_accounts(store, names)?;
    let now = SystemTime::now();
    let issued: Vec<token::IssuedToken> = names.iter().map(|_| token::issue(now, ttl)).collect();
    let bots: Vec<BotAccount> = names
        .iter()
        .zip(&issued)
        .map(|(name, token)| BotAccount {
            username: name.clone(),
            password_phc: BOT_PASSWORD_PHC.to_owned(),
            token_hash: token.hash,
            expires_at: token.expires_at,
        })
        .collect();
    let ids = store.create_bots(&bots)?;
    Ok((ids, issued))
}

/// Fails when any of `names` belongs to an account that is not a bot.
pub fn refuse_real_accounts(store: &AdminStore, names: &[String]) -> Result<(), BotAccountError> {
    let mut clashes = Vec::new();
    for name in names {
        if let Some(account) = store.account(name)? {
            if account.password_phc != BOT_PASSWORD_PHC {
                clashes.push(account.username);
            }
        }
    }
    if clashes.is_empty() {
        return Ok(());
    }
    let mut shown: Vec<&str> = clashes
        .iter()
        .take(CLASHES_SHOWN)
        .map(String::as_str)
        .collect();
    if clashes.len() > CLASHES_SHOWN {
        shown.push("...");
    }
    Err(BotAccountError::RealAccounts {
        count: clashes.len(),
        shown: shown.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{PasswordConfig, PasswordHasher};

    #[tokio::test]
    async fn bot_password_never_verifies() {
        let hasher = PasswordHasher::new(&PasswordConfig::insecure_fast_for_tests())
            .await
            .unwrap();
        for attempt in ["", "password1", BOT_PASSWORD_PHC, "!locus-bot:no-password"] {
            assert!(!hasher
                .verify(attempt, Some(BOT_PASSWORD_PHC))
                .await
                .unwrap());
        }
        assert!(hasher.needs_rehash(BOT_PASSWORD_PHC));
    }
}
