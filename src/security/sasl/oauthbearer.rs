//! SASL/OAUTHBEARER (RFC 7628): tokens checked by Kafka's unsecured JWS validation (for
//! development: `"alg":"none"`, as OAuthBearerUnsecuredValidatorCallbackHandler checks
//! them), or, on a listener with OAuthBearerValidatorCallbackHandler, as signed JWTs
//! against a JWKS endpoint (`jwks`). A rejected token gets RFC 7628's error challenge;
//! the client's empty reply then ends the exchange with SASL_AUTHENTICATION_FAILED.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::Value;

use super::{SaslContext, SaslFailure, Step};

/// The validator's options: the unsecured validator's from the listener's OAUTHBEARER
/// JAAS config, or the JWKS validator.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// `unsecuredValidatorPrincipalClaimName`
    pub principal_claim: String,
    /// `unsecuredValidatorScopeClaimName`
    pub scope_claim: String,
    /// `unsecuredValidatorRequiredScope`
    pub required_scopes: Vec<String>,
    /// `unsecuredValidatorAllowableClockSkewMs`
    pub clock_skew_ms: i64,
    /// Set: signed tokens only, checked against the JWKS endpoint's keys.
    pub jwks: Option<std::sync::Arc<super::jwks::JwksValidator>>,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings { principal_claim: "sub".into(), scope_claim: "scope".into(), required_scopes: Vec::new(), clock_skew_ms: 0, jwks: None }
    }
}

impl OAuthSettings {
    pub fn from_jaas_options(options: &std::collections::BTreeMap<String, String>) -> Result<Self, String> {
        let mut s = OAuthSettings::default();
        if let Some(v) = options.get("unsecuredValidatorPrincipalClaimName").filter(|v| !v.trim().is_empty()) {
            s.principal_claim = v.trim().to_string();
        }
        if let Some(v) = options.get("unsecuredValidatorScopeClaimName").filter(|v| !v.trim().is_empty()) {
            s.scope_claim = v.trim().to_string();
        }
        if let Some(v) = options.get("unsecuredValidatorRequiredScope") {
            s.required_scopes = v.split_whitespace().map(String::from).collect();
        }
        if let Some(v) = options.get("unsecuredValidatorAllowableClockSkewMs") {
            s.clock_skew_ms = v.trim().parse().ok().filter(|ms: &i64| *ms >= 0).ok_or_else(|| format!("unsecuredValidatorAllowableClockSkewMs: not a non-negative number: {v}"))?;
        }
        Ok(s)
    }
}

#[derive(Default)]
pub struct OAuthBearerServer {
    /// The error sent in the challenge, reported once the client acknowledges it.
    rejected: Option<String>,
}

const KVSEP: char = '\u{1}';

impl OAuthBearerServer {
    pub fn step(&mut self, token: &[u8], ctx: &SaslContext<'_>) -> Result<Step, SaslFailure> {
        if let Some(reason) = self.rejected.take() {
            return Err(SaslFailure::new(format!("Authentication failed: {reason}"), None));
        }
        let text = std::str::from_utf8(token).map_err(|_| SaslFailure::new("Invalid OAUTHBEARER client first message: not UTF-8", None))?;
        let (gs2, rest) = text.split_once(KVSEP).ok_or_else(|| SaslFailure::new("Invalid OAUTHBEARER client first message", None))?;
        let mut gs2_parts = gs2.split(',');
        let (cbind, authzid) = (gs2_parts.next().unwrap_or(""), gs2_parts.next().unwrap_or(""));
        if (cbind != "n" && cbind != "y") || !gs2.ends_with(',') {
            return Err(SaslFailure::new("Invalid OAUTHBEARER client first message", None));
        }
        let bearer = rest
            .split(KVSEP)
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "auth")
            .and_then(|(_, v)| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| SaslFailure::new("Invalid OAUTHBEARER client first message: no bearer token", None))?;
        let validated = match &ctx.oauth.jwks {
            Some(jwks) => jwks.validate(bearer),
            None => validate_unsecured(bearer, ctx.oauth, ctx.now_ms),
        };
        match validated {
            Ok((principal, expires_at_ms)) => {
                if let Some(a) = authzid.strip_prefix("a=") {
                    if a != principal {
                        return Err(SaslFailure::new(format!("Authentication failed: Authorization ID ({a}) is not the principal ({principal})"), Some(&principal)));
                    }
                }
                Ok(Step::Done { response: Vec::new(), principal: format!("User:{principal}"), expires_at_ms: Some(expires_at_ms) })
            }
            Err(reason) => {
                let challenge = serde_json::json!({ "status": "invalid_token" }).to_string().into_bytes();
                self.rejected = Some(reason);
                Ok(Step::Challenge(challenge))
            }
        }
    }
}

/// Checks an unsecured JWS and returns its principal and expiry (ms since the epoch).
fn validate_unsecured(token: &str, s: &OAuthSettings, now_ms: i64) -> Result<(String, i64), String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err("the token is not a compact JWS (three dot-separated parts)".into());
    };
    if !signature.is_empty() {
        return Err("an unsecured token has no signature".into());
    }
    let decode = |p: &str| -> Result<serde_json::Map<String, Value>, String> {
        let bytes = B64URL.decode(p.trim_end_matches('=')).map_err(|e| format!("invalid base64url: {e}"))?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err("not a JSON object".into()),
        }
    };
    let header = decode(header)?;
    if header.get("alg").and_then(Value::as_str) != Some("none") {
        return Err("the unsecured validator accepts only alg none".into());
    }
    let claims = decode(payload)?;
    let principal = claims.get(&s.principal_claim).and_then(Value::as_str).filter(|p| !p.trim().is_empty()).ok_or_else(|| format!("no principal claim ({})", s.principal_claim))?;
    let seconds = |name: &str| claims.get(name).and_then(Value::as_f64).map(|v| (v * 1000.0) as i64);
    let exp = seconds("exp").ok_or("no expiration time claim (exp)")?;
    if exp <= now_ms - s.clock_skew_ms {
        return Err(format!("the token expired at {exp}"));
    }
    if seconds("iat").is_some_and(|iat| iat > now_ms + s.clock_skew_ms) {
        return Err("the token was issued in the future (iat)".into());
    }
    if !s.required_scopes.is_empty() {
        let granted: Vec<&str> = match claims.get(&s.scope_claim) {
            Some(Value::String(v)) => v.split_whitespace().collect(),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if let Some(missing) = s.required_scopes.iter().find(|r| !granted.contains(&r.as_str())) {
            return Err(format!("the token lacks the required scope {missing}"));
        }
    }
    Ok((principal.to_string(), exp))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::security::image::SecurityImage;

    fn token(claims: Value) -> String {
        format!("{}.{}.", B64URL.encode(br#"{"alg":"none"}"#), B64URL.encode(claims.to_string()))
    }

    #[test]
    fn unsecured_tokens() {
        let image = SecurityImage::default();
        let users = BTreeMap::new();
        let oauth = OAuthSettings { required_scopes: vec!["kafka".into()], ..Default::default() };
        let ctx = SaslContext { image: &image, plain_users: &users, oauth: &oauth, now_ms: 1_000_000, secret: b"s" };
        let good = token(serde_json::json!({"sub": "admin", "exp": 2000, "iat": 900, "scope": "kafka other"}));
        let msg = format!("n,,\u{1}auth=Bearer {good}\u{1}\u{1}");
        let step = OAuthBearerServer::default().step(msg.as_bytes(), &ctx).unwrap();
        assert_eq!(step, Step::Done { response: vec![], principal: "User:admin".into(), expires_at_ms: Some(2_000_000) });
        let expired = token(serde_json::json!({"sub": "admin", "exp": 10, "scope": "kafka"}));
        let mut server = OAuthBearerServer::default();
        let step = server.step(format!("n,,\u{1}auth=Bearer {expired}\u{1}\u{1}").as_bytes(), &ctx).unwrap();
        assert!(matches!(step, Step::Challenge(c) if c.starts_with(b"{\"status\":\"invalid_token\"")));
        assert!(server.step(b"\x01", &ctx).unwrap_err().message.contains("expired"));
        let unscoped = token(serde_json::json!({"sub": "admin", "exp": 2000}));
        assert!(matches!(OAuthBearerServer::default().step(format!("n,,\u{1}auth=Bearer {unscoped}\u{1}\u{1}").as_bytes(), &ctx), Ok(Step::Challenge(_))));
        assert!(OAuthBearerServer::default().step(b"garbage", &ctx).is_err());
    }
}
