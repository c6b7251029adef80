//! Accepts connections, up to `max.connections` at a time, until shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::memory_pool::MemoryPool;
use crate::broker::Broker;

/// Serves `listener` until `shutdown` completes. Open connections are dropped with the
/// runtime; the caller then shuts the broker down (flushes logs).
pub async fn serve(listener: TcpListener, broker: Arc<Broker>, shutdown: impl Future<Output = ()>) {
    let limit = Arc::new(Semaphore::new(broker.config.max_connections.min(Semaphore::MAX_PERMITS)));
    let pool = MemoryPool::new(broker.config.queued_max_request_bytes);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "max.connections reached; refusing connection");
                    continue;
                };
                let broker = broker.clone();
                let pool = pool.clone();
                tokio::spawn(async move {
                    super::connection::serve(stream, peer, broker, pool).await;
                    drop(permit);
                });
            }
        }
    }
}
