//! Cluster fixtures (issue 13): [`Cluster`], several `locus serve --cluster`
//! children on one machine sharing a fresh PostgreSQL database and one Redis
//! database of their own, with their `/api/cluster` and `/api/health`; and
//! [`JsPlayer`], one player on the official socket.io-client
//! (`tests/js/cluster_player.mjs`) that follows `moved` and `migrate`,
//! reconnects, chats and reports its view,
//! reporting its events as JSON lines. Polling helpers only: assertions stay
//! in the test files.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use super::pg::TestDb;
use super::process::LocusProcess;
use super::tools;

/// A free port on 127.0.0.1 (bound and released: a cluster node must know
/// its port before it starts, for its `--public-url`).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `url` (a `redis://HOST:PORT/...` URL) with database number `db`.
pub fn redis_db(url: &str, db: u8) -> String {
    let rest = url.strip_prefix("redis://").expect("a redis:// URL");
    let host = rest.split('/').next().unwrap();
    format!("redis://{host}/{db}")
}

/// Empties the Redis database of `url` (a test starts from no cluster).
pub async fn flush_redis(url: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap();
}

/// Several cluster nodes on one PostgreSQL database and one Redis database.
pub struct Cluster {
    /// The nodes by index; `None` once stopped or killed.
    pub nodes: Vec<Option<LocusProcess>>,
    /// Each node's public URL, by index.
    pub urls: Vec<String>,
    /// The shared database (dropped last).
    pub db: TestDb,
    /// The Redis URL every node is given.
    pub redis: String,
    /// Extra `serve` arguments of every node.
    extra: Vec<String>,
    http: reqwest::Client,
}

impl Cluster {
    /// `count` nodes on Redis `redis` (emptied first) and a fresh database,
    /// each with `extra` arguments; `None` (skipped) without PostgreSQL.
    pub async fn start(redis: &str, count: usize, extra: &[&str]) -> Option<Cluster> {
        let admin = tools::postgres_url()?;
        flush_redis(redis).await;
        let mut cluster = Cluster {
            nodes: Vec::new(),
            urls: Vec::new(),
            db: TestDb::create(&admin),
            redis: redis.to_owned(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            http: reqwest::Client::new(),
        };
        for _ in 0..count {
            cluster.add_node().await;
        }
        Some(cluster)
    }

    /// Starts one more node; returns its index.
    pub async fn add_node(&mut self) -> usize {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let mut args = vec![
            "--cluster".to_owned(),
            self.redis.clone(),
            "--public-url".to_owned(),
            url.clone(),
        ];
        args.extend(self.extra.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let node =
            LocusProcess::start_on(&format!("127.0.0.1:{port}"), &self.db.path(), &args).await;
        self.nodes.push(Some(node));
        self.urls.push(url);
        self.nodes.len() - 1
    }

    /// The index of the node whose public URL is `url`.
    pub fn index_of(&self, url: &str) -> usize {
        self.urls
            .iter()
            .position(|u| u == url)
            .unwrap_or_else(|| panic!("no node at {url}"))
    }

    /// The running nodes' indexes.
    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_some())
            .collect()
    }

    /// Every running node's log so far, each under its URL (printed when a
    /// cluster test fails).
    pub fn logs(&self) -> String {
        self.running()
            .iter()
            .map(|&i| {
                let log = self.nodes[i].as_ref().map(LocusProcess::log);
                format!(
                    "---- log of {} ----\n{}\n",
                    self.urls[i],
                    log.unwrap_or_default()
                )
            })
            .collect()
    }

    /// A guard that prints [`Cluster::logs`] if the test panics while it
    /// is alive.
    pub fn logs_on_panic(&self) -> LogsOnPanic<'_> {
        LogsOnPanic(self)
    }

    /// The running nodes' URLs.
    pub fn running_urls(&self) -> Vec<String> {
        self.running()
            .iter()
            .map(|i| self.urls[*i].clone())
            .collect()
    }

    /// `GET path` on node `i`, as (status, JSON body).
    pub async fn get(&self, i: usize, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.urls[i]))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Polls node `i`'s `/api/cluster` until `done` holds (at most
    /// `patience`); returns the last answer either way.
    pub async fn cluster_until(
        &self,
        i: usize,
        patience: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + patience;
        loop {
            let (_, body) = self.get(i, "/api/cluster").await;
            if done(&body) || Instant::now() > deadline {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls node `i`'s `/api/health` until its `cluster` is `want`; true
    /// when it got there within `patience`.
    pub async fn health_until(&self, i: usize, want: &str, patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        loop {
            let (_, body) = self.get(i, "/api/health").await;
            if body["cluster"] == want {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until node `i`'s `/api/cluster` shows `nodes` nodes holding
    /// every region once, and returns that answer; fails the test after
    /// `patience`.
    pub async fn covered(&self, i: usize, nodes: usize, patience: Duration) -> Value {
        let body = self
            .cluster_until(i, patience, |b| covers_every_region_once(b, nodes))
            .await;
        assert!(
            covers_every_region_once(&body, nodes),
            "node {i} never showed {nodes} nodes covering every region once: {body}"
        );
        body
    }

    /// [`Cluster::covered`] on every running node; returns the last answer.
    pub async fn covered_everywhere(&self, nodes: usize, patience: Duration) -> Value {
        let mut last = Value::Null;
        for i in self.running() {
            last = self.covered(i, nodes, patience).await;
        }
        last
    }

    /// Waits until account `id`'s stored position is `at`; fails the test
    /// after `patience`.
    pub async fn wait_saved(&self, id: u64, at: (f64, f64), patience: Duration) {
        let deadline = Instant::now() + patience;
        while self.stored_position(id) != Some(at) {
            assert!(
                Instant::now() < deadline,
                "never saved at {at:?}: {:?}",
                self.stored_position(id)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sets `name`'s stored position with `locus admin reset --to`.
    pub async fn place(&self, name: &str, at: (f64, f64)) {
        let to = format!("{},{}", at.0, at.1);
        let output = super::process::run_locus(
            &["admin", "reset", name, "--to", &to, "--db"],
            &self.db.path(),
        )
        .await;
        assert!(
            output.status.success(),
            "admin reset {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The stored position of account `id`, if any.
    pub fn stored_position(&self, id: u64) -> Option<(f64, f64)> {
        let rows = super::pg::query(
            &self.db.url,
            &format!("SELECT x, y FROM positions WHERE account_id = {id}"),
        );
        rows.first().map(|r| (r.get(0), r.get(1)))
    }
}

/// Whether a `/api/cluster` body shows `nodes` nodes holding every one of
/// its N x N regions exactly once.
pub fn covers_every_region_once(body: &Value, nodes: usize) -> bool {
    let Some(n) = body["regions"].as_u64() else {
        return false;
    };
    let Some(list) = body["nodes"].as_array() else {
        return false;
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0;
    for node in list {
        for region in node["regions"].as_array().into_iter().flatten() {
            total += 1;
            seen.insert((region[0].as_u64(), region[1].as_u64()));
        }
    }
    list.len() == nodes && total == n * n && seen.len() as u64 == n * n
}

/// The URL of the node holding region `[rx, ry]` in a `/api/cluster` body.
pub fn owner_of(body: &Value, rx: u64, ry: u64) -> Option<String> {
    body["nodes"].as_array()?.iter().find_map(|node| {
        node["regions"]
            .as_array()?
            .iter()
            .any(|r| r[0] == rx && r[1] == ry)
            .then(|| node["url"].as_str().unwrap().to_owned())
    })
}

/// Two regions sharing an edge, held by two different nodes, from a
/// `/api/cluster` body: `((ax, ay), url_a, (bx, by), url_b)`.
pub fn border_between_nodes(body: &Value) -> ((i64, i64), String, (i64, i64), String) {
    let mut owner = std::collections::HashMap::new();
    for node in body["nodes"].as_array().unwrap() {
        for r in node["regions"].as_array().unwrap() {
            owner.insert(
                (r[0].as_i64().unwrap(), r[1].as_i64().unwrap()),
                node["url"].as_str().unwrap().to_owned(),
            );
        }
    }
    let mut regions: Vec<_> = owner.keys().copied().collect();
    regions.sort();
    for a in &regions {
        for b in [(a.0 + 1, a.1), (a.0, a.1 + 1)] {
            if let Some(ub) = owner.get(&b) {
                if *ub != owner[a] {
                    return (*a, owner[a].clone(), b, ub.clone());
                }
            }
        }
    }
    panic!("no border between two nodes: {body}");
}

/// See [`Cluster::logs_on_panic`].
pub struct LogsOnPanic<'a>(&'a Cluster);

impl Drop for LogsOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.0.logs());
        }
    }
}

/// Points on the line from the centre of `a` to the centre of `b`, measured
/// from their shared border (negative: inside `a`).
pub struct Crossing {
    /// Where the line crosses the border.
    pub mid: (f64, f64),
    /// The unit step from `a` towards `b`.
    pub dir: (f64, f64),
}

impl Crossing {
    /// The crossing from region `a` into its neighbour `b`, regions being
    /// `region` world units wide.
    pub fn new(a: (i64, i64), b: (i64, i64), region: f64) -> Self {
        let centre = |r: (i64, i64)| ((r.0 as f64 + 0.5) * region, (r.1 as f64 + 0.5) * region);
        let (ca, cb) = (centre(a), centre(b));
        Crossing {
            mid: ((ca.0 + cb.0) / 2.0, (ca.1 + cb.1) / 2.0),
            dir: ((cb.0 - ca.0) / region, (cb.1 - ca.1) / region),
        }
    }

    /// The point `past_border` units past the border.
    pub fn at(&self, past_border: f64) -> (f64, f64) {
        (
            self.mid.0 + self.dir.0 * past_border,
            self.mid.1 + self.dir.1 * past_border,
        )
    }

    /// How far past the border (towards `b`) a point is.
    pub fn past(&self, x: f64, y: f64) -> f64 {
        (x - self.mid.0) * self.dir.0 + (y - self.mid.1) * self.dir.1
    }
}

/// A cluster with a border between regions `a` and `b` held by two
/// different nodes (at `url_a`, `url_b`), and the line across it.
pub struct Border {
    /// The nodes.
    pub cluster: Cluster,
    /// The node holding `a`.
    pub url_a: String,
    /// The node holding `b`.
    pub url_b: String,
    /// From `a` into `b`.
    pub crossing: Crossing,
}

impl Border {
    /// `nodes` nodes with `flags` (regions `region` units wide), once they
    /// cover every region; `None` (skipped) without PostgreSQL.
    pub async fn start(
        redis: &str,
        nodes: usize,
        flags: &[&str],
        region: f64,
        patience: Duration,
    ) -> Option<Border> {
        let cluster = Cluster::start(redis, nodes, flags).await?;
        let body = cluster.covered_everywhere(nodes, patience).await;
        let (a, url_a, b, url_b) = border_between_nodes(&body);
        Some(Border {
            cluster,
            url_a,
            url_b,
            crossing: Crossing::new(a, b, region),
        })
    }

    /// A new account stored `past_border` units past the border (negative:
    /// in `a`): its id and token.
    pub async fn account_at(&self, name: &str, past_border: f64) -> (u64, String) {
        let node = self.cluster.nodes[0].as_ref().expect("node 0 runs");
        let account = node.account(name).await;
        self.cluster
            .place(name, self.crossing.at(past_border))
            .await;
        account
    }
}

/// One player on the official socket.io-client (`js/cluster_player.mjs`).
pub struct JsPlayer {
    child: Child,
    stdin: ChildStdin,
    events: mpsc::UnboundedReceiver<Value>,
    /// Every event so far, in order.
    pub seen: Vec<Value>,
}

impl JsPlayer {
    /// Starts the player with `token`, trying `urls` in turn.
    pub fn start(token: &str, urls: &[String]) -> JsPlayer {
        let mut child = Command::new("node")
            .current_dir(tools::tests_dir())
            .arg("js/cluster_player.mjs")
            .arg(token)
            .args(urls)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str(&line) {
                    Ok(event) => {
                        let _ = tx.send(event);
                    }
                    Err(_) => eprintln!("cluster_player: {line}"),
                }
            }
        });
        JsPlayer {
            child,
            stdin,
            events,
            seen: Vec::new(),
        }
    }

    /// The next event (after those already seen) for which `pred` holds,
    /// waiting at most `patience`; `None` when none came.
    pub async fn next_where(
        &mut self,
        patience: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .ok()??;
            self.seen.push(event.clone());
            if pred(&event) {
                return Some(event);
            }
        }
    }

    /// The next `welcome`.
    pub async fn welcome(&mut self, patience: Duration) -> Option<Value> {
        self.next_where(patience, |e| e["event"] == "welcome").await
    }

    /// Sends a `position` towards `(x, y)`.
    pub async fn move_to(&mut self, x: f64, y: f64) {
        self.command(&format!("move {x} {y}")).await;
    }

    /// Says `text` in chat.
    pub async fn chat(&mut self, text: &str) {
        self.command(&format!("chat {text}")).await;
    }

    /// What the player holds now: `{"url","x","y","seen":[ids],"left":[ids]}`.
    pub async fn report(&mut self, patience: Duration) -> Value {
        self.command("report").await;
        self.next_where(patience, |e| e["event"] == "report")
            .await
            .expect("the player reports")
    }

    /// Polls [`Self::report`] until `done` holds (at most `patience`);
    /// returns the last report either way.
    pub async fn report_until(
        &mut self,
        patience: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + patience;
        loop {
            let report = self.report(patience).await;
            if done(&report) || Instant::now() > deadline {
                return report;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn command(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Every event seen so far named `name`.
    pub fn seen_named(&self, name: &str) -> Vec<&Value> {
        self.seen.iter().filter(|e| e["event"] == name).collect()
    }

    /// Stops the player.
    pub async fn quit(mut self) {
        let _ = self.stdin.write_all(b"quit\n").await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// A Redis of one test's own (`LOCUS_TEST_REDIS_SERVER` on a free port,
/// no persistence), stopped and started again on the same port. Killed
/// when dropped.
pub struct OwnRedis {
    binary: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    /// Starts it; `None` (skipped outside CI) without a redis-server.
    pub async fn start() -> Option<OwnRedis> {
        let binary = match std::env::var("LOCUS_TEST_REDIS_SERVER") {
            Ok(b) if !b.is_empty() => b,
            _ => {
                tools::missing("LOCUS_TEST_REDIS_SERVER not set: run `bash tests/run.sh`");
                return None;
            }
        };
        let mut redis = OwnRedis {
            binary,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        redis.start_again().await;
        Some(redis)
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts it again (after [`Self::stop`]) and waits until it answers.
    pub async fn start_again(&mut self) {
        let child = std::process::Command::new(&self.binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(client) = redis::Client::open(self.url()) {
                if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                    let pong: redis::RedisResult<String> =
                        redis::cmd("PING").query_async(&mut conn).await;
                    if pong.is_ok() {
                        return;
                    }
                }
            }
            assert!(Instant::now() < deadline, "own redis-server never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills it (SIGKILL: nothing is saved, as with a crash) and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
