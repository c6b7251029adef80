//! A single broker's dynamic configs on disk (a cluster keeps them in the metadata log):
//! `<log.dirs>/riffle-broker-configs.properties`, the cluster-wide defaults as
//! `default.<key>` and this broker's own as `broker.<key>`.

use std::io;
use std::path::{Path, PathBuf};

use crate::config::{properties, DynamicConfigs};
use crate::storage::{read_to_string, write_atomically, SharedStorage};

const FILE: &str = "riffle-broker-configs.properties";
const DEFAULT_PREFIX: &str = "default.";
const BROKER_PREFIX: &str = "broker.";

fn path(log_dir: &Path) -> PathBuf {
    log_dir.join(FILE)
}

/// The stored dynamic configs (none if the file does not exist).
pub fn load(files: &SharedStorage, log_dir: &Path) -> io::Result<DynamicConfigs> {
    let p = path(log_dir);
    let text = match read_to_string(files, &p) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(DynamicConfigs::default()),
        Err(e) => return Err(e),
    };
    let entries = properties::parse(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", p.display())))?;
    let mut out = DynamicConfigs::default();
    for (k, v) in entries {
        if let Some(name) = k.strip_prefix(DEFAULT_PREFIX) {
            out.cluster_default.insert(name.to_string(), v);
        } else if let Some(name) = k.strip_prefix(BROKER_PREFIX) {
            out.per_broker.insert(name.to_string(), v);
        }
    }
    Ok(out)
}

/// Replaces the stored dynamic configs.
pub fn save(files: &SharedStorage, log_dir: &Path, configs: &DynamicConfigs) -> io::Result<()> {
    let mut entries = std::collections::BTreeMap::new();
    for (k, v) in &configs.cluster_default {
        entries.insert(format!("{DEFAULT_PREFIX}{k}"), v.clone());
    }
    for (k, v) in &configs.per_broker {
        entries.insert(format!("{BROKER_PREFIX}{k}"), v.clone());
    }
    write_atomically(files, &path(log_dir), properties::render(&entries).as_bytes())
}
