//! Users that exist from the first start, as `kafka-storage format --add-scram` makes
//! them: `riffle format --add-scram 'SCRAM-SHA-512=[name=admin,password=admin-secret]'`
//! writes their credentials (salted there, never the password) to
//! `<log.dirs>/bootstrap-security.json`. A single broker applies them when it creates
//! its security file; a cluster's first controller commits them to the metadata log
//! when it initializes the quorum. Either way they are applied once: later changes
//! (a user deleted) stand.

use std::io;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use super::image::SecurityRecord;
use super::scram::{ScramCredential, ScramMechanism};
use crate::storage::{read_to_string, write_atomically, SharedStorage};

pub const FILE: &str = "bootstrap-security.json";

/// One `--add-scram` value: `MECHANISM=[name=...,password=...]`, or with
/// `salt=...,saltedpassword=...` (base64) instead of the password; `iterations`
/// optional (4096), values optionally in double quotes, as Kafka's format tool reads it.
pub fn parse_add_scram(spec: &str) -> Result<SecurityRecord, String> {
    let (mechanism, rest) = spec.trim().split_once('=').ok_or_else(|| format!("{spec}: expected MECHANISM=[name=...,password=...]"))?;
    let mechanism = ScramMechanism::from_name(mechanism.trim()).ok_or_else(|| format!("{mechanism}: not SCRAM-SHA-256 or SCRAM-SHA-512"))?;
    let body = rest.trim().strip_prefix('[').and_then(|r| r.strip_suffix(']')).ok_or_else(|| format!("{spec}: the settings go in [...]"))?;
    let (mut name, mut password, mut salt, mut salted, mut iterations) = (None, None, None, None, ScramMechanism::MIN_ITERATIONS);
    for field in body.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let (k, v) = field.split_once('=').ok_or_else(|| format!("{field}: expected key=value"))?;
        let v = v.trim().trim_matches('"').to_string();
        match k.trim() {
            "name" => name = Some(v),
            "password" => password = Some(v),
            "salt" => salt = Some(B64.decode(&v).map_err(|e| format!("salt: not base64: {e}"))?),
            "saltedpassword" => salted = Some(B64.decode(&v).map_err(|e| format!("saltedpassword: not base64: {e}"))?),
            "iterations" => iterations = v.parse().map_err(|_| format!("iterations: not a number: {v}"))?,
            other => return Err(format!("{other}: unknown (name, password, salt, saltedpassword, iterations)")),
        }
    }
    let name = name.filter(|n| !n.is_empty()).ok_or("a user needs a name")?;
    if !(ScramMechanism::MIN_ITERATIONS..=ScramMechanism::MAX_ITERATIONS).contains(&iterations) {
        return Err(format!("iterations {iterations}: between {} and {}", ScramMechanism::MIN_ITERATIONS, ScramMechanism::MAX_ITERATIONS));
    }
    let credential = match (password, salt, salted) {
        (Some(p), None, None) => ScramCredential::from_password(mechanism, &p, iterations),
        (None, Some(salt), Some(salted)) => ScramCredential::from_salted_password(mechanism, &salt, &salted, iterations),
        _ => return Err(format!("user {name}: either password, or salt and saltedpassword")),
    };
    Ok(SecurityRecord::AlterScramCredentials { deletions: vec![], upsertions: vec![(name, mechanism.type_code(), credential)] })
}

pub fn write(files: &SharedStorage, log_dir: &Path, records: &[SecurityRecord]) -> io::Result<()> {
    let text = serde_json::to_vec_pretty(records).map_err(io::Error::other)?;
    write_atomically(files, &log_dir.join(FILE), &text)
}

/// The bootstrap records of `log_dir`, if `riffle format` wrote any.
pub fn read(files: &SharedStorage, log_dir: &Path) -> io::Result<Option<Vec<SecurityRecord>>> {
    let path = log_dir.join(FILE);
    match read_to_string(files, &path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::image::SecurityImage;

    #[test]
    fn add_scram_as_kafka_format_reads_it() {
        let r = parse_add_scram("SCRAM-SHA-512=[name=admin,password=\"admin-secret\"]").unwrap();
        let mut image = SecurityImage::default();
        image.apply(&r);
        let c = image.scram_credential("admin", ScramMechanism::Sha512).unwrap();
        assert_eq!(c.iterations, 4096);
        // Kafka's documented example: salt and salted password given.
        let r = parse_add_scram(r#"SCRAM-SHA-256=[name=alice,iterations=8192,salt="MWx2NHBkbnc0ZndxN25vdGN4bTB5eTFrN3E=",saltedpassword="mT0yyUUxnlJaC99HXgRTSYlbuqa4FSGtJCJfTMvjYCE="]"#).unwrap();
        image.apply(&r);
        assert_eq!(image.scram_credential("alice", ScramMechanism::Sha256).unwrap().iterations, 8192);
        for bad in ["SCRAM-SHA-1=[name=a,password=b]", "SCRAM-SHA-256=[password=b]", "SCRAM-SHA-256=name=a,password=b", "SCRAM-SHA-256=[name=a,password=b,iterations=10]", "SCRAM-SHA-256=[name=a]", "SCRAM-SHA-256=[name=a,password=b,colour=red]"] {
            assert!(parse_add_scram(bad).is_err(), "{bad}");
        }
    }
}
