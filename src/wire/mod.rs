//! Kafka messages from untrusted bytes: checked against Kafka's schemas, then decoded.
//!
//! Why this exists: `kafka-protocol` (0.18.0, the newest release) sizes every decoded
//! array with `Vec::with_capacity(count)` from the count on the wire, before it reads a
//! single element. A 37-byte frame claiming two billion elements makes that allocation
//! fail, and Rust aborts the process; no release of the crate bounds it yet. Patching one
//! API at a time would leave the rest open, and an allocation failure cannot be caught.
//! So every message Riffle reads from a socket (client requests, the responses a follower
//! or the admin client reads) is first walked by [`check`] against Kafka's own definition
//! of that message and version ([`schema`]), which checks every length against the bytes
//! that remain, as Kafka's generated readers do since KAFKA-14063. Only a message that
//! passes is handed to `kafka-protocol`, whose allocations are then bounded by the frame.
//! The walk costs one pass over the message's framing; record batches are skipped whole.

pub mod check;
pub mod exchange;
pub mod sample;
pub mod schema;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Request};
use thiserror::Error;

pub use check::CheckError;
use schema::{schemas, Message};

#[derive(Debug, Error)]
pub enum WireError {
    #[error("no schema for {0}")]
    NoSchema(String),
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error("{0}")]
    Decode(anyhow::Error),
    #[error("encoding: {0}")]
    Encode(anyhow::Error),
    /// A response that does not answer the request sent.
    #[error("{0}")]
    Exchange(String),
}

/// Decodes a request body of type `R` at `version` from the front of `buf`.
pub fn decode_request<R: Request>(buf: &mut Bytes, version: i16) -> Result<R, WireError> {
    let m = schemas().request(R::KEY).ok_or_else(|| WireError::NoSchema(format!("request key {}", R::KEY)))?;
    decode_checked(m, version, buf)
}

/// Decodes the response to request type `R` at `version` from the front of `buf`.
pub fn decode_response<R: Request>(buf: &mut Bytes, version: i16) -> Result<R::Response, WireError> {
    let m = schemas().response(R::KEY).ok_or_else(|| WireError::NoSchema(format!("response key {}", R::KEY)))?;
    decode_checked(m, version, buf)
}

pub fn decode_request_header(buf: &mut Bytes, header_version: i16) -> Result<RequestHeader, WireError> {
    decode_checked(header("RequestHeader")?, header_version, buf)
}

pub fn decode_response_header(buf: &mut Bytes, header_version: i16) -> Result<ResponseHeader, WireError> {
    decode_checked(header("ResponseHeader")?, header_version, buf)
}

fn header(name: &str) -> Result<&'static Message, WireError> {
    schemas().header(name).ok_or_else(|| WireError::NoSchema(name.into()))
}

fn decode_checked<M: Decodable>(m: &'static Message, version: i16, buf: &mut Bytes) -> Result<M, WireError> {
    let checked = check::check(m, version, buf)?;
    let before = buf.len();
    let decoded = M::decode(buf, version).map_err(WireError::Decode)?;
    if before - buf.len() != checked {
        // The schema and the decoder disagree: a bug on our side, shown loudly.
        tracing::error!(message = %m.name, version, checked, decoded = before - buf.len(), "frame checker and decoder disagree on a message's size");
    }
    Ok(decoded)
}
