//! SaslHandshake and SaslAuthenticate, and the gate before them: on a SASL listener a
//! connection may send only ApiVersions and the SASL requests until it is
//! authenticated (anything else closes it, as Kafka does), and after a v0 handshake
//! its frames are raw SASL tokens. The exchange itself is `security/`'s.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, RequestError, Services};
use crate::net::response::ResponseFrame;
use crate::net::Session;
use crate::security::authentication::{AuthenticateError, Exchanged, HandshakeRefusal};
use crate::security::sasl::SaslFailure;

/// Whether a request of `api` may be served on this connection now.
pub fn admit(services: &Services, session: &Session, api: ApiKey) -> Result<(), RequestError> {
    let auth = session.authentication();
    let sasl_api = matches!(api, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate);
    if auth.expired(services.clock.now_ms()) && !sasl_api {
        return Err(RequestError::Unauthenticated { api, reason: "the session expired (connections.max.reauth.ms) without re-authentication" });
    }
    if !auth.authenticated() && !sasl_api && api != ApiKey::ApiVersions {
        return Err(RequestError::Unauthenticated { api, reason: "the request came before SASL authentication completed" });
    }
    Ok(())
}

pub async fn handshake(ctx: &RequestContext<'_>, req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    let security = &ctx.session.security;
    let enabled = || security.sasl.iter().flat_map(|s| s.mechanisms.iter().map(|m| StrBytes::from_static_str(m.name()))).collect();
    let refused = ctx.session.authentication().handshake(security, req.mechanism.as_str(), ctx.version);
    let (code, mechanisms) = match refused {
        Ok(()) => return SaslHandshakeResponse::default().with_mechanisms(enabled()),
        Err(HandshakeRefusal::UnsupportedMechanism(list)) => {
            tracing::warn!(peer = %ctx.session.peer, listener = %security.name, mechanism = %req.mechanism.as_str(), "SASL mechanism not enabled; closing connection");
            (E::UnsupportedSaslMechanism.code(), list.into_iter().map(StrBytes::from_static_str).collect())
        }
        Err(HandshakeRefusal::IllegalState(reason)) => {
            tracing::warn!(peer = %ctx.session.peer, listener = %security.name, %reason, "unexpected SaslHandshake");
            (E::IllegalSaslState.code(), enabled())
        }
    };
    // A SASL listener closes the connection; another answers and carries on, as Kafka.
    if security.sasl.is_some() {
        ctx.session.close_after_response();
    }
    SaslHandshakeResponse::default().with_error_code(code).with_mechanisms(mechanisms)
}

pub async fn authenticate(ctx: &RequestContext<'_>, req: SaslAuthenticateRequest) -> SaslAuthenticateResponse {
    let session = ctx.session;
    let result = session.authentication().authenticate(&session.security, &req.auth_bytes, ctx.services.clock.now_ms());
    match result {
        Ok(Exchanged::Challenge(c)) => SaslAuthenticateResponse::default().with_auth_bytes(c.into()),
        Ok(Exchanged::Done { response, session_lifetime_ms }) => {
            tracing::debug!(peer = %session.peer, principal = %session.principal(), "authenticated");
            SaslAuthenticateResponse::default().with_auth_bytes(response.into()).with_session_lifetime_ms(session_lifetime_ms)
        }
        Err(AuthenticateError::IllegalState(reason)) => {
            if session.security.sasl.is_some() {
                session.close_after_response();
            }
            SaslAuthenticateResponse::default().with_error_code(E::IllegalSaslState.code()).with_error_message(Some(StrBytes::from_string(reason)))
        }
        Err(AuthenticateError::Failed(failure)) => {
            log_failure(session, &failure);
            // As Kafka: answered at once, the close delayed by
            // connection.failed.authentication.delay.ms (slowing down password guessing).
            session.mute_for_ms(failed_authentication_delay_ms(session));
            session.close_after_response();
            SaslAuthenticateResponse::default().with_error_code(E::SaslAuthenticationFailed.code()).with_error_message(Some(StrBytes::from_string(failure.message)))
        }
    }
}

/// A frame after a v0 SaslHandshake: a raw token, answered with a raw (length-prefixed)
/// token. A failure closes the connection without an answer, as Kafka does.
pub async fn raw_token(services: &Services, session: &Session, token: &[u8]) -> Result<ResponseFrame, RequestError> {
    let result = session.authentication().authenticate(&session.security, token, services.clock.now_ms());
    let bytes = match result {
        Ok(Exchanged::Challenge(c)) => c,
        Ok(Exchanged::Done { response, .. }) => {
            tracing::debug!(peer = %session.peer, principal = %session.principal(), "authenticated");
            response
        }
        Err(AuthenticateError::IllegalState(reason)) => return Err(RequestError::Authentication(reason)),
        Err(AuthenticateError::Failed(failure)) => {
            log_failure(session, &failure);
            tokio::time::sleep(Duration::from_millis(failed_authentication_delay_ms(session))).await;
            return Err(RequestError::Authentication(failure.message));
        }
    };
    let mut out = BytesMut::with_capacity(4 + bytes.len());
    out.put_i32(bytes.len() as i32);
    out.put_slice(&bytes);
    Ok(out.into())
}

fn log_failure(session: &Session, failure: &SaslFailure) {
    tracing::warn!(peer = %session.peer, listener = %session.security.name, user = failure.user.as_deref().unwrap_or("-"), error = %failure.message, "SASL authentication failed; closing connection");
}

/// `connection.failed.authentication.delay.ms`
fn failed_authentication_delay_ms(session: &Session) -> u64 {
    session.security.sasl.as_ref().map_or(0, |s| s.failed_authentication_delay_ms)
}
