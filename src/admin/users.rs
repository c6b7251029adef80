//! `riffle users list|set|delete`: SCRAM users, as `kafka-configs.sh --entity-type
//! users --alter --add-config 'SCRAM-SHA-512=[iterations=8192,password=...]'` manages
//! them, through AlterUserScramCredentials and DescribeUserScramCredentials. The
//! password is salted here; only the salted password crosses the network.

use std::fmt::Write as _;

use bytes::Bytes;
use kafka_protocol::messages::alter_user_scram_credentials_request::{ScramCredentialDeletion, ScramCredentialUpsertion};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::client::{Client, ClientError};
use crate::security::scram::ScramMechanism;

fn mechanism(name: &str) -> Result<ScramMechanism, ClientError> {
    ScramMechanism::from_name(name).ok_or_else(|| ClientError::Protocol(format!("unknown mechanism {name} (SCRAM-SHA-256 or SCRAM-SHA-512)")))
}

fn outcome(r: AlterUserScramCredentialsResponse) -> Result<String, ClientError> {
    let mut out = String::new();
    for r in r.results {
        if r.error_code != 0 {
            return Err(ClientError::Protocol(format!("{}: error {} {}", r.user.as_str(), r.error_code, r.error_message.as_deref().unwrap_or(""))));
        }
        let _ = writeln!(out, "{}: done", r.user.as_str());
    }
    Ok(out)
}

/// One line per user: its mechanisms and iteration counts.
pub fn list(bootstrap: &str) -> Result<String, ClientError> {
    let mut c = Client::connect(bootstrap)?;
    let r = c.call(0, &DescribeUserScramCredentialsRequest::default().with_users(None))?;
    if r.error_code != 0 {
        return Err(ClientError::Protocol(format!("DescribeUserScramCredentials: error {} {}", r.error_code, r.error_message.as_deref().unwrap_or(""))));
    }
    let mut out = String::new();
    for u in r.results {
        let creds: Vec<String> = u
            .credential_infos
            .iter()
            .map(|c| format!("{}(iterations={})", ScramMechanism::from_type_code(c.mechanism).map_or("?", |m| m.name()), c.iterations))
            .collect();
        let _ = writeln!(out, "{} {}", u.user.as_str(), creds.join(","));
    }
    Ok(out)
}

/// Creates or replaces a user's credential for one mechanism.
pub fn set(bootstrap: &str, user: &str, mechanism_name: &str, password: &str, iterations: i32) -> Result<String, ClientError> {
    let m = mechanism(mechanism_name)?;
    let salt: [u8; 32] = rand::random();
    let salted = m.salted_password(password.as_bytes(), &salt, iterations.max(1) as u32);
    let upsertion = ScramCredentialUpsertion::default()
        .with_name(StrBytes::from_string(user.to_string()))
        .with_mechanism(m.type_code())
        .with_iterations(iterations)
        .with_salt(Bytes::copy_from_slice(&salt))
        .with_salted_password(Bytes::from(salted));
    let mut c = Client::connect(bootstrap)?;
    outcome(c.call(0, &AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsertion]))?)
}

/// Removes a user's credential for one mechanism.
pub fn delete(bootstrap: &str, user: &str, mechanism_name: &str) -> Result<String, ClientError> {
    let m = mechanism(mechanism_name)?;
    let deletion = ScramCredentialDeletion::default().with_name(StrBytes::from_string(user.to_string())).with_mechanism(m.type_code());
    let mut c = Client::connect(bootstrap)?;
    outcome(c.call(0, &AlterUserScramCredentialsRequest::default().with_deletions(vec![deletion]))?)
}
