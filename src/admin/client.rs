//! A minimal blocking Kafka protocol client, built on `kafka-protocol`'s client-side
//! encoders: used by the admin commands and by the wire tests.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::Request;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// Largest response frame accepted.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;

/// How long a response may take before the call fails.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Client {
    pub stream: TcpStream,
    correlation: i32,
}

impl Client {
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Client, ClientError> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Client { stream, correlation: 0 })
    }

    /// The correlation id of the last request encoded.
    pub fn correlation_id(&self) -> i32 {
        self.correlation
    }

    /// Encodes a request frame body (header + request), without length prefix.
    pub fn encode<R: Request>(&mut self, version: i16, req: &R) -> Result<BytesMut, ClientError> {
        self.correlation += 1;
        encode_request(self.correlation, "riffle-admin", version, req)
    }

    /// Writes one length-prefixed frame in a single write, as real clients do.
    pub fn send_frame(&mut self, body: &[u8]) -> Result<(), ClientError> {
        let mut frame = Vec::with_capacity(4 + body.len());
        frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
        frame.extend_from_slice(body);
        self.stream.write_all(&frame)?;
        Ok(())
    }

    /// Reads one response frame (without its length prefix).
    pub fn read_frame(&mut self) -> Result<Bytes, ClientError> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let len = i32::from_be_bytes(len);
        if len < 0 || len as usize > MAX_RESPONSE_BYTES {
            return Err(ClientError::Protocol(format!("response frame of {len} bytes")));
        }
        let mut body = vec![0u8; len as usize];
        self.stream.read_exact(&mut body)?;
        Ok(Bytes::from(body))
    }

    /// Decodes a response frame for request type `R`, checking its correlation id and
    /// that nothing is left over.
    pub fn decode<R: Request>(&self, version: i16, frame: Bytes) -> Result<R::Response, ClientError> {
        decode_response::<R>(self.correlation, version, frame)
    }

    pub fn call<R: Request>(&mut self, version: i16, req: &R) -> Result<R::Response, ClientError> {
        let body = self.encode(version, req)?;
        self.send_frame(&body)?;
        let frame = self.read_frame()?;
        self.decode::<R>(version, frame)
    }
}

/// A request frame body (header + request), without the length prefix.
pub fn encode_request<R: Request>(correlation_id: i32, client_id: &'static str, version: i16, req: &R) -> Result<BytesMut, ClientError> {
    crate::wire::exchange::encode_request(correlation_id, client_id, version, req).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Decodes a response frame (without its length prefix) for request type `R`, checking
/// its correlation id and that nothing is left over.
pub fn decode_response<R: Request>(correlation_id: i32, version: i16, frame: Bytes) -> Result<R::Response, ClientError> {
    crate::wire::exchange::decode_response_frame::<R>(correlation_id, version, frame).map_err(|e| ClientError::Protocol(e.to_string()))
}
