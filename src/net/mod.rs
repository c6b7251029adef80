//! TCP listener and per-connection request loop.

pub mod connection;
pub mod frame;
pub mod memory_pool;
pub mod outbox;
pub mod response;
pub mod server;

pub use server::serve;
