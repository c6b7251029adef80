//! `meta.properties` in the log directory: the cluster id and node id this directory
//! belongs to, as Kafka writes it, plus the directory lock.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::Path;

use crate::config::properties;

use crate::common::topic_id;
use crate::storage::{self, OpenMode, SharedStorage};

pub struct LogDirMeta {
    pub cluster_id: String,
    /// Held for the broker's lifetime: a second broker on the same directory fails.
    _lock: File,
}

/// Locks the directory and reads (or first writes) its `meta.properties`.
pub fn open(files: &SharedStorage, log_dir: &Path, node_id: i32) -> io::Result<LogDirMeta> {
    files.create_dir_all(log_dir)?;
    let lock = files.open(&log_dir.join(".lock"), OpenMode::Create)?;
    lock.try_lock().map_err(|_| io::Error::other(format!("{} is in use by another broker", log_dir.display())))?;
    let path = log_dir.join("meta.properties");
    let existing = match storage::read_to_string(files, &path) {
        Ok(text) => Some(properties::parse(&text).map_err(io::Error::other)?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if let Some(props) = existing {
        if let Some(stored) = props.get("node.id").and_then(|v| v.parse::<i32>().ok()) {
            if stored != node_id {
                return Err(io::Error::other(format!(
                    "{} belongs to node.id {stored}, but this broker is node.id {node_id}",
                    log_dir.display()
                )));
            }
        }
        let cluster_id = props.get("cluster.id").cloned().ok_or_else(|| io::Error::other("meta.properties has no cluster.id"))?;
        return Ok(LogDirMeta { cluster_id, _lock: lock });
    }
    let cluster_id = topic_id::to_string(&topic_id::generate());
    let props: BTreeMap<String, String> = [
        ("version".to_string(), "1".to_string()),
        ("cluster.id".to_string(), cluster_id.clone()),
        ("node.id".to_string(), node_id.to_string()),
        ("directory.id".to_string(), topic_id::to_string(&topic_id::generate())),
    ]
    .into();
    storage::write_atomically(files, &path, properties::render(&props).as_bytes())?;
    Ok(LogDirMeta { cluster_id, _lock: lock })
}
