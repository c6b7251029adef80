//! The topics this broker hosts, persisted under `<log.dirs>/riffle-topics/` (one
//! properties file per topic, named by topic id since a 249-character topic name plus a
//! suffix would not fit in a file name: name, partition count, config overrides) with
//! Kafka's `<topic>-<partition>/` directories and `partition.metadata` files beside them.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use thiserror::Error;
use uuid::Uuid;

use super::partition::{Partition, ReplicaState};
pub use crate::common::names::MAX_PARTITIONS;
use crate::common::names::validate_topic_name;
use crate::common::topic_id;
use crate::common::SharedClock;
use crate::storage::{self, write_atomically, SharedStorage};
use crate::config::{self, properties, BrokerConfig, ConfigError, TopicConfig, TopicOverrides};
use crate::log::{LogError, PartitionLog, Shutdown};

const TOPICS_DIR: &str = "riffle-topics";
/// Kafka's marker of a clean shutdown in a log directory.
const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// Kafka's high-watermark checkpoint in a log directory (cluster nodes).
const HW_CHECKPOINT_FILE: &str = "replication-offset-checkpoint";

pub struct Topic {
    pub name: Arc<str>,
    pub id: Uuid,
    pub partitions: Vec<Arc<Partition>>,
    pub overrides: RwLock<TopicOverrides>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        usize::try_from(index).ok().and_then(|i| self.partitions.get(i))
    }
    pub fn is_internal(&self) -> bool {
        self.name.starts_with("__")
    }
}

#[derive(Debug, Error)]
pub enum TopicError {
    #[error("invalid topic name '{0}': {1}")]
    InvalidName(String, &'static str),
    #[error("topic '{0}' already exists")]
    AlreadyExists(String),
    #[error("number of partitions {0} is invalid (1..={MAX_PARTITIONS})")]
    InvalidPartitions(i32),
    #[error("topic has {1} partitions; it can only grow, not to {0}")]
    PartitionsNotIncreased(i32, i32),
    #[error("replication factor {0} is larger than the {1} available broker(s)")]
    InvalidReplicationFactor(i32, i32),
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
    #[error("topic '{0}' does not exist")]
    Unknown(String),
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Log(#[from] LogError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> TopicError + '_ {
    move |source| TopicError::Io { path: path.to_path_buf(), source }
}

/// Kafka's topic name rules.
pub fn validate_name(name: &str) -> Result<(), TopicError> {
    validate_topic_name(name).map_err(|e| TopicError::InvalidName(name.to_string(), e.0))
}

/// `<topic>-<partition>.<id>-delete`, with the topic name shortened to keep the whole
/// within the 255-byte file name limit, as Kafka does.
fn delete_dir_name(topic: &str, partition: i32, id: &Uuid) -> String {
    let suffix = format!("-{partition}.{}-delete", id.simple());
    let keep = topic.len().min(255 - suffix.len());
    format!("{}{suffix}", &topic[..keep])
}

/// A request to create a topic.
pub struct NewTopic<'a> {
    pub name: &'a str,
    pub partitions: i32,
    pub replication_factor: i32,
    pub overrides: TopicOverrides,
}

pub struct TopicRegistry {
    files: SharedStorage,
    clock: SharedClock,
    log_dir: PathBuf,
    broker: Arc<BrokerConfig>,
    topics: RwLock<HashMap<Arc<str>, Arc<Topic>>>,
    /// Serialises creations and deletions (they touch the file system).
    changes: Mutex<()>,
    /// Bumped by every change of the set of topics or of their partition counts, so
    /// that what is derived from them (regex subscriptions) is recomputed only then.
    version: std::sync::atomic::AtomicU64,
}

impl TopicRegistry {
    /// Loads every topic recorded under `<log_dir>/riffle-topics/`, recovering each
    /// partition log; removes the remains of deleted topics.
    pub fn load(files: &SharedStorage, clock: &SharedClock, log_dir: &Path, broker: Arc<BrokerConfig>) -> Result<Self, TopicError> {
        let meta_dir = log_dir.join(TOPICS_DIR);
        files.create_dir_all(&meta_dir).map_err(io_at(&meta_dir))?;
        for path in files.list(log_dir).map_err(io_at(log_dir))? {
            if path.to_string_lossy().ends_with("-delete") {
                let _ = files.remove_dir_all(&path);
            }
        }
        // The marker goes before any log is opened: a crash while loading means a full
        // recovery next time.
        let marker = log_dir.join(CLEAN_SHUTDOWN_FILE);
        let shutdown = if files.remove_file(&marker).is_ok() { Shutdown::Clean } else { Shutdown::Unclean };
        let registry = TopicRegistry {
            files: files.clone(),
            clock: clock.clone(),
            log_dir: log_dir.to_path_buf(),
            broker,
            topics: RwLock::new(HashMap::new()),
            changes: Mutex::new(()),
            version: std::sync::atomic::AtomicU64::new(0),
        };
        let now = clock.now_ms();
        for path in files.list(&meta_dir).map_err(io_at(&meta_dir))? {
            if path.extension().is_none_or(|e| e != "properties") {
                continue;
            }
            let text = storage::read_to_string(files, &path).map_err(io_at(&path))?;
            let props = properties::parse(&text).map_err(|e| TopicError::Io { path: path.clone(), source: io::Error::other(e) })?;
            let bad = |what: &str| TopicError::Io { path: path.clone(), source: io::Error::other(format!("bad or missing {what}")) };
            let id = props.get("topic.id").and_then(|s| topic_id::parse(s)).ok_or_else(|| bad("topic.id"))?;
            let name = props.get("name").filter(|n| validate_name(n).is_ok()).ok_or_else(|| bad("name"))?;
            let count: i32 = props.get("partitions").and_then(|s| s.parse().ok()).ok_or_else(|| bad("partitions"))?;
            let overrides: TopicOverrides = props
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix("config.")?.to_string(), v.clone())))
                .collect();
            let topic = registry.open_topic(name, id, count, overrides, now, shutdown)?;
            registry.topics.write().insert(topic.name.clone(), topic);
        }
        if registry.broker.cluster.is_some() {
            // A replica's high watermark is only what it last knew to be committed (never
            // its log end): a restarted leader must not expose what followers lack.
            let hws = registry.read_hw_checkpoint();
            for topic in registry.all() {
                for p in &topic.partitions {
                    p.set_high_watermark(hws.get(&(topic.name.to_string(), p.index)).copied().unwrap_or(0));
                }
            }
        }
        Ok(registry)
    }

    fn read_hw_checkpoint(&self) -> HashMap<(String, i32), i64> {
        let text = storage::read_to_string(&self.files, &self.log_dir.join(HW_CHECKPOINT_FILE)).unwrap_or_default();
        let mut lines = text.lines();
        if lines.next().map(str::trim) != Some("0") {
            return HashMap::new();
        }
        let count: usize = lines.next().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
        lines
            .take(count)
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                Some(((it.next()?.to_string(), it.next()?.parse().ok()?), it.next()?.parse().ok()?))
            })
            .collect()
    }

    /// Writes every partition's high watermark (Kafka's `replication-offset-checkpoint`).
    pub fn write_hw_checkpoint(&self) -> io::Result<()> {
        let mut lines = Vec::new();
        for topic in self.all() {
            for p in &topic.partitions {
                lines.push(format!("{} {} {}", topic.name, p.index, p.high_watermark()));
            }
        }
        let text = format!("0\n{}\n{}", lines.len(), lines.iter().map(|l| format!("{l}\n")).collect::<String>());
        write_atomically(&self.files, &self.log_dir.join(HW_CHECKPOINT_FILE), text.as_bytes())
    }

    fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        self.log_dir.join(format!("{topic}-{index}"))
    }

    fn open_topic(&self, name: &str, id: Uuid, count: i32, overrides: TopicOverrides, now: i64, shutdown: Shutdown) -> Result<Arc<Topic>, TopicError> {
        let cfg = TopicConfig::new(&overrides, &self.broker);
        let name: Arc<str> = Arc::from(name);
        let partitions = (0..count)
            .map(|index| self.open_partition(&name, id, index, cfg.clone(), now, shutdown))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Arc::new(Topic { name, id, partitions, overrides: RwLock::new(overrides) }))
    }

    fn open_partition(&self, name: &Arc<str>, id: Uuid, index: i32, cfg: TopicConfig, now: i64, shutdown: Shutdown) -> Result<Arc<Partition>, TopicError> {
        let dir = self.partition_dir(name, index);
        let (log, repairs) = PartitionLog::open_after(&self.files, &dir, cfg, now, shutdown)?;
        for repair in repairs {
            tracing::warn!(topic = %name, partition = index, %repair, "recovered partition log");
        }
        let meta = dir.join("partition.metadata");
        if !meta.exists() {
            let text = format!("version: 0\ntopic_id: {}\n", topic_id::to_string(&id));
            write_atomically(&self.files, &meta, text.as_bytes()).map_err(io_at(&meta))?;
        }
        let state = if self.broker.cluster.is_some() { ReplicaState::unknown() } else { ReplicaState::sole(self.broker.node_id) };
        Ok(Arc::new(Partition::new(name.clone(), index, log, self.broker.node_id, state)))
    }

    fn write_topic_file(&self, topic: &Topic) -> Result<(), TopicError> {
        let mut props = BTreeMap::new();
        props.insert("topic.id".to_string(), topic_id::to_string(&topic.id));
        props.insert("name".to_string(), topic.name.to_string());
        props.insert("partitions".to_string(), topic.partitions.len().to_string());
        for (k, v) in topic.overrides.read().iter() {
            props.insert(format!("config.{k}"), v.clone());
        }
        let path = self.topic_file(&topic.id);
        write_atomically(&self.files, &path, properties::render(&props).as_bytes()).map_err(io_at(&path))
    }

    fn topic_file(&self, id: &Uuid) -> PathBuf {
        self.log_dir.join(TOPICS_DIR).join(format!("{}.properties", topic_id::to_string(id)))
    }

    /// Changes whenever a topic is created or deleted or gains partitions.
    pub fn version(&self) -> u64 {
        self.version.load(std::sync::atomic::Ordering::Acquire)
    }

    fn bump_version(&self) {
        self.version.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    pub fn get_by_id(&self, id: &Uuid) -> Option<Arc<Topic>> {
        self.topics.read().values().find(|t| t.id == *id).cloned()
    }

    /// All topics, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<_> = self.topics.read().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Checks a creation request without creating anything.
    pub fn validate_new(&self, req: &NewTopic) -> Result<(), TopicError> {
        validate_name(req.name)?;
        let topics = self.topics.read();
        if topics.contains_key(req.name) {
            return Err(TopicError::AlreadyExists(req.name.to_string()));
        }
        // Kafka refuses names that differ only by '.' versus '_' (they collide in metrics).
        let normalized = req.name.replace('.', "_");
        if topics.keys().any(|k| k.replace('.', "_") == normalized) {
            return Err(TopicError::InvalidName(req.name.to_string(), "collides with an existing topic ('.' and '_' are interchangeable)"));
        }
        if req.partitions < 1 || req.partitions > MAX_PARTITIONS {
            return Err(TopicError::InvalidPartitions(req.partitions));
        }
        let brokers = 1;
        if req.replication_factor < 1 || req.replication_factor > brokers {
            return Err(TopicError::InvalidReplicationFactor(req.replication_factor, brokers));
        }
        config::topic::validate(&req.overrides)?;
        Ok(())
    }

    /// Creates a topic: partition directories first, then the topic file, whose rename is
    /// the commit point.
    pub fn create(&self, req: NewTopic) -> Result<Arc<Topic>, TopicError> {
        let _guard = self.changes.lock();
        self.validate_new(&req)?;
        for index in 0..req.partitions {
            // Left over from a creation that crashed before its commit point.
            let dir = self.partition_dir(req.name, index);
            if dir.exists() {
                self.files.remove_dir_all(&dir).map_err(io_at(&dir))?;
            }
        }
        self.create_unchecked(req.name, topic_id::generate(), req.partitions, req.overrides)
    }

    fn create_unchecked(&self, name: &str, id: Uuid, partitions: i32, overrides: TopicOverrides) -> Result<Arc<Topic>, TopicError> {
        let topic = self.open_topic(name, id, partitions, overrides, self.clock.now_ms(), Shutdown::Unclean)?;
        self.write_topic_file(&topic)?;
        self.topics.write().insert(topic.name.clone(), topic.clone());
        self.bump_version();
        tracing::info!(topic = %topic.name, partitions, topic_id = %topic_id::to_string(&topic.id), "created topic");
        Ok(topic)
    }

    /// Makes the local topic what the cluster metadata says (created by the controller):
    /// created with its id, grown, its configs replaced. Validation was the controller's.
    pub fn ensure(&self, name: &str, id: Uuid, partitions: i32, configs: &TopicOverrides) -> Result<Arc<Topic>, TopicError> {
        let existing = self.get(name);
        let topic = match existing {
            Some(t) if t.id == id => t,
            _ => {
                let _guard = self.changes.lock();
                for index in 0..partitions {
                    let dir = self.partition_dir(name, index);
                    if dir.exists() {
                        self.files.remove_dir_all(&dir).map_err(io_at(&dir))?;
                    }
                }
                return self.create_unchecked(name, id, partitions, configs.clone());
            }
        };
        if (topic.partitions.len() as i32) < partitions {
            self.add_partitions(name, partitions, false)?;
        }
        if *topic.overrides.read() != *configs {
            self.set_overrides(name, configs.clone(), false)?;
        }
        Ok(self.get(name).unwrap_or(topic))
    }

    /// Deletes a topic: the topic file goes first (the commit point), then partition
    /// directories are renamed `*-delete` and removed in the background, as Kafka does.
    pub fn delete(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        let _guard = self.changes.lock();
        let topic = self.topics.write().remove(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        self.bump_version();
        let path = self.topic_file(&topic.id);
        self.files.remove_file(&path).map_err(io_at(&path))?;
        let mut doomed = Vec::new();
        for p in &topic.partitions {
            p.wake();
            let dir = self.partition_dir(name, p.index);
            let target = self.log_dir.join(delete_dir_name(name, p.index, &topic.id));
            match self.files.rename(&dir, &target) {
                Ok(()) => doomed.push(target),
                Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "could not rename deleted partition"),
            }
        }
        let files = self.files.clone();
        std::thread::spawn(move || {
            for dir in doomed {
                if let Err(e) = files.remove_dir_all(&dir) {
                    tracing::warn!(dir = %dir.display(), error = %e, "could not remove deleted partition");
                }
            }
        });
        tracing::info!(topic = %name, "deleted topic");
        Ok(topic)
    }

    /// CreatePartitions: grows a topic to `count` partitions (never shrinks it). The topic
    /// is replaced in the registry by one with the same id and overrides.
    pub fn add_partitions(&self, name: &str, count: i32, validate_only: bool) -> Result<(), TopicError> {
        let _guard = self.changes.lock();
        let topic = self.get(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let current = topic.partitions.len() as i32;
        if count <= current {
            return Err(TopicError::PartitionsNotIncreased(count, current));
        }
        if count > MAX_PARTITIONS {
            return Err(TopicError::InvalidPartitions(count));
        }
        if validate_only {
            return Ok(());
        }
        let overrides = topic.overrides.read().clone();
        let cfg = TopicConfig::new(&overrides, &self.broker);
        let mut partitions = topic.partitions.clone();
        for index in current..count {
            let dir = self.partition_dir(name, index);
            if dir.exists() {
                self.files.remove_dir_all(&dir).map_err(io_at(&dir))?;
            }
            partitions.push(self.open_partition(&topic.name, topic.id, index, cfg.clone(), self.clock.now_ms(), Shutdown::Unclean)?);
        }
        let grown = Arc::new(Topic { name: topic.name.clone(), id: topic.id, partitions, overrides: RwLock::new(overrides) });
        self.write_topic_file(&grown)?;
        self.topics.write().insert(grown.name.clone(), grown);
        self.bump_version();
        tracing::info!(topic = %name, from = current, to = count, "added partitions");
        Ok(())
    }

    /// AlterConfigs / IncrementalAlterConfigs: replaces a topic's overrides, which take
    /// effect at once on every partition log.
    pub fn set_overrides(&self, name: &str, overrides: TopicOverrides, validate_only: bool) -> Result<(), TopicError> {
        config::topic::validate(&overrides)?;
        let _guard = self.changes.lock();
        let topic = self.get(name).ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        if validate_only {
            return Ok(());
        }
        *topic.overrides.write() = overrides;
        self.write_topic_file(&topic)?;
        let cfg = self.topic_config(&topic);
        for p in &topic.partitions {
            p.log.write().set_config(cfg.clone());
        }
        tracing::info!(topic = %name, "updated topic configs");
        Ok(())
    }

    /// A single broker's dynamic configs: stored beside the logs, then in force.
    pub fn set_dynamic_configs(&self, configs: crate::config::DynamicConfigs) -> Result<(), TopicError> {
        super::dynamic_configs::save(&self.files, &self.log_dir, &configs).map_err(io_at(&self.log_dir))?;
        if self.broker.set_dynamic(configs) {
            self.refresh_configs();
        }
        Ok(())
    }

    /// Applies the broker's current defaults (after its dynamic configs changed) to every
    /// topic's logs; overrides still win.
    pub fn refresh_configs(&self) {
        let _guard = self.changes.lock();
        for topic in self.all() {
            let cfg = self.topic_config(&topic);
            for p in &topic.partitions {
                p.log.write().set_config(cfg.clone());
            }
        }
        tracing::info!("applied changed broker defaults to every topic");
    }

    /// The effective typed config of a topic (after overrides).
    pub fn topic_config(&self, topic: &Topic) -> TopicConfig {
        TopicConfig::new(&topic.overrides.read(), &self.broker)
    }

    /// Flushes every log and snapshots producer state (clean shutdown); when all went
    /// well, leaves the marker that spares the next start a recovery scan.
    pub fn close_all(&self) {
        let mut clean = true;
        for topic in self.all() {
            for p in &topic.partitions {
                if let Err(e) = p.log.write().close() {
                    clean = false;
                    tracing::error!(topic = %topic.name, partition = p.index, error = %e, "failed to close log");
                }
            }
        }
        if self.broker.cluster.is_some() {
            if let Err(e) = self.write_hw_checkpoint() {
                tracing::warn!(error = %e, "could not write the high-watermark checkpoint");
            }
        }
        let marker = self.log_dir.join(CLEAN_SHUTDOWN_FILE);
        if clean {
            if let Err(e) = write_atomically(&self.files, &marker, b"") {
                tracing::warn!(path = %marker.display(), error = %e, "could not write the clean shutdown marker");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_topic(name: &str, partitions: i32) -> NewTopic<'_> {
        NewTopic { name, partitions, replication_factor: 1, overrides: TopicOverrides::new() }
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("orders.v1_x-2").is_ok());
        for bad in ["", ".", "..", "a b", "ü", &"x".repeat(250)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn longest_names_can_be_created_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let reg = TopicRegistry::load(&crate::storage::local(), &crate::common::SystemClock::shared(), dir.path(), Arc::new(BrokerConfig::default())).unwrap();
        let name = "n".repeat(249);
        reg.create(new_topic(&name, 12)).unwrap();
        drop(reg);
        let reg = TopicRegistry::load(&crate::storage::local(), &crate::common::SystemClock::shared(), dir.path(), Arc::new(BrokerConfig::default())).unwrap();
        assert!(reg.get(&name).is_some());
        reg.delete(&name).unwrap();
        // The rename to `*-delete` is synchronous; removal then runs in the background.
        for p in 0..12 {
            assert!(!dir.path().join(format!("{name}-{p}")).exists(), "partition {p} was not moved aside");
        }
    }

    #[test]
    fn create_reload_delete() {
        let dir = tempfile::tempdir().unwrap();
        let broker = Arc::new(BrokerConfig::default());
        let reg = TopicRegistry::load(&crate::storage::local(), &crate::common::SystemClock::shared(), dir.path(), broker.clone()).unwrap();
        let mut req = new_topic("orders", 3);
        req.overrides.insert("retention.ms".into(), "1000".into());
        let t = reg.create(req).unwrap();
        assert!(matches!(reg.create(new_topic("orders", 1)), Err(TopicError::AlreadyExists(_))));
        assert!(matches!(reg.create(new_topic("orders_", 0)), Err(TopicError::InvalidPartitions(0))));
        assert!(matches!(reg.create(new_topic("a.b", 1)).and_then(|_| reg.create(new_topic("a_b", 1))), Err(TopicError::InvalidName(..))));
        let mut bad = new_topic("cfg", 1);
        bad.overrides.insert("segment.bytes".into(), "x".into());
        assert!(matches!(reg.create(bad), Err(TopicError::InvalidConfig(_))));
        let meta = std::fs::read_to_string(dir.path().join("orders-2/partition.metadata")).unwrap();
        assert!(meta.contains(&topic_id::to_string(&t.id)));
        drop(reg);

        let reg = TopicRegistry::load(&crate::storage::local(), &crate::common::SystemClock::shared(), dir.path(), broker.clone()).unwrap();
        let again = reg.get("orders").unwrap();
        assert_eq!(again.id, t.id);
        assert_eq!(again.partitions.len(), 3);
        assert_eq!(reg.topic_config(&again).retention_ms, 1000);
        reg.delete("orders").unwrap();
        assert!(reg.get("orders").is_none());
        drop(reg);
        let reg = TopicRegistry::load(&crate::storage::local(), &crate::common::SystemClock::shared(), dir.path(), broker).unwrap();
        assert!(reg.get("orders").is_none());
        assert!(!dir.path().join("orders-0").exists());
    }
}
