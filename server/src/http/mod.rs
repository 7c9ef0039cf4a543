//! The HTTP edge: the accept loop and its connection limits
//! ([`listener`]), the JSON API ([`api`]), the routes ([`routes`]), the
//! static client ([`static_files`]) and the per-IP handshake limit in front
//! of Socket.IO ([`handshake_limit`]).
//!
//! Knows no game rules and no command-line flags: it reads the session
//! glue's handles (players, world) and the store only to answer requests.

pub mod api;
pub mod handshake_limit;
pub mod listener;
pub mod routes;
pub mod state;
pub mod static_files;
