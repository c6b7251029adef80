//! Client listeners, connections and their sessions, the request frame, and the
//! response write path (writev and sendfile).

pub mod connection;
pub mod frame;
pub mod handler;
pub mod memory_pool;
pub mod outbox;
pub mod response;
pub mod server;
pub mod session;
pub mod transport;

pub use handler::RequestHandler;
pub use session::Session;

#[cfg(test)]
mod tests;
