//! Starting and stopping the whole server: opens the database, starts the
//! world's tick thread, wires the game session glue ([`crate::session`])
//! and the HTTP edge ([`crate::http`]) to them, serves, and on shutdown
//! closes every session, writes every position and closes the database.
//!
//! The only module besides the binary that reads [`Config`]; it hands each
//! layer its own settings. Owns no protocol or game logic.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::{LoginThrottle, PasswordHasher};
use crate::cluster::relay::{self, InFlightMap, RelayLinks, RelaySender};
use crate::cluster::{ChatLink, ClusterHook, ClusterNode, NodeSettings, NodeTiming};
use crate::config::Config;
use crate::game::tick_loop::{TickStats, WorldCommand};
use crate::game::World;
use crate::http::handshake_limit::HandshakeLimiter;
use crate::http::state::AppState;
use crate::http::static_files::StaticFiles;
use crate::http::{listener, routes};
use crate::metrics::Metrics;
use crate::session::players::Players;
use crate::session::world_link::{SocketOutbox, WorldHandle};
use crate::session::{game_events, resets, SessionState};
use crate::socketio::SocketIo;
use crate::store::{FlushObserver, Store};

/// Why the server could not start or stopped uncleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting is out of range.
    #[error("invalid settings: {0}")]
    Config(String),
    /// The database could not be opened or migrated.
    #[error("{}", database_message(path, source))]
    Store {
        /// The database file.
        path: String,
        /// What went wrong.
        source: crate::store::StoreError,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another start-up step failed.
    #[error("{0}")]
    Startup(String),
    /// The final save of positions failed; they may be lost.
    #[error("final save of positions failed: {0}")]
    FinalSave(crate::store::StoreError),
}

/// "database PATH: ERROR", without repeating the path when the store's
/// message already names the file.
fn database_message(path: &str, source: &crate::store::StoreError) -> String {
    let message = source.to_string();
    if message.contains(path) {
        message
    } else {
        format!("database {path}: {message}")
    }
}

/// A server started by [`start`], running in the background.
pub struct RunningServer {
    /// Where it listens.
    addr: SocketAddr,
    /// Tells it to shut down.
    stop: CancellationToken,
    /// Resolves when it has shut down.
    task: JoinHandle<Result<(), ServeError>>,
    /// The database, for fault-injection tests and drills.
    store: Store,
    /// The Socket.IO server, for counting sockets and sessions in tests.
    io: SocketIo,
}

impl RunningServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's database handle (fault injection in tests and drills,
    /// e.g. [`Store::inject_write_fault`]).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Connected Socket.IO sockets, all namespaces together.
    pub fn socket_count(&self) -> usize {
        self.io.socket_count()
    }

    /// Open Engine.IO sessions (polling or WebSocket).
    pub fn session_count(&self) -> usize {
        self.io.connection_count()
    }

    /// Shuts the server down gracefully and waits for it.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        self.stop.cancel();
        self.task
            .await
            .map_err(|e| ServeError::Startup(format!("server task failed: {e}")))?
    }
}

/// Starts the server in the background (tests and embedding); the listen
/// address may use port 0.
pub async fn start(config: Config) -> Result<RunningServer, ServeError> {
    let prepared = Prepared::new(config).await?;
    let addr = prepared.addr;
    let store = prepared.session.store.clone();
    let io = prepared.io.clone();
    let stop = CancellationToken::new();
    let signal = stop.clone();
    let task = tokio::spawn(prepared.serve(async move { signal.cancelled().await }));
    Ok(RunningServer {
        addr,
        stop,
        task,
        store,
        io,
    })
}

/// Runs the server until `shutdown` resolves, then stops it gracefully.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    Prepared::new(config).await?.serve(shutdown).await
}

/// A server with everything opened and bound, not yet serving.
struct Prepared {
    /// The settings, for the HTTP limits and the shutdown grace.
    config: Config,
    addr: SocketAddr,
    listener: TcpListener,
    /// What the HTTP handlers share.
    app: Arc<AppState>,
    /// What the socket handlers and the admin watcher share.
    session: Arc<SessionState>,
    io: SocketIo,
    world_thread: std::thread::JoinHandle<World>,
    static_files: StaticFiles,
    /// A cluster node's relay.
    relay: Option<Relay>,
}

/// A cluster node's relay task, what stops it, and its sender (to see
/// whether handoffs are still on their way).
struct Relay {
    task: JoinHandle<()>,
    stop: CancellationToken,
    sender: RelaySender,
}

impl Prepared {
    async fn new(config: Config) -> Result<Self, ServeError> {
        let world_config = config.world_config();
        let session_config = config.session_config();
        session_config.validate().map_err(ServeError::Config)?;
        let cluster_settings = config.cluster_settings().map_err(ServeError::Config)?;
        let (view_radius, leave_radius) =
            (world_config.view_radius, world_config.view_leave_radius);
        let world_size = (world_config.width, world_config.height);
        let world = World::new(world_config).map_err(|e| ServeError::Config(e.to_string()))?;
        let io = SocketIo::new(config.socketio_config());
        let stats = Arc::new(TickStats::default());
        let metrics = Arc::new(Metrics::new(&stats, io.engine().traffic().clone()));

        let mut store_config = config.store_config();
        let observed = metrics.clone();
        store_config.on_flush = Some(FlushObserver(Arc::new(
            move |took: Duration, committed: bool| {
                observed.flush_duration.observe(took.as_secs_f64());
                if !committed {
                    observed.flush_failures.inc();
                }
            },
        )));
        let database = config.database().map_err(|source| ServeError::Store {
            path: "--db".into(),
            source,
        })?;
        let store = Store::connect(&database, store_config)
            .await
            .map_err(|source| ServeError::Store {
                path: database.to_string(),
                source,
            })?;

        let auth = config.auth_config();
        let passwords = PasswordHasher::new(&auth.password)
            .await
            .map_err(|e| ServeError::Startup(e.to_string()))?;
        let throttle = LoginThrottle::new(auth.throttle.clone());

        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServeError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;

        // A cluster node joins before it listens: a shape that does not fit
        // (or an unreachable Redis) refuses the start with one line.
        let cluster = match cluster_settings {
            Some(settings) => {
                let settings = NodeSettings {
                    redis_url: settings.redis_url,
                    public_url: settings.public_url,
                    shape: settings.shape,
                    timing: NodeTiming::default(),
                };
                let online = stats.clone();
                let node =
                    ClusterNode::join(settings, metrics.clone(), move || online.players_online())
                        .await
                        .map_err(ServeError::Startup)?;
                Some(node)
            }
            None => None,
        };

        let players = Arc::new(Players::default());
        let mut outbox = SocketOutbox::new(
            players.clone(),
            store.clone(),
            metrics.clone(),
            session_config.parser,
        );
        // A cluster node's tick hook hands players over and publishes its
        // border bands through the relay, which also relays chat.
        let in_flight = InFlightMap::default();
        let mut relay_inbox = None;
        let mut hook = None;
        if let Some(node) = &cluster {
            let (sender, inbox) = relay::channel(node.clone());
            outbox = outbox.with_cluster_chat(ChatLink {
                relay: sender.clone(),
                view_radius,
            });
            hook = Some(ClusterHook::new(
                node.clone(),
                sender.clone(),
                in_flight.clone(),
                leave_radius,
            ));
            relay_inbox = Some((node.clone(), inbox, sender));
        }
        let (world_handle, world_thread) =
            WorldHandle::spawn(world, outbox, stats, session_config.command_queue, hook)
                .map_err(|e| ServeError::Startup(format!("cannot start the world thread: {e}")))?;
        let relay = relay_inbox.map(|(node, inbox, sender)| {
            let world = world_handle.clone();
            let migrating = players.clone();
            let links = RelayLinks {
                world: Arc::new(move |command| world.send(command).is_ok()),
                migrate: Arc::new(move |id, url: String| {
                    let players = migrating.clone();
                    tokio::spawn(async move {
                        let _account = players.lock_account(id).await;
                        players.migrate_account(id, &url);
                    });
                }),
                store: store.clone(),
                world_size,
            };
            let stop = CancellationToken::new();
            let task = tokio::spawn(relay::run(node, inbox, in_flight, links, stop.clone()));
            Relay { task, stop, sender }
        });

        let static_files = StaticFiles::new(config.static_dir.as_deref());
        let app = Arc::new(AppState {
            token_ttl: auth.token_ttl,
            parser: session_config.parser,
            store: store.clone(),
            passwords,
            throttle,
            metrics: metrics.clone(),
            players: players.clone(),
            world: world_handle.clone(),
            cluster: cluster.clone(),
        });
        let session = Arc::new(SessionState {
            config: session_config,
            store,
            metrics,
            players,
            world: world_handle,
            cluster,
        });
        game_events::register(&io, session.clone());
        Ok(Self {
            config,
            addr,
            listener,
            app,
            session,
            io,
            world_thread,
            static_files,
            relay,
        })
    }

    async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Prepared {
            config,
            addr,
            listener,
            app,
            session,
            io,
            world_thread,
            static_files,
            relay,
        } = self;
        let limiter =
            HandshakeLimiter::new(config.handshake_rate, config.handshake_burst).map(Arc::new);
        let router = routes::router(app, io.clone(), static_files, limiter);
        let stop = CancellationToken::new();
        let resets = tokio::spawn(resets::watch(session.clone(), stop.clone()));
        let limits = config.http_limits();
        let mut http = tokio::spawn(listener::serve(
            listener,
            router,
            limits,
            stop.clone().cancelled_owned(),
        ));
        tracing::info!("listening on http://{addr}");

        tokio::select! {
            () = shutdown => {}
            result = &mut http => {
                tracing::error!(?result, "the HTTP listener stopped by itself");
            }
        }
        // One grace period for sessions and connections together, then the
        // final save: the process stops within `shutdown_grace` plus a flush.
        let grace = config.shutdown_grace;
        let deadline = tokio::time::Instant::now() + grace;
        // A cluster node first leaves the membership (no player is routed
        // here any more). With other nodes live it lets its regions go at
        // once and hands every player to the region's new holder (waiting
        // at most half the grace); alone, it keeps its leases until after
        // the final save below, so a later owner loads the saved positions.
        if let (Some(node), Some(relay)) = (&session.cluster, &relay) {
            if node.leave().await {
                let handover = tokio::time::Instant::now() + grace / 2;
                while (session.world.player_count() > 0 || relay.sender.pending_handoffs() > 0)
                    && tokio::time::Instant::now() < handover
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tracing::info!(
                    staying = session.world.player_count(),
                    "players handed over to the regions' new holders"
                );
            }
            node.stop_rounds().await;
        }
        tracing::info!("closing every session");
        stop.cancel();
        io.close_within(grace).await;
        if !http.is_finished() {
            let _ = tokio::time::timeout_at(deadline, &mut http).await;
        }
        let _ = resets.await;

        // Every position, online players included, then the database.
        let final_positions = session
            .world
            .request(|reply| WorldCommand::Shutdown { reply })
            .await
            .unwrap_or_default();
        let saved = final_positions.len();
        let _ = tokio::task::spawn_blocking(move || world_thread.join()).await;
        let store = session.store.clone();
        if let Err(error) = store.save_positions(final_positions) {
            return Err(ServeError::FinalSave(error));
        }
        let flushed = store.flush().await.map_err(ServeError::FinalSave);
        if let Some(relay) = relay {
            relay.stop.cancel();
            let _ = relay.task.await;
        }
        if let Some(node) = &session.cluster {
            node.release_leases().await;
        }
        flushed?;
        tracing::info!(positions = saved, "positions saved; stopped");
        Ok(())
    }
}
