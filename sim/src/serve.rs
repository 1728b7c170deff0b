//! Binding `127.0.0.1:0` and serving a router in a spawned task.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A router being served on loopback. Stops accepting connections when the
/// last clone is dropped, so tests do not leak listeners.
#[derive(Debug, Clone)]
pub(crate) struct Running {
    addr: SocketAddr,
    _task: Arc<AbortOnDrop>,
}

#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Running {
    /// Binds an ephemeral loopback port and serves `app` on it.
    pub(crate) async fn start(app: Router) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::warn!(%addr, %error, "simulated backend stopped serving");
            }
        });
        Ok(Running {
            addr,
            _task: Arc::new(AbortOnDrop(task)),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
