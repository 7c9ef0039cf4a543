//! PostgreSQL for tests: the private instance `tests/run.sh` starts
//! (`LOCUS_TEST_POSTGRES_URL`, a superuser URL, via
//! [`super::tools::postgres_url`]: `SKIPPED` locally, a failure in CI), one
//! throwaway database per test (`locus_test_<random>`, dropped afterwards),
//! [`Backend`] for running one test body against both backends, and a
//! throwaway instance of a test's own ([`OwnInstance`]) for the fault tests
//! that stop and restart PostgreSQL.

use std::path::PathBuf;
use std::process::Command;
use std::str::FromStr;

/// The superuser URL of the test instance, or `None` (after `SKIPPED`)
/// outside CI. `test` names the test in the message.
pub fn postgres_url(test: &str) -> Option<String> {
    let url = super::tools::postgres_url();
    if url.is_none() {
        eprintln!("SKIPPED: {test} on PostgreSQL");
    }
    url
}

/// Which store a parameterised test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the test PostgreSQL instance.
    Postgres,
}

/// A database for one test on one backend; dropped (file or database) with
/// it.
pub struct BackendDb {
    /// Which backend.
    pub backend: Backend,
    /// What `--db` gets: the file path, or the URL as a path.
    pub path: PathBuf,
    /// Holds the SQLite file.
    _dir: tempfile::TempDir,
    /// Holds the PostgreSQL database.
    _pg: Option<TestDb>,
}

impl BackendDb {
    /// A new empty database on `backend`, or `None` (after `SKIPPED`) when
    /// PostgreSQL is asked for and there is none outside CI.
    pub fn new(backend: Backend, test: &str) -> Option<BackendDb> {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => Some(BackendDb {
                backend,
                path: dir.path().join("locus.db"),
                _dir: dir,
                _pg: None,
            }),
            Backend::Postgres => {
                let admin_url = postgres_url(test)?;
                let db = TestDb::create(&admin_url);
                Some(BackendDb {
                    backend,
                    path: db.path(),
                    _dir: dir,
                    _pg: Some(db),
                })
            }
        }
    }

    /// The database as `locus::store::Database`.
    pub fn database(&self) -> locus::store::Database {
        locus::store::Database::from_arg(&self.path).unwrap()
    }

    /// A directory that lives as long as the database (for other files).
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

/// Defines one `#[tokio::test]` per backend, `NAME::sqlite` and
/// `NAME::postgres`, calling `async fn NAME(backend: Backend)`; with a
/// leading `multi_thread:` on a two-worker runtime.
#[macro_export]
macro_rules! both_backends {
    (multi_thread: $($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::pg::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::pg::Backend::Postgres).await
            }
        }
    )+};
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name($crate::support::pg::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name($crate::support::pg::Backend::Postgres).await
            }
        }
    )+};
}

/// `url` with its database name replaced by `dbname`.
pub fn with_dbname(url: &str, dbname: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{dbname}?{query}"),
        None => format!("{base}/{dbname}"),
    }
}

/// Runs `work` with a client of the database `url` names, on a runtime of
/// its own (so that it works from sync code and from `Drop`).
fn with_client<T: Send + 'static>(
    url: &str,
    work: impl AsyncFnOnce(&tokio_postgres::Client) -> T + Send + 'static,
) -> Result<T, tokio_postgres::Error> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let config = tokio_postgres::Config::from_str(&url).unwrap();
            let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
            let driver = tokio::spawn(connection);
            let result = work(&client).await;
            drop(client);
            let _ = driver.await;
            Ok(result)
        })
    })
    .join()
    .unwrap()
}

/// Runs `sql` on the database `url` names.
pub fn execute(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let sql = sql.to_owned();
    with_client(url, async move |client| client.batch_execute(&sql).await)?
}

/// Runs a query on the database `url` names and returns its rows.
pub fn query(url: &str, sql: &str) -> Vec<tokio_postgres::Row> {
    let sql = sql.to_owned();
    with_client(url, async move |client| {
        client
            .query(sql.as_str(), &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
    })
    .unwrap()
}

/// True when a `--db` value names PostgreSQL.
pub fn is_postgres(db: &std::path::Path) -> bool {
    db.to_str()
        .is_some_and(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

/// Whether a database of that name exists on the instance of `admin_url`.
pub fn database_exists(admin_url: &str, dbname: &str) -> bool {
    let sql = format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '{dbname}') \
         THEN RAISE EXCEPTION 'absent'; END IF; END $$"
    );
    execute(admin_url, &sql).is_ok()
}

/// A database created for one test and dropped when this is dropped.
pub struct TestDb {
    /// The superuser URL of the instance.
    admin_url: String,
    /// The database's name.
    pub name: String,
    /// The URL of the database.
    pub url: String,
}

impl TestDb {
    /// Creates `locus_test_<random>` on the instance of `admin_url`.
    pub fn create(admin_url: &str) -> TestDb {
        let name = format!("locus_test_{:016x}", rand::random::<u64>());
        execute(admin_url, &format!("CREATE DATABASE {name}")).expect("create test database");
        TestDb {
            admin_url: admin_url.to_owned(),
            url: with_dbname(admin_url, &name),
            name,
        }
    }

    /// The URL as a path-typed `--db` value.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.url)
    }

    /// The same database as `locus::store::Database`.
    pub fn database(&self) -> locus::store::Database {
        locus::store::Database::parse(&self.url).unwrap()
    }

    /// Runs SQL on this database.
    pub fn execute(&self, sql: &str) {
        execute(&self.url, sql).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(err) = execute(&self.admin_url, &sql) {
            eprintln!("cannot drop test database {}: {err:?}", self.name);
        }
    }
}

/// A PostgreSQL instance of one test's own (initdb into a temporary
/// directory, a free port on 127.0.0.1), for tests that stop and restart
/// it. Stopped when dropped.
pub struct OwnInstance {
    /// Holds the data directory.
    dir: tempfile::TempDir,
    /// PostgreSQL's binaries.
    bindir: PathBuf,
    /// OS user to run it as when we are root.
    run_as: Option<String>,
    /// Its port.
    pub port: u16,
    /// Superuser URL of its `postgres` database.
    pub url: String,
}

impl OwnInstance {
    /// Initialises and starts an instance; `None` (after `SKIPPED`) when
    /// PostgreSQL's binaries are not known outside CI.
    pub fn start(test: &str) -> Option<OwnInstance> {
        let bindir = match std::env::var("LOCUS_TEST_PG_BINDIR") {
            Ok(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => {
                let guess = PathBuf::from("/usr/lib/postgresql/15/bin");
                if guess.join("initdb").exists()
                    && std::env::var_os("LOCUS_TEST_POSTGRES_URL").is_some()
                {
                    guess
                } else if std::env::var_os("CI").is_some() {
                    panic!("{test}: LOCUS_TEST_PG_BINDIR is not set in CI (run tests/run.sh)");
                } else {
                    eprintln!("SKIPPED: {test}: no PostgreSQL binaries (set LOCUS_TEST_PG_BINDIR)");
                    return None;
                }
            }
        };
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let run_as = is_root
            .then(|| std::env::var("LOCUS_TEST_PG_USER").unwrap_or_else(|_| "postgres".to_owned()));
        let dir = tempfile::Builder::new()
            .prefix("locus-pg-")
            .tempdir_in("/tmp")
            .unwrap();
        if let Some(user) = &run_as {
            let status = Command::new("chown")
                .args([user.as_str(), dir.path().to_str().unwrap()])
                .status()
                .unwrap();
            assert!(status.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let instance = OwnInstance {
            url: format!("postgres://locus:locus@127.0.0.1:{port}/postgres"),
            dir,
            bindir,
            run_as,
            port,
        };
        let pwfile = instance.dir.path().join("pw");
        std::fs::write(&pwfile, "locus\n").unwrap();
        if let Some(user) = &instance.run_as {
            Command::new("chown")
                .args([user.as_str(), pwfile.to_str().unwrap()])
                .status()
                .unwrap();
        }
        let data = instance.data();
        instance.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "locus",
                "--auth=scram-sha-256",
                "--pwfile",
                pwfile.to_str().unwrap(),
                "--no-sync",
            ],
        );
        instance.start_again();
        Some(instance)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_str().unwrap().to_owned()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bindir.join(tool);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        let output = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            output.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the instance (again), waiting until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the instance (fast shutdown: sessions are disconnected).
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for OwnInstance {
    fn drop(&mut self) {
        let program = self.bindir.join("pg_ctl");
        let data = self.data();
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}
