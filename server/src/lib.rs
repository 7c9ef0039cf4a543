//! Locus: a multiplayer game-world position server speaking Socket.IO.
//!
//! # Layout
//!
//! The dependency direction is fixed; a module may use only those listed
//! before it (checked by `tests/layers.rs`).
//!
//! * [`protocol`]: pure Engine.IO / Socket.IO packet and payload codecs. No I/O.
//! * [`token_bucket`]: the pure rate limiter behind socket input limits and
//!   per-IP handshake limits.
//! * [`engineio`]: the Engine.IO v4 server (sessions, long-polling, WebSocket,
//!   upgrade, heartbeat) on hyper + tokio-tungstenite. Knows no Socket.IO.
//! * [`socketio`]: the Socket.IO v5 server API (namespaces, sockets, rooms,
//!   acks, broadcast adapter) on top of [`engineio`].
//! * [`game`]: the world, its tick, the interest grid, movement rules and
//!   the wire types of its events. Knows no sockets and no SQL.
//! * [`store`]: the only module that touches SQLite (migrations, accounts,
//!   sessions, positions, bot accounts, the persistence thread).
//! * [`auth`]: password hashing, tokens and login throttling.
//! * [`bot_accounts`]: bot accounts and their tokens for load tests, shared
//!   by [`admin`] and [`bots`].
//! * [`metrics`]: the Prometheus registry every running layer counts into.
//! * [`cluster`]: region-sharded clustering: pure regions, border bands,
//!   rendezvous ownership and cluster shape; Redis leases and membership.
//! * [`session`]: the game session glue: Socket.IO events to world
//!   commands, the world's outbox, the players registry, admin-change polling.
//! * [`http`]: the HTTP edge: listener and its limits, JSON API, routes,
//!   static files, per-IP handshake limit.
//! * [`config`]: every limit and timeout of `locus serve`, with its
//!   documented default, turned into each layer's own settings.
//! * [`server`]: starting and stopping the whole server from a [`config::Config`].
//! * [`admin`]: `locus admin ...`, operator commands on the database file
//!   (talks to a running server only through that file).
//! * [`bots`]: the `locus bots` load generator (a Socket.IO client built
//!   on [`protocol`], reading the [`game`]'s event types); uses the server
//!   only over sockets.

pub mod protocol;
pub mod token_bucket;

pub mod engineio;
pub mod socketio;

pub mod game;
pub mod store;

pub mod auth;
pub mod bot_accounts;
pub mod metrics;

pub mod cluster;

pub mod session;

pub mod http;

pub mod config;
pub mod server;

pub mod admin;
pub mod bots;
