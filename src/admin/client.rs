//! A minimal blocking Kafka protocol client, built on `kafka-protocol`'s client-side
//! encoders: used by the admin commands and by the wire tests.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::RequestHeader;
use kafka_protocol::protocol::{Encodable, HeaderVersion, Request, StrBytes};
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
    let mut header = RequestHeader::default();
    header.request_api_key = R::KEY;
    header.request_api_version = version;
    header.correlation_id = correlation_id;
    header.client_id = Some(StrBytes::from_static_str(client_id));
    let mut buf = BytesMut::new();
    let err = |e: anyhow::Error| ClientError::Protocol(e.to_string());
    header.encode(&mut buf, R::header_version(version)).map_err(err)?;
    req.encode(&mut buf, version).map_err(err)?;
    Ok(buf)
}

/// Decodes a response frame (without its length prefix) for request type `R`, checking
/// its correlation id and that nothing is left over.
pub fn decode_response<R: Request>(correlation_id: i32, version: i16, mut frame: Bytes) -> Result<R::Response, ClientError> {
    let wire = |e: crate::wire::WireError| ClientError::Protocol(e.to_string());
    let header = crate::wire::decode_response_header(&mut frame, R::Response::header_version(version)).map_err(wire)?;
    if header.correlation_id != correlation_id {
        return Err(ClientError::Protocol(format!("correlation id {} for request {correlation_id}", header.correlation_id)));
    }
    let resp = crate::wire::decode_response::<R>(&mut frame, version).map_err(wire)?;
    if !frame.is_empty() {
        return Err(ClientError::Protocol(format!("{} bytes after the response", frame.len())));
    }
    Ok(resp)
}
