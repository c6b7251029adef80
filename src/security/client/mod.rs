//! The broker as a client of other nodes: what its connections to another broker's
//! inter-broker listener (replication, transaction markers) and to the controllers'
//! listener need to pass that listener's security, read as Kafka's broker reads it:
//!
//! - TLS (SSL, SASL_SSL): the listener's trust store (`listener.name.<l>.ssl.truststore.*`,
//!   else unprefixed), its key store presented when the server asks for a certificate,
//!   `ssl.endpoint.identification.algorithm` (`https` by default: the host name is
//!   checked against the certificate).
//! - SASL (SASL_PLAINTEXT, SASL_SSL): the mechanism `sasl.mechanism.inter.broker.protocol`
//!   (or `sasl.mechanism.controller.protocol`) names, with the `username` and `password`
//!   options of the listener's JAAS config for it (`unsecuredLoginStringClaim_sub` for
//!   OAUTHBEARER).
//!
//! The connection itself is `net::peer`'s.

pub mod sasl;
pub mod tls;

use std::sync::Arc;

use super::listener::{enabled_protocols, jaas_key, jaas_options, keystore, listener_value, truststore, SecurityConfigError, JWT_VALIDATORS};
use super::sasl::Mechanism;
use crate::config::{BrokerConfig, SecurityProtocol};
pub use sasl::SaslCredentials;

/// What connections to one listener of other nodes need.
#[derive(Debug)]
pub struct PeerSecurity {
    pub listener: String,
    pub protocol: SecurityProtocol,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub sasl: Option<SaslCredentials>,
}

impl PeerSecurity {
    pub fn plaintext(listener: &str) -> Self {
        PeerSecurity { listener: listener.to_string(), protocol: SecurityProtocol::Plaintext, tls: None, sasl: None }
    }

    /// For `listener`, whose security protocol is `protocol`; `mechanism_key` names the
    /// SASL mechanism setting (`sasl.mechanism.inter.broker.protocol` or
    /// `sasl.mechanism.controller.protocol`).
    pub fn from_config(config: &BrokerConfig, listener: &str, protocol: SecurityProtocol, mechanism_key: &str) -> Result<Self, SecurityConfigError> {
        let get = |key: &str| listener_value(config, listener, key);
        let invalid = |key: &str, reason: String| SecurityConfigError::Invalid { listener: listener.to_string(), key: key.to_string(), reason };
        let tls = if matches!(protocol, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl) {
            let trust = truststore(&get, &invalid)?.ok_or_else(|| invalid("ssl.truststore.location", "connections to a TLS listener need a trust store (ssl.truststore.type=PEM) to check its certificate".into()))?;
            let (tls12, tls13) = enabled_protocols(&get, &invalid)?;
            let algorithm = get("ssl.endpoint.identification.algorithm").unwrap_or_else(|| "https".into());
            let verify_hostname = match algorithm.trim().to_ascii_lowercase().as_str() {
                "" => false,
                "https" => true,
                other => return Err(invalid("ssl.endpoint.identification.algorithm", format!("{other} is not supported (https, or empty for none)"))),
            };
            let settings = tls::ClientTlsSettings { truststore: trust, identity: keystore(&get, &invalid)?, tls12, tls13, verify_hostname };
            Some(tls::client_config(&settings).map_err(|source| SecurityConfigError::Tls { listener: listener.to_string(), source })?)
        } else {
            None
        };
        let sasl = if matches!(protocol, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl) {
            let name = config.get(mechanism_key).unwrap_or_else(|| "GSSAPI".into());
            let mechanism = Mechanism::parse(name.trim()).ok_or_else(|| invalid(mechanism_key, format!("{name} is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER are)")))?;
            let key = jaas_key(listener, mechanism);
            let options = jaas_options(config, listener, mechanism).map_err(|e| invalid(&key, e))?.ok_or_else(|| invalid(&key, format!("{} between nodes needs this listener's JAAS config for it, with username and password", mechanism.name())))?;
            let option = |name: &str| options.get(name).cloned().ok_or_else(|| invalid(&key, format!("no {name} option: the broker authenticates with it")));
            Some(match mechanism {
                Mechanism::Plain => SaslCredentials::Plain { username: option("username")?, password: option("password")? },
                Mechanism::Scram(m) => SaslCredentials::Scram { mechanism: m, username: option("username")?, password: option("password")? },
                Mechanism::OAuthBearer => {
                    // A broker makes unsecured tokens only (Kafka's default login).
                    let handler = config.static_value(&format!("listener.name.{}.oauthbearer.sasl.server.callback.handler.class", listener.to_ascii_lowercase()));
                    if handler.is_some_and(|h| JWT_VALIDATORS.contains(&h.trim())) {
                        return Err(invalid(mechanism_key, "OAUTHBEARER between nodes sends unsecured tokens, which a listener checking signed tokens (OAuthBearerValidatorCallbackHandler) refuses: use PLAIN or SCRAM there".into()));
                    }
                    let lifetime = options.get("unsecuredLoginLifetimeSeconds").map_or(Ok(3600), |v| v.parse::<i64>().map_err(|_| invalid(&key, format!("unsecuredLoginLifetimeSeconds: not a number: {v}"))))?;
                    SaslCredentials::OAuthBearer { subject: option("unsecuredLoginStringClaim_sub")?, lifetime_seconds: lifetime }
                }
            })
        } else {
            None
        };
        Ok(PeerSecurity { listener: listener.to_string(), protocol, tls, sasl })
    }
}
