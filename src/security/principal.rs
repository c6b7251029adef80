//! The principal of a TLS client: its certificate's subject as an RFC 2253
//! distinguished name (what Java's X500Principal.getName() gives), mapped by
//! `ssl.principal.mapping.rules` as Kafka's SslPrincipalMapper does.

use regex::Regex;
use x509_parser::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    #[error("invalid ssl.principal.mapping.rules {rules:?}: {reason}")]
    InvalidRules { rules: String, reason: String },
    #[error("no ssl.principal.mapping.rules rule applies to {0}")]
    NoMatchingRule(String),
    #[error("the client certificate cannot be parsed: {0}")]
    BadCertificate(String),
}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace { pattern: Regex, replacement: String, case: Option<char> },
}

/// `ssl.principal.mapping.rules`, parsed.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

impl Default for PrincipalMapper {
    fn default() -> Self {
        PrincipalMapper { rules: vec![Rule::Default] }
    }
}

impl PrincipalMapper {
    pub fn parse(text: &str) -> Result<Self, PrincipalError> {
        let invalid = |reason: &str| PrincipalError::InvalidRules { rules: text.to_string(), reason: reason.to_string() };
        let mut rules = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("DEFAULT") {
                rules.push(Rule::Default);
                rest = r;
            } else if let Some(r) = rest.strip_prefix("RULE:") {
                let (pattern, r) = until_slash(r).ok_or_else(|| invalid("a RULE needs RULE:pattern/replacement/"))?;
                let (replacement, r) = until_slash(r).ok_or_else(|| invalid("a RULE needs RULE:pattern/replacement/"))?;
                let (case, r) = match r.chars().next() {
                    Some(c @ ('L' | 'U')) => (Some(c), &r[1..]),
                    _ => (None, r),
                };
                let pattern = Regex::new(&format!("^(?:{pattern})$")).map_err(|e| invalid(&e.to_string()))?;
                rules.push(Rule::Replace { pattern, replacement: java_replacement(&replacement), case });
                rest = r;
            } else {
                return Err(invalid("expected DEFAULT or RULE:"));
            }
            rest = rest.trim_start();
            match rest.strip_prefix(',') {
                Some(r) => rest = r.trim_start(),
                None if rest.is_empty() => {}
                None => return Err(invalid("rules are separated by commas")),
            }
        }
        if rules.is_empty() {
            rules.push(Rule::Default);
        }
        Ok(PrincipalMapper { rules })
    }

    /// The principal name for a distinguished name.
    pub fn map(&self, dn: &str) -> Result<String, PrincipalError> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(dn.to_string()),
                Rule::Replace { pattern, replacement, case } => {
                    if pattern.is_match(dn) {
                        let out = pattern.replace_all(dn, replacement.as_str()).into_owned();
                        return Ok(match case {
                            Some('L') => out.to_lowercase(),
                            Some('U') => out.to_uppercase(),
                            _ => out,
                        });
                    }
                }
            }
        }
        Err(PrincipalError::NoMatchingRule(dn.to_string()))
    }

    /// `User:<mapped subject>` of a DER certificate.
    pub fn principal_of(&self, der: &[u8]) -> Result<String, PrincipalError> {
        Ok(format!("User:{}", self.map(&subject_dn(der)?)?))
    }
}

/// Text up to an unescaped '/', with `\/` unescaped; and what follows the '/'.
fn until_slash(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '/')) => out.push('/'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return None,
            },
            '/' => return Some((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

/// Java's `$1` group references as the regex crate writes them (`${1}`).
fn java_replacement(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push_str("${");
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                out.push(d);
                chars.next();
            }
            out.push('}');
        } else if c == '\\' {
            if let Some(n) = chars.next() {
                if n == '$' {
                    out.push_str("$$");
                } else {
                    out.push(n);
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The certificate's subject in RFC 2253 form: the last RDN first, comma-separated.
pub fn subject_dn(der: &[u8]) -> Result<String, PrincipalError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| PrincipalError::BadCertificate(e.to_string()))?;
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter_rdn().collect::<Vec<_>>().into_iter().rev() {
        let attrs: Vec<String> = rdn.iter().map(|a| {
            let oid = a.attr_type().to_id_string();
            match (short_name(&oid), a.as_str()) {
                (Some(name), Ok(v)) => format!("{name}={}", escape(v)),
                _ => format!("{oid}=#{}", a.attr_value().as_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>()),
            }
        }).collect();
        rdns.push(attrs.join("+"));
    }
    Ok(rdns.join(","))
}

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// RFC 2253 escaping of an attribute value.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') || (i == 0 && (c == '#' || c == ' ')) || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_in_rfc2253_order_and_mapping_rules() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "US");
        dn.push(rcgen::DnType::OrganizationName, "Riffle, Inc");
        dn.push(rcgen::DnType::CommonName, "client");
        params.distinguished_name = dn;
        let cert = params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap();
        assert_eq!(subject_dn(cert.der()).unwrap(), "CN=client,O=Riffle\\, Inc,C=US");
        assert_eq!(PrincipalMapper::default().principal_of(cert.der()).unwrap(), "User:CN=client,O=Riffle\\, Inc,C=US");

        let m = PrincipalMapper::parse("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/, RULE:^CN=([a-z]+),.*$/$1-x/U, DEFAULT").unwrap();
        assert_eq!(m.map("CN=kafka,OU=ServiceUsers,O=Org").unwrap(), "kafka");
        assert_eq!(m.map("CN=bob,O=Org").unwrap(), "BOB-X");
        assert_eq!(m.map("O=Org").unwrap(), "O=Org");
        let strict = PrincipalMapper::parse("RULE:^CN=(.*)$/$1/L").unwrap();
        assert!(matches!(strict.map("O=x"), Err(PrincipalError::NoMatchingRule(_))));
        assert!(PrincipalMapper::parse("RULE:abc").is_err());
        assert!(PrincipalMapper::parse("BOGUS").is_err());
    }
}
