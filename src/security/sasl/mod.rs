//! SASL on the broker side: the mechanisms a listener enables, and one exchange per
//! mechanism, fed the tokens of SaslAuthenticate (or the raw tokens after a v0
//! SaslHandshake). An exchange ends with the authenticated principal or a failure whose
//! message is what Kafka tells the client.

pub mod jwks;
pub mod oauthbearer;
pub mod plain;
pub mod scram;

use std::collections::BTreeMap;

use super::image::SecurityImage;
use super::scram::ScramMechanism;
pub use oauthbearer::OAuthSettings;

/// The SASL mechanisms Riffle serves (GSSAPI is not among them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    Plain,
    Scram(ScramMechanism),
    OAuthBearer,
}

impl Mechanism {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            "OAUTHBEARER" => Some(Mechanism::OAuthBearer),
            other => ScramMechanism::from_name(other).map(Mechanism::Scram),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::OAuthBearer => "OAUTHBEARER",
            Mechanism::Scram(m) => m.name(),
        }
    }
}

/// What an exchange step returns.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes; the client answers with another token.
    Challenge(Vec<u8>),
    /// Authenticated: send `response`, the connection is `principal` from now on.
    /// `expires_at_ms`: when the credential stops being valid (an OAuth token's expiry).
    Done { response: Vec<u8>, principal: String, expires_at_ms: Option<i64> },
}

/// A failed exchange: the message sent with SASL_AUTHENTICATION_FAILED, and the user
/// the client claimed to be (for the log), if it got that far.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SaslFailure {
    pub message: String,
    pub user: Option<String>,
}

impl SaslFailure {
    pub fn new(message: impl Into<String>, user: Option<&str>) -> Self {
        SaslFailure { message: message.into(), user: user.map(str::to_string) }
    }
}

/// What exchanges look credentials up in.
pub struct SaslContext<'a> {
    pub image: &'a SecurityImage,
    /// PLAIN's users (`user_<name>` options of the listener's JAAS config).
    pub plain_users: &'a BTreeMap<String, String>,
    pub oauth: &'a OAuthSettings,
    pub now_ms: i64,
    /// A per-process secret: unknown SCRAM users get a made-up salt derived from it, so
    /// they cannot be told from known ones by their answers.
    pub secret: &'a [u8],
}

/// One exchange in progress.
pub enum SaslServer {
    Plain,
    Scram(scram::ScramServer),
    OAuthBearer(oauthbearer::OAuthBearerServer),
}

impl SaslServer {
    pub fn new(mechanism: Mechanism) -> Self {
        match mechanism {
            Mechanism::Plain => SaslServer::Plain,
            Mechanism::Scram(m) => SaslServer::Scram(scram::ScramServer::new(m)),
            Mechanism::OAuthBearer => SaslServer::OAuthBearer(oauthbearer::OAuthBearerServer::default()),
        }
    }

    pub fn step(&mut self, token: &[u8], ctx: &SaslContext<'_>) -> Result<Step, SaslFailure> {
        match self {
            SaslServer::Plain => plain::authenticate(token, ctx.plain_users),
            SaslServer::Scram(s) => s.step(token, ctx),
            SaslServer::OAuthBearer(s) => s.step(token, ctx),
        }
    }
}
