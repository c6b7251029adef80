//! What each listener requires of its connections, read from Kafka's configs: TLS for
//! SSL and SASL_SSL, SASL mechanisms and their JAAS configs for SASL_*. A setting is
//! looked up with the listener's prefix first (`listener.name.<name>.<key>`), then
//! unprefixed, as Kafka does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::jaas;
use super::principal::{PrincipalError, PrincipalMapper};
use std::time::Duration;

use super::sasl::jwks::{JwksSource, JwksValidator, JwtChecks};
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
        let get = |key: &str| listener_value(config, &name, key);
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
            let jaas_key = |m: Mechanism| jaas_key(&name, m);
            let jaas_options = |m: Mechanism| jaas_options(config, &name, m).map_err(|e| invalid(&jaas_key(m), e));
            let mut plain_users = BTreeMap::new();
            if mechanisms.contains(&Mechanism::Plain) {
                let options = jaas_options(Mechanism::Plain)?.ok_or_else(|| invalid(&jaas_key(Mechanism::Plain), "PLAIN needs a JAAS config (PlainLoginModule with user_<name> options)".into()))?;
                plain_users = options.into_iter().filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_string(), v))).collect();
            }
            let mut oauth = OAuthSettings::default();
            if mechanisms.contains(&Mechanism::OAuthBearer) {
                if let Some(options) = jaas_options(Mechanism::OAuthBearer)? {
                    oauth = OAuthSettings::from_jaas_options(&options).map_err(|e| invalid(&jaas_key(Mechanism::OAuthBearer), e))?;
                }
                oauth.jwks = jwks_validator(config, &name)?.map(Arc::new);
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

/// Kafka's validator of signed OAUTHBEARER tokens (and its pre-3.4 name).
pub(crate) const JWT_VALIDATORS: [&str; 2] = [
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler",
];
const UNSECURED_VALIDATOR: &str = "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler";

/// The JWKS validator, when the listener's OAUTHBEARER callback handler is Kafka's
/// OAuthBearerValidatorCallbackHandler (unset, Kafka's unsecured validator is used).
/// Its settings are read `listener.name.<l>.oauthbearer.<key>`, then
/// `listener.name.<l>.<key>`, then `<key>`.
fn jwks_validator(config: &BrokerConfig, listener: &str) -> Result<Option<JwksValidator>, SecurityConfigError> {
    let lower = listener.to_ascii_lowercase();
    let get = |key: &str| config.static_value(&format!("listener.name.{lower}.oauthbearer.{key}")).map(str::to_string).or_else(|| listener_value(config, listener, key)).filter(|v| !v.trim().is_empty());
    let invalid = |key: &str, reason: String| SecurityConfigError::Invalid { listener: listener.to_string(), key: key.to_string(), reason };
    let handler_key = "sasl.server.callback.handler.class";
    match get(handler_key) {
        Some(class) if JWT_VALIDATORS.contains(&class.trim()) => {}
        None => {
            if get("sasl.oauthbearer.jwks.endpoint.url").is_some() {
                tracing::warn!(listener, "sasl.oauthbearer.jwks.endpoint.url is set but the OAUTHBEARER callback handler is not OAuthBearerValidatorCallbackHandler: tokens are checked by the unsecured validator, as Kafka does");
            }
            return Ok(None);
        }
        Some(class) if class.trim() == UNSECURED_VALIDATOR => return Ok(None),
        Some(class) => return Err(invalid(handler_key, format!("{class} is not supported (use {})", JWT_VALIDATORS[0]))),
    }
    let url_key = "sasl.oauthbearer.jwks.endpoint.url";
    let source = JwksSource::parse(&get(url_key).ok_or_else(|| invalid(url_key, "OAuthBearerValidatorCallbackHandler needs the JWKS endpoint".into()))?).map_err(|e| invalid(url_key, e))?;
    let yes = |key: &str| get(key).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let number = |key: &str, default: u64| -> Result<u64, SecurityConfigError> {
        get(key).map_or(Ok(default), |v| v.trim().parse::<u64>().map_err(|_| invalid(key, format!("not a non-negative number: {v}"))))
    };
    let expected_issuer = get("sasl.oauthbearer.expected.issuer");
    let expected_audience: Vec<String> = get("sasl.oauthbearer.expected.audience").unwrap_or_default().split(',').map(str::trim).filter(|a| !a.is_empty()).map(String::from).collect();
    // As Kafka 4.4: the issuer and audience are checked unless explicitly waived.
    for (missing, key, waiver) in [
        (expected_issuer.is_none(), "sasl.oauthbearer.expected.issuer", "sasl.oauthbearer.allow.unverified.issuer"),
        (expected_audience.is_empty(), "sasl.oauthbearer.expected.audience", "sasl.oauthbearer.allow.unverified.audience"),
    ] {
        match (missing, yes(waiver)) {
            (true, false) => return Err(invalid(key, format!("required with a JWKS endpoint (or set {waiver}=true)"))),
            (true, true) => tracing::warn!(listener, "{waiver}=true: OAUTHBEARER tokens are accepted without checking {key}"),
            _ => {}
        }
    }
    let checks = JwtChecks {
        expected_issuer,
        expected_audience,
        sub_claim: get("sasl.oauthbearer.sub.claim.name").unwrap_or_else(|| "sub".into()),
        clock_skew_seconds: number("sasl.oauthbearer.clock.skew.seconds", 30)?,
    };
    let refresh = Duration::from_millis(number("sasl.oauthbearer.jwks.endpoint.refresh.ms", 3_600_000)?.max(1000));
    JwksValidator::start(source, checks, refresh).map(Some).map_err(|e| invalid(url_key, e))
}

fn tls_settings(get: &dyn Fn(&str) -> Option<String>, invalid: &dyn Fn(&str, String) -> SecurityConfigError) -> Result<TlsSettings, SecurityConfigError> {
    let (chain, key) = keystore(get, invalid)?.ok_or_else(|| invalid("ssl.keystore.location", "a TLS listener needs ssl.keystore.location, or ssl.keystore.certificate.chain and ssl.keystore.key (ssl.keystore.type=PEM)".into()))?;
    let auth_text = get("ssl.client.auth").unwrap_or_default();
    let client_auth = ClientAuth::parse(&auth_text).ok_or_else(|| invalid("ssl.client.auth", format!("{auth_text} is not one of required, requested, none")))?;
    let (tls12, tls13) = enabled_protocols(get, invalid)?;
    Ok(TlsSettings { chain, key, truststore: truststore(get, invalid)?, client_auth, tls12, tls13 })
}

/// The key store: its certificate chain and private key, if one is configured.
pub(crate) fn keystore(get: &dyn Fn(&str) -> Option<String>, invalid: &dyn Fn(&str, String) -> SecurityConfigError) -> Result<Option<(PemSource, PemSource)>, SecurityConfigError> {
    let configured = get("ssl.keystore.location").is_some() || get("ssl.keystore.key").is_some();
    let t = get("ssl.keystore.type").unwrap_or_default();
    if configured && !t.eq_ignore_ascii_case("PEM") {
        return Err(invalid("ssl.keystore.type", format!("{t} stores are not supported: use PEM")));
    }
    match (get("ssl.keystore.location"), get("ssl.keystore.certificate.chain"), get("ssl.keystore.key")) {
        (Some(path), None, None) => Ok(Some((PemSource::File(PathBuf::from(&path)), PemSource::File(PathBuf::from(path))))),
        (None, Some(chain), Some(key)) => Ok(Some((PemSource::Inline(chain), PemSource::Inline(key)))),
        (None, None, None) => Ok(None),
        _ => Err(invalid("ssl.keystore.location", "either ssl.keystore.location, or ssl.keystore.certificate.chain and ssl.keystore.key (ssl.keystore.type=PEM)".into())),
    }
}

/// The trust store, if one is configured.
pub(crate) fn truststore(get: &dyn Fn(&str) -> Option<String>, invalid: &dyn Fn(&str, String) -> SecurityConfigError) -> Result<Option<PemSource>, SecurityConfigError> {
    let t = get("ssl.truststore.type").unwrap_or_default();
    let source = match (get("ssl.truststore.location"), get("ssl.truststore.certificates")) {
        (Some(path), _) => Some(PemSource::File(PathBuf::from(path))),
        (None, Some(certs)) => Some(PemSource::Inline(certs)),
        (None, None) => None,
    };
    if source.is_some() && !t.eq_ignore_ascii_case("PEM") {
        return Err(invalid("ssl.truststore.type", format!("{t} stores are not supported: use PEM")));
    }
    Ok(source)
}

/// `ssl.enabled.protocols`: whether TLS 1.2 and TLS 1.3 are on.
pub(crate) fn enabled_protocols(get: &dyn Fn(&str) -> Option<String>, invalid: &dyn Fn(&str, String) -> SecurityConfigError) -> Result<(bool, bool), SecurityConfigError> {
    let protocols = get("ssl.enabled.protocols").unwrap_or_default();
    let (tls12, tls13) = (protocols.split(',').any(|p| p.trim() == "TLSv1.2"), protocols.split(',').any(|p| p.trim() == "TLSv1.3"));
    if !tls12 && !tls13 {
        return Err(invalid("ssl.enabled.protocols", format!("{protocols}: TLSv1.2 or TLSv1.3 is needed")));
    }
    Ok((tls12, tls13))
}

/// A setting as a listener reads it: `listener.name.<listener>.<key>` first, then `<key>`.
pub(crate) fn listener_value(config: &BrokerConfig, listener: &str, key: &str) -> Option<String> {
    config.static_value(&format!("listener.name.{}.{key}", listener.to_ascii_lowercase())).map(str::to_string).or_else(|| config.get(key))
}

/// The key of a listener's JAAS config for a mechanism. As Kafka's brokers, only the
/// listener-prefixed key is read (an unprefixed `sasl.jaas.config` is a client's).
pub(crate) fn jaas_key(listener: &str, mechanism: Mechanism) -> String {
    format!("listener.name.{}.{}.sasl.jaas.config", listener.to_ascii_lowercase(), mechanism.name().to_ascii_lowercase())
}

/// The options of a listener's JAAS config for a mechanism, if it has one.
pub(crate) fn jaas_options(config: &BrokerConfig, listener: &str, mechanism: Mechanism) -> Result<Option<BTreeMap<String, String>>, String> {
    let Some(text) = config.static_value(&jaas_key(listener, mechanism)) else { return Ok(None) };
    let modules = jaas::parse(text).map_err(|e| e.to_string())?;
    Ok(Some(modules.into_iter().flat_map(|m| m.options).collect()))
}
