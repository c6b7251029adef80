//! Kafka's message schemas (`schemas.json`, generated from Kafka's own message
//! definitions by `generate_schemas.py`), loaded once into a form the frame checker walks.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// A set of versions as Kafka's definitions write them: `"3+"`, `"0-7"`, `"5"`, `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    lo: i16,
    hi: i16,
}

impl Versions {
    pub const NONE: Versions = Versions { lo: 1, hi: 0 };

    pub fn parse(s: &str) -> Option<Versions> {
        let s = s.trim();
        if s == "none" {
            return Some(Versions::NONE);
        }
        if let Some(lo) = s.strip_suffix('+') {
            return Some(Versions { lo: lo.parse().ok()?, hi: i16::MAX });
        }
        match s.split_once('-') {
            Some((lo, hi)) => Some(Versions { lo: lo.parse().ok()?, hi: hi.parse().ok()? }),
            None => {
                let v = s.parse().ok()?;
                Some(Versions { lo: v, hi: v })
            }
        }
    }

    pub fn contains(&self, v: i16) -> bool {
        self.lo <= v && v <= self.hi
    }

    pub fn lowest(&self) -> i16 {
        self.lo
    }

    pub fn highest(&self) -> i16 {
        self.hi
    }
}

/// The wire type of a field.
#[derive(Debug)]
pub enum Type {
    Bool,
    Int8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    Float64,
    Uuid,
    String,
    Bytes,
    /// A record batch set: length-prefixed bytes on the wire.
    Records,
    Struct(Vec<Field>),
    Array(Box<Type>),
}

#[derive(Debug)]
pub struct Field {
    pub name: String,
    pub ty: Type,
    pub versions: Versions,
    pub nullable: Versions,
    /// Versions in which the field travels in the tagged-field section, under `tag`.
    pub tagged: Versions,
    pub tag: Option<u32>,
    /// Overrides the message's flexible versions for this field's own encoding (only
    /// the request header's client id has one: it is never a compact string).
    pub flexible: Option<Versions>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Request,
    Response,
    Header,
}

#[derive(Debug)]
pub struct Message {
    pub name: String,
    pub kind: Kind,
    pub api_key: Option<i16>,
    pub valid: Versions,
    pub flexible: Versions,
    pub fields: Vec<Field>,
}

/// Every message schema, by kind and API key (headers by name).
pub struct Schemas {
    pub kafka_version: String,
    by_api: HashMap<(Kind, i16), Message>,
    headers: HashMap<String, Message>,
}

impl Schemas {
    pub fn request(&self, api_key: i16) -> Option<&Message> {
        self.by_api.get(&(Kind::Request, api_key))
    }

    pub fn response(&self, api_key: i16) -> Option<&Message> {
        self.by_api.get(&(Kind::Response, api_key))
    }

    /// `RequestHeader` or `ResponseHeader`.
    pub fn header(&self, name: &str) -> Option<&Message> {
        self.headers.get(name)
    }

    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.by_api.values().chain(self.headers.values())
    }
}

/// The schemas, parsed on first use (a few milliseconds, once).
pub fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        // The file is part of the build: a failure here is a bug caught by every test.
        load(include_str!("schemas.json")).expect("src/wire/schemas.json is valid")
    })
}

#[derive(Deserialize)]
struct RawFile {
    kafka: String,
    messages: Vec<RawMessage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMessage {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    api_key: Option<i16>,
    valid_versions: String,
    flexible_versions: Option<String>,
    fields: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawField {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    versions: String,
    nullable_versions: Option<String>,
    tagged_versions: Option<String>,
    tag: Option<u32>,
    flexible_versions: Option<String>,
    #[serde(default)]
    fields: Vec<RawField>,
}

fn versions(s: Option<&str>, what: &str) -> Result<Versions, String> {
    match s {
        None => Ok(Versions::NONE),
        Some(s) => Versions::parse(s).ok_or_else(|| format!("{what}: bad versions {s:?}")),
    }
}

fn field(raw: RawField) -> Result<Field, String> {
    let ty = element_type(&raw.ty, raw.fields, &raw.name)?;
    Ok(Field {
        versions: versions(Some(&raw.versions), &raw.name)?,
        nullable: versions(raw.nullable_versions.as_deref(), &raw.name)?,
        tagged: versions(raw.tagged_versions.as_deref(), &raw.name)?,
        tag: raw.tag,
        flexible: raw.flexible_versions.as_deref().map(|s| versions(Some(s), &raw.name)).transpose()?,
        name: raw.name,
        ty,
    })
}

fn element_type(ty: &str, fields: Vec<RawField>, name: &str) -> Result<Type, String> {
    if let Some(element) = ty.strip_prefix("[]") {
        return Ok(Type::Array(Box::new(element_type(element, fields, name)?)));
    }
    Ok(match ty {
        "bool" => Type::Bool,
        "int8" => Type::Int8,
        "int16" => Type::Int16,
        "uint16" => Type::UInt16,
        "int32" => Type::Int32,
        "uint32" => Type::UInt32,
        "int64" => Type::Int64,
        "float64" => Type::Float64,
        "uuid" => Type::Uuid,
        "string" => Type::String,
        "bytes" => Type::Bytes,
        "records" => Type::Records,
        _ if ty.starts_with(|c: char| c.is_ascii_uppercase()) => {
            Type::Struct(fields.into_iter().map(field).collect::<Result<_, _>>()?)
        }
        other => return Err(format!("{name}: unknown type {other:?}")),
    })
}

fn load(json: &str) -> Result<Schemas, String> {
    let file: RawFile = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mut by_api = HashMap::new();
    let mut headers = HashMap::new();
    for raw in file.messages {
        let kind = match raw.kind.as_str() {
            "request" => Kind::Request,
            "response" => Kind::Response,
            "header" => Kind::Header,
            other => return Err(format!("{}: unknown message type {other:?}", raw.name)),
        };
        let message = Message {
            kind,
            api_key: raw.api_key,
            valid: versions(Some(&raw.valid_versions), &raw.name)?,
            flexible: versions(raw.flexible_versions.as_deref(), &raw.name)?,
            fields: raw.fields.into_iter().map(field).collect::<Result<_, _>>()?,
            name: raw.name,
        };
        match (kind, message.api_key) {
            (Kind::Header, _) => {
                headers.insert(message.name.clone(), message);
            }
            (_, Some(key)) => {
                by_api.insert((kind, key), message);
            }
            (_, None) => return Err(format!("{}: no apiKey", message.name)),
        }
    }
    Ok(Schemas { kafka_version: file.kafka, by_api, headers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_as_kafka_writes_them() {
        assert!(Versions::parse("3+").unwrap().contains(300));
        assert!(!Versions::parse("3+").unwrap().contains(2));
        let r = Versions::parse("0-7").unwrap();
        assert!(r.contains(0) && r.contains(7) && !r.contains(8));
        assert!(Versions::parse("5").unwrap().contains(5));
        assert!(!Versions::parse("none").unwrap().contains(0));
        assert!(Versions::parse("x").is_none());
    }

    #[test]
    fn the_schemas_load() {
        let s = schemas();
        assert_eq!(s.request(0).unwrap().name, "ProduceRequest");
        assert!(s.header("RequestHeader").is_some() && s.header("ResponseHeader").is_some());
    }
}
