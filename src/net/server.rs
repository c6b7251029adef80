//! Accepts connections on every client listener, up to `max.connections` at a time
//! across them, until shutdown; then waits for open connections to finish.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use super::connection::{self, ConnectionLimits};
use super::handler::RequestHandler;
use super::session::Session;
use crate::common::ShutdownSignal;
use crate::config::ListenerConfig;
use crate::security::ListenerSecurity;
use super::transport::Copying;

/// Pause after a failed accept (out of file descriptors, usually).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// A bound client listener.
pub struct BoundListener {
    pub config: Arc<ListenerConfig>,
    pub socket: TcpListener,
}

/// Binds every listener. A port of 0 binds any free port, which is then what the
/// listener advertises (unless `advertised.listeners` names it).
pub async fn bind(listeners: &[ListenerConfig]) -> io::Result<Vec<BoundListener>> {
    let mut out = Vec::new();
    for l in listeners {
        let socket = TcpListener::bind(l.bind).await.map_err(|e| io::Error::new(e.kind(), format!("binding {} ({}): {e}", l.bind, l.name)))?;
        let mut config = l.clone();
        if l.bind.port() == 0 && !l.advertised_explicitly {
            config.advertised_port = socket.local_addr()?.port() as i32;
        }
        out.push(BoundListener { config: Arc::new(config), socket });
    }
    Ok(out)
}

/// Open connections across all listeners; shutdown waits for it to reach zero.
#[derive(Clone)]
pub struct OpenConnections {
    count: Arc<watch::Sender<usize>>,
}

impl Default for OpenConnections {
    fn default() -> Self {
        OpenConnections { count: Arc::new(watch::channel(0).0) }
    }
}

impl OpenConnections {
    fn opened(&self) -> ConnectionGuard {
        self.count.send_modify(|n| *n += 1);
        ConnectionGuard(self.count.clone())
    }

    pub fn current(&self) -> usize {
        *self.count.borrow()
    }

    /// Waits until every connection is closed, or `timeout`. Returns how many are left.
    pub async fn drained(&self, timeout: Duration) -> usize {
        let mut rx = self.count.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|n| *n == 0)).await;
        self.current()
    }
}

struct ConnectionGuard(Arc<watch::Sender<usize>>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// What every listener shares.
#[derive(Clone)]
pub struct ServeShared {
    /// `max.connections`, across listeners.
    pub connection_slots: Arc<Semaphore>,
    pub limits: ConnectionLimits,
    pub open: OpenConnections,
}

impl ServeShared {
    pub fn new(max_connections: usize, limits: ConnectionLimits) -> Self {
        ServeShared { connection_slots: Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS))), limits, open: OpenConnections::default() }
    }
}

/// Serves one listener until `shutdown` fires. Connections carry the same signal and
/// close after answering the request in hand. On a TLS listener each connection first
/// completes its handshake (in its own task, so a slow client holds up no other).
pub async fn serve<H: RequestHandler>(listener: BoundListener, security: Arc<ListenerSecurity>, handler: Arc<H>, shared: ServeShared, mut shutdown: ShutdownSignal) {
    loop {
        let accepted = tokio::select! {
            a = listener.socket.accept() => a,
            _ = shutdown.wait() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(listener = %listener.config.name, error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(permit) = shared.connection_slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "max.connections reached; refusing connection");
            continue;
        };
        let (config, security, handler, limits, guard, signal) = (listener.config.clone(), security.clone(), handler.clone(), shared.limits.clone(), shared.open.opened(), shutdown.clone());
        tokio::spawn(async move {
            match &security.tls {
                None => {
                    let session = Session::secured(config, security.clone(), peer, None);
                    connection::serve(stream, session, handler, limits, signal).await;
                }
                Some(tls) => {
                    let Some((stream, principal)) = super::tls_accept::accept(stream, peer, &security, tls).await else { return };
                    let session = Session::secured(config, security.clone(), peer, principal);
                    connection::serve(Copying(stream), session, handler, limits, signal).await;
                }
            }
            drop(permit);
            drop(guard);
        });
    }
}
