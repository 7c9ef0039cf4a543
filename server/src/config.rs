//! Every setting of `locus serve` in one place: each field is a command-line
//! flag and an environment variable, and its doc comment (shown by
//! `locus serve --help`) states what it bounds. Defaults follow the wire
//! contract (`docs/protocol.md`) and the Socket.IO reference server.
//!
//! This module only describes settings and converts them into each layer's
//! own config struct (the `*_config` methods below); no layer imports it,
//! only `crate::server` and the binary do.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::AuthConfig;
use crate::engineio::{EngineConfig, DEFAULT_MAX_UNSENT_BYTES};
use crate::game::WorldConfig;
use crate::http::listener::HttpLimits;
use crate::session::SessionConfig;
use crate::socketio::{Parser, SocketIoConfig, DEFAULT_CONNECT_TIMEOUT};
use crate::store::{Database, StoreConfig, StoreError};

/// Parses durations such as `25s`, `300ms` or `7days`.
fn parse_duration(text: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(text)
}

/// Which Socket.IO packet format the server speaks. Clients must use the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ParserKind {
    /// The default `socket.io-parser` text format.
    Json,
    /// The `socket.io-msgpack-parser` binary format.
    Msgpack,
}

/// All settings of the game server.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on for HTTP and Socket.IO.
    #[arg(long, env = "LOCUS_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// The database: a SQLite file (created with its schema on first start)
    /// or a PostgreSQL URL, `postgres://USER:PASSWORD@HOST:PORT/DBNAME`,
    /// which several servers may share (the database must exist; an empty
    /// one gets the schema).
    #[arg(long, env = "LOCUS_DB", default_value = "locus.db")]
    pub db: PathBuf,

    /// Serve the browser client from this folder instead of the copy
    /// embedded in the binary (for developing the client).
    #[arg(long, env = "LOCUS_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,

    /// Width and height of the square world, in units.
    #[arg(long, env = "LOCUS_WORLD_SIZE", default_value_t = 4096.0, value_parser = parse_positive)]
    pub world_size: f64,

    /// World ticks (and snapshots) per second.
    #[arg(long, env = "LOCUS_TICK_HZ", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub tick_hz: u32,

    /// Maximum player speed, in units per second.
    #[arg(long, env = "LOCUS_SPEED", default_value_t = 300.0, value_parser = parse_positive)]
    pub speed: f64,

    /// A player sees others within this radius.
    #[arg(long, env = "LOCUS_VIEW_RADIUS", default_value_t = 600.0, value_parser = parse_positive)]
    pub view_radius: f64,

    /// A player already in view leaves it only beyond view radius plus this
    /// margin (hysteresis against flapping at the edge).
    #[arg(long, env = "LOCUS_VIEW_HYSTERESIS", default_value_t = 100.0, value_parser = parse_non_negative)]
    pub view_hysteresis: f64,

    /// At most this many nearest players are in one player's view, so a
    /// crowd cannot blow up a tick.
    #[arg(long, env = "LOCUS_VIEW_MAX", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub view_max: u32,

    /// Threads that compute a tick's views when 512 or more players are
    /// online (the tick thread and the rest started per tick); snapshots
    /// are the same whatever the number.
    #[arg(long, env = "LOCUS_VIEW_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub view_threads: u32,

    /// How often dirty positions are written to the database.
    #[arg(long, env = "LOCUS_FLUSH_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub flush_interval: Duration,

    /// Socket.IO packet format.
    #[arg(long, env = "LOCUS_PARSER", value_enum, default_value_t = ParserKind::Json)]
    pub parser: ParserKind,

    /// Origins allowed to open Socket.IO sessions (checked on polling and on
    /// the WebSocket upgrade), comma-separated. Empty allows any origin.
    #[arg(long, env = "LOCUS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Interval between Engine.IO pings sent by the server.
    #[arg(long, env = "LOCUS_PING_INTERVAL", default_value = "25s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// Time a client has to answer a ping before its session is closed.
    #[arg(long, env = "LOCUS_PING_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub ping_timeout: Duration,

    /// Time a polling session may spend upgrading to WebSocket.
    #[arg(long, env = "LOCUS_UPGRADE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub upgrade_timeout: Duration,

    /// Time a new Engine.IO session has to join a Socket.IO namespace.
    #[arg(long, env = "LOCUS_CONNECT_TIMEOUT", default_value = humantime::format_duration(DEFAULT_CONNECT_TIMEOUT).to_string(), value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Largest HTTP body or WebSocket message accepted, in bytes (413 or
    /// close 1009 above it).
    #[arg(long, env = "LOCUS_MAX_PAYLOAD", default_value_t = 1_000_000)]
    pub max_payload: usize,

    /// Binary attachments allowed in one Socket.IO packet.
    #[arg(long, env = "LOCUS_MAX_ATTACHMENTS", default_value_t = 10)]
    pub max_attachments: usize,

    /// Packets queued for one connection before sends to it fail (slow
    /// readers never grow server memory without bound).
    #[arg(long, env = "LOCUS_MAX_BUFFERED_PACKETS", default_value_t = 256)]
    pub max_buffered_packets: usize,

    /// Bytes a connection may hold unsent for a client that is not reading:
    /// in the kernel (`TCP_NOTSENT_LOWAT`) and again in the session queue
    /// behind a blocked WebSocket write. Beyond it snapshots merge, so a
    /// client that stalls resumes a few ticks behind, not through a
    /// backlog. Sent but unacknowledged bytes do not count: a client that
    /// keeps up is never slowed.
    #[arg(long, env = "LOCUS_MAX_UNSENT_BYTES", default_value_t = DEFAULT_MAX_UNSENT_BYTES as u32, value_parser = clap::value_parser!(u32).range(512..))]
    pub max_unsent_bytes: u32,

    /// Open TCP connections allowed in total.
    #[arg(long, env = "LOCUS_MAX_CONNECTIONS", default_value_t = 50_000)]
    pub max_connections: usize,

    /// Open TCP connections allowed from one IP address (0: no limit; raise
    /// it for load tests that connect from one address).
    #[arg(long, env = "LOCUS_MAX_CONNECTIONS_PER_IP", default_value_t = 1024)]
    pub max_connections_per_ip: usize,

    /// Engine.IO handshakes (new sessions) allowed per second from one IP
    /// address, sustained; more get 429 (0: no limit; load and churn tests
    /// from one address may need to raise or disable it).
    #[arg(long, env = "LOCUS_HANDSHAKE_RATE", default_value_t = 100.0, value_parser = parse_non_negative)]
    pub handshake_rate: f64,

    /// Engine.IO handshakes one IP address may make at once before the
    /// sustained `--handshake-rate` applies.
    #[arg(long, env = "LOCUS_HANDSHAKE_BURST", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub handshake_burst: u32,

    /// Server emits awaiting a client acknowledgement per socket; beyond it
    /// `emit_with_ack` fails at once.
    #[arg(long, env = "LOCUS_MAX_PENDING_ACKS", default_value_t = 64)]
    pub max_pending_acks: usize,

    /// Time a client has to send a complete request head (slowloris guard).
    #[arg(long, env = "LOCUS_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// Largest request head (request line plus headers), in bytes.
    #[arg(long, env = "LOCUS_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    pub max_header_bytes: usize,

    /// Most headers allowed in one request.
    #[arg(long, env = "LOCUS_MAX_HEADERS", default_value_t = 64)]
    pub max_headers: usize,

    /// Lifetime of a login token.
    #[arg(long, env = "LOCUS_TOKEN_TTL", default_value = "7days", value_parser = parse_duration)]
    pub token_ttl: Duration,

    /// Password hashes computed at once (each takes 19 MiB for argon2id).
    #[arg(long, env = "LOCUS_HASH_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub hash_concurrency: u32,

    /// Login/register requests that may wait for a hashing slot; beyond it
    /// they get 503 at once (bounds memory under login floods).
    #[arg(long, env = "LOCUS_HASH_QUEUE", default_value_t = 64)]
    pub hash_queue: usize,

    /// Time a polling POST has to deliver its whole body (e.g. a lying
    /// `Content-Length`); a stalled body closes the session.
    #[arg(long, env = "LOCUS_BODY_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub body_read_timeout: Duration,

    /// Sustained `position` events per second a socket may send before it
    /// is kicked.
    #[arg(long, env = "LOCUS_POSITION_RATE", default_value_t = 60.0, value_parser = parse_positive)]
    pub position_rate: f64,

    /// Sustained `chat` messages per second a socket may send; extra
    /// messages are dropped.
    #[arg(long, env = "LOCUS_CHAT_RATE", default_value_t = 2.0, value_parser = parse_positive)]
    pub chat_rate: f64,

    /// Seconds of `position` events at `--position-rate` one burst may hold.
    #[arg(long, env = "LOCUS_POSITION_BURST_SECONDS", default_value_t = 2.0, value_parser = parse_positive)]
    pub position_burst_seconds: f64,

    /// `chat` messages one burst may hold before `--chat-rate` applies.
    #[arg(long, env = "LOCUS_CHAT_BURST", default_value_t = 5.0, value_parser = parse_at_least_one)]
    pub chat_burst: f64,

    /// Sustained malformed inputs (bad shapes, unknown events) per second a
    /// socket may send before it is kicked.
    #[arg(long, env = "LOCUS_GARBAGE_RATE", default_value_t = 5.0, value_parser = parse_positive)]
    pub garbage_rate: f64,

    /// Malformed inputs one burst may hold before `--garbage-rate` applies.
    #[arg(long, env = "LOCUS_GARBAGE_BURST", default_value_t = 20.0, value_parser = parse_at_least_one)]
    pub garbage_burst: f64,

    /// Commands (joins, moves, chats...) queued for the world's tick thread
    /// before inputs are dropped as overload.
    #[arg(long, env = "LOCUS_WORLD_COMMAND_QUEUE", default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
    pub world_command_queue: u32,

    /// Commands applied between two ticks when the world is late (no time
    /// left before the next tick): keeps queues moving under overload.
    #[arg(long, env = "LOCUS_MAX_COMMANDS_PER_LATE_TICK", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub max_commands_per_late_tick: u32,

    /// How often the database is polled for `locus admin` resets and
    /// events (the contract allows one second from a reset to `teleport`).
    #[arg(long, env = "LOCUS_ADMIN_POLL_INTERVAL", default_value = "250ms", value_parser = parse_poll_interval)]
    pub admin_poll_interval: Duration,

    /// Admin events (kicks) read per poll; more wait for the next poll.
    #[arg(long, env = "LOCUS_ADMIN_EVENTS_PER_POLL", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub admin_events_per_poll: u32,

    /// Time allowed for a graceful shutdown before the process exits anyway.
    #[arg(long, env = "LOCUS_SHUTDOWN_GRACE", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Run as one node of a cluster coordinated through this Redis,
    /// `redis://HOST:PORT` (needs `--public-url` and a PostgreSQL `--db`).
    /// Without it the server runs alone, as always.
    #[arg(long, env = "LOCUS_CLUSTER")]
    pub cluster: Option<String>,

    /// The URL clients reach this node at (sent in `moved` and `migrate`);
    /// required with `--cluster`.
    #[arg(long, env = "LOCUS_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// With `--cluster`: the world is cut into N x N regions (the same N on
    /// every node).
    #[arg(long, env = "LOCUS_REGIONS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub regions: u32,
}

/// The checked cluster settings of a node started with `--cluster`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    /// The Redis URL.
    pub redis_url: String,
    /// This node's public URL.
    pub public_url: String,
    /// The cluster shape this node brings.
    pub shape: crate::cluster::ClusterShape,
}

impl Config {
    /// The cluster settings: `Ok(None)` without `--cluster`; an error line
    /// when `--cluster` lacks `--public-url`, has a non-PostgreSQL `--db`,
    /// or names something that is not a `redis://` URL.
    pub fn cluster_settings(&self) -> Result<Option<ClusterSettings>, String> {
        let Some(redis_url) = &self.cluster else {
            return Ok(None);
        };
        if !(redis_url.starts_with("redis://") || redis_url.starts_with("rediss://")) {
            return Err(format!(
                "--cluster must be a redis:// URL, not `{redis_url}`"
            ));
        }
        let public_url = match &self.public_url {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                url.trim_end_matches('/').to_owned()
            }
            Some(url) => return Err(format!("--public-url must be an http(s) URL, not `{url}`")),
            None => {
                return Err(
                    "--cluster needs --public-url (the URL clients reach this node at)".into(),
                )
            }
        };
        match self.database() {
            Ok(Database::Postgres(_)) => {}
            _ => {
                return Err(
                    "--cluster needs a PostgreSQL --db (postgres://...) shared by every node"
                        .into(),
                )
            }
        }
        crate::cluster::Regions::new(self.regions, self.world_size, self.world_size)
            .map_err(|e| e.to_string())?;
        Ok(Some(ClusterSettings {
            redis_url: redis_url.clone(),
            public_url,
            shape: crate::cluster::ClusterShape {
                regions: self.regions,
                world_w: self.world_size,
                world_h: self.world_size,
            },
        }))
    }

    /// The world's rules.
    pub fn world_config(&self) -> WorldConfig {
        WorldConfig {
            width: self.world_size,
            height: self.world_size,
            tick_hz: self.tick_hz,
            speed: self.speed,
            view_radius: self.view_radius,
            view_leave_radius: self.view_radius + self.view_hysteresis,
            view_max: self.view_max as usize,
            view_threads: self.view_threads as usize,
            flush_interval: self.flush_interval,
            max_commands_per_late_tick: self.max_commands_per_late_tick as usize,
            ..WorldConfig::default()
        }
    }

    /// Which database `--db` names (a file or a PostgreSQL URL). Parsed
    /// here rather than by clap, whose error would echo the password.
    pub fn database(&self) -> Result<Database, StoreError> {
        Database::from_arg(&self.db)
    }

    /// The game session glue's settings.
    pub fn session_config(&self) -> SessionConfig {
        SessionConfig {
            world: self.world_config(),
            parser: self.socketio_parser(),
            position_rate: self.position_rate,
            position_burst_seconds: self.position_burst_seconds,
            chat_rate: self.chat_rate,
            chat_burst: self.chat_burst,
            garbage_rate: self.garbage_rate,
            garbage_burst: self.garbage_burst,
            command_queue: self.world_command_queue as usize,
            admin_poll_interval: self.admin_poll_interval,
            admin_events_per_poll: self.admin_events_per_poll as usize,
        }
    }

    /// The Socket.IO packet format.
    fn socketio_parser(&self) -> Parser {
        match self.parser {
            ParserKind::Json => Parser::Json,
            ParserKind::Msgpack => Parser::MsgPack,
        }
    }

    /// The database's settings.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            retry_interval: self.flush_interval,
            ..StoreConfig::default()
        }
    }

    /// Password hashing, tokens and login throttling.
    pub fn auth_config(&self) -> AuthConfig {
        let mut auth = AuthConfig {
            token_ttl: self.token_ttl,
            ..AuthConfig::default()
        };
        auth.password.concurrency = self.hash_concurrency as usize;
        auth.password.queue = self.hash_queue;
        auth
    }

    /// The Socket.IO and Engine.IO layers' settings.
    pub fn socketio_config(&self) -> SocketIoConfig {
        let engine = EngineConfig {
            path: "/socket.io/".to_owned(),
            ping_interval: self.ping_interval,
            ping_timeout: self.ping_timeout,
            upgrade_timeout: self.upgrade_timeout,
            max_payload: self.max_payload,
            max_buffered_packets: self.max_buffered_packets,
            max_unsent_bytes: self.max_unsent_bytes as usize,
            body_read_timeout: self.body_read_timeout,
            allowed_origins: (!self.allowed_origins.is_empty())
                .then(|| self.allowed_origins.clone()),
            ..EngineConfig::default()
        };
        SocketIoConfig {
            engine,
            parser: self.socketio_parser(),
            connect_timeout: self.connect_timeout,
            max_attachments: self.max_attachments,
            max_pending_acks: self.max_pending_acks,
            ..SocketIoConfig::default()
        }
    }

    /// The HTTP listener's limits.
    pub fn http_limits(&self) -> HttpLimits {
        HttpLimits {
            max_connections: self.max_connections,
            max_connections_per_ip: if self.max_connections_per_ip == 0 {
                usize::MAX
            } else {
                self.max_connections_per_ip
            },
            header_read_timeout: self.header_read_timeout,
            max_request_head_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            shutdown_grace: self.shutdown_grace,
            max_unsent_bytes: Some(self.max_unsent_bytes),
        }
    }
}

fn parse_positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}

fn parse_at_least_one(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 1.0 => Ok(v),
        _ => Err(format!("`{text}` is not a number >= 1")),
    }
}

/// A poll interval: at least 1 ms, at most a minute (slower polling would
/// break the contract's "reset within a second" by far).
fn parse_poll_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_duration(text).map_err(|e| format!("`{text}`: {e}"))?;
    if (Duration::from_millis(1)..=Duration::from_secs(60)).contains(&interval) {
        Ok(interval)
    } else {
        Err(format!("`{text}` is not between 1ms and 60s"))
    }
}

fn parse_non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{text}` is not a number >= 0")),
    }
}

impl Default for Config {
    /// The flags' defaults (environment variables included, as for the flags).
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        <Wrapper as clap::Parser>::try_parse_from(["locus"])
            .map(|w| w.config)
            .unwrap_or_else(|e| unreachable!("built-in defaults parse: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::default();
        assert_eq!(c.listen, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(c.db, PathBuf::from("locus.db"));
        assert_eq!(c.world_size, 4096.0);
        assert_eq!(c.tick_hz, 20);
        assert_eq!(c.speed, 300.0);
        assert_eq!(c.view_radius, 600.0);
        assert_eq!(c.view_radius + c.view_hysteresis, 700.0);
        assert_eq!(c.view_max, 128);
        assert_eq!(c.view_threads, 1);
        assert_eq!(c.parser, ParserKind::Json);
        assert_eq!(c.ping_interval, Duration::from_secs(25));
        assert_eq!(c.token_ttl, Duration::from_secs(7 * 24 * 3600));
    }

    #[test]
    fn hardening_limits_have_their_documented_defaults_and_reach_the_layers() {
        let c = Config::default();
        assert_eq!(c.handshake_rate, 100.0);
        assert_eq!(c.handshake_burst, 1000);
        assert_eq!(c.max_pending_acks, 64);
        assert_eq!(c.hash_queue, 64);
        assert_eq!(c.body_read_timeout, Duration::from_secs(10));
        assert_eq!(c.max_unsent_bytes, 2048);
        assert_eq!(c.socketio_config().engine.max_unsent_bytes, 2048);
        assert_eq!(c.http_limits().max_unsent_bytes, Some(2048));
        assert_eq!(
            HttpLimits::default().max_unsent_bytes,
            Some(DEFAULT_MAX_UNSENT_BYTES as u32)
        );
        let tweaked = Config {
            max_pending_acks: 3,
            hash_queue: 5,
            body_read_timeout: Duration::from_millis(7),
            ..c
        };
        assert_eq!(tweaked.socketio_config().max_pending_acks, 3);
        assert_eq!(
            tweaked.socketio_config().engine.body_read_timeout,
            Duration::from_millis(7)
        );
        assert_eq!(tweaked.auth_config().password.queue, 5);
    }

    #[test]
    fn the_connect_timeout_default_is_the_socketio_layers() {
        let c = Config::default();
        assert_eq!(c.connect_timeout, Duration::from_secs(10));
        assert_eq!(c.connect_timeout, SocketIoConfig::default().connect_timeout);
        assert_eq!(c.socketio_config().connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    }

    #[test]
    fn session_and_tick_limits_have_their_documented_defaults_and_reach_the_layers() {
        let c = Config::default();
        let session = c.session_config();
        assert_eq!(
            session,
            SessionConfig {
                world: c.world_config(),
                ..SessionConfig::default()
            }
        );
        assert_eq!(session.validate(), Ok(()));
        assert_eq!(
            c.world_config().max_commands_per_late_tick,
            WorldConfig::default().max_commands_per_late_tick
        );
        let parsed = parse(&[
            "--position-burst-seconds=3",
            "--chat-burst=7",
            "--garbage-rate=1.5",
            "--garbage-burst=9",
            "--world-command-queue=10",
            "--max-commands-per-late-tick=11",
            "--admin-poll-interval=1s",
            "--admin-events-per-poll=12",
            "--parser=msgpack",
        ])
        .unwrap();
        let session = parsed.session_config();
        assert_eq!(session.position_burst_seconds, 3.0);
        assert_eq!(session.chat_burst, 7.0);
        assert_eq!((session.garbage_rate, session.garbage_burst), (1.5, 9.0));
        assert_eq!(session.command_queue, 10);
        assert_eq!(session.admin_poll_interval, Duration::from_secs(1));
        assert_eq!(session.admin_events_per_poll, 12);
        assert_eq!(session.parser, Parser::MsgPack);
        assert_eq!(session.world.max_commands_per_late_tick, 11);
    }

    #[test]
    fn nonsense_session_limits_are_refused_by_name() {
        for (flag, name) in [
            ("--chat-burst=0.5", "chat-burst"),
            ("--garbage-burst=0", "garbage-burst"),
            ("--garbage-rate=-1", "garbage-rate"),
            ("--position-burst-seconds=nan", "position-burst-seconds"),
            ("--world-command-queue=0", "world-command-queue"),
            (
                "--max-commands-per-late-tick=0",
                "max-commands-per-late-tick",
            ),
            ("--admin-poll-interval=0s", "admin-poll-interval"),
            ("--admin-poll-interval=5min", "admin-poll-interval"),
            ("--admin-events-per-poll=0", "admin-events-per-poll"),
        ] {
            let error = parse(&[flag]).unwrap_err().to_string();
            assert!(error.contains(name), "{flag}: {error}");
        }
    }

    #[test]
    fn cluster_flags_are_checked_and_absent_by_default() {
        assert_eq!(Config::default().cluster_settings(), Ok(None));
        assert_eq!(Config::default().regions, 2);
        let pg = "--db=postgres://u:p@127.0.0.1:5432/locus";
        let ok = parse(&[
            "--cluster=redis://127.0.0.1:6379",
            "--public-url=http://a:3000/",
            pg,
        ])
        .unwrap()
        .cluster_settings()
        .unwrap()
        .unwrap();
        assert_eq!(ok.public_url, "http://a:3000");
        assert_eq!(ok.shape.regions, 2);
        for (flags, needle) in [
            (vec!["--cluster=redis://h:1", pg], "--public-url"),
            (
                vec!["--cluster=redis://h:1", "--public-url=http://a"],
                "PostgreSQL",
            ),
            (
                vec!["--cluster=h:1", "--public-url=http://a", pg],
                "redis://",
            ),
            (
                vec!["--cluster=redis://h:1", "--public-url=a", pg],
                "http(s)",
            ),
        ] {
            let error = parse(&flags).unwrap().cluster_settings().unwrap_err();
            assert!(error.contains(needle), "{flags:?}: {error}");
        }
        assert!(parse(&["--regions=0"]).is_err());
    }

    fn parse(flags: &[&str]) -> Result<Config, clap::Error> {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        let args = std::iter::once("locus").chain(flags.iter().copied());
        <Wrapper as clap::Parser>::try_parse_from(args).map(|w| w.config)
    }
}
