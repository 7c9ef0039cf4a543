//! Connecting to PostgreSQL and bringing its schema up to date: the pool,
//! the first connection that names what is wrong (host, password, database)
//! in one line, the inspection that refuses another application's or a
//! newer database untouched, and the embedded, versioned migrations
//! (`migrations/postgres/NNNN_*.sql`), each in its own transaction under an
//! advisory lock so servers starting together migrate once. Must not run
//! application queries.
//!
//! Why a small runner of our own rather than a migration crate: the
//! refusal rules (foreign or newer database left untouched) need the
//! version before anything is written, and the lock must cover the check
//! and the migration together.

use std::time::Duration;

use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::NoTls;

use super::super::error::pg_detail;
use crate::store::target::PostgresUrl;
use crate::store::StoreError;

type Result<T> = std::result::Result<T, StoreError>;

/// The migration files, in order. Append only; never edit a shipped file.
const MIGRATION_SQL: &[&str] = &[include_str!(
    "../../../../migrations/postgres/0001_init.sql"
)];

/// The PostgreSQL schema version this binary produces and understands.
pub const POSTGRES_SCHEMA_VERSION: usize = MIGRATION_SQL.len();

/// `pg_advisory_xact_lock` key held while migrating ("Locu").
const MIGRATION_LOCK: i64 = 0x4C6F_6375;

/// What a database holds before we touch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// No tables in the current schema: ours to create.
    Empty,
    /// A Locus schema at this version.
    Locus(i64),
}

/// Builds the pool. `max_size` connections at most; getting one waits at
/// most `timeout` (as does connecting), so a stopped PostgreSQL fails a
/// request with [`StoreError::Unavailable`] instead of hanging it.
/// Connections that died (server restarted) are dropped when next taken and
/// replaced by new ones.
pub(crate) fn pool(url: &PostgresUrl, max_size: usize, timeout: Duration) -> Result<Pool> {
    let mut pg = url.config().clone();
    pg.connect_timeout(timeout);
    if pg.get_application_name().is_none() {
        pg.application_name("locus");
    }
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|err| StoreError::BadUrl(err.to_string()))
}

/// A pool error as a store error: timeouts and lost connections are
/// [`StoreError::Unavailable`] (transient), a closed pool is `Closed`.
pub(crate) fn from_pool(err: PoolError) -> StoreError {
    match err {
        PoolError::Timeout(kind) => {
            StoreError::Unavailable(format!("no connection within the timeout ({kind:?})"))
        }
        PoolError::Backend(err) => StoreError::Unavailable(pg_detail(&err)),
        PoolError::Closed => StoreError::Closed,
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// Takes the first connection and migrates: a failure here is a start-up
/// error naming the target, with nothing created.
pub(crate) async fn prepare(pool: &Pool, url: &PostgresUrl) -> Result<()> {
    let mut client = pool.get().await.map_err(|err| StoreError::Connect {
        target: url.to_string(),
        detail: match err {
            PoolError::Backend(err) => pg_detail(&err),
            PoolError::Timeout(_) => "timed out".into(),
            other => other.to_string(),
        },
    })?;
    migrate(&mut client, url).await
}

/// Reads what the database holds, writing nothing.
async fn inspect(client: &impl GenericClient, url: &PostgresUrl) -> Result<Found> {
    // A catalog scan under this statement's snapshot, not `to_regclass`,
    // whose cache may not yet see a table another server just committed.
    let marker = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = current_schema() AND c.relname = 'locus_schema')",
            &[],
        )
        .await?;
    if marker.try_get::<_, bool>(0)? {
        let rows = client
            .query("SELECT application, version FROM locus_schema", &[])
            .await?;
        return match rows.as_slice() {
            [row] if row.try_get::<_, String>(0)? == "locus" => {
                let version: i32 = row.try_get(1)?;
                let version = i64::from(version);
                if version > POSTGRES_SCHEMA_VERSION as i64 {
                    Err(StoreError::PostgresSchemaTooNew {
                        target: url.to_string(),
                        found: version,
                        supported: POSTGRES_SCHEMA_VERSION,
                    })
                } else {
                    Ok(Found::Locus(version))
                }
            }
            _ => Err(StoreError::ForeignPostgres {
                target: url.to_string(),
                reason: format!("its locus_schema table holds {} rows, not one", rows.len()),
            }),
        };
    }
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
            &[],
        )
        .await?
        .try_get(0)?;
    if tables > 0 {
        return Err(StoreError::ForeignPostgres {
            target: url.to_string(),
            reason: format!("it has {tables} tables or views but no locus_schema marker"),
        });
    }
    Ok(Found::Empty)
}

/// Applies every pending migration, each in its own transaction holding the
/// migration lock, re-reading the version under the lock (another server may
/// have migrated meanwhile).
async fn migrate(client: &mut deadpool_postgres::Client, url: &PostgresUrl) -> Result<()> {
    // Refuse before taking any lock or writing anything.
    if inspect(&*client, url).await? == Found::Locus(POSTGRES_SCHEMA_VERSION as i64) {
        return Ok(());
    }
    loop {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let current = match inspect(&tx, url).await? {
            Found::Empty => 0,
            Found::Locus(version) => version,
        };
        if current >= POSTGRES_SCHEMA_VERSION as i64 {
            return Ok(());
        }
        let target = usize::try_from(current).unwrap_or(0) + 1;
        let failed = |err: tokio_postgres::Error| StoreError::Migration {
            path: url.to_string().into(),
            version: target,
            detail: pg_detail(&err),
        };
        tx.batch_execute(MIGRATION_SQL[target - 1])
            .await
            .map_err(failed)?;
        let version = i32::try_from(target).unwrap_or(i32::MAX);
        tx.execute("UPDATE locus_schema SET version = $1", &[&version])
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        tracing::info!(db = %url, version = target, "applied PostgreSQL schema migration");
    }
}
