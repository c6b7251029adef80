//! The client side of the SASL mechanisms, for a broker's own connections: the first
//! token, then an answer to each challenge until the server's last message, which
//! SCRAM checks (the server must prove it knows the credential too).

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::security::scram::ScramMechanism;

/// What a broker authenticates as, from its listener's JAAS config.
#[derive(Clone)]
pub enum SaslCredentials {
    Plain { username: String, password: String },
    Scram { mechanism: ScramMechanism, username: String, password: String },
    /// Kafka's unsecured login (`unsecuredLoginStringClaim_sub`): an unsigned JWS.
    OAuthBearer { subject: String, lifetime_seconds: i64 },
}

/// Names the mechanism and user, never the password.
impl std::fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = match self {
            SaslCredentials::Plain { username, .. } | SaslCredentials::Scram { username, .. } => username,
            SaslCredentials::OAuthBearer { subject, .. } => subject,
        };
        write!(f, "{} as {user}", self.mechanism_name())
    }
}

impl SaslCredentials {
    pub fn mechanism_name(&self) -> &'static str {
        match self {
            SaslCredentials::Plain { .. } => "PLAIN",
            SaslCredentials::Scram { mechanism, .. } => mechanism.name(),
            SaslCredentials::OAuthBearer { .. } => "OAUTHBEARER",
        }
    }
}

enum State {
    /// PLAIN and OAUTHBEARER: the server's (empty) answer ends the exchange.
    AwaitingOutcome,
    ScramServerFirst { client_first_bare: String, client_nonce: String },
    ScramServerFinal { server_signature: Vec<u8> },
    Done,
}

/// One exchange in progress.
pub struct SaslClient<'a> {
    credentials: &'a SaslCredentials,
    state: State,
}

/// What to do after a server message.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientStep {
    Send(Vec<u8>),
    Done,
}

impl<'a> SaslClient<'a> {
    /// Starts an exchange; returns it and the first token to send.
    pub fn start(credentials: &'a SaslCredentials, now_ms: i64) -> (Self, Vec<u8>) {
        let (state, token) = match credentials {
            SaslCredentials::Plain { username, password } => (State::AwaitingOutcome, format!("\0{username}\0{password}").into_bytes()),
            SaslCredentials::Scram { username, .. } => {
                let client_nonce = B64.encode(rand::random::<[u8; 24]>());
                let client_first_bare = format!("n={},r={client_nonce}", sasl_name(username));
                let token = format!("n,,{client_first_bare}").into_bytes();
                (State::ScramServerFirst { client_first_bare, client_nonce }, token)
            }
            SaslCredentials::OAuthBearer { subject, lifetime_seconds } => {
                let token = unsecured_token(subject, now_ms, *lifetime_seconds);
                (State::AwaitingOutcome, format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes())
            }
        };
        (SaslClient { credentials, state }, token)
    }

    /// Takes the server's message. An error means the server cannot be trusted or the
    /// exchange is broken.
    pub fn step(&mut self, server: &[u8]) -> Result<ClientStep, String> {
        match std::mem::replace(&mut self.state, State::Done) {
            // PLAIN's success is empty; OAUTHBEARER's refusal is a JSON error message
            // (RFC 7628) with no error code, the client's reply ends it.
            State::AwaitingOutcome if server.is_empty() => Ok(ClientStep::Done),
            State::AwaitingOutcome => Err(format!("the server refused the token: {}", String::from_utf8_lossy(server))),
            State::ScramServerFirst { client_first_bare, client_nonce } => {
                let SaslCredentials::Scram { mechanism, password, .. } = self.credentials else { return Err("not a SCRAM exchange".into()) };
                let (token, server_signature) = scram_client_final(*mechanism, password, &client_first_bare, &client_nonce, server)?;
                self.state = State::ScramServerFinal { server_signature };
                Ok(ClientStep::Send(token))
            }
            State::ScramServerFinal { server_signature } => {
                let text = std::str::from_utf8(server).map_err(|_| "server-final-message is not UTF-8".to_string())?;
                if let Some(e) = text.strip_prefix("e=") {
                    return Err(format!("the server refused the proof: {e}"));
                }
                let got = text.strip_prefix("v=").and_then(|v| B64.decode(v).ok()).ok_or_else(|| format!("invalid server-final-message {text:?}"))?;
                if !bool::from(got.ct_eq(&server_signature)) {
                    return Err("the server's signature does not match: it does not know the credential".into());
                }
                Ok(ClientStep::Done)
            }
            State::Done => Err("the exchange is already complete".into()),
        }
    }
}

/// The client-final-message for a server-first-message (RFC 5802), and the server
/// signature expected back.
fn scram_client_final(m: ScramMechanism, password: &str, client_first_bare: &str, client_nonce: &str, server_first: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let server_first = std::str::from_utf8(server_first).map_err(|_| "server-first-message is not UTF-8".to_string())?;
    let field = |name: &str| server_first.split(',').find_map(|f| f.strip_prefix(name));
    let nonce = field("r=").filter(|n| n.starts_with(client_nonce) && n.len() > client_nonce.len()).ok_or("the server's nonce does not extend ours")?;
    let salt = field("s=").and_then(|s| B64.decode(s).ok()).ok_or("invalid salt")?;
    let iterations: u32 = field("i=").and_then(|i| i.parse().ok()).filter(|i| *i >= ScramMechanism::MIN_ITERATIONS as u32 && *i <= ScramMechanism::MAX_ITERATIONS as u32).ok_or("invalid iteration count")?;
    let salted = m.salted_password(password.as_bytes(), &salt, iterations);
    let client_key = m.hmac(&salted, b"Client Key");
    let stored_key = m.hash(&client_key);
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = m.hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
    let server_key = m.hmac(&salted, b"Server Key");
    Ok((format!("{without_proof},p={}", B64.encode(proof)).into_bytes(), m.hmac(&server_key, auth_message.as_bytes())))
}

/// `saslname` of RFC 5802: ',' and '=' escaped.
fn sasl_name(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

/// An unsigned JWS (`alg: none`), as Kafka's OAuthBearerUnsecuredLoginCallbackHandler
/// makes it.
fn unsecured_token(subject: &str, now_ms: i64, lifetime_seconds: i64) -> String {
    let header = serde_json::json!({ "alg": "none" });
    let iat = now_ms as f64 / 1000.0;
    let claims = serde_json::json!({ "sub": subject, "iat": iat, "exp": iat + lifetime_seconds as f64 });
    format!("{}.{}.", B64URL.encode(header.to_string()), B64URL.encode(claims.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::security::image::SecurityImage;
    use crate::security::sasl::{Mechanism, OAuthSettings, SaslContext, SaslServer, Step};

    /// Runs an exchange between this client and the broker's server side.
    fn run(credentials: &SaslCredentials, mechanism: Mechanism) -> Result<String, String> {
        let users = BTreeMap::from([("broker".to_string(), "broker-secret".to_string())]);
        let oauth = OAuthSettings::default();
        let image = SecurityImage::default();
        let ctx = SaslContext { image: &image, plain_users: &users, oauth: &oauth, now_ms: 1_000_000, secret: b"s" };
        let (mut client, mut token) = SaslClient::start(credentials, 1_000_000);
        let mut server = SaslServer::new(mechanism);
        loop {
            match server.step(&token, &ctx).map_err(|f| f.message)? {
                Step::Challenge(c) => match client.step(&c)? {
                    ClientStep::Send(t) => token = t,
                    ClientStep::Done => return Err("the client stopped early".into()),
                },
                Step::Done { response, principal, .. } => {
                    assert_eq!(client.step(&response)?, ClientStep::Done);
                    return Ok(principal);
                }
            }
        }
    }

    #[test]
    fn plain_and_oauthbearer_authenticate_against_the_broker() {
        let plain = SaslCredentials::Plain { username: "broker".into(), password: "broker-secret".into() };
        assert_eq!(run(&plain, Mechanism::Plain).as_deref(), Ok("User:broker"));
        let wrong = SaslCredentials::Plain { username: "broker".into(), password: "nope".into() };
        assert!(run(&wrong, Mechanism::Plain).is_err());
        let oauth = SaslCredentials::OAuthBearer { subject: "broker".into(), lifetime_seconds: 3600 };
        assert_eq!(run(&oauth, Mechanism::OAuthBearer).as_deref(), Ok("User:broker"));
        // An expired token: the server's error challenge is a failure, not a success.
        let expired = SaslCredentials::OAuthBearer { subject: "broker".into(), lifetime_seconds: -10 };
        assert!(run(&expired, Mechanism::OAuthBearer).is_err_and(|e| e.contains("invalid_token")));
    }

    #[test]
    fn a_scram_server_without_the_credential_is_not_trusted() {
        let credentials = SaslCredentials::Scram { mechanism: ScramMechanism::Sha256, username: "a,b".into(), password: "pw".into() };
        let (mut client, first) = SaslClient::start(&credentials, 0);
        let first = String::from_utf8(first).unwrap();
        assert!(first.starts_with("n,,n=a=2Cb,r="));
        let nonce = first.rsplit_once("r=").unwrap().1;
        let server_first = format!("r={nonce}xyz,s={},i=4096", B64.encode(b"salt"));
        assert!(matches!(client.step(server_first.as_bytes()), Ok(ClientStep::Send(_))));
        assert!(client.step(format!("v={}", B64.encode(b"forged")).as_bytes()).is_err());
        // A nonce the server did not extend from ours is refused.
        let (mut client, _) = SaslClient::start(&credentials, 0);
        assert!(client.step(b"r=someoneelse,s=c2FsdA==,i=4096").is_err());
    }
}
