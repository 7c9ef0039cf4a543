//! The network edge: the HTTP listener, the JSON API, static files,
//! metrics, and the glue that joins the Socket.IO layer, the game world and
//! the store into the running server ([`server::run`]).

pub mod api;
pub mod game_events;
pub mod handshake_limit;
pub mod listener;
pub mod metrics;
pub mod players;
pub mod resets;
pub mod server;
pub mod state;
pub mod static_files;
pub mod token_bucket;
pub mod world_link;
