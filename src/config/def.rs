//! One declared configuration key: name, type, default, valid values.

use thiserror::Error;

/// Kafka's config types, numbered as DescribeConfigs v3+ reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

/// What values a key accepts beyond its type.
#[derive(Debug, Clone, Copy)]
pub enum Validator {
    None,
    /// Inclusive lower bound for numeric types.
    AtLeast(i64),
    /// Inclusive range for numeric types (doubles are compared as given).
    Between(f64, f64),
    /// Each comma-separated element must be one of these.
    OneOf(&'static [&'static str]),
    /// An inclusive integer range, or one extra value (gzip's level: 1-9 or -1).
    BetweenOr(i64, i64, i64),
    /// Kafka's throttled-replicas list: empty, `*`, or `partition:broker` pairs.
    ReplicaList,
}

#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    pub name: &'static str,
    pub ty: ConfigType,
    /// `None` means "no default" (Kafka's `null`).
    pub default: Option<&'static str>,
    pub validator: Validator,
    pub read_only: bool,
    pub doc: &'static str,
}

#[derive(Debug, Error, PartialEq)]
pub enum ConfigError {
    #[error("unknown configuration '{0}'")]
    Unknown(String),
    #[error("invalid value '{value}' for configuration '{name}': {reason}")]
    Invalid { name: String, value: String, reason: String },
}

impl ConfigDef {
    /// Checks `value` against this key's type and validator.
    pub fn validate(&self, value: &str) -> Result<(), ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            name: self.name.to_string(),
            value: value.to_string(),
            reason,
        };
        let v = value.trim();
        let number: Option<f64> = match self.ty {
            ConfigType::Boolean => {
                if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                    return Err(invalid("expected true or false".into()));
                }
                None
            }
            ConfigType::Short => Some(v.parse::<i16>().map_err(|e| invalid(e.to_string()))? as f64),
            ConfigType::Int => Some(v.parse::<i32>().map_err(|e| invalid(e.to_string()))? as f64),
            ConfigType::Long => Some(v.parse::<i64>().map_err(|e| invalid(e.to_string()))? as f64),
            ConfigType::Double => Some(v.parse::<f64>().map_err(|e| invalid(e.to_string()))?),
            ConfigType::String | ConfigType::List | ConfigType::Class | ConfigType::Password => None,
        };
        match (self.validator, number) {
            (Validator::AtLeast(min), Some(n)) if n < min as f64 => {
                Err(invalid(format!("value must be at least {min}")))
            }
            (Validator::Between(lo, hi), Some(n)) if n < lo || n > hi => {
                Err(invalid(format!("value must be between {lo} and {hi}")))
            }
            (Validator::BetweenOr(lo, hi, or), Some(n)) if (n < lo as f64 || n > hi as f64) && n != or as f64 => {
                Err(invalid(format!("value must be between {lo} and {hi}, or {or}")))
            }
            (Validator::ReplicaList, _) => {
                // Kafka's rule: every element is `partition:broker` (digits) or empty, or
                // the first element is `*`.
                let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
                let pair = |i: &str| i.is_empty() || i.split_once(':').is_some_and(|(p, b)| digits(p) && digits(b));
                let items: Vec<&str> = v.split(',').map(str::trim).collect();
                if items.first() == Some(&"*") || items.iter().all(|i| pair(i)) {
                    Ok(())
                } else {
                    Err(invalid("must be empty, '*', or a list of partition:broker pairs".into()))
                }
            }
            (Validator::OneOf(allowed), _) if self.ty == ConfigType::Boolean => match allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) {
                true => Ok(()),
                false => Err(invalid(format!("only {allowed:?} is supported"))),
            },
            (Validator::OneOf(allowed), _) => {
                let items: Vec<&str> = if self.ty == ConfigType::List {
                    v.split(',').map(str::trim).collect()
                } else {
                    vec![v]
                };
                match items.iter().find(|i| !allowed.contains(i)) {
                    Some(bad) => Err(invalid(format!("'{bad}' is not one of {allowed:?}"))),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

/// Finds `name` in a table of definitions.
pub fn find(table: &'static [ConfigDef], name: &str) -> Option<&'static ConfigDef> {
    table.iter().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: ConfigDef = ConfigDef {
        name: "x",
        ty: ConfigType::Int,
        default: Some("1"),
        validator: Validator::AtLeast(1),
        read_only: false,
        doc: "",
    };

    #[test]
    fn validates_type_and_bounds() {
        assert!(D.validate("5").is_ok());
        assert!(D.validate("0").is_err());
        assert!(D.validate("abc").is_err());
        assert!(D.validate("99999999999").is_err());
        let list = ConfigDef {
            ty: ConfigType::List,
            validator: Validator::OneOf(&["delete", "compact"]),
            ..D
        };
        assert!(list.validate("compact,delete").is_ok());
        assert!(list.validate("compact,bogus").is_err());
        let level = ConfigDef { validator: Validator::BetweenOr(1, 9, -1), ..D };
        assert!(level.validate("-1").is_ok() && level.validate("9").is_ok());
        assert!(level.validate("0").is_err() && level.validate("10").is_err());
        let replicas = ConfigDef { ty: ConfigType::List, validator: Validator::ReplicaList, ..D };
        for ok in ["", "*", "0:1", "0:1, 1:2", "*,0:1"] {
            assert!(replicas.validate(ok).is_ok(), "{ok}");
        }
        for bad in ["x", "0:", "-1:2", "0-1", "0:1,*"] {
            assert!(replicas.validate(bad).is_err(), "{bad}");
        }
    }
}
