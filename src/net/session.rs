//! What a connection is, for the requests that arrive on it: the listener it came in
//! on, the security protocol of that listener, the authenticated principal, and the
//! client's address. TLS and SASL fill in the principal; handlers only read it.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::ListenerConfig;

/// Kafka's principal of an unauthenticated connection.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

#[derive(Debug, Clone)]
pub struct Session {
    pub listener: Arc<ListenerConfig>,
    pub principal: String,
    pub peer: SocketAddr,
}

impl Session {
    pub fn new(listener: Arc<ListenerConfig>, peer: SocketAddr) -> Self {
        Session { listener, principal: ANONYMOUS.to_string(), peer }
    }

    pub fn listener_name(&self) -> &str {
        &self.listener.name
    }
}
