//! A follower's connection to a partition leader: Kafka requests over the leader's
//! client listener, one at a time, as a Kafka follower sends them.

use std::io;
use std::time::Duration;

use kafka_protocol::protocol::Request;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::admin::client::{decode_response, encode_request};
use crate::net::frame::read_frame;

/// Largest response accepted from a leader.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

pub struct LeaderClient {
    stream: TcpStream,
    correlation: i32,
}

impl LeaderClient {
    pub async fn connect(addr: &str, timeout: Duration) -> io::Result<LeaderClient> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connecting to {addr}")))??;
        stream.set_nodelay(true)?;
        Ok(LeaderClient { stream, correlation: 0 })
    }

    pub async fn call<R: Request>(&mut self, version: i16, req: &R, timeout: Duration) -> io::Result<R::Response> {
        self.correlation = self.correlation.wrapping_add(1);
        let body = encode_request(self.correlation, "riffle-replica-fetcher", version, req).map_err(io::Error::other)?;
        let frame = tokio::time::timeout(timeout, async {
            let mut out = Vec::with_capacity(4 + body.len());
            out.extend_from_slice(&(body.len() as i32).to_be_bytes());
            out.extend_from_slice(&body);
            self.stream.write_all(&out).await?;
            read_frame(&mut self.stream, MAX_RESPONSE_BYTES).await.map_err(io::Error::other)
        })
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "leader did not answer in time"))??;
        decode_response::<R>(self.correlation, version, frame).map_err(io::Error::other)
    }
}
