//! The server side of a TLS handshake on an accepted connection: bounded in time, and
//! the client certificate's principal when the listener takes it from there (SSL; on
//! SASL_SSL, SASL decides the principal).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use crate::security::tls::TlsContext;
use crate::security::ListenerSecurity;

/// How long a client gets to complete its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS stream and the certificate's principal, or `None` (logged) when the
/// handshake fails or the certificate names no principal.
pub async fn accept(stream: TcpStream, peer: SocketAddr, security: &ListenerSecurity, tls: &TlsContext) -> Option<(TlsStream<TcpStream>, Option<String>)> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config());
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(%peer, listener = %security.name, error = %e, "TLS handshake failed; closing connection");
            return None;
        }
        Err(_) => {
            tracing::warn!(%peer, listener = %security.name, "TLS handshake timed out; closing connection");
            return None;
        }
    };
    let certificate = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec());
    let principal = match certificate {
        Some(der) if security.sasl.is_none() => match security.principal_mapper.principal_of(&der) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(%peer, listener = %security.name, error = %e, "no principal for the client certificate; closing connection");
                return None;
            }
        },
        _ => None,
    };
    Some((stream, principal))
}
