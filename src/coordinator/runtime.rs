//! Loading, unloading and writing of coordinator state, for every shard.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError as E;
use kafka_protocol::records::Compression;
use parking_lot::{Mutex, RwLock};

use super::shard::CoordinatorShard;
use crate::broker::{NewTopic, Partition, TopicError, TopicRegistry};
use crate::common::SharedClock;
use crate::log::batch;
use crate::log::records::{raw_records, split_batches};
use crate::log::LogError;

/// Bytes read from a partition at a time while loading.
const LOAD_CHUNK_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error("the coordinator's topic is not available")]
    NotAvailable,
    #[error("this broker is not the coordinator")]
    NotCoordinator,
    #[error("the coordinator is loading its state")]
    LoadInProgress,
    #[error("could not encode coordinator records: {0}")]
    Encode(String),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("the write was not replicated within {0:?}")]
    NotCommitted(Duration),
}

impl CoordinatorError {
    /// The Kafka error code a client gets.
    pub fn code(&self) -> i16 {
        match self {
            CoordinatorError::NotAvailable => E::CoordinatorNotAvailable.code(),
            CoordinatorError::NotCoordinator => E::NotCoordinator.code(),
            CoordinatorError::LoadInProgress => E::CoordinatorLoadInProgress.code(),
            CoordinatorError::Encode(_) => E::UnknownServerError.code(),
            CoordinatorError::Log(e) => crate::errors::log_error_code(e),
            CoordinatorError::NotCommitted(_) => E::RequestTimedOut.code(),
        }
    }
}

/// The partition of an internal topic that owns `key`, as Kafka's coordinators compute
/// it: `Utils.abs(key.hashCode()) % partitions`.
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let h = java_hash_code(key);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions
}

/// Java's `String.hashCode`.
fn java_hash_code(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

pub struct CoordinatorRuntime {
    topics: Arc<TopicRegistry>,
    clock: SharedClock,
    /// A single broker creates internal topics on first use; on a cluster the
    /// controller does (FindCoordinator asks it).
    creates_topics: bool,
    /// Weak: the services own the shards (which hold the runtime).
    shards: RwLock<HashMap<&'static str, Weak<dyn CoordinatorShard>>>,
    /// Partitions this broker just became leader of, whose state is being replayed:
    /// their coordinators answer COORDINATOR_LOAD_IN_PROGRESS meanwhile.
    loading: Mutex<HashSet<(String, i32)>>,
}

impl CoordinatorRuntime {
    pub fn new(topics: Arc<TopicRegistry>, clock: SharedClock, creates_topics: bool) -> Arc<Self> {
        Arc::new(CoordinatorRuntime { topics, clock, creates_topics, shards: RwLock::new(HashMap::new()), loading: Mutex::new(HashSet::new()) })
    }

    pub fn register(&self, shard: &Arc<dyn CoordinatorShard>) {
        self.shards.write().insert(shard.topic().name, Arc::downgrade(shard));
    }

    fn shard(&self, topic: &str) -> Option<Arc<dyn CoordinatorShard>> {
        self.shards.read().get(topic).and_then(Weak::upgrade)
    }

    /// Whether `topic` holds a coordinator's state.
    pub fn is_coordinator_topic(&self, topic: &str) -> bool {
        self.shards.read().contains_key(topic)
    }

    /// The partition of `topic` that owns `key`, if this broker is its coordinator and
    /// has loaded it; a single broker creates the topic on first use, as Kafka does.
    pub fn partition_for(&self, topic: &'static str, key: &str) -> Result<Arc<Partition>, CoordinatorError> {
        let t = match self.topics.get(topic) {
            Some(t) => t,
            None if !self.creates_topics => return Err(CoordinatorError::NotAvailable),
            None => {
                let spec = self.shard(topic).ok_or(CoordinatorError::NotAvailable)?.topic();
                let req = NewTopic { name: spec.name, partitions: spec.partitions, replication_factor: 1, overrides: spec.configs };
                match self.topics.create(req) {
                    Ok(t) => t,
                    Err(TopicError::AlreadyExists(_)) => self.topics.get(topic).ok_or(CoordinatorError::NotAvailable)?,
                    Err(e) => {
                        tracing::error!(%topic, error = %e, "could not create a coordinator topic");
                        return Err(CoordinatorError::NotAvailable);
                    }
                }
            }
        };
        let index = partition_for(key, t.partitions.len() as i32);
        let p = t.partition(index).cloned().ok_or(CoordinatorError::NotAvailable)?;
        if !p.is_leader() {
            return Err(CoordinatorError::NotCoordinator);
        }
        if self.loading.lock().contains(&(topic.to_string(), index)) {
            return Err(CoordinatorError::LoadInProgress);
        }
        Ok(p)
    }

    /// Whether this broker coordinates `key` of `topic`, without creating anything: a
    /// single broker coordinates every key (its topic is created on first use).
    pub fn check_coordinator(&self, topic: &'static str, key: &str) -> Result<(), CoordinatorError> {
        if self.creates_topics {
            return Ok(());
        }
        self.partition_for(topic, key).map(|_| ())
    }

    /// Appends `records` (key, value; `None` is a tombstone) to `partition` as one batch.
    /// Returns the offset after the batch.
    pub fn write(&self, partition: &Partition, records: &[(Bytes, Option<Bytes>)]) -> Result<i64, CoordinatorError> {
        let now = self.clock.now_ms();
        let records: Vec<(Option<Bytes>, Option<Bytes>)> = records.iter().map(|(k, v)| (Some(k.clone()), v.clone())).collect();
        let (bytes, header) = batch::encode_records(&records, now, Compression::None).map_err(|e| CoordinatorError::Encode(e.to_string()))?;
        let (info, _) = partition.append(&bytes, &header, now)?;
        Ok(info.last_offset + 1)
    }

    /// Appends `records` as one batch of `producer_id`'s transaction (transactional
    /// offset commits): they take effect when its COMMIT marker is written.
    pub fn write_transactional(&self, partition: &Partition, records: &[(Bytes, Option<Bytes>)], producer_id: i64, producer_epoch: i16) -> Result<i64, CoordinatorError> {
        let now = self.clock.now_ms();
        let records: Vec<(Option<Bytes>, Option<Bytes>)> = records.iter().map(|(k, v)| (Some(k.clone()), v.clone())).collect();
        let producer = batch::BatchProducer { producer_id, producer_epoch, transactional: true, control: false };
        let (bytes, header) = batch::encode_batch(&records, now, Compression::None, producer).map_err(|e| CoordinatorError::Encode(e.to_string()))?;
        let (info, _) = partition.append(&bytes, &header, now)?;
        Ok(info.last_offset + 1)
    }

    /// Waits until what this broker wrote to `partition` so far is committed (on every
    /// in-sync replica), so that a coordinator failover never loses an answered write.
    pub async fn wait_committed(&self, partition: &Partition, timeout: Duration) -> Result<(), CoordinatorError> {
        let (end, epoch) = (partition.log_end_offset(), partition.leader_epoch());
        partition.wait_committed(end, epoch, 1, timeout).await.map_err(|_| CoordinatorError::NotCommitted(timeout))
    }

    /// Before this broker starts to lead partition `index` of `topic`: its coordinator
    /// answers COORDINATOR_LOAD_IN_PROGRESS until [`load`](Self::load) is done.
    pub fn begin_loading(&self, topic: &str, index: i32) {
        if self.is_coordinator_topic(topic) {
            self.loading.lock().insert((topic.to_string(), index));
        }
    }

    /// Whether partition `index` of `topic` is being loaded (its state not installed yet).
    pub fn is_loading(&self, topic: &str, index: i32) -> bool {
        self.loading.lock().contains(&(topic.to_string(), index))
    }

    /// Partition `index` of `topic` did not become led here after all.
    pub fn cancel_loading(&self, topic: &str, index: i32) {
        self.loading.lock().remove(&(topic.to_string(), index));
    }

    /// This broker now leads partition `index` of `topic`: its records are replayed into
    /// the shard (Kafka's loading on leader election).
    pub fn load(&self, topic: &str, index: i32) {
        let Some(shard) = self.shard(topic) else { return };
        match self.replay(shard.as_ref(), topic, index) {
            Ok(n) => tracing::info!(%topic, partition = index, loaded = n, "coordinator state loaded: now its coordinator"),
            Err(e) => tracing::error!(%topic, partition = index, error = %e, "could not load coordinator state"),
        }
        self.loading.lock().remove(&(topic.to_string(), index));
    }

    /// This broker no longer leads partition `index` of `topic`.
    pub fn unload(&self, topic: &str, index: i32) {
        if let Some(shard) = self.shard(topic) {
            shard.unload(index);
        }
    }

    /// A single broker leads every partition: loads every shard's state at start-up.
    /// Fails if any partition cannot be read: starting without its state would hide it
    /// (committed offsets would read as never committed).
    pub fn load_all(&self) -> Result<usize, String> {
        let mut total = 0;
        for shard in self.live_shards() {
            let name = shard.topic().name;
            let Some(topic) = self.topics.get(name) else { continue };
            for p in &topic.partitions {
                total += self.replay(shard.as_ref(), name, p.index)?;
            }
        }
        Ok(total)
    }

    pub fn on_topic_deleted(&self, topic: &str) {
        for shard in self.live_shards() {
            shard.on_topic_deleted(topic);
        }
    }

    fn live_shards(&self) -> Vec<Arc<dyn CoordinatorShard>> {
        self.shards.read().values().filter_map(Weak::upgrade).collect()
    }

    /// Reads partition `index` from its log start to its end and replays every keyed
    /// record of its data batches.
    fn replay(&self, shard: &dyn CoordinatorShard, topic: &str, index: i32) -> Result<usize, String> {
        let Some(p) = self.topics.get(topic).and_then(|t| t.partition(index).cloned()) else { return Ok(0) };
        let mut loader = shard.begin_load(index);
        {
            let log = p.log.read();
            let end = log.log_end_offset();
            let mut next = log.log_start_offset();
            while next < end {
                let data = log.read_bytes(next, LOAD_CHUNK_BYTES, true, end).map_err(|e| e.to_string())?;
                if data.is_empty() {
                    break;
                }
                for batch in split_batches(data) {
                    let (h, bytes) = batch.map_err(|e| format!("{topic}-{index}: {e}"))?;
                    next = next.max(h.next_offset());
                    if h.is_control() {
                        if let Some(m) = crate::log::control::decode(&h, &bytes) {
                            loader.replay_marker(h.producer_id, m.commit);
                        }
                        continue;
                    }
                    let producer = h.is_transactional().then_some(h.producer_id);
                    let (_, recs) = raw_records(&h, &bytes).map_err(|e| format!("{topic}-{index}: {e}"))?;
                    for r in recs {
                        if let Some(key) = r.key {
                            loader.replay(r.offset, producer, key, r.value);
                        }
                    }
                }
            }
        }
        Ok(loader.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_for_is_kafkas() {
        // "polygenelubricants".hashCode() is Integer.MIN_VALUE in Java.
        assert_eq!(java_hash_code(""), 0);
        assert_eq!(java_hash_code("a"), 97);
        assert_eq!(java_hash_code("ab"), 97 * 31 + 98);
        assert_eq!(java_hash_code("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert!((0..50).contains(&partition_for("orders-service", 50)));
    }
}
