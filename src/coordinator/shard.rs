//! What a coordinator provides to the runtime.

use bytes::Bytes;

use crate::config::TopicOverrides;

/// The internal topic a shard keeps its state in, and how it is created.
#[derive(Debug, Clone)]
pub struct ShardTopic {
    pub name: &'static str,
    pub partitions: i32,
    pub configs: TopicOverrides,
}

/// A coordinator's state machine, one per internal topic. Its state for partition `p`
/// exists on this broker only while this broker leads `p`.
pub trait CoordinatorShard: Send + Sync {
    fn topic(&self) -> ShardTopic;

    /// Starts rebuilding the state of `partition` from its records.
    fn begin_load(&self, partition: i32) -> Box<dyn ShardLoader + '_>;

    /// This broker no longer leads `partition`: its state goes from memory.
    fn unload(&self, partition: i32);

    /// A topic was deleted: state that refers to it goes (as Kafka's onPartitionsDeleted).
    fn on_topic_deleted(&self, _topic: &str) {}
}

/// Replays the records of one partition, in offset order, then installs the result.
pub trait ShardLoader {
    /// One record; a `None` value is a tombstone. `producer_id` is set for a record of a
    /// transaction (pending until its marker).
    fn replay(&mut self, offset: i64, producer_id: Option<i64>, key: Bytes, value: Option<Bytes>);
    /// The marker that ends `producer_id`'s transaction.
    fn replay_marker(&mut self, _producer_id: i64, _commit: bool) {}
    /// Installs what was replayed; returns how many entities (groups, transactions) it
    /// holds, for the log.
    fn finish(self: Box<Self>) -> usize;
}
