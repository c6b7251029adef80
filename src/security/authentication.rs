//! One connection's authentication, as Kafka's SaslServerAuthenticator runs it: on a
//! SASL listener a SaslHandshake picks the mechanism, then its tokens are exchanged in
//! SaslAuthenticate requests (or, after a v0 handshake, as raw length-prefixed tokens);
//! only then are other requests served. With `connections.max.reauth.ms` the session
//! expires, and a client re-authenticates on the same connection (KIP-368) as the same
//! principal with the same mechanism.

use super::listener::ListenerSecurity;
use super::sasl::{Mechanism, SaslContext, SaslFailure, SaslServer, Step};
use super::ANONYMOUS;

enum Phase {
    /// PLAINTEXT or SSL: nothing to do.
    Open,
    /// A SASL listener, before its handshake.
    AwaitingHandshake,
    /// Mechanism chosen; its exchange runs. `raw`: tokens come without Kafka framing.
    Exchanging { mechanism: Mechanism, raw: bool, server: SaslServer, reauthenticating: bool },
    Authenticated { mechanism: Mechanism, expires_at_ms: Option<i64> },
    /// A failed exchange: the connection closes once the failure is answered.
    Failed,
}

/// Why a SaslHandshake is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum HandshakeRefusal {
    /// UNSUPPORTED_SASL_MECHANISM: the listener's mechanisms are listed back.
    UnsupportedMechanism(Vec<&'static str>),
    /// ILLEGAL_SASL_STATE
    IllegalState(String),
}

/// What a completed exchange step gives the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Exchanged {
    Challenge(Vec<u8>),
    /// Authenticated; `session_lifetime_ms` is 0 when no re-authentication is asked.
    Done { response: Vec<u8>, session_lifetime_ms: i64 },
}

/// Why a SaslAuthenticate fails.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthenticateError {
    /// ILLEGAL_SASL_STATE
    IllegalState(String),
    /// SASL_AUTHENTICATION_FAILED
    Failed(SaslFailure),
}

pub struct Authentication {
    principal: String,
    phase: Phase,
}

impl Authentication {
    /// A new connection's state: `tls_principal` is its client certificate's principal.
    pub fn new(listener: &ListenerSecurity, tls_principal: Option<String>) -> Self {
        let phase = if listener.sasl.is_some() { Phase::AwaitingHandshake } else { Phase::Open };
        Authentication { principal: tls_principal.unwrap_or_else(|| ANONYMOUS.to_string()), phase }
    }

    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// Whether requests other than ApiVersions and the SASL ones may be served.
    pub fn authenticated(&self) -> bool {
        matches!(self.phase, Phase::Open | Phase::Authenticated { .. })
    }

    /// Whether the next frame is a raw SASL token (after a v0 SaslHandshake).
    pub fn expects_raw_token(&self) -> bool {
        matches!(self.phase, Phase::Exchanging { raw: true, .. })
    }

    /// Whether the session has outlived its lifetime: the connection must
    /// re-authenticate before anything else is served.
    pub fn expired(&self, now_ms: i64) -> bool {
        matches!(self.phase, Phase::Authenticated { expires_at_ms: Some(t), .. } if now_ms >= t)
    }

    pub fn handshake(&mut self, listener: &ListenerSecurity, requested: &str, version: i16) -> Result<(), HandshakeRefusal> {
        let Some(sasl) = &listener.sasl else {
            return Err(HandshakeRefusal::IllegalState(format!("SASL is not enabled on listener {}", listener.name)));
        };
        let enabled = || sasl.mechanisms.iter().map(|m| m.name()).collect::<Vec<_>>();
        let mechanism = sasl.mechanisms.iter().copied().find(|m| m.name() == requested);
        let current = match &self.phase {
            Phase::AwaitingHandshake => None,
            // KIP-368: re-authentication needs the v1 handshake, and the same mechanism.
            Phase::Authenticated { mechanism, .. } if version >= 1 => Some(*mechanism),
            _ => return Err(HandshakeRefusal::IllegalState("Unexpected SaslHandshake request".into())),
        };
        if let Some(current) = current.filter(|c| mechanism != Some(*c)) {
            self.phase = Phase::Failed;
            return Err(HandshakeRefusal::UnsupportedMechanism(vec![current.name()]));
        }
        let reauthenticating = current.is_some();
        let Some(mechanism) = mechanism else {
            self.phase = Phase::Failed;
            return Err(HandshakeRefusal::UnsupportedMechanism(enabled()));
        };
        self.phase = Phase::Exchanging { mechanism, raw: version == 0, server: SaslServer::new(mechanism), reauthenticating };
        Ok(())
    }

    /// Feeds one token to the exchange.
    pub fn authenticate(&mut self, listener: &ListenerSecurity, token: &[u8], now_ms: i64) -> Result<Exchanged, AuthenticateError> {
        let (Phase::Exchanging { mechanism, server, reauthenticating, .. }, Some(sasl)) = (&mut self.phase, &listener.sasl) else {
            return Err(AuthenticateError::IllegalState("Unexpected SaslAuthenticate request".into()));
        };
        let (mechanism, reauthenticating) = (*mechanism, *reauthenticating);
        let image = listener.store.image();
        let ctx = SaslContext { image: &image, plain_users: &sasl.plain_users, oauth: &sasl.oauth, now_ms, secret: listener.store.secret() };
        match server.step(token, &ctx) {
            Ok(Step::Challenge(c)) => Ok(Exchanged::Challenge(c)),
            Ok(Step::Done { response, principal, expires_at_ms }) => {
                if reauthenticating && principal != self.principal {
                    self.phase = Phase::Failed;
                    let message = format!("Cannot change principals during re-authentication from {}: {principal}", self.principal);
                    return Err(AuthenticateError::Failed(SaslFailure { message, user: Some(principal) }));
                }
                // KIP-368: the session lasts connections.max.reauth.ms, and no longer
                // than the credential (an OAuth token) is valid.
                let session_lifetime_ms = match (sasl.max_reauth_ms, expires_at_ms) {
                    (0, _) => 0,
                    (max, Some(exp)) => max.min((exp - now_ms).max(1)),
                    (max, None) => max,
                };
                self.principal = principal;
                self.phase = Phase::Authenticated { mechanism, expires_at_ms: (session_lifetime_ms > 0).then(|| now_ms + session_lifetime_ms) };
                Ok(Exchanged::Done { response, session_lifetime_ms })
            }
            Err(failure) => {
                self.phase = Phase::Failed;
                Err(AuthenticateError::Failed(failure))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use super::*;
    use crate::config::SecurityProtocol;
    use crate::security::listener::SaslSettings;
    use crate::security::sasl::OAuthSettings;
    use crate::security::SecurityStore;

    fn listener(max_reauth_ms: i64) -> ListenerSecurity {
        let mut l = ListenerSecurity::plaintext("SASL", SecurityStore::replicated());
        l.protocol = SecurityProtocol::SaslPlaintext;
        l.sasl = Some(SaslSettings {
            mechanisms: vec![Mechanism::Plain],
            plain_users: BTreeMap::from([("alice".into(), "pw".into()), ("bob".into(), "pw".into())]),
            oauth: OAuthSettings::default(),
            max_reauth_ms,
            max_receive_bytes: 1024,
            failed_authentication_delay_ms: 0,
        });
        l
    }

    #[test]
    fn handshake_exchange_expiry_and_reauthentication() {
        let l = listener(1000);
        let mut a = Authentication::new(&l, None);
        assert!(!a.authenticated());
        assert!(matches!(a.authenticate(&l, b"\0alice\0pw", 0), Err(AuthenticateError::IllegalState(_))));
        assert_eq!(a.handshake(&l, "SCRAM-SHA-256", 1), Err(HandshakeRefusal::UnsupportedMechanism(vec!["PLAIN"])));
        let mut a = Authentication::new(&l, None);
        a.handshake(&l, "PLAIN", 1).unwrap();
        assert_eq!(a.authenticate(&l, b"\0alice\0pw", 0), Ok(Exchanged::Done { response: vec![], session_lifetime_ms: 1000 }));
        assert!(a.authenticated() && a.principal() == "User:alice");
        assert!(!a.expired(999) && a.expired(1000));
        // Re-authentication as the same principal renews the session; another fails.
        a.handshake(&l, "PLAIN", 1).unwrap();
        assert!(a.authenticate(&l, b"\0alice\0pw", 1000).is_ok());
        assert!(!a.expired(1500));
        a.handshake(&l, "PLAIN", 1).unwrap();
        assert!(matches!(a.authenticate(&l, b"\0bob\0pw", 2000), Err(AuthenticateError::Failed(_))));
        assert!(!a.authenticated());
        // v0: raw tokens follow the handshake.
        let mut a = Authentication::new(&l, None);
        a.handshake(&l, "PLAIN", 0).unwrap();
        assert!(a.expects_raw_token());
        assert!(matches!(a.authenticate(&l, b"\0alice\0bad", 0), Err(AuthenticateError::Failed(f)) if f.user.as_deref() == Some("alice")));
        let plain = ListenerSecurity::plaintext("P", SecurityStore::replicated());
        assert!(Authentication::new(&plain, None).authenticated());
    }
}
