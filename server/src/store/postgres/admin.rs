//! [`PgAdmin`]: the admin CLI's blocking access to a PostgreSQL database,
//! behind [`crate::store::AdminStore`]. A private current-thread runtime
//! drives a one-connection pool; each call blocks until its transaction is
//! done. The runtime is driven from a short-lived scoped thread, so that a
//! caller that is itself inside a tokio runtime (a test, `spawn_blocking`)
//! does not trip tokio's "runtime within a runtime" check. Only connects to an existing Locus database (migrating it like the
//! server); never creates a database. Must not be used from async code.

use std::time::SystemTime;

use deadpool_postgres::Pool;
use tokio::runtime::Runtime;

use super::{queries, schema};
use crate::store::target::PostgresUrl;
use crate::store::{
    Account, BotAccount, PlayerId, ResetOutcome, ResetTarget, StoreConfig, StoreError, UserSummary,
};

type Result<T> = std::result::Result<T, StoreError>;

/// A blocking PostgreSQL connection for `locus admin`.
pub(crate) struct PgAdmin {
    /// Drives the pool's connection; used only inside `block_on`. `None`
    /// only while dropping.
    runtime: Option<Runtime>,
    /// One connection.
    pool: Pool,
    /// Session cap for bot tokens.
    config: StoreConfig,
    /// The URL without its password.
    target: String,
}

impl Drop for PgAdmin {
    /// Stops the runtime without waiting for it, which is allowed from
    /// inside another runtime (dropping it normally is not).
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs `f` on a scoped thread of its own and waits for it.
fn off_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

impl PgAdmin {
    /// Connects with the same refusals and messages as the server.
    pub(crate) fn connect(url: &PostgresUrl, config: &StoreConfig) -> Result<PgAdmin> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| StoreError::Io {
                path: url.to_string().into(),
                source,
            })?;
        let opened = off_thread(|| {
            runtime.block_on(async {
                let pool = schema::pool(url, 1, config.busy_timeout)?;
                schema::prepare(&pool, url).await?;
                Ok::<_, StoreError>(pool)
            })
        });
        let pool = match opened {
            Ok(pool) => pool,
            Err(err) => {
                // Not a plain drop: that panics inside another runtime.
                runtime.shutdown_background();
                return Err(err);
            }
        };
        Ok(PgAdmin {
            runtime: Some(runtime),
            pool,
            config: config.clone(),
            target: url.to_string(),
        })
    }

    /// The URL without its password.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// Runs `f` with a connection, blocking until it is done.
    fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: AsyncFnOnce(&mut deadpool_postgres::Client) -> Result<T> + Send,
    {
        let runtime = self.runtime.as_ref().ok_or(StoreError::Closed)?;
        off_thread(|| {
            runtime.block_on(async {
                let mut client = self.pool.get().await.map_err(schema::from_pool)?;
                f(&mut client).await
            })
        })
    }

    pub(crate) fn reset_position(
        &self,
        target: &ResetTarget,
        x: f64,
        y: f64,
    ) -> Result<ResetOutcome> {
        self.run(async |c| queries::reset_positions(c, target, x, y, SystemTime::now()).await)
    }

    pub(crate) fn list_users(&self) -> Result<Vec<UserSummary>> {
        self.run(async |c| {
            let now = SystemTime::now();
            let mut users = queries::list_users(&*c, now).await?;
            let online: std::collections::HashMap<PlayerId, SystemTime> =
                queries::online_accounts(&*c, now)
                    .await?
                    .into_iter()
                    .collect();
            for user in &mut users {
                user.online_since = online.get(&user.id).copied();
            }
            Ok(users)
        })
    }

    pub(crate) fn account(&self, username: &str) -> Result<Option<Account>> {
        self.run(async |c| queries::account_by_username(&*c, username).await)
    }

    pub(crate) fn online_accounts(&self) -> Result<Vec<(PlayerId, SystemTime)>> {
        self.run(async |c| queries::online_accounts(&*c, SystemTime::now()).await)
    }

    pub(crate) fn create_user(&self, username: &str, password_phc: &str) -> Result<PlayerId> {
        self.run(async |c| {
            queries::create_account(&*c, username, password_phc, SystemTime::now()).await
        })
    }

    pub(crate) fn delete_user(&self, username: &str, reason: &str) -> Result<PlayerId> {
        self.run(async |c| {
            queries::delete_account_and_kick(c, username, reason, SystemTime::now()).await
        })
    }

    pub(crate) fn revoke_tokens(&self, username: &str, reason: &str) -> Result<usize> {
        self.run(async |c| {
            queries::revoke_tokens_and_kick(c, username, reason, SystemTime::now())
                .await
                .map(|(_, revoked)| revoked)
        })
    }

    pub(crate) fn create_bots(&self, bots: &[BotAccount]) -> Result<Vec<PlayerId>> {
        let max = self.config.max_sessions_per_account;
        self.run(async |c| queries::create_bots(c, bots, SystemTime::now(), max).await)
    }

    pub(crate) fn current_reset_epoch(&self) -> Result<i64> {
        self.run(async |c| queries::current_reset_epoch(&*c).await)
    }
}
