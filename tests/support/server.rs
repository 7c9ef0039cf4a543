//! [`LocusServer`]: the whole Locus server (`net::server::start`) running
//! in this test process on 127.0.0.1:0 with its own temporary database, its
//! config changed per test through [`LocusServer::start_with`]. For a real
//! `locus serve` child process see [`super::process`]; for the bare
//! Engine.IO and Socket.IO layers see [`super::engine`] and
//! [`super::socketio`].

use std::net::SocketAddr;
use std::path::PathBuf;

use locus::config::Config;
use locus::server::RunningServer;
use serde_json::Value;

use super::{accounts, PATIENCE};

/// A `locus` server running in this process on its own temporary database.
pub struct LocusServer {
    /// The running server.
    pub server: RunningServer,
    /// Holds the database (`locus.db`) until the test ends.
    pub dir: tempfile::TempDir,
    /// An HTTP client for the API.
    pub http: reqwest::Client,
}

impl LocusServer {
    /// A server with the contract's defaults.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server with the defaults changed by `tweak`, which sees the whole
    /// [`Config`] (listen address and database already point at port 0
    /// and the temporary directory; a tweak may move the database).
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            db: dir.path().join("locus.db"),
            ..Config::default()
        };
        tweak(&mut config);
        let server = locus::server::start(config).await.expect("server starts");
        Self {
            server,
            dir,
            http: reqwest::Client::new(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://ADDR` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr(), path)
    }

    /// The database file (in the temporary directory).
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("locus.db")
    }

    /// Registers `username` and returns its account id.
    pub async fn register(&self, username: &str, password: &str) -> u64 {
        accounts::register(&self.http, &self.url(""), username, password).await
    }

    /// Logs in and returns the token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        accounts::login(&self.http, &self.url(""), username, password).await
    }

    /// Registers and logs in; returns (account id, token).
    pub async fn account(&self, username: &str) -> (u64, String) {
        accounts::account(&self.http, &self.url(""), username).await
    }

    /// Stops the server gracefully.
    pub async fn stop(self) {
        self.server.shutdown().await.expect("clean shutdown");
    }
}

/// The Engine.IO error code in a JSON error body.
pub async fn engine_code(response: reqwest::Response) -> (u16, Option<u64>) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_u64())
}

/// Opens a polling session; returns its sid.
pub async fn polling_session(server: &LocusServer) -> String {
    let res = server
        .http
        .get(server.url("/socket.io/?EIO=4&transport=polling"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "polling handshake");
    let body = res.text().await.unwrap();
    let open: Value = serde_json::from_str(body.strip_prefix('0').expect("open packet")).unwrap();
    open["sid"].as_str().unwrap().to_owned()
}

/// The URL of polling session `sid`.
pub fn poll_url(server: &LocusServer, sid: &str) -> String {
    server.url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"))
}

/// Whether polling session `sid` is gone (its next GET gets code 1).
pub async fn session_is_gone(server: &LocusServer, sid: &str) -> bool {
    let res = server
        .http
        .get(poll_url(server, sid))
        .timeout(PATIENCE)
        .send()
        .await
        .unwrap();
    engine_code(res).await == (400, Some(1))
}
