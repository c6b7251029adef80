//! TCP listener and per-connection request loop.

pub mod connection;
pub mod frame;
pub mod server;

pub use server::serve;
