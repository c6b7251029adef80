//! A node's own connections to other nodes. Out: a follower to its leader, transaction
//! markers, controller RPCs, each through TCP, then TLS and SASL as the listener it
//! goes to requires (`security::client` reads what from Kafka's settings). In: the
//! controller listener, whose RPCs are not Kafka's, still authenticates as a Kafka
//! listener does: TLS, then SaslHandshake and SaslAuthenticate requests before the
//! first RPC.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_protocol::protocol::{Request, StrBytes};
use kafka_protocol::error::ResponseError as E;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::frame::read_frame;
use crate::security::authentication::{AuthenticateError, Authentication, Exchanged};
use crate::security::client::sasl::{ClientStep, SaslClient};
use crate::security::client::{PeerSecurity, SaslCredentials};
use crate::security::ListenerSecurity;
use crate::wire::exchange::{decode_response_frame, encode_request, encode_response};

/// Largest SASL answer a node accepts from another.
const MAX_SASL_FRAME: usize = 64 * 1024;
/// How long a connection to the controller listener may take to authenticate.
const SASL_TIMEOUT: Duration = Duration::from_secs(30);

pub trait PeerIo: AsyncRead + AsyncWrite + Send + Sync + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin> PeerIo for T {}

/// A connection's byte stream, plain or TLS.
pub type PeerStream = Box<dyn PeerIo>;

/// An authenticated connection to another node.
pub struct PeerConnection {
    pub stream: PeerStream,
    /// KIP-368: the server ends the SASL session then; the connection is replaced a
    /// little before (as Kafka's clients re-authenticate at 85-95% of the lifetime).
    pub reauthenticate_at: Option<Instant>,
}

impl PeerConnection {
    /// Whether the SASL session is about to expire: a new connection should be made.
    pub fn expiring(&self) -> bool {
        self.reauthenticate_at.is_some_and(|t| Instant::now() >= t)
    }
}

fn denied(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, message)
}

/// Connects to `addr` ("host:port") and passes the listener's security. `now_ms`
/// dates an OAuth token.
pub async fn connect(addr: &str, security: &PeerSecurity, client_id: &'static str, now_ms: i64) -> io::Result<PeerConnection> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let mut stream: PeerStream = match &security.tls {
        None => Box::new(tcp),
        Some(config) => {
            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(host.to_string()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}")))?;
            let tls = tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp).await.map_err(|e| io::Error::new(e.kind(), format!("TLS to {addr} ({}): {e}", security.listener)))?;
            Box::new(tls)
        }
    };
    let reauthenticate_at = match &security.sasl {
        None => None,
        Some(credentials) => authenticate(&mut stream, credentials, client_id, now_ms).await.map_err(|e| io::Error::new(e.kind(), format!("SASL to {addr} ({}): {e}", security.listener)))?,
    };
    Ok(PeerConnection { stream, reauthenticate_at })
}

/// One request and its answer, before the connection carries anything else.
async fn call<R: Request>(stream: &mut PeerStream, correlation: i32, client_id: &'static str, version: i16, req: &R) -> io::Result<R::Response> {
    let body = encode_request(correlation, client_id, version, req).map_err(io::Error::other)?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
    frame.extend_from_slice(&body);
    stream.write_all(&frame).await?;
    let answer = read_frame(stream, MAX_SASL_FRAME).await.map_err(io::Error::other)?;
    decode_response_frame::<R>(correlation, version, answer).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// SaslHandshake v1, then SaslAuthenticate v2 until the mechanism is done. Returns when
/// to re-authenticate, if the server limits the session.
async fn authenticate(stream: &mut PeerStream, credentials: &SaslCredentials, client_id: &'static str, now_ms: i64) -> io::Result<Option<Instant>> {
    let mechanism = credentials.mechanism_name();
    let handshake = call(stream, 1, client_id, 1, &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism))).await?;
    if handshake.error_code != 0 {
        let enabled: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(denied(format!("{mechanism} refused (error {}); the listener enables {}", handshake.error_code, enabled.join(","))));
    }
    let (mut client, mut token) = SaslClient::start(credentials, now_ms);
    let mut correlation = 2;
    loop {
        let resp = call(stream, correlation, client_id, 2, &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token))).await?;
        correlation += 1;
        if resp.error_code != 0 {
            return Err(denied(format!("{mechanism}: error {} {}", resp.error_code, resp.error_message.as_deref().unwrap_or(""))));
        }
        match client.step(&resp.auth_bytes).map_err(denied)? {
            ClientStep::Send(t) => token = t,
            ClientStep::Done => {
                let lifetime = (resp.session_lifetime_ms > 0).then(|| Duration::from_millis((resp.session_lifetime_ms as u64).saturating_mul(85) / 100));
                return Ok(lifetime.and_then(|l| Instant::now().checked_add(l)));
            }
        }
    }
}

/// A connection accepted on the controller listener, authenticated.
pub struct PeerSession {
    pub stream: PeerStream,
    pub principal: String,
    /// When the SASL session ends (`connections.max.reauth.ms`): the connection is
    /// closed then, and the peer connects anew.
    pub expires_at: Option<Instant>,
}

/// TLS and SASL as the listener requires; `None` (logged) when the peer fails them.
pub async fn accept(stream: TcpStream, peer: SocketAddr, security: &ListenerSecurity, now_ms: impl Fn() -> i64) -> Option<PeerSession> {
    let _ = stream.set_nodelay(true);
    let (mut stream, tls_principal): (PeerStream, Option<String>) = match &security.tls {
        None => (Box::new(stream), None),
        Some(tls) => {
            let (s, principal) = super::tls_accept::accept(stream, peer, security, tls).await?;
            (Box::new(s), principal)
        }
    };
    let mut auth = Authentication::new(security, tls_principal);
    let mut expires_at = None;
    if security.sasl.is_some() {
        let exchange = tokio::time::timeout(SASL_TIMEOUT, serve_sasl(&mut stream, security, &mut auth, now_ms));
        match exchange.await.unwrap_or_else(|_| Err(format!("not authenticated within {SASL_TIMEOUT:?}"))) {
            Ok(lifetime_ms) => expires_at = (lifetime_ms > 0).then(|| Instant::now().checked_add(Duration::from_millis(lifetime_ms as u64))).flatten(),
            Err(reason) => {
                tracing::warn!(%peer, listener = %security.name, %reason, "SASL authentication of a controller connection failed; closing it");
                return None;
            }
        }
    }
    Some(PeerSession { stream, principal: auth.principal().to_string(), expires_at })
}

async fn respond<R: Request>(stream: &mut PeerStream, correlation: i32, version: i16, resp: &R::Response) -> Result<(), String> {
    let frame = encode_response::<R>(correlation, version, resp).map_err(|e| e.to_string())?;
    stream.write_all(&frame).await.map_err(|e| e.to_string())
}

/// The server side of SaslHandshake (v1) and SaslAuthenticate: the session lifetime in
/// ms (0: unlimited) once authenticated.
async fn serve_sasl(stream: &mut PeerStream, security: &ListenerSecurity, auth: &mut Authentication, now_ms: impl Fn() -> i64) -> Result<i64, String> {
    let sasl = security.sasl.as_ref().ok_or("not a SASL listener")?;
    loop {
        let mut frame = read_frame(stream, sasl.max_receive_bytes).await.map_err(|e| e.to_string())?;
        if frame.len() < 4 {
            return Err("a frame too short for a request header".into());
        }
        let (key, version) = (i16::from_be_bytes([frame[0], frame[1]]), i16::from_be_bytes([frame[2], frame[3]]));
        let api = ApiKey::try_from(key).map_err(|_| format!("unknown API key {key}"))?;
        let supported = match api {
            ApiKey::SaslHandshake => version == 1,
            ApiKey::SaslAuthenticate => (0..=2).contains(&version),
            _ => false,
        };
        if !supported {
            return Err(format!("{api:?} v{version} before SASL authentication completed"));
        }
        let header = crate::wire::decode_request_header(&mut frame, api.request_header_version(version)).map_err(|e| e.to_string())?;
        let correlation = header.correlation_id;
        if api == ApiKey::SaslHandshake {
            let req = crate::wire::decode_request::<SaslHandshakeRequest>(&mut frame, version).map_err(|e| e.to_string())?;
            let enabled = sasl.mechanisms.iter().map(|m| StrBytes::from_static_str(m.name())).collect();
            let refused = auth.handshake(security, req.mechanism.as_str(), version);
            let code = if refused.is_ok() { 0 } else { E::UnsupportedSaslMechanism.code() };
            respond::<SaslHandshakeRequest>(stream, correlation, version, &SaslHandshakeResponse::default().with_error_code(code).with_mechanisms(enabled)).await?;
            if refused.is_err() {
                return Err(format!("mechanism {} is not enabled", req.mechanism.as_str()));
            }
            continue;
        }
        let req = crate::wire::decode_request::<SaslAuthenticateRequest>(&mut frame, version).map_err(|e| e.to_string())?;
        let (resp, outcome) = match auth.authenticate(security, &req.auth_bytes, now_ms()) {
            Ok(Exchanged::Challenge(c)) => (SaslAuthenticateResponse::default().with_auth_bytes(c.into()), None),
            Ok(Exchanged::Done { response, session_lifetime_ms }) => (SaslAuthenticateResponse::default().with_auth_bytes(response.into()).with_session_lifetime_ms(session_lifetime_ms), Some(Ok(session_lifetime_ms))),
            Err(AuthenticateError::IllegalState(reason)) => (SaslAuthenticateResponse::default().with_error_code(E::IllegalSaslState.code()), Some(Err(reason))),
            Err(AuthenticateError::Failed(failure)) => {
                tokio::time::sleep(Duration::from_millis(sasl.failed_authentication_delay_ms)).await;
                let message = format!("{} (user {})", failure.message, failure.user.as_deref().unwrap_or("-"));
                (SaslAuthenticateResponse::default().with_error_code(E::SaslAuthenticationFailed.code()).with_error_message(Some(StrBytes::from_string(failure.message))), Some(Err(message)))
            }
        };
        respond::<SaslAuthenticateRequest>(stream, correlation, version, &resp).await?;
        if let Some(outcome) = outcome {
            return outcome;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::config::{BrokerConfig, SecurityProtocol};
    use crate::security::SecurityStore;

    /// A CA, and a server certificate it signed for 127.0.0.1, as PEM files in `dir`.
    fn key_material(dir: &Path) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("server.pem"), format!("{}{}", key.serialize_pem(), server.pem())).unwrap();
    }

    /// A SASL_SSL listener with PLAIN, whose JAAS config names the broker's own
    /// credentials (`username`/`password`) and the users it accepts.
    fn config(dir: &Path, password: &str) -> BrokerConfig {
        let path = |f: &str| dir.join(f).display().to_string();
        let jaas = format!(r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="{password}" user_broker="broker-secret";"#);
        let settings = [
            ("listeners", "SASL_SSL://127.0.0.1:0".to_string()),
            ("listener.security.protocol.map", "SASL_SSL:SASL_SSL".into()),
            ("ssl.keystore.type", "PEM".into()),
            ("ssl.keystore.location", path("server.pem")),
            ("ssl.truststore.type", "PEM".into()),
            ("ssl.truststore.location", path("ca.pem")),
            ("listener.name.sasl_ssl.sasl.enabled.mechanisms", "PLAIN".into()),
            ("listener.name.sasl_ssl.plain.sasl.jaas.config", jaas),
            ("sasl.mechanism.inter.broker.protocol", "PLAIN".into()),
        ];
        BrokerConfig::from_map(settings.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<BTreeMap<_, _>>()).unwrap().0
    }

    /// One connection from `client`'s settings to a listener with `server`'s.
    async fn connect_once(server: &BrokerConfig, client: &BrokerConfig) -> (io::Result<PeerConnection>, Option<String>) {
        let listener = ListenerSecurity::from_config(server, &server.listeners[0], SecurityStore::replicated()).unwrap();
        let peer = PeerSecurity::from_config(client, "SASL_SSL", SecurityProtocol::SaslSsl, "sasl.mechanism.inter.broker.protocol").unwrap();
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap().to_string();
        let accepted = tokio::spawn(async move {
            let (stream, from) = socket.accept().await.unwrap();
            accept(stream, from, &Arc::new(listener), || 0).await.map(|s| s.principal)
        });
        let connected = connect(&addr, &peer, "test", 0).await;
        (connected, accepted.await.unwrap())
    }

    #[tokio::test]
    async fn a_node_authenticates_to_another_over_tls_and_sasl() {
        let dir = tempfile::tempdir().unwrap();
        key_material(dir.path());
        let server = config(dir.path(), "broker-secret");
        let (connected, principal) = connect_once(&server, &server).await;
        assert!(connected.is_ok_and(|c| c.reauthenticate_at.is_none()));
        assert_eq!(principal.as_deref(), Some("User:broker"));
        // A wrong password: the client is told, the listener closes the connection.
        let (connected, principal) = connect_once(&server, &config(dir.path(), "wrong")).await;
        assert_eq!(connected.err().map(|e| e.kind()), Some(io::ErrorKind::PermissionDenied));
        assert_eq!(principal, None);
    }
}
