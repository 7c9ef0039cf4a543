//! [`Database`]: what `--db` / `LOCUS_DB` names, a SQLite file path or a
//! PostgreSQL URL (`postgres://` or `postgresql://`), parsed once and shown
//! without its password. Must not connect or open anything.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::StoreError;

/// URL schemes that select the PostgreSQL backend.
const POSTGRES_SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

/// Which backend holds the data, and where.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file (created with its schema on first start).
    Sqlite(PathBuf),
    /// A PostgreSQL database that several servers may share (boxed: the
    /// driver's config is large).
    Postgres(Box<PostgresUrl>),
}

/// A parsed PostgreSQL connection URL.
#[derive(Clone)]
pub struct PostgresUrl {
    /// The driver's parsed form, password included.
    config: tokio_postgres::Config,
    /// `postgres://user@host:port/dbname`: for messages and logs.
    shown: String,
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PostgresUrl").field(&self.shown).finish()
    }
}

impl std::fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl PostgresUrl {
    /// The driver's configuration (with the password).
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }
}

impl FromStr for PostgresUrl {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let config = tokio_postgres::Config::from_str(text)
            .map_err(|err| StoreError::BadUrl(super::error::pg_detail(&err)))?;
        if config.get_hosts().is_empty() {
            return Err(StoreError::BadUrl("the URL names no host".into()));
        }
        if config.get_user().is_none() {
            return Err(StoreError::BadUrl(
                "the URL names no user (postgres://USER:PASSWORD@HOST/DB)".into(),
            ));
        }
        let shown = shown(&config);
        Ok(PostgresUrl { config, shown })
    }
}

/// The URL as an operator may see it: no password, no other parameters.
fn shown(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let user = config.get_user().unwrap_or("");
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(i).or(config.get_ports().first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    let dbname = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{}/{dbname}", hosts.join(","))
}

impl Database {
    /// Reads `--db`: a `postgres://` or `postgresql://` URL selects
    /// PostgreSQL, anything else is a SQLite file path.
    pub fn parse(text: &str) -> Result<Database, StoreError> {
        for scheme in POSTGRES_SCHEMES {
            let head = text.get(..scheme.len());
            if head.is_some_and(|head| head.eq_ignore_ascii_case(scheme)) {
                // The driver knows only the lower-case schemes.
                let url = format!("{scheme}{}", &text[scheme.len()..]);
                return Ok(Database::Postgres(Box::new(url.parse()?)));
            }
        }
        Ok(Database::Sqlite(PathBuf::from(text)))
    }

    /// [`Database::parse`] of a path-typed argument (a URL is a valid path
    /// too). A non-UTF-8 path is a SQLite file.
    pub fn from_arg(arg: &Path) -> Result<Database, StoreError> {
        match arg.to_str() {
            Some(text) => Database::parse(text),
            None => Ok(Database::Sqlite(arg.to_path_buf())),
        }
    }

    /// True for PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }
}

impl From<PathBuf> for Database {
    fn from(path: PathBuf) -> Self {
        Database::Sqlite(path)
    }
}

impl std::fmt::Display for Database {
    /// The file path, or the URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => path.display().fmt(f),
            Database::Postgres(url) => url.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_sqlite_and_urls_postgres() {
        assert!(matches!(
            Database::parse("locus.db").unwrap(),
            Database::Sqlite(_)
        ));
        assert!(matches!(
            Database::parse("./postgres/locus.db").unwrap(),
            Database::Sqlite(_)
        ));
        let db = Database::parse("postgres://locus:s3cret@127.0.0.1:5433/game").unwrap();
        assert!(db.is_postgres());
        assert_eq!(db.to_string(), "postgres://locus@127.0.0.1:5433/game");
        assert!(Database::parse("POSTGRESQL://a@h/d").unwrap().is_postgres());
    }

    #[test]
    fn shown_url_never_has_the_password() {
        let db = Database::parse("postgres://u:hunter2@h/d?application_name=x").unwrap();
        assert!(!db.to_string().contains("hunter2"));
        assert!(!format!("{db:?}").contains("hunter2"));
    }

    #[test]
    fn rejects_broken_urls() {
        for bad in [
            "postgres://u@h:notaport/d",
            "postgres://u@h/d?sslmode=sometimes",
            "postgres:///d",
        ] {
            assert!(
                matches!(Database::parse(bad), Err(StoreError::BadUrl(_))),
                "{bad}"
            );
        }
    }
}
