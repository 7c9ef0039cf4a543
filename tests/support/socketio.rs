//! [`SocketIoServer`]: serves a bare [`SocketIo`] (the library layer, no
//! game) on 127.0.0.1:0 for the `socketio_*` tests, which build the
//! `SocketIo` themselves (the conformance echo server, or handlers of
//! their own) and talk to it with [`super::client`].

use std::net::SocketAddr;

use locus::http::listener::{self, HttpLimits};
use locus::socketio::SocketIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::PATIENCE;

/// A served [`SocketIo`]; dropping it shuts the listener down.
pub struct SocketIoServer {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// The server, for server-side calls.
    pub io: SocketIo,
    /// Completes the listener's shutdown future.
    stop: Option<oneshot::Sender<()>>,
    /// The accept loop.
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl SocketIoServer {
    /// Serves `io` on 127.0.0.1:0.
    pub async fn start(io: SocketIo) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let router = io.engine().router();
        let task = tokio::spawn(listener::serve(
            listener,
            router,
            HttpLimits::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            io,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and waits for the accept loop to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(PATIENCE, task).await;
        }
    }
}

impl Drop for SocketIoServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
