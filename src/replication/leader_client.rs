//! A follower's connection to a partition leader: Kafka requests over the leader's
//! inter-broker listener (TLS and SASL as it requires), one at a time, as a Kafka
//! follower sends them.

use std::io;
use std::time::Duration;

use kafka_protocol::protocol::Request;
use tokio::io::AsyncWriteExt;

use crate::net::frame::read_frame;
use crate::net::peer::{self, PeerConnection};
use crate::security::client::PeerSecurity;
use crate::wire::exchange::{decode_response_frame, encode_request};

/// Largest response accepted from a leader.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
const CLIENT_ID: &str = "riffle-replica-fetcher";

pub struct LeaderClient {
    conn: PeerConnection,
    correlation: i32,
}

impl LeaderClient {
    pub async fn connect(addr: &str, security: &PeerSecurity, timeout: Duration, now_ms: i64) -> io::Result<LeaderClient> {
        let conn = tokio::time::timeout(timeout, peer::connect(addr, security, CLIENT_ID, now_ms))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("connecting to {addr}")))??;
        // The SASL exchange took the first correlation ids.
        Ok(LeaderClient { conn, correlation: 100 })
    }

    /// Whether the leader is about to end this connection's SASL session: connect anew.
    pub fn expiring(&self) -> bool {
        self.conn.expiring()
    }

    pub async fn call<R: Request>(&mut self, version: i16, req: &R, timeout: Duration) -> io::Result<R::Response> {
        self.correlation = self.correlation.wrapping_add(1);
        let body = encode_request(self.correlation, CLIENT_ID, version, req).map_err(io::Error::other)?;
        let stream = &mut self.conn.stream;
        let frame = tokio::time::timeout(timeout, async {
            let mut out = Vec::with_capacity(4 + body.len());
            out.extend_from_slice(&(body.len() as i32).to_be_bytes());
            out.extend_from_slice(&body);
            stream.write_all(&out).await?;
            read_frame(stream, MAX_RESPONSE_BYTES).await.map_err(io::Error::other)
        })
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "leader did not answer in time"))??;
        decode_response_frame::<R>(self.correlation, version, frame).map_err(io::Error::other)
    }
}
