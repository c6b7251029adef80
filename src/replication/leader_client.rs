//! A follower's connection to a partition leader: Kafka requests over the leader's
//! client listener, one at a time, as a Kafka follower sends them.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::protocol::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::admin::client::{decode_response, encode_request};

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
            let len = self.stream.read_i32().await?;
            if len < 0 || len as usize > MAX_RESPONSE_BYTES {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("response frame of {len} bytes")));
            }
            let mut buf = vec![0u8; len as usize];
            self.stream.read_exact(&mut buf).await?;
            Ok(Bytes::from(buf))
        })
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "leader did not answer in time"))??;
        decode_response::<R>(self.correlation, version, frame).map_err(io::Error::other)
    }
}
