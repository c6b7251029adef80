//! `listeners`, `advertised.listeners` and `listener.security.protocol.map`, as Kafka
//! reads them: every listener has a name, and its name maps to a security protocol.

use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Kafka's security protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
}

/// One client listener: where it binds and what it tells clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Upper-case, as Kafka normalises listener names.
    pub name: String,
    pub security_protocol: SecurityProtocol,
    pub bind: SocketAddr,
    pub advertised_host: String,
    pub advertised_port: i32,
    /// Named in `advertised.listeners`: a bind to port 0 does not change what is
    /// advertised.
    pub advertised_explicitly: bool,
}

/// One `NAME://host:port` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// Parses a comma-separated list of `NAME://host:port`; `None` on a malformed entry.
pub fn parse_endpoints(list: &str) -> Option<Vec<Endpoint>> {
    list.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, rest) = l.split_once("://")?;
            let (host, port) = split_host_port(rest)?;
            Some(Endpoint { name: name.trim().to_ascii_uppercase(), host, port })
        })
        .collect()
}

/// `listener.security.protocol.map`: listener name → protocol. `None` on a malformed
/// entry or an unknown protocol.
pub fn parse_protocol_map(text: &str) -> Option<BTreeMap<String, SecurityProtocol>> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, protocol) = e.split_once(':')?;
            Some((name.trim().to_ascii_uppercase(), SecurityProtocol::parse(protocol)?))
        })
        .collect()
}

/// Splits `host:port` or `[v6]:port`.
pub fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

/// `host:port`, with an IPv6 host in brackets.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The address to bind for `host` and `port` (an empty host is every interface).
pub fn bind_address(host: &str, port: u16) -> Option<SocketAddr> {
    let host = if host.is_empty() { "0.0.0.0" } else if host == "localhost" { "127.0.0.1" } else { host };
    host_port(host, port).parse().ok()
}

/// The host published for a bind address when none is advertised: a wildcard is
/// useless to clients, so loopback is published instead.
pub fn default_advertised_host(bind_host: &str) -> String {
    if bind_host.is_empty() || bind_host == "0.0.0.0" || bind_host == "::" {
        "127.0.0.1".to_string()
    } else {
        bind_host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_protocol_map() {
        let e = parse_endpoints("PLAINTEXT://127.0.0.1:9092, internal://[::1]:9093").unwrap();
        assert_eq!(e[1], Endpoint { name: "INTERNAL".into(), host: "::1".into(), port: 9093 });
        assert!(parse_endpoints("127.0.0.1:9092").is_none());
        let m = parse_protocol_map("INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL").unwrap();
        assert_eq!(m["EXTERNAL"], SecurityProtocol::SaslSsl);
        assert!(parse_protocol_map("X:TLS").is_none());
    }
}
