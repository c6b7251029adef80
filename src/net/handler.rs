//! What the request loop hands a frame to. The API layer implements it; `net/` knows
//! nothing of Kafka's APIs.

use std::fmt::Display;
use std::future::Future;

use bytes::Bytes;

use super::response::ResponseFrame;
use super::session::Session;

pub trait RequestHandler: Send + Sync + 'static {
    /// Why a request could not be answered: the connection is closed after logging it.
    type Error: Display + Send;

    /// Answers one request frame (without its length prefix). `Ok(None)`: the request
    /// takes no response (Produce with acks=0).
    fn handle<'a>(&'a self, session: &'a Session, frame: Bytes) -> impl Future<Output = Result<Option<ResponseFrame>, Self::Error>> + Send + 'a;
}
