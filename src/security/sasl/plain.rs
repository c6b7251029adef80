//! SASL/PLAIN (RFC 4616) against the users of the listener's JAAS config, as Kafka's
//! PlainServerCallbackHandler checks them.

use std::collections::BTreeMap;

use subtle::ConstantTimeEq;

use super::{SaslFailure, Step};

/// Checks `authzid NUL user NUL password`.
pub fn authenticate(token: &[u8], users: &BTreeMap<String, String>) -> Result<Step, SaslFailure> {
    let text = std::str::from_utf8(token).map_err(|_| SaslFailure::new("Invalid SASL/PLAIN response: not UTF-8", None))?;
    let parts: Vec<&str> = text.split('\u{0}').collect();
    let [authzid, user, password] = parts[..] else {
        return Err(SaslFailure::new(format!("Invalid SASL/PLAIN response: expected 3 tokens, got {}", parts.len()), None));
    };
    if user.is_empty() {
        return Err(SaslFailure::new("Authentication failed: username not specified", None));
    }
    if password.is_empty() {
        return Err(SaslFailure::new("Authentication failed: password not specified", Some(user)));
    }
    if !authzid.is_empty() && authzid != user {
        return Err(SaslFailure::new("Authentication failed: Client requested an authorization id that is different from username", Some(user)));
    }
    // An unknown user costs the same comparison as a wrong password.
    let expected = users.get(user);
    let candidate = expected.map(String::as_bytes).unwrap_or(password.as_bytes());
    let equal: bool = candidate.ct_eq(password.as_bytes()).into();
    if expected.is_none() || !equal {
        return Err(SaslFailure::new("Authentication failed: Invalid username or password", Some(user)));
    }
    Ok(Step::Done { response: Vec::new(), principal: format!("User:{user}"), expires_at_ms: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_checks_user_password_and_authzid() {
        let users = BTreeMap::from([("alice".to_string(), "secret".to_string())]);
        assert!(matches!(authenticate(b"\0alice\0secret", &users), Ok(Step::Done { principal, .. }) if principal == "User:alice"));
        assert!(matches!(authenticate(b"alice\0alice\0secret", &users), Ok(_)));
        assert_eq!(authenticate(b"\0alice\0wrong", &users).unwrap_err().message, "Authentication failed: Invalid username or password");
        assert_eq!(authenticate(b"\0bob\0secret", &users).unwrap_err().message, "Authentication failed: Invalid username or password");
        assert!(authenticate(b"bob\0alice\0secret", &users).is_err());
        assert!(authenticate(b"\0alice", &users).is_err());
        assert!(authenticate(b"\0\0x", &users).is_err());
        assert!(authenticate(&[0xff, 0, 0], &users).is_err());
    }
}
