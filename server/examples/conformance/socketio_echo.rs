//! `--layer socketio`: Socket.IO at `/socket.io/` with namespaces `/` and
//! `/custom`. TODO(sio helper): provide
//! `pub async fn serve(listener: tokio::net::TcpListener, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()>`.
