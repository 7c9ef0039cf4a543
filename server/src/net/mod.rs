//! The network edge: the HTTP listener, the JSON API, static files, and the
//! glue that joins the Socket.IO layer, the game world and the store into
//! the running server.

pub mod listener;
