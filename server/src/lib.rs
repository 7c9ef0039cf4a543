//! Locus: a multiplayer game-world position server speaking Socket.IO.
//!
//! # Layout
//!
//! The dependency direction is fixed; a module may use only those listed
//! before it.
//!
//! * [`protocol`]: pure Engine.IO / Socket.IO packet and payload codecs. No I/O.
//! * [`engineio`]: the Engine.IO v4 server (sessions, long-polling, WebSocket,
//!   upgrade, heartbeat) on hyper + tokio-tungstenite. Knows no Socket.IO.
//! * [`socketio`]: the Socket.IO v5 server API (namespaces, sockets, rooms,
//!   acks, broadcast adapter) on top of [`engineio`].
//! * [`game`]: the world, its tick, the interest grid and movement rules.
//!   Knows no sockets and no SQL.
//! * [`store`]: the only module that touches SQLite (migrations, accounts,
//!   sessions, positions, the persistence thread).
//! * [`auth`]: password hashing, tokens and login throttling.
//! * [`net`]: the HTTP listener, API routes and static files; glues the
//!   layers above into the running server.
//! * [`bots`]: the `locus bots` load generator (a Socket.IO client built
//!   on [`protocol`]); uses the server only over sockets.
//! * [`config`]: every limit and timeout, with its documented default.
//! * [`admin`]: `locus admin ...`, operator commands on the database file
//!   (talks to a running server only through that file).

pub mod admin;
pub mod auth;
pub mod bots;
pub mod config;
pub mod engineio;
pub mod game;
pub mod net;
pub mod protocol;
pub mod socketio;
pub mod store;
