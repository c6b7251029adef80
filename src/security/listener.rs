//! What each listener requires of its connections, read from Kafka's configs: TLS for
//! SSL and SASL_SSL, SASL mechanisms and their JAAS configs for SASL_*. A setting is
//! looked up with the listener's prefix first (`listener.name.<name>.<key>`), then
//! unprefixed, as Kafka does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::jaas;
use super::principal::{PrincipalError, PrincipalMapper};
use super::sasl::{Mechanism, OAuthSettings};
use super::store::SecurityStore;
use super::tls::{ClientAuth, PemSource, TlsContext, TlsError, TlsSettings};
use crate::config::{BrokerConfig, ListenerConfig, SecurityProtocol};

#[derive(Debug, thiserror::Error)]
pub enum SecurityConfigError {
    #[error("listener {listener}: {key}: {reason}")]
    Invalid { listener: String, key: String, reason: String },
    #[error("listener {listener}: {source}")]
    Tls { listener: String, source: TlsError },
    #[error("listener {listener}: {source}")]
    Principal { listener: String, source: PrincipalError },
}

/// A listener's SASL settings.
#[derive(Debug, Clone)]
pub struct SaslSettings {
    /// `sasl.enabled.mechanisms`, in the listener's order.
    pub mechanisms: Vec<Mechanism>,
    /// PLAIN's `user_<name>="<password>"` options.
    pub plain_users: BTreeMap<String, String>,
    pub oauth: OAuthSettings,
    /// `connections.max.reauth.ms`: 0 never asks clients to re-authenticate.
    pub max_reauth_ms: i64,
    /// `sasl.server.max.receive.size`: the largest request before authentication.
    pub max_receive_bytes: usize,
    /// `connection.failed.authentication.delay.ms`
    pub failed_authentication_delay_ms: u64,
}

/// What a listener requires, shared by its connections.
pub struct ListenerSecurity {
    pub name: String,
    pub protocol: SecurityProtocol,
    pub tls: Option<TlsContext>,
    pub principal_mapper: PrincipalMapper,
    pub sasl: Option<SaslSettings>,
    /// Credentials (SCRAM) every listener checks against.
    pub store: Arc<SecurityStore>,
}

impl ListenerSecurity {
    /// A PLAINTEXT listener (tests, and listeners without security).
    pub fn plaintext(name: &str, store: Arc<SecurityStore>) -> Self {
        ListenerSecurity { name: name.to_string(), protocol: SecurityProtocol::Plaintext, tls: None, principal_mapper: PrincipalMapper::default(), sasl: None, store }
    }

    pub fn from_config(config: &BrokerConfig, listener: &ListenerConfig, store: Arc<SecurityStore>) -> Result<Self, SecurityConfigError> {
        let name = listener.name.clone();
        let lower = name.to_ascii_lowercase();
        let get = |key: &str| config.static_value(&format!("listener.name.{lower}.{key}")).map(str::to_string).or_else(|| config.get(key));
        let invalid = |key: &str, reason: String| SecurityConfigError::Invalid { listener: name.clone(), key: key.to_string(), reason };
        let protocol = listener.security_protocol;
        let uses_tls = matches!(protocol, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl);
        let uses_sasl = matches!(protocol, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl);
        let principal_mapper = PrincipalMapper::parse(&get("ssl.principal.mapping.rules").unwrap_or_default()).map_err(|source| SecurityConfigError::Principal { listener: name.clone(), source })?;
        let tls = if uses_tls {
            let settings = tls_settings(&get, &invalid)?;
            Some(TlsContext::new(settings).map_err(|source| SecurityConfigError::Tls { listener: name.clone(), source })?)
        } else {
            None
        };
        let sasl = if uses_sasl {
            let text = get("sasl.enabled.mechanisms").unwrap_or_default();
            let mut mechanisms = Vec::new();
            for m in text.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                mechanisms.push(Mechanism::parse(m).ok_or_else(|| invalid("sasl.enabled.mechanisms", format!("{m} is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER are)")))?);
            }
            if mechanisms.is_empty() {
                return Err(invalid("sasl.enabled.mechanisms", "a SASL listener needs at least one mechanism".into()));
            }
            let jaas_key = |m: Mechanism| format!("listener.name.{lower}.{}.sasl.jaas.config", m.name().to_ascii_lowercase());
            let jaas_options = |m: Mechanism| -> Result<Option<BTreeMap<String, String>>, SecurityConfigError> {
                let key = jaas_key(m);
                let Some(text) = config.static_value(&key) else { return Ok(None) };
                let modules = jaas::parse(text).map_err(|e| invalid(&key, e.to_string()))?;
                Ok(Some(modules.into_iter().flat_map(|m| m.options).collect()))
            };
            let mut plain_users = BTreeMap::new();
            if mechanisms.contains(&Mechanism::Plain) {
                let options = jaas_options(Mechanism::Plain)?.ok_or_else(|| invalid(&jaas_key(Mechanism::Plain), "PLAIN needs a JAAS config (PlainLoginModule with user_<name> options)".into()))?;
                plain_users = options.into_iter().filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_string(), v))).collect();
            }
            let mut oauth = OAuthSettings::default();
            if mechanisms.contains(&Mechanism::OAuthBearer) {
                if get("sasl.oauthbearer.jwks.endpoint.url").is_some_and(|u| !u.trim().is_empty()) {
                    return Err(invalid("sasl.oauthbearer.jwks.endpoint.url", "JWKS validation of OAUTHBEARER tokens is not supported yet (the unsecured validator is)".into()));
                }
                if let Some(options) = jaas_options(Mechanism::OAuthBearer)? {
                    oauth = OAuthSettings::from_jaas_options(&options).map_err(|e| invalid(&jaas_key(Mechanism::OAuthBearer), e))?;
                }
            }
            let number = |key: &str| -> Result<i64, SecurityConfigError> {
                let v = get(key).unwrap_or_default();
                v.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| invalid(key, format!("not a non-negative number: {v}")))
            };
            Some(SaslSettings {
                mechanisms,
                plain_users,
                oauth,
                max_reauth_ms: number("connections.max.reauth.ms")?,
                max_receive_bytes: number("sasl.server.max.receive.size")?.max(1) as usize,
                failed_authentication_delay_ms: number("connection.failed.authentication.delay.ms")? as u64,
            })
        } else {
            None
        };
        Ok(ListenerSecurity { name, protocol, tls, principal_mapper, sasl, store })
    }
}

fn tls_settings(get: &dyn Fn(&str) -> Option<String>, invalid: &dyn Fn(&str, String) -> SecurityConfigError) -> Result<TlsSettings, SecurityConfigError> {
    for key in ["ssl.keystore.type", "ssl.truststore.type"] {
        let t = get(key).unwrap_or_default();
        let configured = if key == "ssl.keystore.type" { get("ssl.keystore.location").is_some() || get("ssl.keystore.key").is_some() } else { get("ssl.truststore.location").is_some() || get("ssl.truststore.certificates").is_some() };
        if configured && !t.eq_ignore_ascii_case("PEM") {
            return Err(invalid(key, format!("{t} stores are not supported: use PEM")));
        }
    }
    let (chain, key) = match (get("ssl.keystore.location"), get("ssl.keystore.certificate.chain"), get("ssl.keystore.key")) {
        (Some(path), None, None) => (PemSource::File(PathBuf::from(&path)), PemSource::File(PathBuf::from(path))),
        (None, Some(chain), Some(key)) => (PemSource::Inline(chain), PemSource::Inline(key)),
        _ => return Err(invalid("ssl.keystore.location", "a TLS listener needs ssl.keystore.location, or ssl.keystore.certificate.chain and ssl.keystore.key (ssl.keystore.type=PEM)".into())),
    };
    let truststore = match (get("ssl.truststore.location"), get("ssl.truststore.certificates")) {
        (Some(path), _) => Some(PemSource::File(PathBuf::from(path))),
        (None, Some(certs)) => Some(PemSource::Inline(certs)),
        (None, None) => None,
    };
    let auth_text = get("ssl.client.auth").unwrap_or_default();
    let client_auth = ClientAuth::parse(&auth_text).ok_or_else(|| invalid("ssl.client.auth", format!("{auth_text} is not one of required, requested, none")))?;
    let protocols = get("ssl.enabled.protocols").unwrap_or_default();
    let (tls12, tls13) = (protocols.split(',').any(|p| p.trim() == "TLSv1.2"), protocols.split(',').any(|p| p.trim() == "TLSv1.3"));
    if !tls12 && !tls13 {
        return Err(invalid("ssl.enabled.protocols", format!("{protocols}: TLSv1.2 or TLSv1.3 is needed")));
    }
    Ok(TlsSettings { chain, key, truststore, client_auth, tls12, tls13 })
}
