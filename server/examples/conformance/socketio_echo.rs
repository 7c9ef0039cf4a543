//! `--layer socketio`: Socket.IO at `/socket.io/` with namespaces `/` and
//! `/custom`. TODO(sio helper): provide
//! `pub async fn serve(listener: tokio::net::TcpListener, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()>`.
//!
//! PLACEHOLDER written by the engine helper so `main.rs` compiles; the
//! Socket.IO helper replaces this whole file.

use std::future::Future;

/// Not built yet: fails at once.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    drop((listener, shutdown));
    Err(std::io::Error::other("socketio layer not built yet"))
}
