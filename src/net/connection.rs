//! One client connection: read a request, answer it, in order. Like Kafka, a connection
//! has one request in processing at a time; responses to pipelined requests are written
//! in request order and flushed together. At shutdown the request in hand is answered
//! and flushed, then the connection is closed.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

use tokio::io::BufReader;

use super::frame::{read_body, read_length, FrameError};
use super::handler::RequestHandler;
use super::memory_pool::MemoryPool;
use super::outbox::Outbox;
use super::session::Session;
use super::transport::{ResponseWriter, Transport};
use crate::common::ShutdownSignal;

const BUFFER_BYTES: usize = 64 * 1024;

/// Limits of one connection.
#[derive(Clone)]
pub struct ConnectionLimits {
    /// `socket.request.max.bytes`
    pub max_request_bytes: usize,
    /// `queued.max.request.bytes`, shared by every connection.
    pub pool: MemoryPool,
}

pub async fn serve<T: Transport, H: RequestHandler>(stream: T, session: Session, handler: Arc<H>, limits: ConnectionLimits, mut shutdown: ShutdownSignal) {
    let peer = session.peer;
    let (r, mut w) = stream.split();
    let mut reader = BufReader::with_capacity(BUFFER_BYTES, r);
    let mut outbox = Outbox::default();
    loop {
        // Between requests, shutdown closes the connection; a request being read is
        // abandoned (its client retries elsewhere), one being answered is finished.
        let len = tokio::select! {
            len = read_length(&mut reader, session.max_request_bytes(limits.max_request_bytes)) => len,
            _ = shutdown.wait() => {
                tracing::debug!(%peer, "closing connection: shutting down");
                break;
            }
        };
        // The frame's bytes are held in the request memory pool until it is answered.
        let frame = match len {
            Ok(len) => {
                let read = async {
                    let reservation = limits.pool.reserve(len).await;
                    read_body(&mut reader, len).await.map(|f| (f, reservation))
                };
                tokio::select! {
                    frame = read => frame,
                    _ = shutdown.wait() => {
                        tracing::debug!(%peer, "closing connection: shutting down");
                        break;
                    }
                }
            }
            Err(e) => Err(e),
        };
        let (frame, reservation) = match frame {
            Ok(f) => f,
            Err(FrameError::Closed) => {
                tracing::debug!(%peer, "connection closed by client");
                break;
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection");
                break;
            }
        };
        // A request that does not complete at once (a long-polling Fetch) must not hold
        // back the responses already written: flush them before waiting.
        let mut handling = std::pin::pin!(handler.handle(&session, frame));
        let result = match std::future::poll_fn(|cx| Poll::Ready(handling.as_mut().poll(cx))).await {
            Poll::Ready(r) => r,
            Poll::Pending => {
                if let Err(e) = w.flush(&mut outbox).await {
                    tracing::debug!(%peer, error = %e, "flush failed");
                    break;
                }
                handling.await
            }
        };
        drop(reservation);
        match result {
            Ok(Some(response)) => outbox.push(response),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection");
                break;
            }
        }
        if session.closing() {
            // The response goes out first; a mute asked with it (a failed
            // authentication's delay, as Kafka's) holds the close back.
            tracing::debug!(%peer, "closing connection after its response");
            if let Some(delay) = session.take_mute() {
                if w.flush(&mut outbox).await.is_ok() {
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.wait() => {}
                    }
                }
            }
            break;
        }
        // A throttled client: its response goes out now, its next request waits.
        if let Some(mute) = session.take_mute() {
            if let Err(e) = w.flush(&mut outbox).await {
                tracing::debug!(%peer, error = %e, "flush failed");
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(mute) => {}
                _ = shutdown.wait() => break,
            }
            continue;
        }
        // Flush unless another whole request is already buffered: pipelined requests
        // then share one write (within a bound on what is held in memory).
        if !whole_frame_buffered(reader.buffer()) || outbox.buffered() >= BUFFER_BYTES {
            if let Err(e) = w.flush(&mut outbox).await {
                tracing::debug!(%peer, error = %e, "flush failed");
                break;
            }
        }
    }
    let _ = w.flush(&mut outbox).await;
}

fn whole_frame_buffered(buf: &[u8]) -> bool {
    buf.len() >= 4 && {
        let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        len >= 0 && buf.len() - 4 >= len as usize
    }
}
