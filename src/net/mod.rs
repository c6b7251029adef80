//! Client listeners, connections and their sessions, the request frame, the response
//! write path (writev and sendfile), and a node's secured connections to other nodes.

pub mod connection;
pub mod frame;
pub mod handler;
pub mod memory_pool;
pub mod outbox;
pub mod peer;
pub mod response;
pub mod server;
pub mod session;
pub mod tls_accept;
pub mod transport;

pub use handler::RequestHandler;
pub use session::Session;

#[cfg(test)]
mod tests;
