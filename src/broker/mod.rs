//! The broker's shared state: configuration, cluster identity, hosted topics and
//! producer ids. Every API handler works against a [`Broker`].

pub mod log_manager;
pub mod meta;
pub mod partition;
pub mod topic_id;
pub mod topics;

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::BrokerConfig;
use crate::group::{GroupConfig, GroupCoordinator};
use crate::producer::ProducerIdManager;

pub use partition::Partition;
pub use topics::{NewTopic, Topic, TopicError, TopicRegistry};

pub struct Broker {
    pub config: Arc<BrokerConfig>,
    pub cluster_id: String,
    pub topics: TopicRegistry,
    pub producer_ids: ProducerIdManager,
    pub groups: GroupCoordinator,
    _meta: meta::LogDirMeta,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("log directory {dir}: {source}")]
    LogDir { dir: String, source: io::Error },
    #[error(transparent)]
    Topics(#[from] TopicError),
    #[error("loading consumer groups: {0}")]
    Groups(String),
}

impl Broker {
    /// Opens the log directory (locking it), recovers every partition log and loads the
    /// producer id allocator.
    pub fn open(config: BrokerConfig) -> Result<Arc<Broker>, OpenError> {
        let config = Arc::new(config);
        let dir = config.log_dir.clone();
        let dir_err = |source| OpenError::LogDir { dir: dir.display().to_string(), source };
        let meta = meta::open(&dir, config.node_id).map_err(dir_err)?;
        let topics = TopicRegistry::load(&dir, config.clone())?;
        let producer_ids = ProducerIdManager::open(&dir).map_err(dir_err)?;
        let groups = GroupCoordinator::new(GroupConfig::from_broker(&config));
        let broker = Broker { cluster_id: meta.cluster_id.clone(), config, topics, producer_ids, groups, _meta: meta };
        let loaded = broker.groups.load(&broker).map_err(OpenError::Groups)?;
        if loaded > 0 {
            tracing::info!(groups = loaded, "loaded consumer groups from __consumer_offsets");
        }
        Ok(Arc::new(broker))
    }

    /// Clean shutdown: flush logs and write producer snapshots.
    pub fn shutdown(&self) {
        self.topics.close_all();
    }
}

/// Wall-clock milliseconds since the epoch, Kafka's timestamp unit.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Writes a small file so that readers see either the old or the new content: temp
/// file, fsync, rename, fsync of the directory.
pub fn write_atomically(path: &Path, content: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}
