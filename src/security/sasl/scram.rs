//! The server side of a SCRAM exchange (RFC 5802): client-first → server-first (nonce,
//! salt, iterations), client-final (proof) → server-final (signature). As Kafka's
//! ScramSaslServer, with one difference: an unknown user is answered with a made-up
//! salt and fails at the proof, as a wrong password does.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use subtle::ConstantTimeEq;

use super::{SaslContext, SaslFailure, Step};
use crate::security::scram::{ScramCredential, ScramMechanism};

enum State {
    ClientFirst,
    ClientFinal { user: String, gs2_header: String, client_first_bare: String, server_first: String, nonce: String, credential: Option<ScramCredential> },
    Finished,
}

pub struct ScramServer {
    mechanism: ScramMechanism,
    state: State,
}

impl ScramServer {
    pub fn new(mechanism: ScramMechanism) -> Self {
        ScramServer { mechanism, state: State::ClientFirst }
    }

    fn invalid(&self, user: Option<&str>) -> SaslFailure {
        SaslFailure::new(format!("Authentication failed during authentication due to invalid credentials with SASL mechanism {}", self.mechanism.name()), user)
    }

    pub fn step(&mut self, token: &[u8], ctx: &SaslContext<'_>) -> Result<Step, SaslFailure> {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::ClientFirst => self.client_first(token, ctx),
            State::ClientFinal { user, gs2_header, client_first_bare, server_first, nonce, credential } => {
                let principal = format!("User:{user}");
                let text = std::str::from_utf8(token).map_err(|_| self.invalid(Some(&user)))?;
                let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(|| self.invalid(Some(&user)))?;
                let mut fields = without_proof.split(',');
                let channel_binding = fields.next().and_then(|f| f.strip_prefix("c=")).ok_or_else(|| self.invalid(Some(&user)))?;
                let client_nonce = fields.next().and_then(|f| f.strip_prefix("r=")).ok_or_else(|| self.invalid(Some(&user)))?;
                if B64.decode(channel_binding).ok().as_deref() != Some(gs2_header.as_bytes()) || client_nonce != nonce {
                    return Err(self.invalid(Some(&user)));
                }
                let proof = B64.decode(proof).map_err(|_| self.invalid(Some(&user)))?;
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                // The made-up credential of an unknown user goes through the same work.
                let fake;
                let c = match &credential {
                    Some(c) => c,
                    None => {
                        fake = fake_credential(self.mechanism, &user, ctx.secret);
                        &fake
                    }
                };
                let client_signature = self.mechanism.hmac(&c.stored_key, auth_message.as_bytes());
                if proof.len() != client_signature.len() {
                    return Err(self.invalid(Some(&user)));
                }
                let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
                let matches: bool = self.mechanism.hash(&client_key).ct_eq(&c.stored_key).into();
                if !matches || credential.is_none() {
                    return Err(self.invalid(Some(&user)));
                }
                let server_signature = self.mechanism.hmac(&c.server_key, auth_message.as_bytes());
                Ok(Step::Done { response: format!("v={}", B64.encode(server_signature)).into_bytes(), principal, expires_at_ms: None })
            }
            State::Finished => Err(self.invalid(None)),
        }
    }

    fn client_first(&mut self, token: &[u8], ctx: &SaslContext<'_>) -> Result<Step, SaslFailure> {
        let text = std::str::from_utf8(token).map_err(|_| self.invalid(None))?;
        // gs2-header: "n,," or "y,," (no channel binding), optionally with "a=authzid".
        let mut parts = text.splitn(3, ',');
        let (cbind, authzid, bare) = (parts.next().unwrap_or(""), parts.next().ok_or_else(|| self.invalid(None))?, parts.next().ok_or_else(|| self.invalid(None))?);
        if cbind != "n" && cbind != "y" {
            return Err(self.invalid(None));
        }
        let gs2_header = format!("{cbind},{authzid},");
        let mut fields = bare.split(',');
        let user = fields.next().and_then(|f| f.strip_prefix("n=")).and_then(sasl_name).ok_or_else(|| self.invalid(None))?;
        let client_nonce = fields.next().and_then(|f| f.strip_prefix("r=")).filter(|n| !n.is_empty()).ok_or_else(|| self.invalid(Some(&user)))?;
        for ext in fields {
            // Delegation tokens (tokenauth=true) are not served.
            if ext.starts_with("tokenauth=") && ext != "tokenauth=false" {
                return Err(SaslFailure::new("Authentication failed: delegation tokens are not supported", Some(&user)));
            }
        }
        if let Some(a) = authzid.strip_prefix("a=") {
            if sasl_name(a).as_deref() != Some(user.as_str()) {
                return Err(SaslFailure::new("Authentication failed: Client requested an authorization id that is different from username", Some(&user)));
            }
        } else if !authzid.is_empty() {
            return Err(self.invalid(Some(&user)));
        }
        let credential = ctx.image.scram_credential(&user, self.mechanism).cloned();
        let (salt, iterations) = match &credential {
            Some(c) => (c.salt.clone(), c.iterations),
            None => {
                let f = fake_credential(self.mechanism, &user, ctx.secret);
                (f.salt, f.iterations)
            }
        };
        let server_nonce: [u8; 24] = rand::random();
        let nonce = format!("{client_nonce}{}", B64.encode(server_nonce));
        let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(&salt));
        let challenge = server_first.clone().into_bytes();
        self.state = State::ClientFinal { user, gs2_header, client_first_bare: bare.to_string(), server_first, nonce, credential };
        Ok(Step::Challenge(challenge))
    }
}

/// `saslname` of RFC 5802: "=2C" is ',' and "=3D" is '='; any other '=' is invalid.
fn sasl_name(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    (!out.is_empty()).then_some(out)
}

/// A credential for a user that does not exist: stable per user, so that repeated
/// attempts see the same salt.
fn fake_credential(mechanism: ScramMechanism, user: &str, secret: &[u8]) -> ScramCredential {
    let salt = mechanism.hmac(secret, user.as_bytes());
    let stored_key = mechanism.hmac(secret, &salt);
    ScramCredential { salt, stored_key: stored_key.clone(), server_key: stored_key, iterations: ScramMechanism::MIN_ITERATIONS }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::security::client::sasl::{ClientStep, SaslClient, SaslCredentials};
    use crate::security::image::{SecurityImage, SecurityRecord};
    use crate::security::sasl::OAuthSettings;

    /// A whole exchange with the broker's own SCRAM client; `tamper` may change its
    /// client-final-message.
    fn exchange(image: &SecurityImage, user: &str, password: &str, tamper: impl Fn(String) -> String) -> Result<Step, SaslFailure> {
        let m = ScramMechanism::Sha512;
        let users = BTreeMap::new();
        let oauth = OAuthSettings::default();
        let ctx = SaslContext { image, plain_users: &users, oauth: &oauth, now_ms: 0, secret: b"secret" };
        let credentials = SaslCredentials::Scram { mechanism: m, username: user.into(), password: password.into() };
        let (mut client, first) = SaslClient::start(&credentials, 0);
        let mut server = ScramServer::new(m);
        let Step::Challenge(challenge) = server.step(&first, &ctx)? else { panic!("expected a challenge") };
        let ClientStep::Send(last) = client.step(&challenge).unwrap() else { panic!("expected a client-final-message") };
        let step = server.step(tamper(String::from_utf8(last).unwrap()).as_bytes(), &ctx)?;
        if let Step::Done { response, .. } = &step {
            assert_eq!(client.step(response), Ok(ClientStep::Done), "the client checks the server's signature");
        }
        Ok(step)
    }

    #[test]
    fn scram_sha_512_exchange() {
        let mut image = SecurityImage::default();
        let c = ScramCredential::from_password(ScramMechanism::Sha512, "alice-secret", 4096);
        image.apply(&SecurityRecord::AlterScramCredentials { deletions: vec![], upsertions: vec![("alice".into(), 2, c)] });
        let same = |t: String| t;
        assert!(matches!(exchange(&image, "alice", "alice-secret", same), Ok(Step::Done { principal, .. }) if principal == "User:alice"));
        let wrong = exchange(&image, "alice", "nope", same).unwrap_err();
        let unknown = exchange(&image, "mallory", "nope", same).unwrap_err();
        assert_eq!(wrong.message, unknown.message, "an unknown user fails as a wrong password does");
        let other_nonce = |t: String| t.replacen("r=", "r=other", 1);
        assert!(exchange(&image, "alice", "alice-secret", other_nonce).is_err());
        assert_eq!(sasl_name("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(sasl_name("a=b"), None);
    }
}
