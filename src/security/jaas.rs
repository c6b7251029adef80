//! Kafka's `sasl.jaas.config` values, as its JaasConfig parses them:
//! `<LoginModule class> <flag> key=value ... ;`, values optionally double-quoted.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JAAS config: {0}")]
pub struct JaasError(String);

/// One login module entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginModule {
    pub class: String,
    pub flag: String,
    pub options: BTreeMap<String, String>,
}

/// Parses every entry of a JAAS config value.
pub fn parse(text: &str) -> Result<Vec<LoginModule>, JaasError> {
    let tokens = tokenize(text)?;
    let mut out = Vec::new();
    let mut it = tokens.into_iter().peekable();
    while it.peek().is_some() {
        let class = match it.next() {
            Some(Token::Word(w)) => w,
            other => return Err(JaasError(format!("expected a login module class, found {other:?}"))),
        };
        let flag = match it.next() {
            Some(Token::Word(w)) if ["required", "requisite", "sufficient", "optional"].contains(&w.to_ascii_lowercase().as_str()) => w.to_ascii_lowercase(),
            other => return Err(JaasError(format!("expected a control flag after {class}, found {other:?}"))),
        };
        let mut options = BTreeMap::new();
        loop {
            match it.next() {
                Some(Token::Semicolon) => break,
                Some(Token::Word(key)) => {
                    if it.next() != Some(Token::Equals) {
                        return Err(JaasError(format!("expected '=' after option {key}")));
                    }
                    let value = match it.next() {
                        Some(Token::Word(v)) | Some(Token::Quoted(v)) => v,
                        other => return Err(JaasError(format!("expected a value for option {key}, found {other:?}"))),
                    };
                    options.insert(key, value);
                }
                other => return Err(JaasError(format!("expected an option or ';' in {class}, found {other:?}"))),
            }
        }
        out.push(LoginModule { class, flag, options });
    }
    if out.is_empty() {
        return Err(JaasError("no login module".into()));
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    Semicolon,
}

fn tokenize(text: &str) -> Result<Vec<Token>, JaasError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' => {
                chars.next();
                out.push(Token::Equals);
            }
            ';' => {
                chars.next();
                out.push(Token::Semicolon);
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => s.push(chars.next().ok_or_else(|| JaasError("unterminated escape".into()))?),
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err(JaasError("unterminated quoted value".into())),
                    }
                }
                out.push(Token::Quoted(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '=' || c == ';' || c == '"' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push(Token::Word(s));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_login_module_with_users() {
        let m = parse(r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="a\"b" user_admin="admin-secret" user_alice=alice-secret;"#).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].flag, "required");
        assert_eq!(m[0].options["password"], "a\"b");
        assert_eq!(m[0].options["user_alice"], "alice-secret");
        assert!(parse("org.Foo required").is_err(), "missing ';'");
        assert!(parse("org.Foo bogus;").is_err());
        assert!(parse("").is_err());
        assert!(parse(r#"org.Foo required a="x"#).is_err());
    }
}
