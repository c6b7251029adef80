//! OAUTHBEARER tokens checked as Kafka's OAuthBearerValidatorCallbackHandler checks
//! them, for real use: a signed JWT (never `alg: none`) whose key the JWKS endpoint
//! publishes (`sasl.oauthbearer.jwks.endpoint.url`, https or file), `exp` and `iat`
//! required, the issuer and audience checked (`sasl.oauthbearer.expected.issuer`,
//! `sasl.oauthbearer.expected.audience`; as Kafka, leaving one unset needs
//! `sasl.oauthbearer.allow.unverified.issuer` / `.audience`), the principal from
//! `sasl.oauthbearer.sub.claim.name`, `sasl.oauthbearer.clock.skew.seconds` of leeway.
//!
//! The key set is fetched at start-up (a broker that cannot read it does not start),
//! again every `sasl.oauthbearer.jwks.endpoint.refresh.ms`, and early when a token
//! names a key id the set lacks (that token fails; a retry finds the new key), by a
//! thread of its own, so no SASL exchange waits on the endpoint.

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use parking_lot::{Condvar, Mutex, RwLock};
use serde_json::Value;

/// How long a JWKS request may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the key set comes from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    File(PathBuf),
    Http(String),
}

impl JwksSource {
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("file://").or_else(|| url.strip_prefix("file:")) {
            return Ok(JwksSource::File(PathBuf::from(path)));
        }
        if url.starts_with("https://") || url.starts_with("http://") {
            return Ok(JwksSource::Http(url.to_string()));
        }
        Err(format!("{url}: expected an https:// or file: URL"))
    }

    fn fetch(&self) -> Result<JwkSet, String> {
        let text = match self {
            JwksSource::File(p) => std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))?,
            JwksSource::Http(url) => ureq::get(url)
                .timeout(FETCH_TIMEOUT)
                .call()
                .map_err(|e| format!("GET {url}: {e}"))?
                .into_string()
                .map_err(|e| format!("GET {url}: {e}"))?,
        };
        serde_json::from_str(&text).map_err(|e| format!("not a JSON Web Key Set: {e}"))
    }

    fn describe(&self) -> String {
        match self {
            JwksSource::File(p) => format!("file:{}", p.display()),
            JwksSource::Http(u) => u.clone(),
        }
    }
}

/// What a token is checked against, besides its signature.
#[derive(Debug, Clone)]
pub struct JwtChecks {
    pub expected_issuer: Option<String>,
    pub expected_audience: Vec<String>,
    pub sub_claim: String,
    pub clock_skew_seconds: u64,
}

struct Keys {
    set: RwLock<Arc<JwkSet>>,
    /// Set when a refresh is wanted before the period ends.
    expedite: Mutex<bool>,
    wake: Condvar,
}

/// A listener's JWT validator with its refreshing key set.
pub struct JwksValidator {
    source: JwksSource,
    checks: JwtChecks,
    keys: Arc<Keys>,
}

impl std::fmt::Debug for JwksValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksValidator").field("source", &self.source).field("checks", &self.checks).finish()
    }
}

impl JwksValidator {
    /// Fetches the key set once, then keeps it fresh every `refresh`.
    pub fn start(source: JwksSource, checks: JwtChecks, refresh: Duration) -> Result<Self, String> {
        let set = source.fetch().map_err(|e| format!("the JWKS endpoint {}: {e}", source.describe()))?;
        tracing::info!(jwks = %source.describe(), keys = set.keys.len(), "OAUTHBEARER: JSON Web Key Set loaded");
        let keys = Arc::new(Keys { set: RwLock::new(Arc::new(set)), expedite: Mutex::new(false), wake: Condvar::new() });
        let (weak, from) = (Arc::downgrade(&keys), source.clone());
        std::thread::Builder::new()
            .name("jwks-refresh".into())
            .spawn(move || refresh_loop(weak, from, refresh))
            .map_err(|e| format!("starting the JWKS refresh thread: {e}"))?;
        Ok(JwksValidator { source, checks, keys })
    }

    /// The token's principal and expiry (ms since the epoch), or why it is refused.
    pub fn validate(&self, token: &str) -> Result<(String, i64), String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("not a signed JWT: {e}"))?;
        let set = self.keys.set.read().clone();
        let jwk = match &header.kid {
            Some(kid) => set.find(kid),
            // No key id: the only key there is.
            None if set.keys.len() == 1 => set.keys.first(),
            None => None,
        };
        let Some(jwk) = jwk else {
            *self.keys.expedite.lock() = true;
            self.keys.wake.notify_one();
            return Err(format!("no key {} in the JSON Web Key Set of {}", header.kid.as_deref().unwrap_or("(no kid)"), self.source.describe()));
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("the JSON Web Key {}: {e}", header.kid.as_deref().unwrap_or("")))?;
        let mut v = Validation::new(header.alg);
        v.leeway = self.checks.clock_skew_seconds;
        // As jose4j in Kafka: an expected issuer or audience must be in the token, not
        // merely not contradicted; a token is not valid before its nbf.
        let mut required = vec!["exp"];
        if self.checks.expected_issuer.is_some() {
            required.push("iss");
        }
        if !self.checks.expected_audience.is_empty() {
            required.push("aud");
        }
        v.set_required_spec_claims(&required);
        v.validate_nbf = true;
        v.validate_aud = !self.checks.expected_audience.is_empty();
        if v.validate_aud {
            v.set_audience(&self.checks.expected_audience);
        }
        if let Some(iss) = &self.checks.expected_issuer {
            v.set_issuer(&[iss]);
        }
        let claims = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &v).map_err(|e| format!("invalid token: {e}"))?.claims;
        if !claims.get("iat").is_some_and(Value::is_number) {
            return Err("no issued-at claim (iat)".into());
        }
        let principal = claims.get(&self.checks.sub_claim).and_then(Value::as_str).filter(|s| !s.trim().is_empty()).ok_or_else(|| format!("no principal claim ({})", self.checks.sub_claim))?;
        let exp = claims.get("exp").and_then(Value::as_f64).ok_or("no expiration time claim (exp)")?;
        Ok((principal.to_string(), (exp * 1000.0) as i64))
    }
}

fn refresh_loop(keys: Weak<Keys>, source: JwksSource, refresh: Duration) {
    let mut wait = refresh;
    loop {
        {
            let Some(k) = keys.upgrade() else { return };
            let mut expedite = k.expedite.lock();
            if !*expedite {
                k.wake.wait_for(&mut expedite, wait);
            }
            *expedite = false;
        }
        let fetched = source.fetch();
        let Some(k) = keys.upgrade() else { return };
        wait = match fetched {
            Ok(set) => {
                tracing::debug!(jwks = %source.describe(), keys = set.keys.len(), "JSON Web Key Set refreshed");
                *k.set.write() = Arc::new(set);
                refresh
            }
            Err(e) => {
                tracing::warn!(jwks = %source.describe(), error = %e, "cannot refresh the JSON Web Key Set; keeping the previous one");
                refresh.min(Duration::from_secs(10))
            }
        };
        drop(k);
        // At most one fetch a second, however many unknown key ids come.
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    use base64::Engine;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    use super::*;

    /// An ES256 key: its JWK (public) and its signing key.
    fn key(kid: &str) -> (Value, EncodingKey) {
        let pair = rcgen::KeyPair::generate().unwrap();
        let point = pair.public_key_raw();
        let (x, y) = point[1..].split_at(32);
        let jwk = serde_json::json!({ "kty": "EC", "crv": "P-256", "x": B64URL.encode(x), "y": B64URL.encode(y), "kid": kid, "alg": "ES256", "use": "sig" });
        (jwk, EncodingKey::from_ec_der(&pair.serialize_der()))
    }

    fn token(kid: &str, signer: &EncodingKey, claims: Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &claims, signer).unwrap()
    }

    fn claims(iss: &str, aud: &str) -> Value {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        serde_json::json!({ "sub": "alice", "iss": iss, "aud": aud, "iat": now, "exp": now + 600 })
    }

    #[test]
    fn signed_tokens_are_checked_against_the_key_set() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwks.json");
        let (jwk1, signer1) = key("k1");
        std::fs::write(&file, serde_json::json!({ "keys": [jwk1.clone()] }).to_string()).unwrap();
        let checks = JwtChecks { expected_issuer: Some("https://idp".into()), expected_audience: vec!["kafka".into()], sub_claim: "sub".into(), clock_skew_seconds: 30 };
        let v = JwksValidator::start(JwksSource::parse(&format!("file://{}", file.display())).unwrap(), checks, Duration::from_secs(3600)).unwrap();
        let (principal, exp) = v.validate(&token("k1", &signer1, claims("https://idp", "kafka"))).unwrap();
        assert_eq!(principal, "alice");
        assert!(exp > 0);
        assert!(v.validate(&token("k1", &signer1, claims("https://other", "kafka"))).is_err(), "wrong issuer");
        assert!(v.validate(&token("k1", &signer1, claims("https://idp", "other"))).is_err(), "wrong audience");
        for (claim, why) in [("iat", "iat is required"), ("iss", "an expected issuer must be there"), ("aud", "an expected audience must be there")] {
            let mut without = claims("https://idp", "kafka");
            without.as_object_mut().unwrap().remove(claim);
            assert!(v.validate(&token("k1", &signer1, without)).is_err(), "{why}");
        }
        let mut early = claims("https://idp", "kafka");
        early["nbf"] = serde_json::json!(early["exp"]);
        assert!(v.validate(&token("k1", &signer1, early)).is_err(), "not valid before nbf");
        // Signed by another key under the same id; an unsigned token.
        let (_, forger) = key("k1");
        assert!(v.validate(&token("k1", &forger, claims("https://idp", "kafka"))).is_err());
        let unsigned = format!("{}.{}.", B64URL.encode(r#"{"alg":"none","kid":"k1"}"#), B64URL.encode(claims("https://idp", "kafka").to_string()));
        assert!(v.validate(&unsigned).is_err());
        // A new key: refused until the set is fetched again, which the miss itself asks for.
        let (jwk2, signer2) = key("k2");
        std::fs::write(&file, serde_json::json!({ "keys": [jwk1, jwk2] }).to_string()).unwrap();
        let t = token("k2", &signer2, claims("https://idp", "kafka"));
        assert!(v.validate(&t).unwrap_err().contains("no key k2"));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while v.validate(&t).is_err() {
            assert!(std::time::Instant::now() < deadline, "the key set was not fetched again");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
