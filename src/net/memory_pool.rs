//! Kafka's request memory pool (`queued.max.request.bytes`): the bytes of request frames
//! read but not yet answered, across all connections. A connection whose next frame does
//! not fit waits before reading it, as Kafka mutes its channel, so one peer (or many)
//! cannot make the broker hold more than this in requests.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Clone)]
pub struct MemoryPool {
    /// `None`: unbounded (Kafka's default, -1).
    bytes: Option<(Arc<Semaphore>, usize)>,
}

/// Bytes held for one request until it is answered.
pub struct Reservation(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl MemoryPool {
    pub fn new(queued_max_request_bytes: Option<usize>) -> MemoryPool {
        let bytes = queued_max_request_bytes.map(|n| {
            let n = n.min(Semaphore::MAX_PERMITS).min(u32::MAX as usize);
            (Arc::new(Semaphore::new(n)), n)
        });
        MemoryPool { bytes }
    }

    /// Waits until `len` bytes are free. A frame larger than the whole pool (allowed by
    /// `socket.request.max.bytes`) waits for all of it, so it still goes through alone.
    pub async fn reserve(&self, len: usize) -> Reservation {
        match &self.bytes {
            None => Reservation(None),
            Some((sem, capacity)) => {
                let permits = len.min(*capacity) as u32;
                Reservation(sem.clone().acquire_many_owned(permits).await.ok())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_pool_waits_until_bytes_are_returned() {
        let pool = MemoryPool::new(Some(100));
        let a = pool.reserve(60).await;
        let _b = pool.reserve(40).await;
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.reserve(500).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(a);
        drop(_b);
        waiting.await.unwrap();
        // Unbounded: never waits.
        let _ = MemoryPool::new(None).reserve(usize::MAX).await;
    }
}
