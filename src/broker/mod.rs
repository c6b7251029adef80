//! The broker's shared state: configuration, cluster identity, hosted topics and
//! producer ids. Every API handler works against a [`Broker`].

pub mod log_manager;
pub mod meta;
pub mod partition;
pub mod topic_admin;
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
    cluster_id: parking_lot::RwLock<String>,
    pub topics: TopicRegistry,
    pub producer_ids: ProducerIdManager,
    /// On a cluster node, producer ids come from blocks the controller reserves.
    pub cluster_producer_ids: crate::producer::id_manager::ClusterProducerIds,
    pub groups: GroupCoordinator,
    /// Set on a node of a cluster: the controller and the replica fetchers.
    pub replicas: std::sync::OnceLock<crate::replication::ReplicaManager>,
    /// Differs at every start, so the controller can tell a restarted broker.
    pub incarnation: String,
    /// Set at a controlled shutdown: heartbeats stop, so the broker is not registered
    /// again while it hands its leaderships over.
    pub stopping: std::sync::atomic::AtomicBool,
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
        let broker = Broker {
            cluster_id: parking_lot::RwLock::new(meta.cluster_id.clone()),
            config,
            topics,
            producer_ids,
            cluster_producer_ids: Default::default(),
            groups,
            replicas: std::sync::OnceLock::new(),
            incarnation: topic_id::to_string(&topic_id::generate()),
            stopping: Default::default(),
            _meta: meta,
        };
        // A cluster node loads groups when it becomes leader of their partition.
        let loaded = if broker.config.cluster.is_none() { broker.groups.load(&broker).map_err(OpenError::Groups)? } else { 0 };
        if loaded > 0 {
            tracing::info!(groups = loaded, "loaded consumer groups from __consumer_offsets");
        }
        Ok(Arc::new(broker))
    }

    /// The cluster id: this directory's, or the metadata quorum's on a cluster node.
    pub fn cluster_id(&self) -> String {
        self.cluster_id.read().clone()
    }

    /// Takes the cluster id from the metadata (a cluster's nodes all report the quorum's).
    pub fn set_cluster_id(&self, id: &str) {
        if !id.is_empty() && *self.cluster_id.read() != id {
            *self.cluster_id.write() = id.to_string();
        }
    }

    /// The cluster side of this broker, on a node of a cluster.
    pub fn cluster(&self) -> Option<&crate::replication::ReplicaManager> {
        self.replicas.get()
    }

    /// Deletes a topic's logs here and, as Kafka's coordinators do, the committed offsets
    /// of groups this broker coordinates, so a re-created topic starts fresh. On a cluster
    /// every node runs it when it applies the deletion.
    pub fn delete_topic_locally(&self, name: &str) -> Result<(), TopicError> {
        self.topics.delete(name)?;
        self.groups.on_topic_deleted(self, name);
        Ok(())
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
