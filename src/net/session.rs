//! What a connection is, for the requests that arrive on it: the listener it came in
//! on and what that listener requires, the client's address, and its authentication
//! (principal, SASL exchange). TLS and SASL fill in the principal; handlers only read it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use crate::config::ListenerConfig;
pub use crate::security::ANONYMOUS;
use crate::security::{Authentication, ListenerSecurity, SecurityStore};

pub struct Session {
    pub listener: Arc<ListenerConfig>,
    pub security: Arc<ListenerSecurity>,
    pub peer: SocketAddr,
    auth: Mutex<Authentication>,
    /// Set by a handler whose response ends the connection (a failed authentication).
    close_after_response: AtomicBool,
    /// A quota's throttle: how long to stop reading requests once the response is out.
    mute_ms: AtomicU64,
}

impl Session {
    /// A connection on a listener without security.
    pub fn new(listener: Arc<ListenerConfig>, peer: SocketAddr) -> Self {
        let security = Arc::new(ListenerSecurity::plaintext(&listener.name, SecurityStore::replicated()));
        Self::secured(listener, security, peer, None)
    }

    /// A connection on `listener`; `tls_principal` is its client certificate's principal.
    pub fn secured(listener: Arc<ListenerConfig>, security: Arc<ListenerSecurity>, peer: SocketAddr, tls_principal: Option<String>) -> Self {
        let auth = Mutex::new(Authentication::new(&security, tls_principal));
        Session { listener, security, peer, auth, close_after_response: AtomicBool::new(false), mute_ms: AtomicU64::new(0) }
    }

    pub fn listener_name(&self) -> &str {
        &self.listener.name
    }

    /// The authenticated principal (`User:ANONYMOUS` until then).
    pub fn principal(&self) -> String {
        self.auth.lock().principal().to_string()
    }

    pub fn authentication(&self) -> MutexGuard<'_, Authentication> {
        self.auth.lock()
    }

    /// The largest request this connection may send now: before authentication, SASL's
    /// `sasl.server.max.receive.size`.
    pub fn max_request_bytes(&self, configured: usize) -> usize {
        match &self.security.sasl {
            Some(sasl) if !self.auth.lock().authenticated() => configured.min(sasl.max_receive_bytes),
            _ => configured,
        }
    }

    /// Closes the connection once the response in hand is written.
    pub fn close_after_response(&self) {
        self.close_after_response.store(true, Ordering::Relaxed);
    }

    pub fn closing(&self) -> bool {
        self.close_after_response.load(Ordering::Relaxed)
    }

    /// Stops reading this connection's requests for `ms` once the response in hand is
    /// written (KIP-219: the client is told, and backs off too).
    pub fn mute_for_ms(&self, ms: u64) {
        self.mute_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// The mute asked for since the last call.
    pub fn take_mute(&self) -> Option<Duration> {
        let ms = self.mute_ms.swap(0, Ordering::Relaxed);
        (ms > 0).then(|| Duration::from_millis(ms))
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("listener", &self.listener.name).field("peer", &self.peer).field("principal", &self.principal()).finish()
    }
}
