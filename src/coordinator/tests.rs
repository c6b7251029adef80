//! The runtime with a shard that remembers what it replayed: loading on leadership,
//! COORDINATOR_LOAD_IN_PROGRESS meanwhile, unloading, writes read back by a later load.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::*;
use crate::broker::TopicRegistry;
use crate::common::SystemClock;
use crate::config::BrokerConfig;

const TOPIC: &str = "__test_state";

/// Keeps the newest value of every key, per partition.
#[derive(Default)]
struct KeyValueShard {
    state: Mutex<HashMap<i32, HashMap<Bytes, Bytes>>>,
}

struct Loader<'a> {
    shard: &'a KeyValueShard,
    partition: i32,
    kv: HashMap<Bytes, Bytes>,
}

impl ShardLoader for Loader<'_> {
    fn replay(&mut self, _offset: i64, _producer_id: Option<i64>, key: Bytes, value: Option<Bytes>) {
        match value {
            Some(v) => self.kv.insert(key, v),
            None => self.kv.remove(&key),
        };
    }

    fn finish(self: Box<Self>) -> usize {
        let n = self.kv.len();
        self.shard.state.lock().insert(self.partition, self.kv);
        n
    }
}

impl CoordinatorShard for KeyValueShard {
    fn topic(&self) -> ShardTopic {
        ShardTopic { name: TOPIC, partitions: 2, configs: [("cleanup.policy".to_string(), "compact".to_string())].into() }
    }

    fn begin_load(&self, partition: i32) -> Box<dyn ShardLoader + '_> {
        Box::new(Loader { shard: self, partition, kv: HashMap::new() })
    }

    fn unload(&self, partition: i32) {
        self.state.lock().remove(&partition);
    }
}

fn node(dir: &std::path::Path) -> (Arc<CoordinatorRuntime>, Arc<dyn CoordinatorShard>, Arc<KeyValueShard>) {
    let cfg = Arc::new(BrokerConfig::default().with("log.dirs", dir.to_str().unwrap()).unwrap());
    let clock = SystemClock::shared();
    let topics = Arc::new(TopicRegistry::load(&crate::storage::local(), &clock, dir, cfg).unwrap());
    let runtime = CoordinatorRuntime::new(topics, clock, true);
    let shard = Arc::new(KeyValueShard::default());
    let dyn_shard: Arc<dyn CoordinatorShard> = shard.clone();
    runtime.register(&dyn_shard);
    (runtime, dyn_shard, shard)
}

#[test]
fn state_is_written_through_the_log_and_replayed_on_leadership() {
    let dir = tempfile::tempdir().unwrap();
    let (runtime, _keep, shard) = node(dir.path());
    let key = "some-group";
    // A single broker creates the topic on first use.
    let p = runtime.partition_for(TOPIC, key).unwrap();
    let index = runtime::partition_for(key, 2);
    assert_eq!(p.index, index);
    runtime.write(&p, &[(Bytes::from_static(b"a"), Some(Bytes::from_static(b"1"))), (Bytes::from_static(b"b"), Some(Bytes::from_static(b"2")))]).unwrap();
    runtime.write(&p, &[(Bytes::from_static(b"b"), None)]).unwrap();

    // Becoming leader: the coordinator answers LOAD_IN_PROGRESS until the replay is done.
    runtime.begin_loading(TOPIC, index);
    assert!(matches!(runtime.partition_for(TOPIC, key), Err(CoordinatorError::LoadInProgress)));
    runtime.load(TOPIC, index);
    assert!(runtime.partition_for(TOPIC, key).is_ok());
    let loaded = shard.state.lock().get(&index).cloned().unwrap();
    assert_eq!(loaded, HashMap::from([(Bytes::from_static(b"a"), Bytes::from_static(b"1"))]), "records replayed in order, tombstone included");

    runtime.unload(TOPIC, index);
    assert!(!shard.state.lock().contains_key(&index));
    // A leadership that did not take clears the loading mark.
    runtime.begin_loading(TOPIC, index);
    runtime.cancel_loading(TOPIC, index);
    assert!(runtime.partition_for(TOPIC, key).is_ok());

    // A restart replays everything written.
    drop((runtime, _keep, shard));
    let (runtime, _keep, shard) = node(dir.path());
    assert_eq!(runtime.load_all().unwrap(), 1);
    assert_eq!(shard.state.lock()[&index].len(), 1);
}

#[test]
fn a_cluster_node_never_creates_the_topic_itself() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Arc::new(BrokerConfig::default().with("log.dirs", dir.path().to_str().unwrap()).unwrap());
    let clock = SystemClock::shared();
    let topics = Arc::new(TopicRegistry::load(&crate::storage::local(), &clock, dir.path(), cfg).unwrap());
    let runtime = CoordinatorRuntime::new(topics.clone(), clock, false);
    let shard: Arc<dyn CoordinatorShard> = Arc::new(KeyValueShard::default());
    runtime.register(&shard);
    assert!(matches!(runtime.check_coordinator(TOPIC, "g"), Err(CoordinatorError::NotAvailable)));
    assert!(matches!(runtime.partition_for(TOPIC, "g"), Err(CoordinatorError::NotAvailable)));
    assert!(topics.get(TOPIC).is_none());
}
