//! One client connection: read a request, answer it, in order. Like Kafka, a connection
//! has one request in processing at a time; responses to pipelined requests are written
//! in request order and flushed together.

use std::future::Future;
use std::net::SocketAddr;
use std::task::Poll;
use std::sync::Arc;

use tokio::io::BufReader;
use tokio::net::TcpStream;

use super::frame::{read_body, read_length, FrameError};
use super::memory_pool::MemoryPool;
use super::outbox::Outbox;
use crate::api;
use crate::broker::Broker;

const BUFFER_BYTES: usize = 64 * 1024;

pub async fn serve(stream: TcpStream, peer: SocketAddr, broker: Arc<Broker>, pool: MemoryPool) {
    let _ = stream.set_nodelay(true);
    let max = broker.config.socket_request_max_bytes;
    let (r, w) = stream.into_split();
    let mut reader = BufReader::with_capacity(BUFFER_BYTES, r);
    let mut outbox = Outbox::default();
    loop {
        // The frame's bytes are held in the request memory pool until it is answered.
        let frame = match read_length(&mut reader, max).await {
            Ok(len) => {
                let reservation = pool.reserve(len).await;
                read_body(&mut reader, len).await.map(|f| (f, reservation))
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
        let mut handling = std::pin::pin!(api::handle_frame(&broker, peer, frame));
        let result = match std::future::poll_fn(|cx| Poll::Ready(handling.as_mut().poll(cx))).await {
            Poll::Ready(r) => r,
            Poll::Pending => {
                if let Err(e) = outbox.flush(w.as_ref()).await {
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
        // Flush unless another whole request is already buffered: pipelined requests
        // then share one write (within a bound on what is held in memory).
        if !whole_frame_buffered(reader.buffer()) || outbox.buffered() >= BUFFER_BYTES {
            if let Err(e) = outbox.flush(w.as_ref()).await {
                tracing::debug!(%peer, error = %e, "flush failed");
                break;
            }
        }
    }
    let _ = outbox.flush(w.as_ref()).await;
}

fn whole_frame_buffered(buf: &[u8]) -> bool {
    buf.len() >= 4 && {
        let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        len >= 0 && buf.len() - 4 >= len as usize
    }
}
